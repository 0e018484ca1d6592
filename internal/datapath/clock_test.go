package datapath

import (
	"testing"
	"time"
)

// TestWallClock checks the worker clock against time.Now, at its first
// reading and while it runs on the monotonic clock, and that it reads the
// wall clock again after rebaseAfter.
func TestWallClock(t *testing.T) {
	var c wallClock
	for i := 0; i < 5; i++ {
		before := time.Now().UnixNano()
		got := c.now()
		after := time.Now().UnixNano()
		// The monotonic and wall clocks may drift apart by a slew within a
		// second; a millisecond is far more than that.
		if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
			t.Fatalf("reading %d: now %d, want within [%d, %d]", i, got, before, after)
		}
		time.Sleep(10 * time.Millisecond)
	}
	first := c.base
	c.base = c.base.Add(-time.Duration(rebaseAfter)) // as if a second went by
	c.wall -= rebaseAfter
	c.now()
	if !c.base.After(first) {
		t.Errorf("the wall clock was not read again after %v", time.Duration(rebaseAfter))
	}
}
