package meter

import (
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
)

// fakeClock is a time source that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64                    { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) int64 { return c.ns.Add(int64(d)) }

func newTable(t testing.TB, specs ...flow.MeterSpec) (*Table, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	c.ns.Store(1e12)
	tb := New(c.now)
	for _, s := range specs {
		if err := tb.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return tb, c
}

func drop(rate, burst uint32) flow.MeterBand {
	return flow.MeterBand{Type: flow.BandDrop, Rate: rate, Burst: burst}
}

func remark(rate, burst uint32, prec uint8) flow.MeterBand {
	return flow.MeterBand{Type: flow.BandDSCPRemark, Rate: rate, Burst: burst, PrecLevel: prec}
}

// run sends n packets of size bytes through meter id, spaced gap apart,
// and counts the verdicts.
func run(tb *Table, c *fakeClock, id uint32, n, size int, gap time.Duration) map[Verdict]int {
	got := map[Verdict]int{}
	for range n {
		got[tb.Apply(id, size, 1, c.now())]++
		c.advance(gap)
	}
	return got
}

var (
	pass    = Verdict{}
	dropped = Verdict{Drop: true}
)

func TestBucket(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec flow.MeterSpec
		size int
		// A burst of back-to-back packets, then packets every gap.
		burst, n int
		gap      time.Duration
		want     map[Verdict]int
	}{
		{
			// 1 Mb/s, 10 kbit bucket: ten 1000-bit packets at once.
			name: "kbps burst", size: 125, burst: 12,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterBurst, Bands: []flow.MeterBand{drop(1000, 10)}},
			want: map[Verdict]int{pass: 10, dropped: 2},
		},
		{
			// One 1000-bit packet per ms is exactly the rate; two per ms
			// is twice it, so half pass once the bucket is empty.
			name: "kbps at twice the rate", size: 125, burst: 10, n: 2000, gap: 500 * time.Microsecond,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterBurst, Bands: []flow.MeterBand{drop(1000, 10)}},
			want: map[Verdict]int{pass: 10 + 999, dropped: 1001},
		},
		{
			// Default burst: 100 ms at 100 packets/s is 10 packets; then
			// 495 ms at twice the rate credit 49 packets.
			name: "pktps default burst", size: 1500, burst: 15, n: 100, gap: 5 * time.Millisecond,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterPktps, Bands: []flow.MeterBand{drop(100, 0)}},
			want: map[Verdict]int{pass: 10 + 49, dropped: 5 + 51},
		},
		{
			// Burst given but without MeterBurst: ignored.
			name: "burst needs the flag", size: 64, burst: 15,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterPktps, Bands: []flow.MeterBand{drop(100, 3)}},
			want: map[Verdict]int{pass: 10, dropped: 5},
		},
		{
			name: "pktps burst", size: 64, burst: 5,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterPktps | flow.MeterBurst, Bands: []flow.MeterBand{drop(100, 3)}},
			want: map[Verdict]int{pass: 3, dropped: 2},
		},
		{
			// Default kbps burst is at least a full-size frame.
			name: "kbps default burst floor", size: 1518, burst: 2,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterKbps, Bands: []flow.MeterBand{drop(8, 0)}},
			want: map[Verdict]int{pass: 1, dropped: 1},
		},
		{
			// A packet bigger than the bucket passes when it is full and
			// leaves it in debt: 512 kbit take 502 ms to repay at 1 Mb/s,
			// so one in two passes at 300 ms intervals.
			name: "oversize packet", size: 64000, burst: 2, n: 4, gap: 300 * time.Millisecond,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterBurst, Bands: []flow.MeterBand{drop(1000, 10)}},
			want: map[Verdict]int{pass: 1 + 1, dropped: 1 + 3},
		},
		{
			name: "no bands", size: 64, burst: 100,
			spec: flow.MeterSpec{ID: 1, Flags: flow.MeterPktps},
			want: map[Verdict]int{pass: 100},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, c := newTable(t, tc.spec)
			got := run(tb, c, 1, tc.burst, tc.size, 0)
			for v, n := range run(tb, c, 1, tc.n, tc.size, tc.gap) {
				got[v] += n
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("verdicts (-want +got):\n-%v\n+%v", tc.want, got)
			}
		})
	}
}

// reference is a naive model of a meter, in exact rational arithmetic:
// each band's bucket fills at its rate up to its burst; a packet takes its
// cost from every bucket that holds it; the band that applies is the one
// with the highest rate among those that did not.
type reference struct {
	spec   flow.MeterSpec
	tokens []*big.Rat // bits or packets
	last   int64
}

func newReference(spec flow.MeterSpec, now int64) *reference {
	r := &reference{spec: spec, last: now}
	for _, b := range spec.Bands {
		r.tokens = append(r.tokens, r.burst(b))
	}
	return r
}

