package classifier_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/dvs-project/dvs/internal/classifier"
	"github.com/dvs-project/dvs/internal/classifier/reference"
	"github.com/dvs-project/dvs/internal/flow"
)

// fv is one field of a test match: the field, its value and its mask (zero
// for exact).
type fv struct {
	id      flow.FieldID
	v, mask uint64
}

func match(fs ...fv) flow.Match {
	var m flow.Match
	for _, f := range fs {
		mask := fld(f.id).Ones()
		if f.mask != 0 {
			mask = flow.ValueOf(f.mask)
		}
		m.SetMasked(fld(f.id), flow.ValueOf(f.v), mask)
	}
	return m
}

func rule(p uint16, fs ...fv) *flow.Rule { return &flow.Rule{Priority: p, Match: match(fs...)} }

func key(fs ...fv) flow.Key {
	var k flow.Key
	for _, f := range fs {
		fld(f.id).Set(&k, flow.ValueOf(f.v))
	}
	return k
}

// table is what the classifier and the reference have in common, so that
// tests can drive either.
type table interface {
	Insert(*flow.Rule) error
	Remove(*flow.Rule) bool
	Lookup(*flow.Key, *flow.Mask) *flow.Rule
	Find(*flow.Match, uint16) *flow.Rule
	Len() int
}

var (
	_ table = (*classifier.Classifier)(nil)
	_ table = (*reference.Classifier)(nil)
)

func mustInsert(t *testing.T, c *classifier.Classifier, rs ...*flow.Rule) {
	t.Helper()
	for _, r := range rs {
		if err := c.Insert(r); err != nil {
			t.Fatalf("Insert: %v", err)
		}
	}
}

var (
	ipv4  = fv{id: flow.FieldEthType, v: flow.EthTypeIPv4}
	arp   = fv{id: flow.FieldEthType, v: flow.EthTypeARP}
	tcp   = fv{id: flow.FieldIPProto, v: flow.IPProtoTCP}
	port1 = fv{id: flow.FieldInPort, v: 1}
	port2 = fv{id: flow.FieldInPort, v: 2}
)

func tpDst(p uint64) fv                                  { return fv{id: flow.FieldTpDst, v: p} }
func nwDst(a, m uint64) fv                               { return fv{id: flow.FieldIPv4Dst, v: a, mask: m} }
func ethDst(mac uint64) fv                               { return fv{id: flow.FieldEthDst, v: mac} }
func metadata(v, m uint64) fv                            { return fv{id: flow.FieldMetadata, v: v, mask: m} }
func fieldBits(m *flow.Mask, id flow.FieldID) flow.Value { return fld(id).GetMask(m) }

func TestEmpty(t *testing.T) {
	c := classifier.New()
	k := key(port1, ipv4)
	var wc flow.Mask
	if r := c.Lookup(&k, &wc); r != nil {
		t.Fatalf("Lookup in an empty classifier = %v, want nil", r)
	}
	if !wc.IsZero() {
		t.Errorf("empty classifier examined %x", wc.Words())
	}
	if c.Len() != 0 || c.Subtables() != 0 {
		t.Errorf("Len, Subtables = %d, %d; want 0, 0", c.Len(), c.Subtables())
	}
	if r := c.Find(&flow.Match{}, 0); r != nil {
		t.Errorf("Find in an empty classifier = %v", r)
	}
	c.Rules(func(*flow.Rule) bool { t.Error("Rules reported a rule"); return true })
	if c.Remove(rule(1)) {
		t.Error("Remove from an empty classifier succeeded")
	}
}

func TestCatchAll(t *testing.T) {
	c := classifier.New()
	all := rule(0)
	mustInsert(t, c, all)
	for _, k := range []flow.Key{{}, key(port1, ipv4, tcp, tpDst(80)), newGen(1).randomKey()} {
		var wc flow.Mask
		if r := c.Lookup(&k, &wc); r != all {
			t.Errorf("Lookup(%x) = %p, want the catch-all", k.Words(), r)
		}
		if !wc.IsZero() {
			t.Errorf("a catch-all examined %x", wc.Words())
		}
	}
	// A more specific rule of lower priority never wins and is never
	// examined.
	mustInsert(t, c, rule(0, port1))
	k := key(port1)
	var wc flow.Mask
	if r := c.Lookup(&k, &wc); pri(r) != 0 {
		t.Errorf("Lookup = %v", r)
	}
	if !wc.IsZero() {
		t.Errorf("ties with the catch-all examined %x", wc.Words())
	}
}

