package classifier

import (
	"math/rand/v2"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// TestLookupRetriesAfterReclaim shows why Lookup checks the reclaimed
// version: a lookup that loaded the snapshot before a batch was published
// and walks the tables after its removals were unlinked sees neither the
// old rules nor the new ones.
func TestLookupRetriesAfterReclaim(t *testing.T) {
	low := &flow.Rule{Priority: 0}
	a := &flow.Rule{Priority: 10}
	a.Match.Mask.InPort, a.Match.Key.InPort = ^uint32(0), 1
	b := &flow.Rule{Priority: 20}
	b.Match.Mask.EthType, b.Match.Key.EthType = 0xffff, flow.EthTypeIPv4

	c := New()
	if err := c.Apply([]*flow.Rule{low, a}, nil); err != nil {
		t.Fatal(err)
	}
	k := flow.Key{InPort: 1, EthType: flow.EthTypeIPv4}
	old := c.snap.Load()
	if err := c.Apply([]*flow.Rule{b}, []*flow.Rule{a}); err != nil {
		t.Fatal(err)
	}
	if e := old.lookup(c.seed, k.Words(), nil); e == nil || e.rule != low {
		t.Fatalf("a stale lookup found %v; the test expects the torn answer (the catch-all)", e)
	}
	if c.reclaimed.Load() <= old.version {
		t.Fatalf("reclaimed version %d does not tell a lookup at version %d to retry", c.reclaimed.Load(), old.version)
	}
	if r := c.Lookup(&k, nil); r != b {
		t.Errorf("Lookup = %v, want the new rule", r)
	}
}

func TestPrioSet(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var p prioSet
	counts := map[uint16]int{}
	for i := range 5000 {
		var pri uint16
		switch rnd.IntN(3) {
		case 0:
			pri = uint16(rnd.IntN(65536))
		case 1:
			pri = uint16(65530 + rnd.IntN(6))
		default:
			pri = uint16(rnd.IntN(70))
		}
		if counts[pri] > 0 && rnd.IntN(2) == 0 {
			p.remove(pri)
			counts[pri]--
			if counts[pri] == 0 {
				delete(counts, pri)
			}
		} else {
			p.add(pri)
			counts[pri]++
		}
		want := uint16(0)
		for q := range counts {
			want = max(want, q)
		}
		if got := p.max(); got != want {
			t.Fatalf("step %d: max = %d, want %d", i, got, want)
		}
	}
}

func TestStageMasksPartitionKey(t *testing.T) {
	var union flow.Mask
	for i := range stageMasks {
		for j := range i {
			o := stageMasks[i]
			o.And(&stageMasks[j])
			if !o.IsZero() {
				t.Errorf("stages %d and %d overlap", j, i)
			}
		}
		union.Or(&stageMasks[i])
	}
	if union != flow.ExactMask() {
		t.Errorf("stages do not cover the key: %x", union.Words())
	}
}

func TestHashSet(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	s := newHashSet(0)
	in := map[uint64]int{}
	for range 10000 {
		h := uint64(rnd.IntN(3000)) << 2 // low bits clear: distinct once stored
		if rnd.IntN(3) == 0 {
			h = rnd.Uint64() &^ 3
		}
		if in[h] > 0 && rnd.IntN(2) == 0 {
			in[h]--
			if left := s.release(h); left != (in[h] == 0) {
				t.Fatalf("release reported leaving %v with %d references left", left, in[h])
			}
			if in[h] == 0 {
				delete(in, h)
			}
			if s.sparse() {
				s = s.rebuilt(0)
			}
		} else {
			if s.full() {
				s = s.rebuilt(1)
			}
			if added := s.add(h, 1); added != (in[h] == 0) {
				t.Fatalf("add reported new %v with %d references before", added, in[h])
			}
			in[h]++
		}
		if s.used != len(in) {
			t.Fatalf("used = %d, want %d", s.used, len(in))
		}
	}
	for h := range in {
		if !hasHash(s.slots, shiftFor(len(s.slots)), setValue(h)) {
			t.Fatalf("%x missing", h)
		}
	}
	for range 1000 {
		if h := rnd.Uint64() &^ 3; in[h] == 0 && hasHash(s.slots, shiftFor(len(s.slots)), setValue(h)) {
			t.Fatalf("%x present", h)
		}
	}
}

// TestHashStructuredKeys checks that keys differing in a few bits, in the
// patterns rules produce (grids of ports and addresses, one bit in each of
// two words), get distinct hashes that spread over a table's slots.
func TestHashStructuredKeys(t *testing.T) {
	m := flow.Mask{InPort: ^uint32(0), NwSrc: ^uint32(0), NwDst: ^uint32(0), EthType: 0xffff}
	m.VLANs[0].TPID = 0xffff
	st := newSubtable(&m, 6789)
	var hs [numStages]uint64
	seen := map[uint64]flow.Key{}
	slots := map[uint64]int{}
	const n = 64 * 64
	shift := shiftFor(slotsFor(n))
	add := func(k flow.Key) {
		t.Helper()
		h := st.hashes(12345, k.Words(), &hs)
		if o, ok := seen[h]; ok && o != k {
			t.Fatalf("keys %x and %x share hash %x", o.Words(), k.Words(), h)
		}
		seen[h] = k
		slots[h>>shift]++
	}
	for i := range 64 {
		for j := range 64 {
			add(flow.Key{InPort: uint32(i), NwDst: 0x0a000000 | uint32(j), EthType: flow.EthTypeIPv4})
		}
	}
	most := 0
	for _, c := range slots {
		most = max(most, c)
	}
	if most > 8 {
		t.Errorf("%d of %d grid keys share a first slot", most, n)
	}
	// Single bits in two words, including the top bits.
	base := flow.Key{InPort: 1, NwSrc: 0x0a000001, NwDst: 0xc0a80101, EthType: flow.EthTypeIPv4}
	for a := range 64 {
		for _, w := range []int{7, 8, 16} {
			k := base
			k.Words()[7] ^= (1 << a) & m.Words()[7]
			k.Words()[w] ^= (1 << a) & m.Words()[w]
			add(k)
		}
	}
}
