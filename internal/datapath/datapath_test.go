package datapath_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/porttest"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
	"github.com/dvs-project/dvs/internal/pipeline"
)

type bridge struct {
	p     *pipeline.Pipeline
	c     *cache.Cache
	d     *datapath.Datapath
	w     *datapath.Worker
	ports map[uint32]*porttest.Port
}

func newBridge(tb testing.TB, rules []string, ports ...pipeline.Port) *bridge {
	tb.Helper()
	p := pipeline.New(pipeline.Config{})
	for _, s := range rules {
		r, err := flowtext.ParseRule(s)
		if err != nil {
			tb.Fatal(err)
		}
		if err := p.AddRule(r); err != nil {
			tb.Fatal(err)
		}
	}
	c := cache.New(p, cache.Config{})
	d := datapath.New(c)
	b := &bridge{p: p, c: c, d: d, ports: map[uint32]*porttest.Port{}}
	for _, q := range ports {
		pt := porttest.New("p" + string(rune('0'+q.No)))
		b.attach(tb, q, pt)
		b.ports[q.No] = pt
	}
	b.w = d.NewWorker()
	return b
}

// attach adds pt to the bridge as port q, up, named p<No>.
func (b *bridge) attach(tb testing.TB, q pipeline.Port, pt datapath.Port) {
	tb.Helper()
	q.Up = true
	q.Name = "p" + string(rune('0'+q.No))
	if _, err := b.d.Attach(q.No, pt); err != nil {
		tb.Fatal(err)
	}
	if err := b.p.SetPort(q); err != nil {
		tb.Fatal(err)
	}
}

func (b *bridge) send(in uint32, frames ...[]byte) {
	pkts := make([]*packet.Packet, len(frames))
	for i, f := range frames {
		pkts[i] = packet.FromBytes(f)
	}
	b.w.Process(in, pkts)
}

func TestNormalForwardingThroughCaches(t *testing.T) {
	b := newBridge(t, []string{"priority=0,actions=NORMAL"},
		pipeline.Port{No: 1, VLAN: vlan.Config{Mode: vlan.Access, Tag: 10}},
		pipeline.Port{No: 2, VLAN: vlan.Config{Mode: vlan.Access, Tag: 10}},
		pipeline.Port{No: 3, VLAN: vlan.Config{Mode: vlan.Access, Tag: 20}},
		pipeline.Port{No: 4},
	)
	a, c := testframe.MAC(1), testframe.MAC(2)
	// A broadcast from port 1 reaches port 2 untagged and trunk 4 tagged 10.
	bc := testframe.UDP4(a, testframe.Broadcast, 1000, 2000)
	b.send(1, bc)
	if got := b.ports[2].Sent(); len(got) != 1 || !bytes.Equal(got[0], bc) {
		t.Fatalf("port 2 got %d frames, want the broadcast untouched", len(got))
	}
	if got := b.ports[3].Sent(); len(got) != 0 {
		t.Fatalf("port 3 (VLAN 20) got %d frames", len(got))
	}
	got := b.ports[4].Sent()
	if len(got) != 1 || binary.BigEndian.Uint16(got[0][12:]) != 0x8100 || binary.BigEndian.Uint16(got[0][14:])&0xfff != 10 {
		t.Fatalf("trunk got %x, want a frame tagged VLAN 10", got)
	}
	if !bytes.Equal(append(got[0][:12:12], got[0][16:]...), bc) {
		t.Errorf("trunk frame differs from the original beyond the tag")
	}
	// The reply from port 2 to a is unicast to port 1 only, and after that
	// a's traffic to c (learned) goes to port 2 alone: no flooding.
	b.send(2, testframe.UDP4(c, a, 2000, 1000))
	if n := len(b.ports[1].Sent()); n != 1 {
		t.Errorf("port 1 got %d frames, want 1", n)
	}
	if n := len(b.ports[4].Sent()); n != 0 {
		t.Errorf("trunk got %d frames of a learned unicast, want 0", n)
	}
	for i := 0; i < 10; i++ {
		b.send(1, testframe.UDP4(a, c, 1000, 2000))
	}
	if n := len(b.ports[2].Sent()); n != 10 {
		t.Errorf("port 2 got %d frames, want 10", n)
	}
	if n := len(b.ports[4].Sent()); n != 0 {
		t.Errorf("trunk got %d frames after learning, want 0", n)
	}
	ws := b.w.CacheStats()
	if ws.EMCHits < 8 {
		t.Errorf("cache stats %+v: want most of the 10 packets to hit the exact-match cache", ws)
	}
}