func TestPriorityOrder(t *testing.T) {
	c := classifier.New()
	low := rule(10, ipv4)
	mid := rule(20, ipv4, nwDst(0x0a000000, 0xff000000))
	high := rule(30, ipv4, nwDst(0x0a000001, 0))
	other := rule(40, port2)
	mustInsert(t, c, mid, other, low, high)
	tests := []struct {
		name string
		k    flow.Key
		want *flow.Rule
	}{
		{"host route", key(port1, ipv4, nwDst(0x0a000001, 0)), high},
		{"prefix", key(port1, ipv4, nwDst(0x0a000002, 0)), mid},
		{"any ip", key(port1, ipv4, nwDst(0x0b000001, 0)), low},
		{"highest wins over all", key(port2, ipv4, nwDst(0x0a000001, 0)), other},
		{"no match", key(port1, arp), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Lookup(&tt.k, nil); got != tt.want {
				t.Errorf("Lookup = priority %d, want %d", pri(got), pri(tt.want))
			}
		})
	}
}

func TestSameMatchDifferentPriorities(t *testing.T) {
	c := classifier.New()
	a := rule(10, port1)
	b := rule(30, port1)
	d := rule(20, port1)
	dup := rule(20, port1)
	mustInsert(t, c, a, b, d, dup)
	if c.Subtables() != 1 {
		t.Fatalf("Subtables = %d, want 1", c.Subtables())
	}
	k := key(port1)
	steps := []struct {
		remove *flow.Rule
		want   *flow.Rule
	}{
		{nil, b}, {b, d}, {d, dup}, {dup, a}, {a, nil},
	}
	for _, s := range steps {
		if s.remove != nil && !c.Remove(s.remove) {
			t.Fatalf("Remove(priority %d) failed", s.remove.Priority)
		}
		if got := c.Lookup(&k, nil); got != s.want {
			t.Fatalf("after removing priority %d: Lookup = %p (priority %d), want %p", pri(s.remove), got, pri(got), s.want)
		}
	}
}

func TestFind(t *testing.T) {
	c := classifier.New()
	a := rule(10, port1)
	b := rule(20, port1)
	dup := rule(20, port1)
	x := rule(10, port1, ipv4)
	mustInsert(t, c, a, b, dup, x)
	m := match(port1)
	for _, tt := range []struct {
		m    flow.Match
		p    uint16
		want *flow.Rule
	}{
		{m, 10, a}, {m, 20, b}, {m, 15, nil}, {match(port2), 10, nil},
		{match(port1, ipv4), 10, x}, {match(ipv4), 10, nil},
	} {
		if got := c.Find(&tt.m, tt.p); got != tt.want {
			t.Errorf("Find(%x/%x, %d) = %p, want %p", tt.m.Key.Words(), tt.m.Mask.Words(), tt.p, got, tt.want)
		}
	}
	c.Remove(b)
	if got := c.Find(&m, 20); got != dup {
		t.Errorf("Find after removing the first of two equal rules = %p, want the second", got)
	}
}

func TestRemoveLastRuleDropsSubtable(t *testing.T) {
	c := classifier.New()
	a := rule(10, port1)
	b := rule(20, port1, ipv4)
	mustInsert(t, c, a, b)
	if c.Subtables() != 2 {
		t.Fatalf("Subtables = %d, want 2", c.Subtables())
	}
	if !c.Remove(b) {
		t.Fatal("Remove failed")
	}
	if c.Subtables() != 1 || c.Len() != 1 {
		t.Fatalf("after removing the last rule of a mask: Subtables, Len = %d, %d; want 1, 1", c.Subtables(), c.Len())
	}
	// The removed subtable's bits are no longer examined.
	k := key(port1, ipv4)
	var wc flow.Mask
	if r := c.Lookup(&k, &wc); r != a {
		t.Fatalf("Lookup = %v, want a", r)
	}
	if !fld(flow.FieldEthType).IsWildcard(&wc) {
		t.Errorf("eth_type still examined after its subtable went away")
	}
	// A new rule with the removed mask brings a subtable back.
	b2 := rule(20, port1, ipv4)
	mustInsert(t, c, b2)
	if r := c.Lookup(&k, nil); r != b2 || c.Subtables() != 2 {
		t.Errorf("after re-adding: Lookup = %p, Subtables = %d", r, c.Subtables())
	}
	c.Remove(a)
	c.Remove(b2)
	if c.Subtables() != 0 || c.Len() != 0 {
		t.Errorf("emptied classifier: Subtables, Len = %d, %d", c.Subtables(), c.Len())
	}
}

