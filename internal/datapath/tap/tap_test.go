package tap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath/afpacket"
	"github.com/dvs-project/dvs/internal/datapath/afpacket/afpackettest"
	"github.com/dvs-project/dvs/internal/packet"
)

func newTap(t testing.TB, ns netns.NsHandle, name string, opts Options) *Port {
	t.Helper()
	var p *Port
	afpackettest.Do(t, ns, func() {
		var err error
		if p, err = Create(name, opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { p.Close() })
	return p
}

func newPackets(n, size int) []*packet.Packet {
	pkts := make([]*packet.Packet, n)
	for i := range pkts {
		pkts[i] = packet.New(size)
	}
	return pkts
}

type received struct {
	frame []byte
	gso   packet.GSO
}

type reader interface {
	Read([]*packet.Packet) (int, error)
	WaitFD() int
}

// readUntil reads from p, sleeping in poll on WaitFD, until it has want
// frames matching match or timeout passes.
func readUntil(t testing.TB, p reader, want int, timeout time.Duration, match func([]byte) bool) []received {
	t.Helper()
	pkts := newPackets(packet.BatchSize, packet.Headroom+packet.MaxGSOSize)
	var got []received
	deadline := time.Now().Add(timeout)
	for len(got) < want {
		n, err := p.Read(pkts)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for _, pk := range pkts[:n] {
			if match == nil || match(pk.Data()) {
				got = append(got, received{bytes.Clone(pk.Data()), pk.GSO})
			}
		}
		if n > 0 {
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		fds := []unix.PollFd{{Fd: int32(p.WaitFD()), Events: unix.POLLIN}}
		_, _ = unix.Poll(fds, int(min(left, 50*time.Millisecond)/time.Millisecond)+1)
	}
	return got
}

func testFrame(src net.HardwareAddr, i int, tag string) []byte {
	payload := fmt.Appendf(nil, "%s frame %03d ", tag, i)
	payload = append(payload, bytes.Repeat([]byte{byte(i)}, 40+i)...)
	return afpackettest.Frame(net.HardwareAddr{0x02, 0xdd, 0, 0, 0, byte(i)}, src, payload)
}

func hasTag(tag string) func([]byte) bool {
	return func(f []byte) bool { return afpackettest.IsTest(f) && bytes.Contains(f, []byte(tag)) }
}

func TestReadWrite(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("tap")
	port := newTap(t, ns, name, Options{})
	raw := afpackettest.OpenRaw(t, ns, name)
	mac := afpackettest.MAC(t, ns, name)

	want := OffloadCsum | OffloadTSO4 | OffloadTSO6 | OffloadTSOECN
	if got := port.Offloads(); got&want != want {
		t.Errorf("Offloads() = %v, want at least %v", got, want)
	}
	t.Logf("negotiated offloads: %v", port.Offloads())
	if !port.AcceptsGSO() {
		t.Error("AcceptsGSO() = false")
	}

	// Switch -> netdev: frames written to the file side arrive at the
	// netdev as received frames.
	const count = 20
	pkts := make([]*packet.Packet, count)
	var wantBytes uint64
	for i := range pkts {
		pkts[i] = packet.FromBytes(testFrame(net.HardwareAddr{2, 0xee, 0, 0, 0, 1}, i, "toHost"))
		wantBytes += uint64(pkts[i].Len())
	}
	if n, err := port.Write(pkts); n != count || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, count)
	}
	for i := range count {
		f, ok := raw.Recv(t, 2*time.Second, hasTag("toHost"))
		if !ok {
			t.Fatalf("netdev got %d of %d frames", i, count)
		}
		if !bytes.Equal(f, pkts[i].Data()) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, f, pkts[i].Data())
		}
	}

	// Netdev -> switch: frames the netdev transmits are read from the
	// file side.
	var sent [][]byte
	for i := range count {
		f := testFrame(mac, i, "fromHost")
		sent = append(sent, f)
		raw.Send(t, f)
	}
	got := readUntil(t, port, count, 2*time.Second, hasTag("fromHost"))
	if len(got) != count {
		t.Fatalf("port read %d of %d frames", len(got), count)
	}
	for i, r := range got {
		if !bytes.Equal(r.frame, sent[i]) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, r.frame, sent[i])
		}
	}

	st := port.Stats()
	if st.TxPackets != count || st.TxBytes != wantBytes {
		t.Errorf("tx stats %+v, want %d packets, %d bytes", st, count, wantBytes)
	}
	if st.RxPackets < count || st.TxDropped+st.TxErrors+st.RxErrors+st.RxDropped != 0 {
		t.Errorf("stats %+v, want at least %d rx packets and no drops or errors", st, count)
	}
	if n, err := port.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
}

