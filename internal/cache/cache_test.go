package cache_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
	"github.com/dvs-project/dvs/internal/pipeline"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func mustAdd(tb testing.TB, p *pipeline.Pipeline, s string) {
	tb.Helper()
	r, err := flowtext.ParseRule(s)
	if err != nil {
		tb.Fatalf("ParseRule(%q): %v", s, err)
	}
	if err := p.AddRule(r); err != nil {
		tb.Fatalf("AddRule(%q): %v", s, err)
	}
}

func seed(t *testing.T) uint64 {
	if s := os.Getenv("DVS_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 1
}

// TestNoStaleEntries changes rules, MACs, ports and VLANs at random under
// a stream of packets and checks that every packet gets exactly what a
// fresh translation at that moment gives.
func TestNoStaleEntries(t *testing.T) {
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, s))
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	p := pipeline.New(pipeline.Config{Now: clk.now})
	mustAdd(t, p, "priority=0,actions=NORMAL")
	c := cache.New(p, cache.Config{})
	w := c.NewWorker()
	for no := uint32(1); no <= 4; no++ {
		if err := p.SetPort(pipeline.Port{No: no, Name: fmt.Sprint("p", no), Up: true}); err != nil {
			t.Fatal(err)
		}
	}

	// A pool of frames over 4 ports, 4 MACs (and broadcast), 3 VLAN
	// states and a few L3/L4 variations.
	var keys []flow.Key
	macs := [][6]byte{testframe.MAC(1), testframe.MAC(2), testframe.MAC(3), testframe.MAC(4), testframe.Broadcast}
	for in := uint32(1); in <= 4; in++ {
		for _, src := range macs[:4] {
			for _, dst := range macs {
				for _, tags := range [][]testframe.Tag{nil, {{VID: 10}}, {{VID: 20}}} {
					f := testframe.Frame{Src: src, Dst: dst, VLANs: tags, Src4: netip.MustParseAddr("198.51.100.1"),
						Dst4: netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(4))}), Proto: []uint8{6, 17}[rng.IntN(2)],
						SrcPort: uint16(rng.IntN(3)), DstPort: uint16(80 + rng.IntN(2)), TTL: uint8(1 + rng.IntN(3))}
					var k flow.Key
					packet.Parse(f.Bytes(), in, &k)
					keys = append(keys, k)
				}
			}
		}
	}
	var added []string
	randomRule := func() string {
		m := fmt.Sprintf("priority=%d", 1+rng.IntN(300))
		if rng.IntN(2) == 0 {
			m += fmt.Sprintf(",in_port=%d", 1+rng.IntN(4))
		}
		if rng.IntN(3) == 0 {
			m += fmt.Sprintf(",dl_dst=%s", mac(macs[rng.IntN(5)]))
		}
		acts := []string{"drop", "NORMAL", fmt.Sprintf("output:%d", 1+rng.IntN(4)), "mod_vlan_vid:30,output:2",
			"strip_vlan,output:3", "dec_ttl,output:4", "flood"}
		if rng.IntN(2) == 0 {
			m += fmt.Sprintf(",ip,nw_dst=198.51.100.%d/%d", rng.IntN(4), 30+rng.IntN(3))
			if rng.IntN(2) == 0 {
				m += fmt.Sprintf(",tcp,tp_dst=%d", 80+rng.IntN(2))
				acts = append(acts, "mod_tp_dst:8080,output:1")
			}
			acts = append(acts, "mod_nw_dst:203.0.113.1,NORMAL")
		}
		return m + ",actions=" + acts[rng.IntN(len(acts))]
	}

	checked, hits := 0, 0
	for step := 0; step < 50000; step++ {
		switch op := rng.IntN(1000); {
		case op < 10:
			s := randomRule()
			mustAdd(t, p, s)
			added = append(added, s)
		case op < 18 && len(added) > 0:
			i := rng.IntN(len(added))
			spec, err := flowtext.ParseFlowSpec(added[i][:len(added[i])-len(afterActions(added[i]))])
			if err != nil {
				t.Fatal(err)
			}
			p.DeleteRules(pipeline.Filter{Table: flow.TableAll, Match: spec.Match, Strict: true, Priority: spec.Priority, OutPort: flow.PortAny})
			added = append(added[:i], added[i+1:]...)
		case op < 21:
			p.MACs().Flush(0)
			p.Invalidate()
		case op < 24:
			no := uint32(1 + rng.IntN(4))
			cfg := []vlan.Config{{}, {Mode: vlan.Access, Tag: 10}, {Mode: vlan.Access, Tag: 20}, {Mode: vlan.Trunk, Native: 10}}[rng.IntN(4)]
			if err := p.SetPort(pipeline.Port{No: no, Name: fmt.Sprint("p", no), Up: true, VLAN: cfg}); err != nil {
				t.Fatal(err)
			}
		case op < 27:
			p.SetPortUp(uint32(1+rng.IntN(4)), rng.IntN(3) != 0)
		case op < 30:
			clk.t = clk.t.Add(time.Duration(rng.IntN(400)) * time.Second)
			c.Sweep(clk.t)
		default:
			k := keys[rng.IntN(len(keys))]
			before := c.Stats().Upcalls + c.Stats().Revalidations
			e := w.Lookup(&k)
			if c.Stats().Upcalls+c.Stats().Revalidations == before {
				hits++
			}
			fresh := p.Translate(&k, pipeline.Options{NoLearn: true})
			if !slices.Equal(e.Actions, fresh.Actions) {
				tr := &pipeline.Trace{}
				p.Translate(&k, pipeline.Options{NoLearn: true, Trace: tr})
				t.Fatalf("step %d (seed %d): cached %s, fresh translation %s\nkey %s\ntrace:\n%s",
					step, s, action.Format(e.Actions), action.Format(fresh.Actions), flowtext.FormatKey(&k), tr)
			}
			if !e.Key.EqualMasked(&k, e.Mask) && !e.Dead() {
				t.Fatalf("step %d: entry does not cover its key", step)
			}
			checked++
		}
	}
	// MACs flapping between ports (the pool sends every MAC from every
	// port) revalidate often; what matters is that many packets were
	// served from the caches between changes.
	if hits < checked/10 {
		t.Errorf("only %d of %d packets hit a cache without translation; the test does not exercise the caches", hits, checked)
	}
	t.Logf("checked %d packets, %d cache hits, stats %+v", checked, hits, c.Stats())
}