func TestEarlyExit(t *testing.T) {
	c := classifier.New()
	high := rule(100, port1)
	low := rule(50, ethDst(0x020000000001))
	mustInsert(t, c, high, low)

	k := key(port1, ethDst(0x020000000001))
	var wc flow.Mask
	if r := c.Lookup(&k, &wc); r != high {
		t.Fatalf("Lookup = %v, want the priority 100 rule", r)
	}
	if !fld(flow.FieldInPort).IsExact(&wc) {
		t.Errorf("in_port not examined: %x", wc.Words())
	}
	if !fld(flow.FieldEthDst).IsWildcard(&wc) {
		t.Errorf("the lower-priority subtable was examined after a better match: eth_dst mask %x", fieldBits(&wc, flow.FieldEthDst))
	}

	// Without the better match the lower subtable is visited.
	k = key(port2, ethDst(0x020000000001))
	wc = flow.Mask{}
	if r := c.Lookup(&k, &wc); r != low {
		t.Fatalf("Lookup = %v, want the priority 50 rule", r)
	}
	if !fld(flow.FieldInPort).IsExact(&wc) || !fld(flow.FieldEthDst).IsExact(&wc) {
		t.Errorf("mask %x lacks in_port or eth_dst", wc.Words())
	}
}

// TestStagedMask checks that a rule on TCP ports does not make lookups of
// other traffic examine ports.
func TestStagedMask(t *testing.T) {
	c := classifier.New()
	web := rule(100, ipv4, tcp, tpDst(80))
	meta := rule(90, metadata(7, 0), port1, ipv4, tcp, tpDst(22))
	fallback := rule(1, port1)
	mustInsert(t, c, web, meta, fallback)

	tests := []struct {
		name       string
		k          flow.Key
		want       *flow.Rule
		examined   []flow.FieldID
		unexamined []flow.FieldID
	}{
		{
			name:       "arp stops at L2",
			k:          key(port1, arp),
			want:       fallback,
			examined:   []flow.FieldID{flow.FieldEthType, flow.FieldInPort, flow.FieldMetadata},
			unexamined: []flow.FieldID{flow.FieldIPProto, flow.FieldTpDst},
		},
		{
			name:       "udp stops at L3",
			k:          key(port1, ipv4, fv{id: flow.FieldIPProto, v: flow.IPProtoUDP}, tpDst(80)),
			want:       fallback,
			examined:   []flow.FieldID{flow.FieldEthType, flow.FieldIPProto},
			unexamined: []flow.FieldID{flow.FieldTpDst},
		},
		{
			name:       "other metadata stops at stage 0",
			k:          key(metadata(8, 0), port1, ipv4, fv{id: flow.FieldIPProto, v: flow.IPProtoUDP}),
			want:       fallback,
			examined:   []flow.FieldID{flow.FieldMetadata},
			unexamined: []flow.FieldID{flow.FieldTpDst},
		},
		{
			name:     "tcp examines ports",
			k:        key(port1, ipv4, tcp, tpDst(443)),
			want:     fallback,
			examined: []flow.FieldID{flow.FieldEthType, flow.FieldIPProto, flow.FieldTpDst},
		},
		{
			name:     "web",
			k:        key(port1, ipv4, tcp, tpDst(80)),
			want:     web,
			examined: []flow.FieldID{flow.FieldEthType, flow.FieldIPProto, flow.FieldTpDst},
			// The early exit skips the other subtables.
			unexamined: []flow.FieldID{flow.FieldInPort, flow.FieldMetadata},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wc flow.Mask
			if got := c.Lookup(&tt.k, &wc); got != tt.want {
				t.Fatalf("Lookup = priority %d, want %d", pri(got), pri(tt.want))
			}
			for _, id := range tt.examined {
				if !fld(id).IsExact(&wc) {
					t.Errorf("%s not examined (mask %x)", fld(id).Name, fieldBits(&wc, id))
				}
			}
			for _, id := range tt.unexamined {
				if !fld(id).IsWildcard(&wc) {
					t.Errorf("%s examined (mask %x)", fld(id).Name, fieldBits(&wc, id))
				}
			}
		})
	}
}

