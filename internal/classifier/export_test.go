package classifier

import "github.com/dvs-project/dvs/internal/flow"

// LookupEach is Lookup, by a single writer's side (it never retries),
// without the snapshot's prerequisite index (see prefilter.go); it reports
// whether the snapshot has one. Tests check that the index changes neither
// the answer nor the mask.
func (c *Classifier) LookupEach(k *flow.Key, wc *flow.Mask) (r *flow.Rule, indexed bool) {
	s := *c.snap.Load()
	indexed, s.pre = s.pre != nil, nil
	each := &Classifier{seed: c.seed}
	each.snap.Store(&s)
	return each.Lookup(k, wc), indexed
}

// SetPreIndexMin sets the fewest filtered subtables a snapshot published
// from now on indexes, and returns the old value: the tests check the
// index on small tables too.
func SetPreIndexMin(n int) (old int) {
	old, preIndexMin = preIndexMin, n
	return old
}