func afterActions(s string) string {
	for i := 0; i+8 <= len(s); i++ {
		if s[i:i+8] == ",actions" {
			return s[i:]
		}
	}
	return ""
}

func mac(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

func TestLookupHitAllocs(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	mustAdd(t, p, "priority=0,actions=output:2")
	c := cache.New(p, cache.Config{})
	w := c.NewWorker()
	var k flow.Key
	packet.Parse(testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2), 1, &k)
	w.Lookup(&k)
	if a := testing.AllocsPerRun(1000, func() { w.Lookup(&k) }); a != 0 {
		t.Errorf("exact-match hit allocates %v times", a)
	}
	// A megaflow hit: a different key under the same mask.
	var k2 flow.Key
	packet.Parse(testframe.UDP4(testframe.MAC(3), testframe.MAC(4), 5, 6), 1, &k2)
	w2 := c.NewWorker()
	w2.Lookup(&k2)
	if s := c.Stats(); s.Upcalls != 1 {
		t.Errorf("second flow in the same megaflow caused an upcall: %+v", s)
	}
}

// TestLookupBatch checks a batch longer than a worker's batch (150 keys),
// with IPv4 and IPv6 keys (the hash's two ways), repeated keys and entries
// the caller marked: each key gets what Lookup gives it, marked entries
// stay, and the second pass hits the exact-match cache.
func TestLookupBatch(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	mustAdd(t, p, "priority=10,udp,tp_dst=53,actions=output:2")
	mustAdd(t, p, "priority=0,actions=output:3")
	c := cache.New(p, cache.Config{})
	w, ref := c.NewWorker(), c.NewWorker()
	var keys []flow.Key
	for i := 0; i < 150; i++ {
		f := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Proto: 17, SrcPort: uint16(i % 70), DstPort: uint16(52 + i%3)}
		if i%2 == 0 {
			f.Src4, f.Dst4 = netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
		} else {
			f.Src6, f.Dst6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		}
		var k flow.Key
		packet.Parse(f.Bytes(), 1, &k)
		keys = append(keys, k)
	}
	marked := &cache.Entry{}
	for pass := 0; pass < 2; pass++ {
		ents := make([]*cache.Entry, len(keys))
		for i := range ents {
			if i%7 == 3 {
				ents[i] = marked
			}
		}
		hashes := make([]uint64, len(keys))
		for i := range keys {
			hashes[i] = keys[i].Hash()
		}
		w.LookupBatch(keys, hashes, ents)
		for i, e := range ents {
			if i%7 == 3 {
				if e != marked {
					t.Fatalf("pass %d: marked entry %d replaced", pass, i)
				}
				continue
			}
			want := ref.Lookup(&keys[i])
			if e == nil || !slices.Equal(e.Actions, want.Actions) {
				t.Fatalf("pass %d: key %d (%s) got %v, want %s", pass, i, flowtext.FormatKey(&keys[i]), e, action.Format(want.Actions))
			}
		}
	}
	w.Publish()
	if s := w.Stats(); s.EMCHits < 100 {
		t.Errorf("too few exact-match hits in the second pass: %+v", s)
	}
}