func TestRuleCountersCountCachedPackets(t *testing.T) {
	b := newBridge(t, []string{"priority=10,in_port=1,actions=drop", "priority=0,actions=NORMAL"},
		pipeline.Port{No: 1}, pipeline.Port{No: 2})
	f := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2)
	for i := 0; i < 100; i++ {
		b.send(1, f)
	}
	if n := len(b.ports[2].Sent()); n != 0 {
		t.Fatalf("dropped traffic reached port 2 (%d frames)", n)
	}
	b.c.PushStats()
	for _, r := range b.p.Rules(pipeline.FilterAll()) {
		if r.Priority == 10 {
			if got := r.Stats.Packets.Load(); got != 100 {
				t.Errorf("drop rule counted %d packets, want 100", got)
			}
			if got := r.Stats.Bytes.Load(); got != 100*uint64(len(f)) {
				t.Errorf("drop rule counted %d bytes, want %d", got, 100*len(f))
			}
		}
	}
	if got := b.d.Drops()["rule"]; got != 100 {
		t.Errorf("drops by reason %v, want rule=100", b.d.Drops())
	}
}

func TestSetFieldRewritesPacket(t *testing.T) {
	b := newBridge(t, []string{"priority=10,in_port=1,udp,actions=mod_nw_dst:203.0.113.5,mod_tp_dst:53,dec_ttl,output:2"},
		pipeline.Port{No: 1}, pipeline.Port{No: 2})
	f := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1000, 2000)
	b.send(1, f)
	got := b.ports[2].Sent()
	if len(got) != 1 {
		t.Fatalf("port 2 got %d frames", len(got))
	}
	want := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src4: netip.MustParseAddr("198.51.100.1"),
		Dst4: netip.MustParseAddr("203.0.113.5"), Proto: 17, SrcPort: 1000, DstPort: 53, Payload: 18, TTL: 63}.Bytes()
	if !bytes.Equal(got[0], want) {
		t.Errorf("rewritten frame (-want +got):\n-%x\n+%x", want, got[0])
	}
}

// TestProcessHitAllocs checks the fast path (parse, exact-match hit,
// actions, staging and writing to a port) does not allocate.
func TestProcessHitAllocs(t *testing.T) {
	b := newBridge(t, []string{"priority=0,actions=NORMAL"}, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	b.ports[2].Discard()
	pkts := make([]*packet.Packet, packet.BatchSize)
	frame := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2)
	for i := range pkts {
		pkts[i] = packet.FromBytes(frame)
	}
	b.send(2, testframe.UDP4(testframe.MAC(2), testframe.MAC(1), 2, 1)) // learn MAC 2 on port 2
	b.w.Process(1, pkts)
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range pkts {
			p.SetFrame(copy(p.RecvBuf(), frame))
		}
		b.w.Process(1, pkts)
	})
	if allocs != 0 {
		t.Errorf("Process on cache hits allocates %v times per batch", allocs)
	}
}

// BenchmarkFastPathHit measures parse + exact-match cache hit + actions +
// output to an in-memory port, per packet, in batches of 32 spread over 32
// flows.
func BenchmarkFastPathHit(b *testing.B) {
	benchFastPath(b, func(i int) []byte {
		return testframe.UDP4(testframe.MAC(1), testframe.MAC(2), uint16(1000+i), 53)
	})
}

