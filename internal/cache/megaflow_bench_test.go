package cache

import (
	"math/rand/v2"
	"testing"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// tenMasks are ten distinct megaflow masks of the kinds translation
// produces: L2 switching, L3 prefixes, L4 ports, VLANs.
func tenMasks() []flow.Mask {
	ones6 := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	var out []flow.Mask
	base := flow.Mask{InPort: ^uint32(0), EthType: 0xffff}
	add := func(f func(m *flow.Mask)) {
		m := base
		f(&m)
		out = append(out, m)
	}
	add(func(m *flow.Mask) {})
	add(func(m *flow.Mask) { m.EthDst = ones6 })
	add(func(m *flow.Mask) { m.EthDst, m.EthSrc = ones6, ones6; m.VLANs[0].TCI = 0xffff })
	add(func(m *flow.Mask) { m.NwDst = 0xffffff00 })
	add(func(m *flow.Mask) { m.NwDst = ^uint32(0) })
	add(func(m *flow.Mask) { m.NwSrc, m.NwDst = ^uint32(0), ^uint32(0) })
	add(func(m *flow.Mask) { m.NwDst, m.NwProto, m.TpDst = ^uint32(0), 0xff, 0xffff })
	add(func(m *flow.Mask) { m.NwProto, m.TpSrc, m.TpDst = 0xff, 0xffff, 0xffff })
	add(func(m *flow.Mask) { m.VLANs[0].TCI = 0x1fff })
	add(func(m *flow.Mask) { m.NwTOS = 0xfc; m.NwFrag = 0xff })
	return out
}

// BenchmarkMegaflowHit looks up keys in a megaflow cache of 1,000 entries
// in 10 masks (100 each), bypassing the exact-match cache; every lookup
// hits, the hit's mask chosen uniformly, so on average half of the
// subtables are searched before the hit.
func BenchmarkMegaflowHit(b *testing.B) {
	c := New(pipeline.New(pipeline.Config{}), Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	masks := tenMasks()
	var keys []flow.Key
	for i := 0; i < 1000; i++ {
		var k flow.Key
		w := k.Words()
		for j := flow.PipelineWords; j < flow.KeyWords; j++ {
			w[j] = rng.Uint64()
		}
		m := masks[i%len(masks)]
		res := &pipeline.Result{Mask: m, Actions: []action.Action{{Kind: action.Output, Port: 2}}, Gen: 1}
		c.install(&k, res)
		keys = append(keys, k)
	}
	if s := c.Stats(); s.Masks != 10 || s.Entries != 1000 {
		b.Fatalf("cache has %d masks and %d entries, want 10 and 1000", s.Masks, s.Entries)
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c.mf.lookup(&keys[i%len(keys)]) == nil {
			b.Fatal("megaflow miss")
		}
	}
}

func TestMegaflowLookupAllocs(t *testing.T) {
	c := New(pipeline.New(pipeline.Config{}), Config{})
	var k flow.Key
	k.InPort = 1
	c.install(&k, &pipeline.Result{Mask: tenMasks()[0], Gen: 1})
	if a := testing.AllocsPerRun(1000, func() { c.mf.lookup(&k) }); a != 0 {
		t.Errorf("megaflow lookup allocates %v times", a)
	}
}