// TestConcurrentWorkersAndChanges runs two workers' lookups (with their
// upcalls, revalidations and MAC learning) against rule, MAC and port
// changes and sweeps, for the race detector; every result must still be a
// complete action list.
func TestConcurrentWorkersAndChanges(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	mustAdd(t, p, "priority=0,actions=NORMAL")
	for no := uint32(1); no <= 3; no++ {
		if err := p.SetPort(pipeline.Port{No: no, Name: fmt.Sprint("p", no), Up: true}); err != nil {
			t.Fatal(err)
		}
	}
	c := cache.New(p, cache.Config{})
	var keys []flow.Key
	for in := uint32(1); in <= 3; in++ {
		for i := 0; i < 20; i++ {
			var k flow.Key
			packet.Parse(testframe.UDP4(testframe.MAC(byte(i%5+1)), testframe.MAC(byte(i%4+1)), uint16(i), 53), in, &k)
			keys = append(keys, k)
		}
	}
	stop := make(chan struct{})
	done := make(chan int, 2)
	for w := 0; w < 2; w++ {
		go func(seed uint64) {
			rng := rand.New(rand.NewPCG(seed, seed))
			wk := c.NewWorker()
			n := 0
			for {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				k := keys[rng.IntN(len(keys))]
				e := wk.Lookup(&k)
				if len(e.Actions) == 0 {
					t.Error("empty action list")
				}
				e.Hit(1, 64, time.Now().UnixNano())
				wk.Publish()
				n++
			}
		}(uint64(w + 1))
	}
	for i := 0; i < 300; i++ {
		switch i % 5 {
		case 0:
			mustAdd(t, p, fmt.Sprintf("priority=%d,in_port=%d,actions=output:%d", 10+i%7, 1+i%3, 1+(i+1)%3))
		case 1:
			p.DeleteRules(pipeline.Filter{Table: flow.TableAll, Match: flow.MatchAll(), OutPort: 2})
		case 2:
			p.MACs().Flush(0)
			p.Invalidate()
		case 3:
			p.SetPortUp(uint32(1+i%3), i%2 == 0)
		case 4:
			c.Sweep(time.Now())
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(stop)
	total := <-done + <-done
	if total < 1000 {
		t.Errorf("only %d lookups ran", total)
	}
	c.PushStats()
}

// TestUncachedPacketsCounted fills the megaflow table (one entry) so a
// second flow is forwarded uncached; both flows' packets and bytes must
// reach the rule's counters.
func TestUncachedPacketsCounted(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	mustAdd(t, p, "priority=10,udp,actions=drop")
	c := cache.New(p, cache.Config{MaxEntries: 1})
	w := c.NewWorker()
	frames := [][]byte{
		testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2),
		testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src4: netip.MustParseAddr("198.51.100.1"),
			Dst4: netip.MustParseAddr("198.51.100.2"), Proto: 6, SrcPort: 1, DstPort: 2}.Bytes(), // tcp: another megaflow
	}
	// Only the udp rule matches udp; the tcp frame misses (a different
	// megaflow, which cannot be cached).
	mustAdd(t, p, "priority=5,tcp,actions=drop")
	var total uint64
	for i := 0; i < 10; i++ {
		for _, f := range frames {
			var k flow.Key
			packet.Parse(f, 1, &k)
			w.Lookup(&k).Hit(1, uint64(len(f)), time.Now().UnixNano())
			total += uint64(len(f))
		}
	}
	c.PushStats()
	var pk, by uint64
	for _, r := range p.Rules(pipeline.FilterAll()) {
		pk += r.Stats.Packets.Load()
		by += r.Stats.Bytes.Load()
	}
	if pk != 20 || by != total {
		t.Errorf("rules counted %d packets, %d bytes; want 20 and %d (stats %+v)", pk, by, total, c.Stats())
	}
	if c.Stats().NotCached == 0 {
		t.Error("the test did not exercise the uncached path")
	}
}

