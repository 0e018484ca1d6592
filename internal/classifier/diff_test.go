package classifier_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/dvs-project/dvs/internal/classifier"
	"github.com/dvs-project/dvs/internal/classifier/reference"
	"github.com/dvs-project/dvs/internal/flow"
)

// testSeed returns the seed of the random tests: 1, or DVS_CLASSIFIER_SEED.
func testSeed(t testing.TB) uint64 {
	s := os.Getenv("DVS_CLASSIFIER_SEED")
	if s == "" {
		return 1
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("DVS_CLASSIFIER_SEED=%q: %v", s, err)
	}
	return n
}

// Priority schemes of a round.
const (
	priUnique = iota // every rule has its own priority
	priNarrow        // priorities 0..7: many ties
	priBand          // each template has a band of 10 priorities
	numPriSchemes
)

// diffRound is one random rule set checked against the reference.
type diffRound struct {
	t      *testing.T
	g      *gen
	name   string
	c      *classifier.Classifier
	ref    reference.Classifier
	tmpls  []template
	bands  []int
	scheme int
	used   map[uint16]bool
	checks int
	// indexed counts the checked lookups in snapshots with a
	// prerequisite index (see LookupEach).
	indexed int
}

func (d *diffRound) fail(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf("%s: %s", d.name, fmt.Sprintf(format, args...))
}

func (d *diffRound) newRule() *flow.Rule {
	ti := d.g.rnd.IntN(len(d.tmpls))
	r := &flow.Rule{Match: d.g.match(&d.tmpls[ti])}
	switch d.scheme {
	case priUnique:
		for {
			p := uint16(d.g.rnd.IntN(65536))
			if !d.used[p] {
				d.used[p] = true
				r.Priority = p
				break
			}
		}
	case priNarrow:
		r.Priority = uint16(d.g.rnd.IntN(8))
	case priBand:
		r.Priority = uint16(d.bands[ti] + d.g.rnd.IntN(10))
	}
	return r
}

func (d *diffRound) insert(rs ...*flow.Rule) {
	if len(rs) == 1 && d.g.rnd.IntN(2) == 0 {
		if err := d.c.Insert(rs[0]); err != nil {
			d.fail("Insert: %v", err)
		}
	} else if err := d.c.Apply(rs, nil); err != nil {
		d.fail("Apply: %v", err)
	}
	for _, r := range rs {
		d.ref.Insert(r)
	}
}

func (d *diffRound) randomRule() *flow.Rule {
	rs := d.ref.Rules()
	if len(rs) == 0 {
		return nil
	}
	return rs[d.g.rnd.IntN(len(rs))]
}

// packet returns a packet, usually derived from a rule.
func (d *diffRound) packet() flow.Key {
	if r := d.randomRule(); r != nil && d.g.rnd.IntN(10) != 0 {
		return d.g.packetFor(&r.Match, 30)
	}
	return d.g.packet()
}

func pri(r *flow.Rule) int {
	if r == nil {
		return -1
	}
	return int(r.Priority)
}

// check looks k up in both classifiers and checks the answer and the mask.
func (d *diffRound) check(k flow.Key) {
	d.t.Helper()
	var wc flow.Mask
	got := d.c.Lookup(&k, &wc)
	want := d.ref.Lookup(&k, nil)
	d.checks++
	if pri(got) != pri(want) {
		d.fail("lookup of %x: got priority %d, want %d", k.Words(), pri(got), pri(want))
	}
	if got != nil && !got.Match.Matches(&k) {
		d.fail("lookup of %x returned a rule that does not match", k.Words())
	}
	if d.scheme == priUnique && got != want {
		d.fail("lookup of %x: got a different rule of the same priority %d", k.Words(), pri(got))
	}
	var wcEach flow.Mask
	if each, indexed := d.c.LookupEach(&k, &wcEach); each != got || wcEach != wc {
		d.fail("lookup of %x: %p under %x with the prerequisite index, %p under %x without",
			k.Words(), got, wc.Words(), each, wcEach.Words())
	} else if indexed {
		d.indexed++
	}
	for i := range 4 {
		var o flow.Key
		switch i {
		case 0:
			o = d.g.packet()
		case 1:
			o = d.g.randomKey()
		default:
			o = d.packet()
		}
		k2 := blend(&k, &o, &wc)
		d.checks++
		if p := pri(d.ref.Lookup(&k2, nil)); p != pri(want) {
			d.fail("mask too wide: %x agrees with %x under %x but its answer has priority %d, not %d",
				k2.Words(), k.Words(), wc.Words(), p, pri(want))
		}
		if p := pri(d.c.Lookup(&k2, nil)); p != pri(want) {
			d.fail("lookup of %x (under the mask of %x): got priority %d, want %d", k2.Words(), k.Words(), p, pri(want))
		}
	}
}

func (d *diffRound) checkLookups(n int) {
	d.t.Helper()
	for range n {
		d.check(d.packet())
	}
	if d.c.Len() != d.ref.Len() {
		d.fail("Len = %d, want %d", d.c.Len(), d.ref.Len())
	}
}

func (d *diffRound) checkFind() {
	d.t.Helper()
	for range 5 {
		r := d.randomRule()
		if r == nil {
			return
		}
		p := r.Priority
		if d.g.rnd.IntN(3) == 0 {
			p = uint16(d.g.rnd.IntN(8))
		}
		if got, want := d.c.Find(&r.Match, p), d.ref.Find(&r.Match, p); got != want {
			d.fail("Find(priority %d) = %p, want %p", p, got, want)
		}
	}
}

