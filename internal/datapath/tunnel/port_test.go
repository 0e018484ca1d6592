package tunnel

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/packet"
)

// freePort returns a UDP port free on the loopback addresses.
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

type dropCount [action.NumDropReasons]int

func (d *dropCount) count(r action.DropReason) { d[r]++ }

func open(t *testing.T, r *Registry, c Config) *Port {
	t.Helper()
	p, err := r.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func frame(n int, b byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = b + byte(i)
	}
	return f
}

// readN reads from p until n frames came or a second passed.
func readN(p *Port, bufs []*packet.Packet, n int) int {
	got := 0
	for deadline := time.Now().Add(time.Second); got < n && time.Now().Before(deadline); {
		k, _ := p.Read(bufs[got:])
		got += k
	}
	return got
}

func newBufs(n int) []*packet.Packet {
	b := make([]*packet.Packet, n)
	for i := range b {
		b[i] = packet.New(packet.Headroom + 2048)
	}
	return b
}

func TestPortLoopback(t *testing.T) {
	for _, kind := range []Kind{VXLAN, Geneve} {
		t.Run(kind.String(), func(t *testing.T) {
			port := freePort(t)
			var dA, dB dropCount
			ra, rb := NewRegistry(dA.count), NewRegistry(dB.count)
			lo1, lo2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
			a := open(t, ra, Config{Name: "a", Kind: kind, Remote: lo2, Local: lo1, VNI: 100, DstPort: port, OFPort: 1})
			b := open(t, rb, Config{Name: "b", Kind: kind, Remote: lo1, Local: lo2, KeyFlow: true, DstPort: port, OFPort: 7})

			var out []*packet.Packet
			for i := range 3 {
				out = append(out, packet.FromBytes(frame(60+i, byte(i))))
			}
			if n, err := a.Write(out); n != 3 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			// Write leaves the packets as they were.
			for i, p := range out {
				if !bytes.Equal(p.Data(), frame(60+i, byte(i))) {
					t.Fatalf("Write changed packet %d", i)
				}
			}
			in := newBufs(packet.BatchSize)
			if n := readN(b, in, 3); n != 3 {
				t.Fatalf("read %d frames, want 3", n)
			}
			for i := range 3 {
				if !bytes.Equal(in[i].Data(), frame(60+i, byte(i))) {
					t.Errorf("frame %d: % x", i, in[i].Data())
				}
				want := packet.Tunnel{ID: 100, Src: 0x7f000001, Dst: 0x7f000002, Port: 7}
				if in[i].Tun != want {
					t.Errorf("frame %d metadata %+v, want %+v", i, in[i].Tun, want)
				}
			}
			// key=flow sends the packet's tun_id.
			p := packet.FromBytes(frame(64, 9))
			p.Tun.ID = 0x1000042
			b.Write([]*packet.Packet{p})
			if readN(a, in, 1) != 0 {
				t.Errorf("a (key 100) took VNI 0x42")
			}
			if dA[action.DropTunnelVNI] != 1 {
				t.Errorf("tunnel-vni drops %d, want 1", dA[action.DropTunnelVNI])
			}
			p.Tun.ID = 100
			b.Write([]*packet.Packet{p})
			if readN(a, in, 1) != 1 || in[0].Tun.ID != 100 || in[0].Tun.Port != 1 {
				t.Errorf("a did not take VNI 100: %+v", in[0].Tun)
			}
			// A datagram from no port's remote is dropped and counted.
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: int(port)})
			if err != nil {
				t.Fatal(err)
			}
			hdr := make([]byte, HeaderLen+60)
			kind.put(hdr, 100)
			c.Write(hdr)
			c.Close()
			if readN(b, in, 1) != 0 || dB[action.DropTunnelSource] != 1 {
				t.Errorf("unknown source: drops %v", dB)
			}
			s := a.Stats()
			if s.TxPackets != 3 || s.TxBytes != 60+61+62 || s.RxPackets != 1 || s.RxDropped != 1 {
				t.Errorf("a's counters %+v", s)
			}
			if s := b.Stats(); s.RxPackets != 3 || s.TxPackets != 2 {
				t.Errorf("b's counters %+v", s)
			}
		})
	}
}