// fakeOffload is a kernel path that "forwarded" packets for the entries
// it was given: Sync credits them, Retire records the retired entries.
type fakeOffload struct {
	held    map[*cache.Entry]uint64 // packets not yet credited
	retired []*cache.Entry
}

func (f *fakeOffload) Sync() {
	for e, n := range f.held {
		e.Hit(n, 100*n, time.Now().UnixNano())
		f.held[e] = 0
	}
}

func (f *fakeOffload) Retire(e *cache.Entry) {
	f.Sync()
	delete(f.held, e)
	f.retired = append(f.retired, e)
}

// TestOffloadHooks: traffic a kernel path forwarded reaches the rule
// counters through PushStats (and so through Sweep), an L2-only megaflow
// says so, and every entry the cache removes is retired in the kernel
// path, with its last counts kept.
func TestOffloadHooks(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	mustAdd(t, p, "priority=10,in_port=1,actions=output:2")
	for no := uint32(1); no <= 3; no++ {
		if err := p.SetPort(pipeline.Port{No: no, Name: fmt.Sprint("p", no), Up: true}); err != nil {
			t.Fatal(err)
		}
	}
	c := cache.New(p, cache.Config{})
	off := &fakeOffload{held: map[*cache.Entry]uint64{}}
	c.SetOffload(off)
	w := c.NewWorker()
	var k flow.Key
	packet.Parse(testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2), 1, &k)
	e := w.Lookup(&k)
	if !e.L2Only() {
		t.Errorf("in_port=1,actions=output:2 gives mask %s: not L2-only", flowtext.FormatMatch(&flow.Match{Mask: *e.Mask}))
	}
	off.held[e] = 7
	c.PushStats()
	rule := p.Rules(pipeline.FilterAll())[0]
	if n := rule.Stats.Packets.Load(); n != 7 {
		t.Fatalf("the rule counted %d packets after PushStats, want the kernel's 7", n)
	}
	off.held[e] = 2
	c.Flush()
	if !slices.Contains(off.retired, e) {
		t.Fatal("Flush did not retire the entry in the kernel path")
	}
	if n := rule.Stats.Packets.Load(); n != 9 {
		t.Fatalf("the rule counted %d packets after Flush, want 9 (the last 2 from the kernel)", n)
	}
	// A replaced entry is retired too.
	e = w.Lookup(&k)
	mustAdd(t, p, "priority=10,in_port=1,actions=output:3")
	if e2 := w.Lookup(&k); e2 == e {
		t.Fatalf("the modified rule did not replace the entry: %v", e.Actions)
	}
	if !slices.Contains(off.retired, e) {
		t.Fatal("the replaced entry was not retired in the kernel path")
	}
}