// tcpGSOFrame builds a TCPv4 super-packet as a vnet-header writer hands it
// over: NEEDS_CSUM with the pseudo-header sum in the checksum field.
func tcpGSOFrame(dst, src net.HardwareAddr, payloadLen int) *packet.Packet {
	f := make([]byte, 0, 66+payloadLen)
	f = append(f, dst...)
	f = append(f, src...)
	f = append(f, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 203, 0, 113, 1, 203, 0, 113, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+32+payloadLen))
	binary.BigEndian.PutUint16(ip[10:], ^onesSum(ip))
	f = append(f, ip...)
	tcp := []byte{0x9c, 0x40, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x80, 0x18, 0x20, 0, 0, 0, 0, 0,
		1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}
	pseudo := []byte{203, 0, 113, 1, 203, 0, 113, 2, 0, 6, 0, 0}
	binary.BigEndian.PutUint16(pseudo[10:], uint16(32+payloadLen))
	binary.BigEndian.PutUint16(tcp[16:], onesSum(pseudo))
	f = append(f, tcp...)
	for i := range payloadLen {
		f = append(f, byte(i*13))
	}
	p := packet.New(packet.Headroom + len(f))
	p.SetFrame(copy(p.RecvBuf(), f))
	p.GSO = packet.GSO{
		Flags: packet.VirtioNetHdrFNeedsCsum, Type: packet.VirtioNetHdrGSOTCPv4,
		HdrLen: 66, Size: 1448, CsumStart: 34, CsumOffset: 16,
	}
	return p
}

func onesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func isTCP(f []byte) bool {
	return len(f) > 34 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 6
}

// TestGSO sends a 64 KiB super-packet both ways between the tap's file
// side and an AF_PACKET port on its netdev, and checks that offload
// negotiation decides whether the kernel segments it on the way to the
// switch.
func TestGSO(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    Options
		segment bool // the kernel must segment towards the file side
	}{{"offloads", Options{}, false}, {"no offloads", Options{NoOffloads: true}, true}} {
		t.Run(tt.name, func(t *testing.T) {
			afpackettest.RequireRoot(t)
			ns := afpackettest.NewNS(t)
			name := afpackettest.Name("tap")
			port := newTap(t, ns, name, tt.opts)
			if tt.opts.NoOffloads && port.Offloads() != 0 {
				t.Errorf("Offloads() = %v with NoOffloads", port.Offloads())
			}
			var ap *afpacket.Port
			afpackettest.Do(t, ns, func() {
				var err error
				if ap, err = afpacket.Open(name, afpacket.Options{}); err != nil {
					t.Fatal(err)
				}
			})
			defer ap.Close()
			mac := afpackettest.MAC(t, ns, name)
			peer := net.HardwareAddr{2, 0xee, 0, 0, 0, 1}

			// File side -> netdev.
			sent := tcpGSOFrame(mac, peer, 65000)
			if n, err := port.Write([]*packet.Packet{sent}); n != 1 || err != nil {
				t.Fatalf("tap Write = %d, %v (stats %+v)", n, err, port.Stats())
			}
			got := readUntil(t, ap, 1, 2*time.Second, isTCP)
			if len(got) != 1 {
				t.Fatalf("netdev read %d TCP frames, want 1 super-packet", len(got))
			}
			if !bytes.Equal(got[0].frame, sent.Data()) {
				t.Errorf("netdev frame differs (%d bytes, want %d)", len(got[0].frame), sent.Len())
			}
			wantGSO := sent.GSO
			wantGSO.HdrLen = got[0].gso.HdrLen
			if got[0].gso != wantGSO {
				t.Errorf("netdev GSO %+v, want %+v", got[0].gso, wantGSO)
			}

			// Netdev -> file side.
			back := tcpGSOFrame(peer, mac, 65000)
			if n, err := ap.Write([]*packet.Packet{back}); n != 1 || err != nil {
				t.Fatalf("afpacket Write = %d, %v (stats %+v)", n, err, ap.Stats())
			}
			if !tt.segment {
				got = readUntil(t, port, 1, 2*time.Second, isTCP)
				if len(got) != 1 {
					t.Fatalf("tap read %d TCP frames, want 1 super-packet", len(got))
				}
				if !bytes.Equal(got[0].frame, back.Data()) {
					t.Errorf("tap frame differs (%d bytes, want %d)", len(got[0].frame), back.Len())
				}
				wantGSO := back.GSO
				wantGSO.HdrLen = got[0].gso.HdrLen
				if got[0].gso != wantGSO {
					t.Errorf("tap GSO %+v, want %+v", got[0].gso, wantGSO)
				}
				return
			}
			segs := (65000 + 1447) / 1448
			got = readUntil(t, port, segs, 2*time.Second, isTCP)
			if len(got) != segs {
				t.Fatalf("tap read %d TCP frames, want %d segments", len(got), segs)
			}
			total := 0
			for i, r := range got {
				if len(r.frame) > 1514 || r.gso.Type != packet.VirtioNetHdrGSONone {
					t.Errorf("segment %d: %d bytes, GSO %+v", i, len(r.frame), r.gso)
				}
				total += len(r.frame) - 66
			}
			if total != 65000 {
				t.Errorf("segments carry %d payload bytes, want 65000", total)
			}
		})
	}
}

