//go:build !linux

package classifier_test

import "time"

// threadCPU is not available here; the per-CPU-time figures read 0.
func threadCPU() time.Duration { return 0 }