// BenchmarkFastPathHitIPv6 is BenchmarkFastPathHit with IPv6 UDP packets,
// whose keys take the exact-match hash's longer way.
func BenchmarkFastPathHitIPv6(b *testing.B) {
	benchFastPath(b, func(i int) []byte {
		return testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src6: netip.MustParseAddr("2001:db8::1"),
			Dst6: netip.MustParseAddr("2001:db8::2"), Proto: 17, SrcPort: uint16(1000 + i), DstPort: 53, Payload: 18}.Bytes()
	})
}

// benchFastPath runs batches of 32 frames, frame(0) to frame(31), from port
// 1 to port 2 through NORMAL.
func benchFastPath(b *testing.B, frame func(i int) []byte) {
	br := newBridge(b, []string{"priority=0,actions=NORMAL"}, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	br.ports[2].Discard()
	br.send(2, testframe.UDP4(testframe.MAC(2), testframe.MAC(1), 2, 1))
	pkts := make([]*packet.Packet, packet.BatchSize)
	frames := make([][]byte, packet.BatchSize)
	for i := range pkts {
		frames[i] = frame(i)
		pkts[i] = packet.FromBytes(frames[i])
	}
	br.w.Process(1, pkts)
	b.ReportAllocs()
	b.ResetTimer()
	// NORMAL forwarding leaves the frames untouched, so the same buffers
	// can be processed again without refilling them.
	for i := 0; i < b.N; i += len(pkts) {
		br.w.Process(1, pkts)
	}
	b.StopTimer()
	if s := br.w.CacheStats(); s.Misses > 32 {
		b.Fatalf("unexpected misses: %+v", s)
	}
}

// TestHostileFramesDroppedByReason feeds broken frames and checks each is
// dropped, counted under its reason, and that the worker carries on.
func TestHostileFramesDroppedByReason(t *testing.T) {
	b := newBridge(t, []string{"priority=0,actions=NORMAL"}, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	b.d.SetMTU(1, 1500)
	good := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2)
	badIP := append([]byte(nil), good...)
	badIP[14] = 0x43 // IHL 3: an IPv4 header shorter than 20 bytes
	threeTags := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2),
		VLANs: []testframe.Tag{{TPID: 0x88a8, VID: 1}, {VID: 2}, {VID: 3}}}.Bytes()
	jumbo := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Payload: 3000}.Bytes()
	cutARP := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.Broadcast, ARP: &testframe.ARP{Op: 1,
		SPA: netip.MustParseAddr("198.51.100.1"), TPA: netip.MustParseAddr("198.51.100.2")}}.Bytes()[:20]
	b.send(1, []byte{1, 2, 3}, badIP, threeTags, jumbo, cutARP, good)
	want := map[string]uint64{"runt": 1, "malformed": 2, "too-many-tags": 1, "oversize": 1}
	got := b.d.Drops()
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("drops[%s] = %d, want %d (all: %v)", reason, got[reason], n, got)
		}
	}
	if sent := b.ports[2].Sent(); len(sent) != 1 || !bytes.Equal(sent[0], good) {
		t.Errorf("port 2 got %d frames, want only the good one", len(sent))
	}
}

// ptrPort records the packets Write was given and their frames.
type ptrPort struct {
	porttest.Port
	pkts   []*packet.Packet
	frames [][]byte
}

func (p *ptrPort) Write(pkts []*packet.Packet) (int, error) {
	for _, pk := range pkts {
		p.pkts = append(p.pkts, pk)
		p.frames = append(p.frames, append([]byte(nil), pk.Data()...))
	}
	return len(pkts), nil
}

