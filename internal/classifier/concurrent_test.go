package classifier_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dvs-project/dvs/internal/classifier"
	"github.com/dvs-project/dvs/internal/classifier/reference"
	"github.com/dvs-project/dvs/internal/flow"
)

// uniqueRules returns n rules over a few templates with distinct
// priorities drawn from used.
func uniqueRules(g *gen, ts []template, n int, used map[uint16]bool) []*flow.Rule {
	var rs []*flow.Rule
	for len(rs) < n {
		p := uint16(1 + g.rnd.IntN(60000))
		if used[p] {
			continue
		}
		used[p] = true
		rs = append(rs, &flow.Rule{Match: g.match(&ts[g.rnd.IntN(len(ts))]), Priority: p})
	}
	return rs
}

func answer(rules []*flow.Rule, k *flow.Key) *flow.Rule {
	var ref reference.Classifier
	for _, r := range rules {
		ref.Insert(r)
	}
	return ref.Lookup(k, nil)
}

// runReaders runs lookups of keys on two goroutines until stop is closed,
// calling check on every answer, and returns how many lookups ran.
func runReaders(t *testing.T, c *classifier.Classifier, keys []flow.Key, check func(i int, r *flow.Rule) error, stop <-chan struct{}) (wait func() int) {
	var wg sync.WaitGroup
	var total atomic.Int64
	var failed atomic.Bool
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := g; ; i++ {
				select {
				case <-stop:
					total.Add(int64(n))
					return
				default:
				}
				j := i % len(keys)
				var wc flow.Mask
				r := c.Lookup(&keys[j], &wc)
				n++
				if err := check(j, r); err != nil && !failed.Swap(true) {
					t.Errorf("lookup %d of key %d: %v", n, j, err)
				}
				if r != nil && !r.Match.Matches(&keys[j]) && !failed.Swap(true) {
					t.Errorf("lookup of key %d returned a rule that does not match it", j)
				}
			}
		}()
	}
	return func() int { wg.Wait(); return int(total.Load()) }
}

// TestConcurrentChurn checks that rules which stay in the classifier are
// never missed while others come and go around them, growing and shrinking
// the tables and adding and dropping subtables.
func TestConcurrentChurn(t *testing.T) {
	g := newGen(testSeed(t) + 100)
	ts := templatesWithMasks(g, 8)
	used := map[uint16]bool{}
	stay := uniqueRules(g, ts[:4], 40, used)
	churn := uniqueRules(g, ts, 200, used)
	all := append(append([]*flow.Rule(nil), stay...), churn...)

	keys := make([]flow.Key, 300)
	floor := make([]*flow.Rule, len(keys))
	legal := make([]map[*flow.Rule]bool, len(keys))
	for i := range keys {
		keys[i] = g.packetFor(&all[g.rnd.IntN(len(all))].Match, 20)
		floor[i] = answer(stay, &keys[i])
		legal[i] = map[*flow.Rule]bool{}
		for _, r := range all {
			if r.Match.Matches(&keys[i]) && pri(r) >= pri(floor[i]) {
				legal[i][r] = true
			}
		}
	}

	c := classifier.New()
	if err := c.Apply(stay, nil); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wait := runReaders(t, c, keys, func(i int, r *flow.Rule) error {
		if r == floor[i] || legal[i][r] {
			return nil
		}
		return fmt.Errorf("got priority %d; the rules that stay give %d", pri(r), pri(floor[i]))
	}, stop)

	in := map[*flow.Rule]bool{}
	ops := 20000
	if testing.Short() {
		ops = 2000
	}
	for op := range ops {
		r := churn[g.rnd.IntN(len(churn))]
		switch {
		case op%50 == 49: // a batch that empties the churn set
			var rem []*flow.Rule
			for r := range in {
				rem = append(rem, r)
			}
			if err := c.Apply(nil, rem); err != nil {
				t.Fatal(err)
			}
			clear(in)
		case in[r]:
			c.Remove(r)
			delete(in, r)
		default:
			if err := c.Insert(r); err != nil {
				t.Fatal(err)
			}
			in[r] = true
		}
	}
	close(stop)
	n := wait()
	if c.Len() != len(stay)+len(in) {
		t.Errorf("Len = %d, want %d", c.Len(), len(stay)+len(in))
	}
	t.Logf("%d writer operations, %d concurrent lookups", ops, n)
}

// TestConcurrentBatches swaps two sets of rules in single batches and checks
// that every lookup answers as one set or the other, never a mix.
func TestConcurrentBatches(t *testing.T) {
	g := newGen(testSeed(t) + 200)
	ts := templatesWithMasks(g, 6)
	used := map[uint16]bool{}
	base := uniqueRules(g, ts, 10, used)
	a := uniqueRules(g, ts, 40, used)
	b := uniqueRules(g, ts, 40, used)
	withA := append(append([]*flow.Rule(nil), base...), a...)
	withB := append(append([]*flow.Rule(nil), base...), b...)
	pool := append(append([]*flow.Rule(nil), withA...), b...)

	keys := make([]flow.Key, 300)
	wantA := make([]*flow.Rule, len(keys))
	wantB := make([]*flow.Rule, len(keys))
	differ := 0
	for i := range keys {
		keys[i] = g.packetFor(&pool[g.rnd.IntN(len(pool))].Match, 10)
		wantA[i], wantB[i] = answer(withA, &keys[i]), answer(withB, &keys[i])
		if wantA[i] != wantB[i] {
			differ++
		}
	}
	if differ < len(keys)/4 {
		t.Fatalf("only %d of %d keys tell the two sets apart", differ, len(keys))
	}

	c := classifier.New()
	if err := c.Apply(withA, nil); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wait := runReaders(t, c, keys, func(i int, r *flow.Rule) error {
		if r == wantA[i] || r == wantB[i] {
			return nil
		}
		return fmt.Errorf("got priority %d, want %d (first set) or %d (second set)", pri(r), pri(wantA[i]), pri(wantB[i]))
	}, stop)
	swaps := 2000
	if testing.Short() {
		swaps = 300
	}
	for i := range swaps {
		ins, rem := b, a
		if i%2 == 1 {
			ins, rem = a, b
		}
		if err := c.Apply(ins, rem); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	n := wait()
	t.Logf("%d swaps, %d concurrent lookups", swaps, n)
}