func (r *reference) burst(b flow.MeterBand) *big.Rat {
	if r.spec.Flags&flow.MeterKbps != 0 {
		return big.NewRat(int64(b.Burst)*1000, 1)
	}
	return big.NewRat(int64(b.Burst), 1)
}

func (r *reference) apply(size int, now int64) Verdict {
	cost := big.NewRat(1, 1)
	if r.spec.Flags&flow.MeterKbps != 0 {
		cost = big.NewRat(int64(size)*8, 1)
	}
	hit := -1
	for i, b := range r.spec.Bands {
		perNs := big.NewRat(int64(b.Rate), 1e9)
		if r.spec.Flags&flow.MeterKbps != 0 {
			perNs.Mul(perNs, big.NewRat(1000, 1))
		}
		tk := r.tokens[i]
		tk.Add(tk, perNs.Mul(perNs, big.NewRat(now-r.last, 1)))
		if max := r.burst(b); tk.Cmp(max) > 0 {
			tk.Set(max)
		}
		if tk.Cmp(cost) >= 0 {
			tk.Sub(tk, cost)
		} else if hit < 0 || b.Rate > r.spec.Bands[hit].Rate {
			hit = i
		}
	}
	r.last = now
	switch {
	case hit < 0:
		return pass
	case r.spec.Bands[hit].Type == flow.BandDrop:
		return dropped
	}
	return Verdict{PrecLevel: r.spec.Bands[hit].PrecLevel}
}

// TestHighestBand checks that only one band applies, the one with the
// highest rate below the measured rate, against the reference model.
func TestHighestBand(t *testing.T) {
	for _, tc := range []struct {
		spec flow.MeterSpec
		size int
		gap  time.Duration
		want map[Verdict]int // nil: only compare with the reference
	}{
		{spec: threeBands, gap: 20 * time.Millisecond, want: map[Verdict]int{pass: 100}},                   // 50 pkt/s
		{spec: threeBands, gap: 5 * time.Millisecond, want: map[Verdict]int{pass: 50, {PrecLevel: 2}: 50}}, // 200 pkt/s
		{spec: threeBands, gap: time.Second / 800},
		// 4000 pkt/s for 24.75 ms: the drop band passes 1 + 24.
		{spec: threeBands, gap: time.Second / 4000, want: map[Verdict]int{pass: 3, {PrecLevel: 2}: 10, {PrecLevel: 1}: 12, dropped: 75}},
		{spec: kbpsBands, size: 1000, gap: time.Millisecond},
		{spec: kbpsBands, size: 1000, gap: 100 * time.Microsecond},
		{spec: kbpsBands, size: 333, gap: 7 * time.Microsecond},
		{spec: kbpsBands, size: 1500, gap: 3 * time.Microsecond},
	} {
		t.Run(fmt.Sprintf("%d-%v", tc.spec.ID, tc.gap), func(t *testing.T) {
			size := max(tc.size, 100)
			tb, c := newTable(t, tc.spec)
			ref := newReference(tc.spec, c.now())
			got := map[Verdict]int{}
			for i := range 1000 {
				v := tb.Apply(tc.spec.ID, size, 1, c.now())
				if w := ref.apply(size, c.now()); v != w {
					t.Fatalf("packet %d: got %+v, reference says %+v", i, v, w)
				}
				got[v]++
				if i == 99 && tc.want != nil {
					for v, n := range tc.want {
						if got[v] != n {
							t.Errorf("%+v: got %d, want %d (all: %v)", v, got[v], n, got)
						}
					}
				}
				c.advance(tc.gap)
			}
			st := tb.Stats(tc.spec.ID)[0]
			if st.Packets != 1000 || st.Bytes != uint64(1000*size) {
				t.Errorf("stats: %+v", st)
			}
			// Band counters are in the spec's order.
			for i, b := range tc.spec.Bands {
				v := Verdict{Drop: b.Type == flow.BandDrop, PrecLevel: b.PrecLevel}
				if st.Bands[i].Packets != uint64(got[v]) || st.Bands[i].Bytes != uint64(size*got[v]) {
					t.Errorf("band %d: %+v, want %d packets", i, st.Bands[i], got[v])
				}
			}
		})
	}
}

var (
	threeBands = flow.MeterSpec{ID: 7, Flags: flow.MeterPktps | flow.MeterBurst | flow.MeterStats,
		Bands: []flow.MeterBand{remark(100, 1, 2), drop(1000, 1), remark(500, 1, 1)}}
	kbpsBands = flow.MeterSpec{ID: 8, Flags: flow.MeterKbps | flow.MeterBurst | flow.MeterStats,
		Bands: []flow.MeterBand{drop(1_000_000, 100), remark(10_000, 50, 1), remark(100_000, 20, 2)}}
)

