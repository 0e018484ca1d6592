package cache

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// TestCmapAgainstMap inserts and removes entries under chosen hashes (few
// distinct values, so buckets overflow into their neighbours and slots
// share a hash) and checks every entry against a plain map after each step.
func TestCmapAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var m cmap
	m.init()
	hashes := []uint64{0, 1, 2, 1 << 63, 1<<63 | 5, ^uint64(0), 0x8000_0000_0000_0001}
	live := map[*Entry]uint64{}
	var order []*Entry
	for step := 0; step < 5000; step++ {
		if len(order) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(order))
			e := order[i]
			order[i] = order[len(order)-1]
			order = order[:len(order)-1]
			if !m.remove(live[e], e) {
				t.Fatalf("step %d: remove did not find a live entry", step)
			}
			if m.remove(live[e], e) {
				t.Fatalf("step %d: removed an entry twice", step)
			}
			delete(live, e)
		} else {
			e := &Entry{}
			h := hashes[rng.IntN(len(hashes))]
			if rng.IntN(2) == 0 {
				h = rng.Uint64()
			}
			m.insert(h, e)
			live[e] = h
			order = append(order, e)
		}
		if m.n != len(live) {
			t.Fatalf("step %d: n = %d, want %d", step, m.n, len(live))
		}
		if step%97 != 0 {
			continue
		}
		for e, h := range live {
			if got := m.find(h, func(o *Entry) bool { return o == e }); got != e {
				t.Fatalf("step %d: entry with hash %#x not found", step, h)
			}
		}
		seen := 0
		m.each(func(e *Entry) {
			if _, ok := live[e]; !ok {
				t.Fatalf("step %d: each visits a removed entry", step)
			}
			seen++
		})
		if seen != len(live) {
			t.Fatalf("step %d: each visits %d entries, want %d", step, seen, len(live))
		}
	}
}

// TestLookupPastHashCollision puts an entry with another key under the hash
// of a key, in front of the key's own entry, and checks lookup still finds
// the right one (and nothing for a key that has no entry).
func TestLookupPastHashCollision(t *testing.T) {
	var mf megaflows
	mf.init()
	mask := flow.Mask{InPort: ^uint32(0)}
	var k1, k2, k3 flow.Key
	k1.InPort, k2.InPort, k3.InPort = 1, 2, 3
	right := &Entry{Key: k1, Mask: &mask}
	mf.insert(right)
	st := (*mf.subtables.Load())[0]
	h := st.hash(&k1)
	// Put the impostor in the slot in front of the right entry.
	impostor := &Entry{Key: k2, Mask: &st.mask}
	st.m.remove(h, right)
	st.m.insert(h, impostor)
	st.m.insert(h, right)
	if got := mf.lookup(&k1); got != right {
		t.Fatalf("lookup(k1) = %p, want the entry for k1 (%p); impostor %p", got, right, impostor)
	}
	if got := mf.lookup(&k3); got != nil {
		t.Fatalf("lookup(k3) = %p, want nil", got)
	}
}

// TestLookupWhileWriting runs lookups of installed keys while a writer
// adds and removes other entries (forcing rehashes); every lookup of a key
// that stays installed must find its entry, and never another.
func TestLookupWhileWriting(t *testing.T) {
	var mf megaflows
	mf.init()
	masks := []flow.Mask{{InPort: ^uint32(0)}, {NwDst: ^uint32(0)}, {InPort: ^uint32(0), TpDst: 0xffff}}
	var keys []flow.Key
	var stay []*Entry
	for i := range 300 {
		var k flow.Key
		k.InPort, k.NwDst, k.TpDst = uint32(i), uint32(i)<<8, uint16(i)
		m := masks[i%len(masks)]
		e := &Entry{Key: k.Apply(&m), Mask: &m}
		mf.insert(e)
		keys, stay = append(keys, k), append(stay, e)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		var mine []*Entry
		for !stop.Load() {
			if len(mine) > 2000 || len(mine) > 0 && rng.IntN(2) == 0 {
				i := rng.IntN(len(mine))
				mf.remove(mine[i])
				mine[i] = mine[len(mine)-1]
				mine = mine[:len(mine)-1]
				continue
			}
			var k flow.Key
			k.InPort, k.NwDst, k.TpDst = 1000+rng.Uint32N(1<<20), 1<<31|rng.Uint32(), uint16(rng.Uint32())
			m := masks[rng.IntN(len(masks))]
			e := &Entry{Key: k.Apply(&m), Mask: &m}
			mf.insert(e)
			mine = append(mine, e)
		}
	}()
	for round := 0; round < 200; round++ {
		for i := range keys {
			if got := mf.lookup(&keys[i]); got != stay[i] {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("round %d: lookup of key %d = %p, want %p", round, i, got, stay[i])
			}
		}
	}
	stop.Store(true)
	wg.Wait()
}

// TestSweepRanksBusyMasksFirst installs megaflows in three masks, sends
// megaflow lookups to the last mask's entries only, and checks that a
// sweep moves that mask to the front and keeps the others in their order,
// and that every key is still found.
func TestSweepRanksBusyMasksFirst(t *testing.T) {
	c := New(pipeline.New(pipeline.Config{}), Config{})
	masks := []flow.Mask{{InPort: ^uint32(0)}, {NwDst: ^uint32(0)}, {TpDst: 0xffff}}
	var keys [][]flow.Key
	for i, m := range masks {
		var ks []flow.Key
		for j := range 20 {
			var k flow.Key
			k.InPort, k.NwDst, k.TpDst = uint32(100*i+j), uint32(100*i+j), uint16(100*i+j)
			c.install(&k, &pipeline.Result{Mask: m, Gen: c.p.Gen()})
			ks = append(ks, k)
		}
		keys = append(keys, ks)
	}
	order := func() []flow.Mask {
		var ms []flow.Mask
		for _, st := range *c.mf.subtables.Load() {
			ms = append(ms, st.mask)
		}
		return ms
	}
	if got := order(); !slices.Equal(got, masks) {
		t.Fatalf("masks before ranking in order %v, want insertion order", got)
	}
	w := c.NewWorker()
	for _, k := range keys[2] {
		if e := w.Lookup(&k); e.Mask == nil || *e.Mask != masks[2] {
			t.Fatalf("key %v found %+v, want its megaflow", k.TpDst, e)
		}
	}
	c.Sweep(time.Now())
	want := []flow.Mask{masks[2], masks[0], masks[1]}
	if got := order(); !slices.Equal(got, want) {
		t.Errorf("masks after ranking in order %v, want %v", got, want)
	}
	for i := range keys {
		for _, k := range keys[i] {
			if e := c.mf.lookup(&k); e == nil || *e.Mask != masks[i] {
				t.Fatalf("after ranking, key of mask %d found %+v", i, e)
			}
		}
	}
	// With no lookups since, the next sweep keeps the order.
	c.Sweep(time.Now())
	if got := order(); !slices.Equal(got, want) {
		t.Errorf("masks after an idle sweep in order %v, want %v", got, want)
	}
}
