package datapath_test

import (
	"sync"
	"testing"

	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// tunPort is a tunnel port double: it records the tunnel metadata of what
// it sends and has a transmit limit.
type tunPort struct {
	name  string
	limit int
	mu    sync.Mutex
	sent  []packet.Tunnel
	lens  []int
	c     datapath.Counters
}

var _ datapath.TxLimiter = (*tunPort)(nil)

func (p *tunPort) Name() string                            { return p.name }
func (p *tunPort) Read(pkts []*packet.Packet) (int, error) { return 0, nil }
func (p *tunPort) WaitFD() int                             { return -1 }
func (p *tunPort) Stats() datapath.PortStats               { return p.c.Snapshot() }
func (p *tunPort) Close() error                            { return nil }
func (p *tunPort) MaxTxFrame() int                         { return p.limit }
func (p *tunPort) AcceptsGSO() bool                        { return false }
func (p *tunPort) Write(pkts []*packet.Packet) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pk := range pkts {
		p.sent = append(p.sent, pk.Tun)
		p.lens = append(p.lens, pk.Len())
	}
	return len(pkts), nil
}

func (p *tunPort) take() ([]packet.Tunnel, []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, l := p.sent, p.lens
	p.sent, p.lens = nil, nil
	return s, l
}

// TestTunnelMetadata: set_field:N->tun_id reaches the packet a tunnel port
// sends; tun_id from a tunnel reaches the key, so rules (and the caches)
// tell VNIs apart; a packet carries the tunnel port it arrived on; frames
// over a tunnel's limit are dropped as tunnel-mtu.
func TestTunnelMetadata(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	for _, s := range []string{
		"in_port=1,actions=set_field:100->tun_id,output:2",
		"in_port=2,tun_id=100,actions=output:1",
		"in_port=2,tun_id=200,actions=output:3",
		"in_port=4,tun_id=200,actions=output:2",
	} {
		r, err := flowtext.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	d := datapath.New(cache.New(p, cache.Config{}))
	tun := &tunPort{name: "tun", limit: 200}
	tun4 := &tunPort{name: "tun4", limit: 200}
	plain := map[uint32]*tunPort{1: {name: "p1"}, 3: {name: "p3"}}
	for no, port := range map[uint32]datapath.Port{1: plain[1], 2: tun, 3: plain[3], 4: tun4} {
		if _, err := d.Attach(no, port); err != nil {
			t.Fatal(err)
		}
		if err := p.SetPort(pipeline.Port{No: no, Name: port.Name(), Up: true}); err != nil {
			t.Fatal(err)
		}
	}
	w := d.NewWorker()
	frame := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1000, 2000)

	for range 2 { // the second time through the caches
		w.Process(1, []*packet.Packet{packet.FromBytes(frame)})
		if s, _ := tun.take(); len(s) != 1 || s[0].ID != 100 {
			t.Fatalf("tunnel port sent %+v, want one packet with tun_id 100", s)
		}
	}
	from := func(vni uint64, port uint32) *packet.Packet {
		pk := packet.FromBytes(frame)
		pk.Tun = packet.Tunnel{ID: vni, Src: 0xcb007101, Dst: 0xcb007102, Port: port}
		return pk
	}
	for range 2 {
		w.Process(2, []*packet.Packet{from(100, 0), from(200, 0), from(300, 0)})
		if s, _ := plain[1].take(); len(s) != 1 {
			t.Errorf("VNI 100 reached port 1 %d times, want 1", len(s))
		}
		if s, _ := plain[3].take(); len(s) != 1 {
			t.Errorf("VNI 200 reached port 3 %d times, want 1", len(s))
		}
	}
	// Read from port 2's socket but arrived on port 4: a tunnel packet
	// kept its tun_id out of another tunnel.
	w.Process(2, []*packet.Packet{from(200, 4)})
	if s, _ := tun.take(); len(s) != 1 || s[0].ID != 200 {
		t.Errorf("packet of tunnel port 4 (VNI 200): port 2 sent %+v", s)
	}

	big := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1000, 2000)
	big = append(big, make([]byte, 300)...)
	w.Process(1, []*packet.Packet{packet.FromBytes(big)})
	if s, _ := tun.take(); len(s) != 0 {
		t.Errorf("a frame over the tunnel's limit was sent")
	}
	if n := d.Drops()["tunnel-mtu"]; n != 1 {
		t.Errorf("tunnel-mtu drops %d, want 1", n)
	}

	pkts := []*packet.Packet{from(100, 0), from(200, 0)}
	allocs := testing.AllocsPerRun(100, func() {
		pkts[0].Tun.ID, pkts[1].Tun.ID = 100, 200
		w.Process(2, pkts)
	})
	if allocs != 0 {
		t.Errorf("processing tunnel packets allocates %v times", allocs)
	}
}