func (d *diffRound) checkRules() {
	d.t.Helper()
	seen := map[*flow.Rule]bool{}
	d.c.Rules(func(r *flow.Rule) bool {
		if seen[r] {
			d.fail("Rules reported a rule twice")
		}
		seen[r] = true
		return true
	})
	if len(seen) != d.ref.Len() {
		d.fail("Rules reported %d rules, want %d", len(seen), d.ref.Len())
	}
	for _, r := range d.ref.Rules() {
		if !seen[r] {
			d.fail("Rules missed a rule")
		}
	}
}

// upsert upserts a batch of new rules, some with the match and priority
// of a present rule, some with those of an earlier rule of the batch, and
// checks what each replaced against the reference doing Find, Remove and
// Insert one rule at a time.
func (d *diffRound) upsert() {
	d.t.Helper()
	var rs []*flow.Rule
	for range d.g.rnd.IntN(12) {
		r := d.newRule()
		switch d.g.rnd.IntN(4) {
		case 0:
			if o := d.randomRule(); o != nil {
				r.Match, r.Priority = o.Match, o.Priority
			}
		case 1:
			if len(rs) > 0 {
				o := rs[d.g.rnd.IntN(len(rs))]
				r.Match, r.Priority = o.Match, o.Priority
			}
		}
		rs = append(rs, r)
	}
	if o := d.randomRule(); o != nil && len(rs) > 0 && d.g.rnd.IntN(6) == 0 {
		// A batch that meets a rule already present fails and leaves the
		// classifier as it was (the checks after the batch compare).
		bad := append(rs[:len(rs):len(rs)], o)
		if err := d.c.Upsert(bad, nil); !errors.Is(err, classifier.ErrRuleExists) {
			d.fail("Upsert of a present rule: %v", err)
		}
		return
	}
	got := map[*flow.Rule]*flow.Rule{}
	if err := d.c.Upsert(rs, func(old, r *flow.Rule) { got[r] = old }); err != nil {
		d.fail("Upsert: %v", err)
	}
	for _, r := range rs {
		old := d.ref.Find(&r.Match, r.Priority)
		if got[r] != old {
			d.fail("Upsert replaced %p by a rule of priority %d, want %p", got[r], r.Priority, old)
		}
		if old != nil {
			d.ref.Remove(old)
		}
		d.ref.Insert(r)
	}
}

func TestDifferential(t *testing.T) {
	seed := testSeed(t)
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	checks, indexed := 0, 0
	// Every other round indexes every snapshot, however few its filtered
	// subtables, so that the index is checked on small tables too.
	defaultMin := classifier.SetPreIndexMin(1)
	t.Cleanup(func() { classifier.SetPreIndexMin(defaultMin) })
	for round := range rounds {
		classifier.SetPreIndexMin(min(1+round%2*defaultMin, defaultMin))
		s := seed*1000003 + uint64(round)
		g := newGen(s)
		d := &diffRound{
			t:      t,
			g:      g,
			name:   fmt.Sprintf("seed %d round %d", seed, round),
			c:      classifier.New(),
			scheme: round % numPriSchemes,
			used:   map[uint16]bool{},
		}
		for i := range 1 + g.rnd.IntN(12) {
			d.tmpls = append(d.tmpls, g.template())
			d.bands = append(d.bands, 100+g.rnd.IntN(20)*5+i)
		}
		// Fill, mixing single inserts and batches.
		n := 1 + g.rnd.IntN(150)
		for n > 0 {
			b := min(n, 1+g.rnd.IntN(20))
			var rs []*flow.Rule
			for range b {
				rs = append(rs, d.newRule())
			}
			d.insert(rs...)
			n -= b
		}
		d.checkLookups(40)
		d.checkFind()
		d.checkRules()

		// Interleave removals, inserts and batches of both.
		for range 20 {
			switch g.rnd.IntN(4) {
			case 0:
				if r := d.randomRule(); r != nil {
					if !d.c.Remove(r) || !d.ref.Remove(r) {
						d.fail("Remove of a present rule failed")
					}
					if d.c.Remove(r) {
						d.fail("Remove of an absent rule succeeded")
					}
				}
			case 1:
				d.insert(d.newRule())
			case 2:
				var ins, rem []*flow.Rule
				for range g.rnd.IntN(10) {
					ins = append(ins, d.newRule())
				}
				for range g.rnd.IntN(10) {
					if r := d.randomRule(); r != nil {
						rem = append(rem, r)
						d.ref.Remove(r)
					}
				}
				if err := d.c.Apply(ins, rem); err != nil {
					d.fail("Apply: %v", err)
				}
				for _, r := range ins {
					d.ref.Insert(r)
				}
			case 3:
				d.upsert()
			}
			d.checkLookups(10)
			d.checkFind()
		}
		d.checkRules()

		// Empty it again.
		for _, r := range append([]*flow.Rule(nil), d.ref.Rules()...) {
			d.c.Remove(r)
			d.ref.Remove(r)
		}
		if d.c.Len() != 0 || d.c.Subtables() != 0 {
			d.fail("after removing everything: Len %d, Subtables %d", d.c.Len(), d.c.Subtables())
		}
		d.checkLookups(5)
		checks += d.checks
		indexed += d.indexed
	}
	t.Logf("seed %d: %d rounds, %d lookups checked, %d of them compared with and without a prerequisite index", seed, rounds, checks, indexed)
	if indexed == 0 {
		t.Errorf("no lookup was in a snapshot with a prerequisite index")
	}
}