func TestApply(t *testing.T) {
	c := classifier.New()
	a, b, x := rule(10, port1), rule(20, port1), rule(30, port2)
	if err := c.Apply([]*flow.Rule{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply([]*flow.Rule{x, a}, nil); !errors.Is(err, classifier.ErrRuleExists) {
		t.Errorf("inserting a present rule: err = %v, want ErrRuleExists", err)
	}
	if err := c.Apply([]*flow.Rule{x, x}, nil); !errors.Is(err, classifier.ErrRuleExists) {
		t.Errorf("inserting a rule twice: err = %v, want ErrRuleExists", err)
	}
	if err := c.Apply([]*flow.Rule{nil}, []*flow.Rule{a}); !errors.Is(err, classifier.ErrNilRule) {
		t.Errorf("inserting nil: err = %v, want ErrNilRule", err)
	}
	if c.Len() != 2 || c.Find(&a.Match, 10) != a {
		t.Fatalf("failed batches changed the classifier: Len = %d", c.Len())
	}

	// Removing and re-inserting one rule in a batch keeps it.
	if err := c.Apply([]*flow.Rule{a, x}, []*flow.Rule{a, b, b}); err != nil {
		t.Fatal(err)
	}
	k := key(port1)
	if got := c.Lookup(&k, nil); got != a || c.Len() != 2 {
		t.Errorf("after the batch: Lookup = %p, Len = %d; want a, 2", got, c.Len())
	}
	if c.Remove(b) {
		t.Error("b is still present")
	}
	// Removing an absent rule is ignored.
	if err := c.Apply(nil, []*flow.Rule{b}); err != nil {
		t.Errorf("removing an absent rule: %v", err)
	}
}

func TestUpsert(t *testing.T) {
	c := classifier.New()
	a, b := rule(10, port1), rule(20, port1)
	if err := c.Upsert([]*flow.Rule{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	// a2 replaces a; a3, later in the same batch, replaces a2.
	a2, a3, x := rule(10, port1), rule(10, port1), rule(30, port2)
	var got [][2]*flow.Rule
	if err := c.Upsert([]*flow.Rule{a2, x, a3}, func(old, r *flow.Rule) { got = append(got, [2]*flow.Rule{old, r}) }); err != nil {
		t.Fatal(err)
	}
	if want := [][2]*flow.Rule{{a, a2}, {a2, a3}}; !slices.Equal(got, want) {
		t.Errorf("replaced %v, want %v", got, want)
	}
	if c.Len() != 3 || c.Find(&a.Match, 10) != a3 || c.Find(&b.Match, 20) != b {
		t.Errorf("after the batch: Len = %d, Find(10) = %p (a3 %p)", c.Len(), c.Find(&a.Match, 10), a3)
	}
	if c.Remove(a) || c.Remove(a2) {
		t.Error("a replaced rule is still present")
	}

	// Failed batches change nothing, though the one with y twice replaced
	// a3 before it met the second y.
	y := rule(40, port2)
	for _, tt := range []struct {
		name  string
		rules []*flow.Rule
		want  error
	}{
		{"present", []*flow.Rule{y, b}, classifier.ErrRuleExists},
		{"twice", []*flow.Rule{y, rule(10, port1), y}, classifier.ErrRuleExists},
		{"nil", []*flow.Rule{y, nil}, classifier.ErrNilRule},
	} {
		if err := c.Upsert(tt.rules, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if c.Len() != 3 || c.Find(&a.Match, 10) != a3 || c.Find(&y.Match, 40) != nil {
			t.Fatalf("%s: the failed batch changed the classifier: Len = %d", tt.name, c.Len())
		}
	}
	// y was not left behind half-inserted: it can be upserted now.
	if err := c.Upsert([]*flow.Rule{y}, nil); err != nil || c.Len() != 4 {
		t.Fatalf("upserting y after the failures: %v, Len %d", err, c.Len())
	}

	// A failed batch leaves no subtable behind for a mask it brought,
	// whether it failed before or after its rules of that mask.
	subs := c.Subtables()
	z := func() *flow.Rule { return rule(50, arp) }
	for _, rs := range [][]*flow.Rule{{b, z()}, {z(), b}, {z(), rule(60, port1), b}} {
		if err := c.Upsert(rs, nil); !errors.Is(err, classifier.ErrRuleExists) {
			t.Fatalf("err = %v, want %v", err, classifier.ErrRuleExists)
		}
		if c.Subtables() != subs || c.Len() != 4 {
			t.Fatalf("after a failed batch with a new mask: %d subtables (want %d), Len %d", c.Subtables(), subs, c.Len())
		}
		k := flow.Key{EthType: flow.EthTypeARP}
		if r := c.Lookup(&k, nil); r != nil {
			t.Fatalf("a failed batch's rule %p is visible", r)
		}
	}
}

func TestRulesStops(t *testing.T) {
	c := classifier.New()
	for i := range 10 {
		mustInsert(t, c, rule(uint16(i), fv{id: flow.FieldInPort, v: uint64(i % 3)}))
	}
	n := 0
	c.Rules(func(*flow.Rule) bool { n++; return n < 4 })
	if n != 4 {
		t.Errorf("Rules went on after fn returned false: %d calls", n)
	}
	// fn may remove what it is given.
	c.Rules(func(r *flow.Rule) bool { c.Remove(r); return true })
	if c.Len() != 0 {
		t.Errorf("Len = %d after removing every rule from Rules", c.Len())
	}
}

func TestLookupAllocs(t *testing.T) {
	c, keys := benchClassifier(newGen(7), 1000, 30)
	var wc flow.Mask
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		wc = flow.Mask{}
		c.Lookup(&keys[i%len(keys)], &wc)
		i++
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per call", allocs)
	}
}

func TestManyRules(t *testing.T) {
	// Enough rules in one subtable to grow and shrink its tables several
	// times, removed in an order that takes the maximum priority down.
	c := classifier.New()
	var rs []*flow.Rule
	for i := range 5000 {
		r := rule(uint16(i), ipv4, nwDst(uint64(0x0a000000+i), 0), tpDst(uint64(i%7)), tcp)
		rs = append(rs, r)
	}
	if err := c.Apply(rs, nil); err != nil {
		t.Fatal(err)
	}
	for i := len(rs) - 1; i >= 0; i-- {
		if i%500 == 0 {
			for j := range i + 1 {
				k := key(ipv4, tcp, nwDst(uint64(0x0a000000+j), 0), tpDst(uint64(j%7)))
				if got := c.Lookup(&k, nil); got != rs[j] {
					t.Fatalf("with %d rules: Lookup of rule %d's key = priority %d", i+1, j, pri(got))
				}
			}
		}
		if !c.Remove(rs[i]) {
			t.Fatalf("Remove of rule %d failed", i)
		}
	}
	if c.Len() != 0 || c.Subtables() != 0 {
		t.Errorf("Len, Subtables = %d, %d", c.Len(), c.Subtables())
	}
}

// TestUpsertOneAllocs: upserting one rule (what a flow_mod does) that
// replaces another allocates its entry and the list of replaced entries,
// nothing for the batch's bookkeeping.
func TestUpsertOneAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	c := classifier.New()
	rs := make([]*flow.Rule, 1002)
	for i := range rs {
		rs[i] = rule(10, port1)
	}
	i := 0
	batch := make([]*flow.Rule, 1)
	got := testing.AllocsPerRun(1000, func() {
		batch[0] = rs[i]
		i++
		if err := c.Upsert(batch, nil); err != nil {
			t.Fatal(err)
		}
	})
	if got != 2 {
		t.Errorf("%v allocations per Upsert of one rule, want 2", got)
	}
}
