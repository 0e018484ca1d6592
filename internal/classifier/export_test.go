package classifier

import "github.com/dvs-project/dvs/internal/flow"

// LookupEach is Lookup, by a single writer's side, without the snapshot's
// prerequisite index (see prefilter.go); it reports whether the snapshot
// has one. Tests check that the index changes neither the answer nor the
// mask.
func (c *Classifier) LookupEach(k *flow.Key, wc *flow.Mask) (r *flow.Rule, indexed bool) {
	s := *c.snap.Load()
	indexed, s.pre = s.pre != nil, nil
	var ww *[flow.KeyWords]uint64
	if wc != nil {
		ww = wc.Words()
	}
	e, pm := s.lookup(c.seed, k.Words(), preValue(k), ww)
	if wc != nil {
		wc.EthType |= uint16(pm >> 8)
		wc.NwProto |= uint8(pm)
	}
	if e == nil {
		return nil, indexed
	}
	return e.rule, indexed
}

// SetPreIndexMin sets the fewest filtered subtables a snapshot published
// from now on indexes, and returns the old value: the tests check the
// index on small tables too.
func SetPreIndexMin(n int) (old int) {
	old, preIndexMin = preIndexMin, n
	return old
}