func TestValidate(t *testing.T) {
	kbps := flow.MeterKbps
	for _, tc := range []struct {
		name string
		spec flow.MeterSpec
		want error
	}{
		{"ok", flow.MeterSpec{ID: 1, Flags: kbps, Bands: []flow.MeterBand{drop(1, 0), remark(2, 0, 1)}}, nil},
		{"max id", flow.MeterSpec{ID: flow.MeterMax, Flags: kbps}, nil},
		{"id 0", flow.MeterSpec{ID: 0, Flags: kbps}, ErrInvalidMeter},
		{"id above max", flow.MeterSpec{ID: flow.MeterMax + 1, Flags: kbps}, ErrInvalidMeter},
		{"controller id", flow.MeterSpec{ID: flow.MeterController, Flags: kbps}, ErrInvalidMeter},
		{"all id", flow.MeterSpec{ID: flow.MeterAll, Flags: kbps}, ErrInvalidMeter},
		{"kbps and pktps", flow.MeterSpec{ID: 1, Flags: kbps | flow.MeterPktps}, ErrBadFlags},
		{"no unit", flow.MeterSpec{ID: 1, Flags: flow.MeterStats}, ErrBadFlags},
		{"unknown flag", flow.MeterSpec{ID: 1, Flags: kbps | 1<<4}, ErrBadFlags},
		{"rate 0", flow.MeterSpec{ID: 1, Flags: kbps, Bands: []flow.MeterBand{drop(0, 0)}}, ErrBadRate},
		{"bad band", flow.MeterSpec{ID: 1, Flags: kbps, Bands: []flow.MeterBand{{Type: 0xffff, Rate: 1}}}, ErrBadBand},
		{"prec 0", flow.MeterSpec{ID: 1, Flags: kbps, Bands: []flow.MeterBand{remark(1, 0, 0)}}, ErrBadBandValue},
		{"too many bands", flow.MeterSpec{ID: 1, Flags: kbps, Bands: make([]flow.MeterBand, MaxBands+1)}, ErrOutOfBands},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, _ := newTable(t)
			err := tb.Add(tc.spec)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("Add: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAddModifyDelete(t *testing.T) {
	spec := flow.MeterSpec{ID: 300, Flags: flow.MeterPktps | flow.MeterBurst | flow.MeterStats, Bands: []flow.MeterBand{drop(10, 2)}}
	tb, c := newTable(t, spec)
	if err := tb.Add(spec); !errors.Is(err, ErrMeterExists) {
		t.Errorf("second Add: %v", err)
	}
	if err := tb.Modify(flow.MeterSpec{ID: 5, Flags: flow.MeterKbps}); !errors.Is(err, ErrUnknownMeter) {
		t.Errorf("Modify of a missing meter: %v", err)
	}
	if err := tb.Delete(5); !errors.Is(err, ErrUnknownMeter) {
		t.Errorf("Delete of a missing meter: %v", err)
	}
	run(tb, c, 300, 5, 100, 0)
	c.advance(3 * time.Second)
	if st := tb.Stats(300); len(st) != 1 || st[0].Packets != 5 || st[0].Bands[0].Packets != 3 || st[0].Duration != 3*time.Second {
		t.Errorf("stats: %+v", st)
	}
	// Modify: new bands, full buckets, zeroed counters, same duration.
	spec2 := flow.MeterSpec{ID: 300, Flags: flow.MeterPktps | flow.MeterStats, Bands: []flow.MeterBand{drop(10, 0), remark(20, 0, 1)}}
	if err := tb.Modify(spec2); err != nil {
		t.Fatal(err)
	}
	if got := tb.Configs(300); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(spec2) {
		t.Errorf("Configs after Modify: %+v", got)
	}
	if got := run(tb, c, 300, 1, 100, 0); got[pass] != 1 {
		t.Errorf("after Modify: %v", got)
	}
	c.advance(time.Second)
	if st := tb.Stats(300)[0]; st.Packets != 1 || len(st.Bands) != 2 || st.Duration != 4*time.Second {
		t.Errorf("stats after Modify: %+v", st)
	}
	// Without MeterStats nothing is counted.
	if err := tb.Add(flow.MeterSpec{ID: 1, Flags: flow.MeterKbps, Bands: []flow.MeterBand{drop(1, 0)}}); err != nil {
		t.Fatal(err)
	}
	run(tb, c, 1, 10, 100, 0)
	if st := tb.Stats(1)[0]; st.Packets != 0 || st.Bands[0].Packets != 0 {
		t.Errorf("counted without MeterStats: %+v", st)
	}
	if err := tb.Add(flow.MeterSpec{ID: 70000, Flags: flow.MeterKbps}); err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for _, s := range tb.Stats(flow.MeterAll) {
		ids = append(ids, s.ID)
	}
	if fmt.Sprint(ids) != "[1 300 70000]" || len(tb.Configs(flow.MeterAll)) != 3 || tb.Len() != 3 {
		t.Errorf("all meters: %v", ids)
	}
	if err := tb.Delete(300); err != nil || tb.Exists(300) || !tb.Exists(70000) || tb.Len() != 2 {
		t.Errorf("Delete(300): %v", err)
	}
	if got := tb.Apply(300, 100, 1, c.now()); got != pass {
		t.Errorf("a deleted meter gives %+v", got)
	}
	if err := tb.Delete(flow.MeterAll); err != nil || tb.Len() != 0 || tb.Exists(1) {
		t.Errorf("Delete(all): %v", err)
	}
	if got := tb.Stats(1); len(got) != 0 {
		t.Errorf("stats of a deleted meter: %v", got)
	}
}

func TestOutOfMeters(t *testing.T) {
	tb, _ := newTable(t)
	for id := uint32(1); id <= MaxMeters; id++ {
		if err := tb.Add(flow.MeterSpec{ID: id, Flags: flow.MeterKbps}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Add(flow.MeterSpec{ID: MaxMeters + 1, Flags: flow.MeterKbps}); !errors.Is(err, ErrOutOfMeters) {
		t.Errorf("Add beyond MaxMeters: %v", err)
	}
}

// TestConcurrent runs workers on one meter with a shared clock that moves
// 1 ns per packet, with control-plane changes to other meters alongside:
// what passes is the burst plus what the elapsed time credits, to within
// one packet, and every packet is counted.
func TestConcurrent(t *testing.T) {
	const workers, perWorker = 8, 20000
	// 1e6 packets/s is one per 1000 ns; 160000 ns credit 160 packets.
	spec := flow.MeterSpec{ID: 1, Flags: flow.MeterPktps | flow.MeterBurst | flow.MeterStats, Bands: []flow.MeterBand{drop(1_000_000, 10)}}
	tb, c := newTable(t, spec)
	start := c.now()
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				if tb.Apply(1, 64, 1, c.ns.Add(1)) == pass {
					passed.Add(1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			id := uint32(2 + i%5)
			tb.Add(flow.MeterSpec{ID: id, Flags: flow.MeterKbps})
			tb.Stats(flow.MeterAll)
			tb.Delete(id)
		}
	}()
	wg.Wait()
	elapsed := c.now() - start
	want := 10 + elapsed/1000
	if got := passed.Load(); got < want-1 || got > want {
		t.Errorf("passed %d packets, want %d (within 1)", got, want)
	}
	st := tb.Stats(1)[0]
	if st.Packets != workers*perWorker || st.Bands[0].Packets != uint64(workers*perWorker-passed.Load()) {
		t.Errorf("stats: %+v, passed %d", st, passed.Load())
	}
}

func TestApplyAllocs(t *testing.T) {
	tb, c := newTable(t, flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterStats, Bands: []flow.MeterBand{drop(1000, 0), remark(100, 0, 1)}},
		flow.MeterSpec{ID: 1000, Flags: flow.MeterPktps, Bands: []flow.MeterBand{drop(1000, 0)}})
	allocs := testing.AllocsPerRun(1000, func() {
		tb.Apply(1, 1000, 1, c.advance(time.Microsecond))
		tb.Apply(1000, 1000, 1, c.now())
		tb.Apply(5, 1000, 1, c.now())
	})
	if allocs != 0 {
		t.Errorf("Apply allocates %v times", allocs)
	}
}

func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		name string
		spec flow.MeterSpec
	}{
		{"1band", flow.MeterSpec{ID: 1, Flags: flow.MeterKbps, Bands: []flow.MeterBand{drop(10_000_000, 0)}}},
		{"1band-stats", flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterStats, Bands: []flow.MeterBand{drop(10_000_000, 0)}}},
		{"3bands-stats", flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterStats,
			Bands: []flow.MeterBand{drop(10_000_000, 0), remark(1_000_000, 0, 1), remark(100_000, 0, 2)}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tb, _ := newTable(b, bc.spec)
			now := Now()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				tb.Apply(1, 1000, 1, now+int64(i>>5)*1000) // a batch of 32 per µs
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			tb, _ := newTable(b, bc.spec)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				now := Now()
				for i := 0; pb.Next(); i++ {
					if i&31 == 0 {
						now = Now()
					}
					tb.Apply(1, 1000, 1, now)
				}
			})
		})
	}
}
