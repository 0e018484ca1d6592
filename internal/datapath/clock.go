package datapath

import "time"

// wallClock gives a worker the wall time (Unix nanoseconds) that cache
// entries are stamped with, once per batch, from the monotonic clock
// alone: time.Now reads both clocks, which costs twice as much where the
// clock is a vDSO call (several percent of a batch's time). The wall clock
// is read again when a second has passed since the last reading, so a step
// of the wall clock shows within a second, and an idle worker's first
// batch (after a second or more) reads it afresh. Nothing runs while the
// worker is idle.
type wallClock struct {
	base time.Time // the last wall clock reading, with its monotonic part
	wall int64     // base.UnixNano()
}

// rebaseAfter is how long wallClock goes on from one wall clock reading.
const rebaseAfter = int64(time.Second)

func (c *wallClock) now() int64 {
	if !c.base.IsZero() {
		if d := int64(time.Since(c.base)); d >= 0 && d < rebaseAfter {
			return c.wall + d
		}
	}
	c.base = time.Now()
	c.wall = c.base.UnixNano()
	return c.wall
}