func TestLinkUp(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("tap")
	port := newTap(t, ns, name, Options{})
	if !afpackettest.Eventually(time.Second, port.LinkUp) {
		t.Fatal("LinkUp false on a new tap")
	}
	afpackettest.SetDown(t, ns, name)
	if !afpackettest.Eventually(time.Second, func() bool { return !port.LinkUp() }) {
		t.Error("LinkUp still true a second after setting the link down")
	}
	pkts := []*packet.Packet{packet.FromBytes(testFrame(net.HardwareAddr{2, 0xee, 0, 0, 0, 1}, 1, "down"))}
	if n, _ := port.Write(pkts); n != 0 {
		t.Errorf("Write on a down tap sent %d frames", n)
	}
	if st := port.Stats(); st.TxDropped != 1 {
		t.Errorf("TxDropped = %d after writing to a down tap, want 1", st.TxDropped)
	}
	afpackettest.SetUp(t, ns, name)
	if !afpackettest.Eventually(time.Second, port.LinkUp) {
		t.Error("LinkUp false a second after setting the link up")
	}

	down := newTap(t, ns, afpackettest.Name("tap"), Options{Down: true})
	if down.LinkUp() {
		t.Error("LinkUp true on a tap created with Down")
	}
}

func TestMultiQueue(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("tap")
	port := newTap(t, ns, name, Options{Queues: 4})
	if port.Queues() != 4 {
		t.Fatalf("Queues() = %d, want 4", port.Queues())
	}
	raw := afpackettest.OpenRaw(t, ns, name)
	mac := afpackettest.MAC(t, ns, name)
	// UDP flows with different ports hash to different queues.
	const count = 64
	for i := range count {
		f := make([]byte, 0, 64)
		f = append(f, 2, 0xee, 0, 0, 0, 1)
		f = append(f, mac...)
		f = append(f, 0x08, 0x00, 0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 203, 0, 113, 1, 203, 0, 113, 2)
		binary.BigEndian.PutUint16(f[24:], ^onesSum(f[14:34]))
		f = append(f, byte(i), byte(i*7), 0x30, 0x39, 0, 12, 0, 0, 'm', 'q', 't', byte(i))
		raw.Send(t, f)
	}
	isMQ := func(f []byte) bool { return len(f) >= 46 && f[23] == 17 && bytes.Equal(f[42:45], []byte("mqt")) }
	got := readUntil(t, port, count, 3*time.Second, isMQ)
	if len(got) != count {
		t.Fatalf("read %d of %d frames across the queues", len(got), count)
	}
}