// TestLastOutputSendsPacketItself checks that an output followed by a
// rewrite and another output sends a copy first (unchanged by the rewrite)
// and the packet itself last, and that a packet without the headroom a port
// may need is copied even on its last output.
func TestLastOutputSendsPacketItself(t *testing.T) {
	b := newBridge(t, []string{"priority=10,in_port=1,udp,actions=output:2,mod_nw_dst:203.0.113.5,output:3"}, pipeline.Port{No: 1})
	out := map[uint32]*ptrPort{2: {}, 3: {}}
	for no, pt := range out {
		b.attach(t, pipeline.Port{No: no}, pt)
	}
	w := b.w
	f := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1000, 2000)
	want3 := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src4: netip.MustParseAddr("198.51.100.1"),
		Dst4: netip.MustParseAddr("203.0.113.5"), Proto: 17, SrcPort: 1000, DstPort: 2000, Payload: 18}.Bytes()

	full := packet.FromBytes(f)
	// Frames in borrowed memory (as in a receive ring) with 64 bytes in
	// front, and with none.
	ring := packet.New(len(f))
	ring.Alias(append(make([]byte, 64), f...), 64, 64+len(f))
	bare := packet.New(len(f))
	bare.Alias(append([]byte(nil), f...), 0, len(f))
	w.Process(1, []*packet.Packet{full, ring, bare})

	for i, in := range []*packet.Packet{full, ring, bare} {
		if got := out[2].frames[i]; !bytes.Equal(got, f) {
			t.Errorf("packet %d: port 2 got %x, want the frame before the rewrite %x", i, got, f)
		}
		if out[2].pkts[i] == in {
			t.Errorf("packet %d: port 2 was given the packet itself, which a later action rewrites", i)
		}
		if got := out[3].frames[i]; !bytes.Equal(got, want3) {
			t.Errorf("packet %d: port 3 got %x, want %x", i, got, want3)
		}
	}
	if out[3].pkts[0] != full || out[3].pkts[1] != ring {
		t.Errorf("port 3 was given a copy of a packet whose last action was the output")
	}
	if out[3].pkts[2] == bare {
		t.Errorf("port 3 was given a packet without headroom instead of a copy")
	}
}

// limitPort is a ptrPort with a transmit limit (a tunnel's).
type limitPort struct {
	ptrPort
	limit int
}

func (p *limitPort) MaxTxFrame() int { return p.limit }

// TestSingleOutputRun checks the path for a run of packets whose megaflow
// is a single output: packets go to the port themselves and in order,
// except a packet without headroom (a copy) and one over the port's limit
// (dropped as tunnel-mtu), also across a full stage.
func TestSingleOutputRun(t *testing.T) {
	b := newBridge(t, []string{"priority=10,in_port=1,actions=output:2"}, pipeline.Port{No: 1})
	out := &limitPort{limit: 200}
	b.attach(t, pipeline.Port{No: 2}, out)
	w, d := b.w, b.d
	f := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1000, 2000)
	big := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Payload: 300}.Bytes()
	ring := packet.New(len(f))
	ring.Alias(append(make([]byte, 64), f...), 64, 64+len(f))
	bare := packet.New(len(f))
	bare.Alias(append([]byte(nil), f...), 0, len(f))
	pkts := []*packet.Packet{packet.FromBytes(f), ring, bare, packet.FromBytes(big)}
	// Fill most of a batch so that the stage is full before the batch ends.
	for len(pkts) < packet.BatchSize+5 {
		pkts = append(pkts, packet.FromBytes(f))
	}
	w.Process(1, pkts)
	if n := len(out.pkts); n != len(pkts)-1 {
		t.Fatalf("port 2 got %d packets, want %d (all but the one over its limit)", n, len(pkts)-1)
	}
	if d.Drops()["tunnel-mtu"] != 1 {
		t.Errorf("drops %v, want tunnel-mtu=1", d.Drops())
	}
	sent := append(pkts[:3:3], pkts[4:]...)
	for i, want := range sent {
		if !bytes.Equal(out.frames[i], want.Data()) {
			t.Fatalf("packet %d: port 2 got %x, want %x", i, out.frames[i], want.Data())
		}
		if same := out.pkts[i] == want; same == (want == bare) {
			t.Errorf("packet %d: sent as itself %v, want %v (only the packet without headroom is copied)", i, same, !same)
		}
	}
}