func TestSharedSocketDemux(t *testing.T) {
	port := freePort(t)
	var d dropCount
	r := NewRegistry(d.count)
	lo1 := netip.MustParseAddr("127.0.0.1")
	x := open(t, r, Config{Name: "x", Kind: VXLAN, Remote: netip.MustParseAddr("127.0.0.2"), Local: lo1, KeyFlow: true, DstPort: port, OFPort: 1})
	y := open(t, r, Config{Name: "y", Kind: VXLAN, Remote: netip.MustParseAddr("127.0.0.3"), Local: lo1, KeyFlow: true, DstPort: port, OFPort: 2})
	if x.ep != y.ep {
		t.Fatal("ports of one kind, address and UDP port do not share a socket")
	}
	if _, err := r.Open(Config{Name: "z", Kind: VXLAN, Remote: netip.MustParseAddr("127.0.0.3"), Local: lo1, DstPort: port}); err == nil {
		t.Error("a second port with the same remote was accepted")
	}
	// A datagram from y's remote read through x belongs to y.
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, HeaderLen+60)
	PutVXLAN(b, 5)
	c.Write(b)
	in := newBufs(4)
	if readN(x, in, 1) != 1 || in[0].Tun.Port != 2 || in[0].Tun.ID != 5 {
		t.Fatalf("demux: %+v", in[0].Tun)
	}
	if y.Stats().RxPackets != 1 || x.Stats().RxPackets != 0 {
		t.Errorf("counters: x %+v, y %+v", x.Stats(), y.Stats())
	}
	y.Close()
	if x.ep.fd < 0 || r.eps[x.ep.key] == nil {
		t.Error("closing y closed the shared socket")
	}
	x.Close()
	if len(r.eps) != 0 {
		t.Error("the socket outlived its last port")
	}
}

func TestOpenRejects(t *testing.T) {
	r := NewRegistry(nil)
	for name, c := range map[string]Config{
		"no remote":   {Kind: VXLAN},
		"IPv6 remote": {Kind: VXLAN, Remote: netip.MustParseAddr("2001:db8::1")},
		"multicast":   {Kind: VXLAN, Remote: netip.MustParseAddr("239.1.1.1")},
		"big VNI":     {Kind: Geneve, Remote: netip.MustParseAddr("203.0.113.1"), VNI: 1 << 24},
		"no kind":     {Remote: netip.MustParseAddr("203.0.113.1")},
	} {
		if p, err := r.Open(c); err == nil {
			p.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPortAllocs: a Write and the Read of what it sent allocate nothing.
func TestPortAllocs(t *testing.T) {
	port := freePort(t)
	r := NewRegistry(nil)
	lo1, lo2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	a := open(t, r, Config{Name: "a", Kind: Geneve, Remote: lo2, Local: lo1, VNI: 9, DstPort: port, OFPort: 1})
	b := open(t, r, Config{Name: "b", Kind: Geneve, Remote: lo1, Local: lo2, VNI: 9, DstPort: port, OFPort: 2})
	out := make([]*packet.Packet, 8)
	for i := range out {
		out[i] = packet.FromBytes(frame(1000, byte(i)))
	}
	in := newBufs(packet.BatchSize)
	n := testing.AllocsPerRun(100, func() {
		a.Write(out)
		readN(b, in, len(out))
	})
	if n != 0 {
		t.Errorf("Write+Read allocate %v times per run", n)
	}
}

func BenchmarkPortWriteRead(b *testing.B) {
	port := uint16(0)
	{
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port = uint16(c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
	}
	r := NewRegistry(nil)
	lo1, lo2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	tx, err := r.Open(Config{Name: "a", Kind: VXLAN, Remote: lo2, Local: lo1, VNI: 9, DstPort: port, OFPort: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	rx, err := r.Open(Config{Name: "b", Kind: VXLAN, Remote: lo1, Local: lo2, VNI: 9, DstPort: port, OFPort: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	out := make([]*packet.Packet, packet.BatchSize)
	for i := range out {
		out[i] = packet.FromBytes(frame(1400, byte(i)))
	}
	in := newBufs(packet.BatchSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(out) * 1400))
	for b.Loop() {
		tx.Write(out)
		readN(rx, in, len(out))
	}
}
