package classifier

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"unsafe"

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
	// A lookup at the old snapshot that does not know of the unlinking.
	stale := &Classifier{seed: c.seed}
	stale.snap.Store(old)
	if r := stale.Lookup(&k, nil); r != low {
		t.Fatalf("a stale lookup found %v; the test expects the torn answer (the catch-all)", r)
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

// TestPrerequisiteFilter checks that a subtable whose rules name other
// protocols is skipped on eth_type alone, and that a subtable with more
// than maxPre values has no filter but still answers.
func TestPrerequisiteFilter(t *testing.T) {
	v4 := &flow.Rule{Priority: 100}
	v4.Match.Mask.EthType, v4.Match.Key.EthType = 0xffff, flow.EthTypeIPv4
	v4.Match.Mask.NwDst, v4.Match.Key.NwDst = 0xffffff00, 0xc6336400
	v4.Match.Mask.NwProto, v4.Match.Key.NwProto = 0xff, flow.IPProtoTCP
	low := &flow.Rule{Priority: 1}
	c := New()
	if err := c.Apply([]*flow.Rule{v4, low}, nil); err != nil {
		t.Fatal(err)
	}
	ref := &c.snap.Load().subs[0]
	if want := uint32(0xffffff); ref.preMask != want || ref.pre != [maxPre]uint32{uint32(flow.EthTypeIPv4)<<8 | flow.IPProtoTCP, noPre, noPre, noPre} {
		t.Fatalf("filter %#x %x, want mask %#x and the one value of v4", ref.preMask, ref.pre, want)
	}
	for _, tt := range []struct {
		name string
		k    flow.Key
		want *flow.Rule
		wc   flow.Mask // exactly the examined bits
	}{
		{"arp", flow.Key{EthType: flow.EthTypeARP, NwDst: 0xc6336401}, low, flow.Mask{EthType: 0xffff}},
		// Hashing v4's subtable would examine nw_dst too.
		{"udp", flow.Key{EthType: flow.EthTypeIPv4, NwProto: flow.IPProtoUDP, NwDst: 0xc6336401}, low, flow.Mask{EthType: 0xffff, NwProto: 0xff}},
		{"tcp", flow.Key{EthType: flow.EthTypeIPv4, NwProto: flow.IPProtoTCP, NwDst: 0xc6336401}, v4, v4.Match.Mask},
	} {
		var wc flow.Mask
		if got := c.Lookup(&tt.k, &wc); got != tt.want {
			t.Errorf("%s: Lookup = %p, want %p", tt.name, got, tt.want)
		}
		if wc != tt.wc {
			t.Errorf("%s: examined %x, want %x", tt.name, wc.Words(), tt.wc.Words())
		}
	}

	// One subtable, eth_type only, with more values than a filter holds.
	var many []*flow.Rule
	for i := range maxPre + 1 {
		r := &flow.Rule{Priority: 50}
		r.Match.Mask.EthType, r.Match.Key.EthType = 0xffff, uint16(0x9000+i)
		many = append(many, r)
	}
	if err := c.Apply(many, nil); err != nil {
		t.Fatal(err)
	}
	for i, r := range many {
		k := flow.Key{EthType: uint16(0x9000 + i)}
		if got := c.Lookup(&k, nil); got != r {
			t.Errorf("eth_type %#x: Lookup = %p, want %p", k.EthType, got, r)
		}
	}
	st := c.byMask[many[0].Match.Mask]
	if !st.preOff {
		t.Errorf("a subtable with %d prerequisite values keeps its filter", maxPre+1)
	}
	for _, s := range c.snap.Load().subs {
		if s.st == st && s.preMask != 0 {
			t.Errorf("the snapshot filters a subtable whose filter is off")
		}
	}
}

// TestPrerequisiteIndex checks that a snapshot's prerequisite index gives
// every prerequisite value the class its filters make of it (listed
// values, other values of listed eth_types, other eth_types), and that a
// filter of another mask leaves the snapshot without an index.
func TestPrerequisiteIndex(t *testing.T) {
	old := SetPreIndexMin(1) // these tables have few subtables
	t.Cleanup(func() { SetPreIndexMin(old) })
	rule := func(pri uint16, ethType uint16, proto uint8, protoMask uint8) *flow.Rule {
		r := &flow.Rule{Priority: pri}
		r.Match.Mask.EthType, r.Match.Key.EthType = 0xffff, ethType
		r.Match.Mask.NwProto, r.Match.Key.NwProto = protoMask, proto
		r.Match.Mask.NwDst, r.Match.Key.NwDst = 0xff000000, uint32(pri)<<24
		return r
	}
	v4 := rule(50, flow.EthTypeIPv4, 0, 0)
	// Two filtered subtables (the TCP rule's mask is wider) and one
	// without a filter.
	tcp := rule(90, flow.EthTypeIPv4, flow.IPProtoTCP, 0xff)
	tcp.Match.Mask.TpDst, tcp.Match.Key.TpDst = 0xffff, 80
	c := New()
	if err := c.Apply([]*flow.Rule{
		tcp,
		rule(80, flow.EthTypeIPv4, flow.IPProtoUDP, 0xff),
		rule(70, flow.EthTypeIPv6, flow.IPProtoTCP, 0xff),
		rule(60, flow.EthTypeARP, 0, 0),
		v4,
		{Priority: 1},
	}, nil); err != nil {
		t.Fatal(err)
	}
	s := c.snap.Load()
	if s.pre == nil {
		t.Fatal("no prerequisite index for filters on eth_type and ip_proto")
	}
	for _, pv := range []uint32{
		0x080006, 0x080011, 0x86dd06, 0x080600, // listed
		0x080001, 0x080000, 0x86dd11, 0x080601, // listed eth_types
		0x88cc00, 0x000000, 0xffffff, 0x86dd00, // others
	} {
		got, want := s.pre.class(pv), classOf(s.subs, pv)
		if !slices.Equal(got.admit, want.admit) || !slices.Equal(got.pm, want.pm) {
			t.Errorf("class of %#06x: admits %v, compares %x; want %v, %x", pv, got.admit, got.pm, want.admit, want.pm)
		}
	}

	// ip_proto without eth_type: a filter of mask 0xff.
	odd := rule(40, 0, flow.IPProtoICMP, 0xff)
	odd.Match.Mask.EthType = 0
	if err := c.Apply([]*flow.Rule{odd}, nil); err != nil {
		t.Fatal(err)
	}
	if c.snap.Load().pre != nil {
		t.Fatal("a prerequisite index for a filter on ip_proto alone")
	}
	for _, tt := range []struct {
		k    flow.Key
		want *flow.Rule
	}{
		{flow.Key{EthType: flow.EthTypeIPv6, NwProto: flow.IPProtoICMP, NwDst: 40 << 24}, odd},
		{flow.Key{EthType: flow.EthTypeIPv4, NwProto: flow.IPProtoICMP, NwDst: 50 << 24}, v4},
	} {
		if got := c.Lookup(&tt.k, nil); got != tt.want {
			t.Errorf("Lookup(%#x/%d) = %p, want %p", tt.k.EthType, tt.k.NwProto, got, tt.want)
		}
	}
}

// hasHash reports whether the set whose slots are given holds h, a value
// from setValue: the probe that subRef.visit writes out, for the tests.
func hasHash(slots []atomic.Uint64, shift uint8, h uint64) bool {
	mask := uint64(len(slots) - 1)
	for i := h >> (shift & 63); ; i = (i + 1) & mask {
		switch setSlot(slots, i) {
		case h:
			return true
		case setEmpty:
			return false
		}
	}
}

// TestNodeHeads checks that every node's first.heads says whether its first
// entry heads its list, through inserts ahead of and behind the first entry,
// removals, replacing upserts and failed batches, on nodes holding many
// rules of few priorities.
func TestNodeHeads(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	c := New()
	var live []*flow.Rule
	rule := func() *flow.Rule {
		r := &flow.Rule{Priority: uint16(rnd.IntN(4))}
		r.Match.Mask.InPort, r.Match.Key.InPort = ^uint32(0), uint32(rnd.IntN(3))
		return r
	}
	check := func(op string) {
		t.Helper()
		nodes := 0
		for _, st := range c.subtables {
			eachNode(st.table.slots, func(n *node) bool {
				nodes++
				if got, want := n.first.heads.Load(), n.head.Load() == &n.first; got != want {
					t.Fatalf("after %s: first.heads = %v, but the first entry heading the list is %v", op, got, want)
				}
				return true
			})
		}
		if len(live) > 0 && nodes == 0 {
			t.Fatalf("after %s: no nodes for %d rules", op, len(live))
		}
	}
	for range 3000 {
		switch op := rnd.IntN(5); {
		case op <= 1 || len(live) == 0:
			r := rule()
			if err := c.Insert(r); err != nil {
				t.Fatal(err)
			}
			live = append(live, r)
			check("insert")
		case op == 2:
			i := rnd.IntN(len(live))
			if !c.Remove(live[i]) {
				t.Fatal("Remove did not find a rule")
			}
			live = slices.Delete(live, i, i+1)
			check("remove")
		case op == 3:
			r := rule()
			var old *flow.Rule
			if err := c.Upsert([]*flow.Rule{r}, func(o, _ *flow.Rule) { old = o }); err != nil {
				t.Fatal(err)
			}
			if old != nil {
				live = slices.DeleteFunc(live, func(x *flow.Rule) bool { return x == old })
			}
			live = append(live, r)
			check("upsert")
		default:
			// A batch that fails on its last rule, already in the
			// classifier, is taken back.
			if err := c.Upsert([]*flow.Rule{rule(), rule(), live[rnd.IntN(len(live))]}, nil); err == nil {
				t.Fatal("Upsert of a rule already in the classifier succeeded")
			}
			check("failed upsert")
		}
		if c.Len() != len(live) {
			t.Fatalf("Len = %d, want %d", c.Len(), len(live))
		}
	}
}

// TestNodeAlignment checks what node's layout relies on: nodes start a
// cache line, so that the fields a lookup reads on a hit share one.
func TestNodeAlignment(t *testing.T) {
	for i := range 1000 {
		n := newNode(uint64(i), 3)
		if a := uintptr(unsafe.Pointer(n)) % 64; a != 0 {
			t.Fatalf("a node is at %d bytes into a cache line", a)
		}
	}
}

// TestMatchesInline checks the fixed-width compare against matches on keys
// that differ from a node's in one masked word, in one unmasked bit, or
// not at all, for masks of one to inlWords words; and that masks of more
// words get no inline list.
func TestMatchesInline(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	for nw := 1; nw <= inlWords+1; nw++ {
		var m flow.Mask
		mw := m.Words()
		for _, i := range rnd.Perm(flow.KeyWords)[:nw] {
			mw[i] = rnd.Uint64() | 1<<63 // leave some bits unmasked
			mw[i] &^= 1 << rnd.IntN(63)
		}
		st := newSubtable(&m, rnd.Uint64())
		if (st.inl == nil) != (nw > inlWords) {
			t.Fatalf("%d words: inline list %v", nw, st.inl)
		}
		if st.inl == nil {
			continue
		}
		for range 200 {
			var k flow.Key
			kw := k.Words()
			for i := range kw {
				kw[i] = rnd.Uint64()
			}
			n := newNode(0, len(st.all))
			for i, w := range st.all {
				n.vals[i] = kw[w.idx] & w.m
			}
			want := true
			switch rnd.IntN(3) {
			case 0: // a masked bit differs
				w := st.all[rnd.IntN(len(st.all))]
				b := uint64(0)
				for w.m&b == 0 {
					b = 1 << rnd.IntN(64)
				}
				kw[w.idx] ^= b
				want = false
			case 1: // an unmasked bit differs
				w := st.all[rnd.IntN(len(st.all))]
				b := uint64(0)
				for b == 0 || w.m&b != 0 {
					b = 1 << rnd.IntN(64)
				}
				kw[w.idx] ^= b
			}
			if got := n.matches(kw, st.all); got != want {
				t.Fatalf("%d words: matches = %v, want %v", nw, got, want)
			}
			if got := n.matchesInline(kw, st.inl); got != want {
				t.Fatalf("%d words: matchesInline = %v, want %v", nw, got, want)
			}
		}
	}
}

// TestSpread checks that the prerequisite index's row table gives each
// listed eth_type a slot of its own, and gives up (no index) only when the
// table would grow beyond its bound.
func TestSpread(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 5, 12, 40, 300} {
		seen := map[uint32]bool{}
		var eths []uint32
		for len(eths) < n {
			if e := uint32(rnd.IntN(1 << 16)); !seen[e] {
				seen[e] = true
				eths = append(eths, e)
			}
		}
		rows, mul, shift := spread(eths)
		if rows == nil {
			if n <= 40 {
				t.Errorf("%d eth_types: no table", n)
			}
			continue
		}
		if len(rows) > maxRowsPer*n {
			t.Errorf("%d eth_types: %d rows", n, len(rows))
		}
		placed := 0
		for i, r := range rows {
			if r.eth == noPre {
				continue
			}
			placed++
			if want := (r.eth * mul) >> shift; uint32(i) != want {
				t.Errorf("%d eth_types: %#x in slot %d, its slot is %d", n, r.eth, i, want)
			}
		}
		if placed != n {
			t.Errorf("%d eth_types: %d placed", n, placed)
		}
	}
}
