package classifier_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/classifier"
	"github.com/dvs-project/dvs/internal/flow"
)

// templatesWithMasks returns n templates with n distinct masks, each with
// at least 12 bits of its own besides eth_type and nw_proto (so that rules
// with the same mask mostly differ).
func templatesWithMasks(g *gen, n int) []template {
	var ts []template
	seen := map[flow.Mask]bool{}
	for len(ts) < n {
		t := g.template()
		m := g.match(&t).Mask
		if seen[m] || m.Bits()-t.fixed.Mask.Bits() < 12 {
			continue
		}
		seen[m] = true
		ts = append(ts, t)
	}
	return ts
}

// benchClassifier returns a classifier with nRules rules over nMasks masks
// and packets for it: nine in ten derived from a rule (a fifth of those
// perturbed), the rest random pool packets. Each mask is a class of rules
// with its own band of ten priorities, as in a real pipeline.
func benchClassifier(g *gen, nRules, nMasks int) (*classifier.Classifier, []flow.Key) {
	ts := templatesWithMasks(g, nMasks)
	bands := make([]int, len(ts))
	for i := range bands {
		bands[i] = 100 * (1 + g.rnd.IntN(40))
	}
	c := classifier.New()
	var rules []*flow.Rule
	for i := range nRules {
		ti := i % len(ts) // every mask gets rules
		r := &flow.Rule{Match: g.match(&ts[ti]), Priority: uint16(bands[ti] + g.rnd.IntN(10))}
		rules = append(rules, r)
	}
	if err := c.Apply(rules, nil); err != nil {
		panic(err)
	}
	if c.Subtables() != nMasks {
		panic(fmt.Sprintf("%d subtables, want %d", c.Subtables(), nMasks))
	}
	keys := make([]flow.Key, 4096)
	for i := range keys {
		if g.rnd.IntN(10) == 0 {
			keys[i] = g.packet()
		} else {
			keys[i] = g.packetFor(&rules[g.rnd.IntN(len(rules))].Match, 20)
		}
	}
	return c, keys
}

// BenchmarkClassifierLookup looks up packets in three random rule sets
// (1,000 rules over 30 masks each; they differ in how many subtables a
// lookup visits before the early exit), with and without mask tracking.
// Besides time it reports the share of packets that hit a rule and the
// average number of bits in the mask.
func BenchmarkClassifierLookup(b *testing.B) {
	for _, set := range []uint64{42, 7, 1} {
		c, keys := benchClassifier(newGen(set), 1000, 30)
		hits, bits := 0, 0
		for _, k := range keys {
			var wc flow.Mask
			if c.Lookup(&k, &wc) != nil {
				hits++
			}
			bits += wc.Bits()
		}
		for _, wcOn := range []bool{true, false} {
			if !wcOn && set != 42 {
				continue
			}
			b.Run(fmt.Sprintf("rules=%d/wc=%v", set, wcOn), func(b *testing.B) {
				b.ReportAllocs()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var wc flow.Mask
				i := 0
				start, cpu := time.Now(), threadCPU()
				for b.Loop() {
					k := &keys[i&(len(keys)-1)]
					i++
					if wcOn {
						wc = flow.Mask{}
						c.Lookup(k, &wc)
					} else {
						c.Lookup(k, nil)
					}
				}
				b.ReportMetric(float64(i)/time.Since(start).Seconds()/1e6, "Mlookups/s")
				b.ReportMetric(float64(threadCPU()-cpu)/float64(i), "cpu-ns/op")
				b.ReportMetric(float64(hits)/float64(len(keys)), "hit-ratio")
				b.ReportMetric(float64(bits)/float64(len(keys)), "wc-bits")
			})
		}
	}
}

// randomMatch returns a match of shape t with random values wherever the
// mask looks, so matches rarely repeat.
func randomMatch(g *gen, t *template) flow.Match {
	m := g.match(t)
	k := g.randomKey()
	kw, mw, fw, fm := k.Words(), m.Mask.Words(), t.fixed.Key.Words(), t.fixed.Mask.Words()
	for i := range kw {
		kw[i] = kw[i]&mw[i]&^fm[i] | fw[i]
	}
	m.Key = k
	return m
}

// BenchmarkClassifierInsert inserts 100,000 rules over 30 masks, one Insert
// at a time and in batches of 1,000.
func BenchmarkClassifierInsert(b *testing.B) {
	const n = 100000
	g := newGen(43)
	ts := templatesWithMasks(g, 30)
	rules := make([]*flow.Rule, n)
	for i := range rules {
		t := &ts[i%len(ts)]
		rules[i] = &flow.Rule{Match: randomMatch(g, t), Priority: uint16(g.rnd.IntN(65536))}
	}
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			for b.Loop() {
				c := classifier.New()
				start := time.Now()
				for i := 0; i < n; i += batch {
					if err := c.Apply(rules[i:i+batch], nil); err != nil {
						b.Fatal(err)
					}
				}
				total += time.Since(start)
				if c.Len() != n {
					b.Fatalf("Len = %d", c.Len())
				}
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/n, "ns/insert")
		})
	}
}

// BenchmarkClassifierRemove removes 100,000 rules one at a time.
func BenchmarkClassifierRemove(b *testing.B) {
	const n = 100000
	g := newGen(44)
	ts := templatesWithMasks(g, 30)
	rules := make([]*flow.Rule, n)
	for i := range rules {
		rules[i] = &flow.Rule{Match: randomMatch(g, &ts[i%len(ts)]), Priority: uint16(g.rnd.IntN(65536))}
	}
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		c := classifier.New()
		if err := c.Apply(rules, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for _, r := range rules {
			c.Remove(r)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/n, "ns/remove")
}

// BenchmarkClassifierUpsert upserts 100,000 rules of one mask into an empty
// classifier in one batch, as the commit of ovs-ofctl --bundle add-flows
// does (tcp, nw_src and tp_dst exact, seven priorities).
func BenchmarkClassifierUpsert(b *testing.B) {
	const n = 100000
	field := func(id flow.FieldID) *flow.Field { return flow.FieldByID(id) }
	var total time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		rules := make([]*flow.Rule, n)
		for i := range rules {
			r := &flow.Rule{Priority: uint16(100 + i%7)}
			r.Match.Set(field(flow.FieldEthType), flow.ValueOf(flow.EthTypeIPv4))
			r.Match.Set(field(flow.FieldIPProto), flow.ValueOf(flow.IPProtoTCP))
			r.Match.Set(field(flow.FieldIPv4Src), flow.ValueOf(uint64(10<<24|i)))
			r.Match.Set(field(flow.FieldTpDst), flow.ValueOf(uint64(1+i%1000)))
			rules[i] = r
		}
		c := classifier.New()
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		if err := c.Upsert(rules, nil); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if c.Len() != n {
			b.Fatalf("Len = %d", c.Len())
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/n, "ns/rule")
}