func TestPersistAndAttach(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("tap")
	var err error
	afpackettest.Do(t, ns, func() {
		var p *Port
		if p, err = Create(name, Options{Persist: true, MultiQueue: true}); err != nil {
			return
		}
		p.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace's destruction at cleanup deletes the persistent tap.
	if _, err := afpackettest.Handle(t, ns).LinkByName(name); err != nil {
		t.Fatalf("persistent tap gone after Close: %v", err)
	}
	afpackettest.Do(t, ns, func() {
		if p, err := Create(name, Options{}); err == nil {
			p.Close()
			t.Error("Create on an existing tap succeeded without Attach")
		}
		if p, err := Create(name, Options{Attach: true}); err == nil {
			p.Close()
			t.Error("Attach with the wrong multiqueue mode succeeded")
		}
		if p, err := Create(afpackettest.Name("none"), Options{Attach: true}); err == nil {
			p.Close()
			t.Error("Attach to a missing tap succeeded")
		}
	})
	port := newTap(t, ns, name, Options{Attach: true, MultiQueue: true})
	raw := afpackettest.OpenRaw(t, ns, name)
	raw.Send(t, testFrame(afpackettest.MAC(t, ns, name), 1, "attached"))
	if got := readUntil(t, port, 1, 2*time.Second, hasTag("attached")); len(got) != 1 {
		t.Errorf("attached port read %d frames, want 1", len(got))
	}
	port.Close()
	if _, err := afpackettest.Handle(t, ns).LinkByName(name); err != nil {
		t.Errorf("attached tap gone after Close: %v", err)
	}
}

func TestClose(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("tap")
	var port *Port
	afpackettest.Do(t, ns, func() {
		var err error
		if port, err = Create(name, Options{MTU: 9000, MAC: net.HardwareAddr{2, 0xdd, 1, 2, 3, 4}}); err != nil {
			t.Fatal(err)
		}
	})
	l, err := afpackettest.Handle(t, ns).LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if l.Attrs().MTU != 9000 || l.Attrs().HardwareAddr.String() != "02:dd:01:02:03:04" {
		t.Errorf("MTU %d, MAC %v; want 9000, 02:dd:01:02:03:04", l.Attrs().MTU, l.Attrs().HardwareAddr)
	}
	if err := port.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := afpackettest.Handle(t, ns).LinkByName(name); err == nil {
		t.Error("tap still exists after Close")
	}
	pkts := newPackets(1, packet.DefaultBufSize)
	if _, err := port.Read(pkts); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := port.Write(pkts); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	if port.WaitFD() != -1 || port.LinkUp() {
		t.Error("WaitFD or LinkUp still live after Close")
	}
	if err := port.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
}

func TestCreateErrors(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	for _, tt := range []struct {
		name, ifname string
		opts         Options
	}{
		{"empty name", "", Options{}},
		{"long name", "abcdefghijklmnopq", Options{}},
		{"too many queues", "t0", Options{Queues: 1000}},
		{"bad offloads", "t0", Options{Offloads: 0x100}},
		{"bad MTU", "t0", Options{MTU: 20}},
		{"bad MAC", "t0", Options{MAC: net.HardwareAddr{1, 2, 3}}},
		{"attach and persist", "t0", Options{Attach: true, Persist: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			afpackettest.Do(t, ns, func() {
				if p, err := Create(tt.ifname, tt.opts); err == nil {
					p.Close()
					t.Errorf("Create(%q, %+v) succeeded", tt.ifname, tt.opts)
				}
			})
		})
	}
	afpackettest.Do(t, ns, func() {
		if p, err := CreateInternal("t1", Options{Persist: true}); err == nil {
			p.Close()
			t.Error("CreateInternal with Persist succeeded")
		}
	})
}

func TestRxDroppedTooBig(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("tap")
	port := newTap(t, ns, name, Options{})
	raw := afpackettest.OpenRaw(t, ns, name)
	mac := afpackettest.MAC(t, ns, name)
	raw.Send(t, testFrame(mac, 200, "big"))
	raw.Send(t, testFrame(mac, 1, "small"))
	small := newPackets(4, packet.Headroom+100)
	var got [][]byte
	afpackettest.Eventually(2*time.Second, func() bool {
		n, _ := port.Read(small)
		for _, pk := range small[:n] {
			if afpackettest.IsTest(pk.Data()) {
				got = append(got, bytes.Clone(pk.Data()))
			}
		}
		return len(got) > 0
	})
	if len(got) != 1 || !hasTag("small")(got[0]) {
		t.Fatalf("read %d test frames, want only the small one", len(got))
	}
	if st := port.Stats(); st.RxDropped == 0 {
		t.Errorf("RxDropped = 0, want the big frame counted (stats %+v)", st)
	}
}

// TestInternal checks the internal port's contract: the host stack owns
// and addresses the netdev, and the switch reaches it through the file
// side. An ARP request written by the switch is answered by the host.
func TestInternal(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("int")
	var port *Port
	afpackettest.Do(t, ns, func() {
		var err error
		if port, err = CreateInternal(name, Options{}); err != nil {
			t.Fatal(err)
		}
	})
	defer port.Close()
	afpackettest.AddAddr(t, ns, name, "198.51.100.1/24")
	mac := afpackettest.MAC(t, ns, name)
	peer := net.HardwareAddr{2, 0xee, 0, 0, 0, 9}
	arp := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	arp = append(arp, peer...)
	arp = append(arp, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
	arp = append(arp, peer...)
	arp = append(arp, 198, 51, 100, 9, 0, 0, 0, 0, 0, 0, 198, 51, 100, 1)
	if n, _ := port.Write([]*packet.Packet{packet.FromBytes(arp)}); n != 1 {
		t.Fatal("writing the ARP request failed")
	}
	isReply := func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 && f[21] == 2 && bytes.Equal(f[28:32], []byte{198, 51, 100, 1})
	}
	got := readUntil(t, port, 1, 2*time.Second, isReply)
	if len(got) != 1 {
		t.Fatal("no ARP reply from the host stack")
	}
	if !bytes.Equal(got[0].frame[0:6], peer) || !bytes.Equal(got[0].frame[22:28], mac) {
		t.Errorf("ARP reply %x: want it from %v to %v", got[0].frame[:42], mac, peer)
	}
}

func TestAllocs(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	name := afpackettest.Name("tap")
	port := newTap(t, ns, name, Options{})
	raw := afpackettest.OpenRaw(t, ns, name)
	frame := testFrame(afpackettest.MAC(t, ns, name), 1, "alloc")
	out := []*packet.Packet{packet.FromBytes(testFrame(net.HardwareAddr{2, 0xee, 0, 0, 0, 1}, 1, "alloc"))}
	in := newPackets(packet.BatchSize, packet.Headroom+packet.MaxGSOSize)
	for range 10 {
		raw.Send(t, frame)
	}
	time.Sleep(50 * time.Millisecond)
	allocs := testing.AllocsPerRun(10, func() {
		port.Write(out)
		port.Read(in)
	})
	if allocs != 0 {
		t.Errorf("Write+Read allocate %v times, want 0", allocs)
	}
	if port.Stats().RxPackets == 0 {
		t.Error("nothing read during the allocation test")
	}
}

func BenchmarkWrite(b *testing.B) {
	afpackettest.RequireRoot(b)
	ns := afpackettest.NewNS(b)
	name := afpackettest.Name("tap")
	port := newTap(b, ns, name, Options{})
	pkts := make([]*packet.Packet, packet.BatchSize)
	for i := range pkts {
		pkts[i] = packet.FromBytes(testFrame(net.HardwareAddr{2, 0xee, 0, 0, 0, 1}, i, "bench"))
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		port.Write(pkts)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkRead reads frames an AF_PACKET port floods onto the netdev from
// another goroutine; an op is one frame.
func BenchmarkRead(b *testing.B) {
	afpackettest.RequireRoot(b)
	ns := afpackettest.NewNS(b)
	name := afpackettest.Name("tap")
	port := newTap(b, ns, name, Options{})
	var ap *afpacket.Port
	afpackettest.Do(b, ns, func() {
		var err error
		if ap, err = afpacket.Open(name, afpacket.Options{}); err != nil {
			b.Fatal(err)
		}
	})
	defer ap.Close()
	mac := afpackettest.MAC(b, ns, name)
	out := make([]*packet.Packet, packet.BatchSize)
	for i := range out {
		out[i] = packet.FromBytes(testFrame(mac, i, "bench"))
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				ap.Write(out)
			}
		}
	}()
	in := newPackets(packet.BatchSize, packet.Headroom+packet.MaxGSOSize)
	fds := []unix.PollFd{{Fd: int32(port.WaitFD()), Events: unix.POLLIN}}
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		n, _ := port.Read(in)
		if n == 0 {
			unix.Poll(fds, 10)
		}
		got += n
	}
	b.StopTimer()
	close(stop)
	<-done
}
