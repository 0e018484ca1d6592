package afpacket

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

	"github.com/dvs-project/dvs/internal/datapath/afpacket/afpackettest"
	"github.com/dvs-project/dvs/internal/packet"
)

// pair is a namespace with a veth pair: the port under test on a, the
// reference raw socket on b.
type pair struct {
	ns   netns.NsHandle
	a, b string
}

func newPair(t testing.TB) pair {
	t.Helper()
	afpackettest.RequireRoot(t)
	p := pair{ns: afpackettest.NewNS(t), a: afpackettest.Name("va"), b: afpackettest.Name("vb")}
	afpackettest.Veth(t, p.ns, p.a, p.ns, p.b)
	return p
}

func openPort(t testing.TB, ns netns.NsHandle, ifname string, opts Options) *Port {
	t.Helper()
	var p *Port
	afpackettest.Do(t, ns, func() {
		var err error
		if p, err = Open(ifname, opts); err != nil {
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

// readUntil reads from p, sleeping in poll on WaitFD, until it has want
// frames matching match or timeout passes.
func readUntil(t testing.TB, p *Port, want int, timeout time.Duration, match func([]byte) bool) []received {
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
	pr := newPair(t)
	port := openPort(t, pr.ns, pr.a, Options{})
	raw := afpackettest.OpenRaw(t, pr.ns, pr.b)
	srcB := afpackettest.MAC(t, pr.ns, pr.b)
	srcA := afpackettest.MAC(t, pr.ns, pr.a)
	if !port.VnetHdr() || !port.AcceptsGSO() {
		t.Errorf("VnetHdr() = %v, AcceptsGSO() = %v; want both true on this kernel", port.VnetHdr(), port.AcceptsGSO())
	}

	if n, err := port.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}

	// Into the port: frames to foreign MACs need promiscuous mode.
	const count = 20
	var sent [][]byte
	for i := range count {
		f := testFrame(srcB, i, "inbound")
		sent = append(sent, f)
		raw.Send(t, f)
	}
	got := readUntil(t, port, count, 2*time.Second, hasTag("inbound"))
	if len(got) != count {
		t.Fatalf("port read %d of %d frames", len(got), count)
	}
	for i, r := range got {
		if !bytes.Equal(r.frame, sent[i]) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, r.frame, sent[i])
		}
		if r.gso != (packet.GSO{}) {
			t.Errorf("frame %d: GSO %+v, want none", i, r.gso)
		}
	}

	// Out of the port.
	pkts := make([]*packet.Packet, count)
	var wantBytes uint64
	for i := range pkts {
		pkts[i] = packet.FromBytes(testFrame(srcA, i, "outbound"))
		wantBytes += uint64(pkts[i].Len())
	}
	before := port.Stats()
	if n, err := port.Write(pkts); n != count || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, count)
	}
	for i := range count {
		f, ok := raw.Recv(t, 2*time.Second, hasTag("outbound"))
		if !ok {
			t.Fatalf("raw socket got %d of %d frames", i, count)
		}
		if !bytes.Equal(f, pkts[i].Data()) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, f, pkts[i].Data())
		}
	}
	after := port.Stats()
	if d := after.TxPackets - before.TxPackets; d != count {
		t.Errorf("TxPackets grew by %d, want %d", d, count)
	}
	if d := after.TxBytes - before.TxBytes; d != wantBytes {
		t.Errorf("TxBytes grew by %d, want %d", d, wantBytes)
	}
	if after.TxDropped != 0 || after.TxErrors != 0 || after.RxErrors != 0 {
		t.Errorf("unexpected drops or errors: %+v", after)
	}
	if after.RxPackets < count {
		t.Errorf("RxPackets = %d, want at least %d", after.RxPackets, count)
	}

	// Neither the port's own frames nor frames another socket sends out
	// of the same interface come back in.
	rawA := afpackettest.OpenRaw(t, pr.ns, pr.a)
	rawA.Send(t, testFrame(srcA, 0, "outbound"))
	if back := readUntil(t, port, 1, 300*time.Millisecond, hasTag("outbound")); len(back) != 0 {
		t.Errorf("port read back %d outgoing frames", len(back))
	}
}

func TestVLANTagKept(t *testing.T) {
	pr := newPair(t)
	port := openPort(t, pr.ns, pr.a, Options{})
	raw := afpackettest.OpenRaw(t, pr.ns, pr.b)
	src := afpackettest.MAC(t, pr.ns, pr.b)
	for _, tpid := range []uint16{0x8100, 0x88a8} {
		f := testFrame(src, 1, "tagged")
		tagged := append(bytes.Clone(f[:12]), byte(tpid>>8), byte(tpid), 0x20, 0x64)
		tagged = append(tagged, f[12:]...)
		raw.Send(t, tagged)
		got := readUntil(t, port, 1, 2*time.Second, hasTag("tagged"))
		if len(got) != 1 {
			t.Fatalf("TPID %#x: port read %d frames, want 1", tpid, len(got))
		}
		if !bytes.Equal(got[0].frame, tagged) {
			t.Errorf("TPID %#x: got\n %x\nwant %x", tpid, got[0].frame, tagged)
		}
	}
}

// tcpGSOFrame builds a 64 KiB TCPv4 super-packet as a vnet-header socket
// takes it: NEEDS_CSUM with the pseudo-header sum in the checksum field.
func tcpGSOFrame(dst, src net.HardwareAddr, payloadLen int) *packet.Packet {
	f := make([]byte, 0, 66+payloadLen)
	f = append(f, dst...)
	f = append(f, src...)
	f = append(f, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 198, 51, 100, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+32+payloadLen))
	binary.BigEndian.PutUint16(ip[10:], ^onesSum(ip))
	f = append(f, ip...)
	tcp := []byte{0x9c, 0x40, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x80, 0x18, 0x20, 0, 0, 0, 0, 0,
		1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}
	pseudo := []byte{198, 51, 100, 1, 198, 51, 100, 2, 0, 6, 0, 0}
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

func TestGSOFrameCrossesIntact(t *testing.T) {
	pr := newPair(t)
	pa := openPort(t, pr.ns, pr.a, Options{})
	pb := openPort(t, pr.ns, pr.b, Options{})
	macA, macB := afpackettest.MAC(t, pr.ns, pr.a), afpackettest.MAC(t, pr.ns, pr.b)

	for _, dir := range []struct {
		name     string
		from, to *Port
		dst, src net.HardwareAddr
	}{{"b to a", pb, pa, macA, macB}, {"a to b", pa, pb, macB, macA}} {
		t.Run(dir.name, func(t *testing.T) {
			sent := tcpGSOFrame(dir.dst, dir.src, 65000)
			if n, err := dir.from.Write([]*packet.Packet{sent}); n != 1 || err != nil {
				t.Fatalf("Write = %d, %v (stats %+v)", n, err, dir.from.Stats())
			}
			isTCP := func(f []byte) bool {
				return len(f) > 34 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 6
			}
			got := readUntil(t, dir.to, 1, 2*time.Second, isTCP)
			if len(got) != 1 {
				t.Fatalf("read %d TCP frames, want 1 super-packet", len(got))
			}
			r := got[0]
			if len(r.frame) != sent.Len() || len(r.frame) <= 1514 {
				t.Errorf("frame length %d, want %d", len(r.frame), sent.Len())
			}
			if !bytes.Equal(r.frame, sent.Data()) {
				t.Error("frame content differs")
			}
			want := sent.GSO
			want.HdrLen = r.gso.HdrLen // a hint the kernel recomputes
			if r.gso != want {
				t.Errorf("GSO %+v, want %+v", r.gso, want)
			}
		})
	}
}

func TestNoVnetHdr(t *testing.T) {
	pr := newPair(t)
	port := openPort(t, pr.ns, pr.a, Options{NoVnetHdr: true})
	if port.VnetHdr() || port.AcceptsGSO() {
		t.Fatal("NoVnetHdr port reports vnet headers")
	}
	raw := afpackettest.OpenRaw(t, pr.ns, pr.b)
	src := afpackettest.MAC(t, pr.ns, pr.a)
	g := tcpGSOFrame(afpackettest.MAC(t, pr.ns, pr.b), src, 5000)
	plain := packet.FromBytes(testFrame(src, 3, "plain"))
	if n, _ := port.Write([]*packet.Packet{g, plain}); n != 1 {
		t.Errorf("Write sent %d, want 1 (the GSO packet refused)", n)
	}
	if st := port.Stats(); st.TxErrors != 1 || st.TxPackets != 1 {
		t.Errorf("stats %+v, want TxErrors 1, TxPackets 1", st)
	}
	if _, ok := raw.Recv(t, 2*time.Second, hasTag("plain")); !ok {
		t.Error("plain frame not received")
	}
}

// TestRxAliasesRing checks that Read hands frames over without copying:
// a frame larger than the packet's own buffer arrives whole, and a
// packet's bytes stay valid until the next Read.
func TestRxAliasesRing(t *testing.T) {
	pr := newPair(t)
	port := openPort(t, pr.ns, pr.a, Options{})
	raw := afpackettest.OpenRaw(t, pr.ns, pr.b)
	src := afpackettest.MAC(t, pr.ns, pr.b)
	bigFrame := testFrame(src, 200, "big")
	raw.Send(t, bigFrame)
	raw.Send(t, testFrame(src, 1, "small"))
	small := newPackets(4, packet.Headroom+100)
	deadline := time.Now().Add(2 * time.Second)
	var got [][]byte
	for len(got) < 2 && time.Now().Before(deadline) {
		n, _ := port.Read(small)
		for _, pk := range small[:n] {
			if hasTag("small")(pk.Data()) || hasTag("big")(pk.Data()) {
				got = append(got, bytes.Clone(pk.Data()))
			}
		}
		time.Sleep(time.Millisecond)
	}
	if len(got) != 2 || !bytes.Equal(got[0], bigFrame) || !hasTag("small")(got[1]) {
		t.Fatalf("read %d test frames, want the big one whole, then the small one", len(got))
	}
	if st := port.Stats(); st.RxDropped != 0 {
		t.Errorf("RxDropped = %d, want 0", st.RxDropped)
	}
	// A packet read last time is back on its own buffer after SetFrame.
	small[0].SetFrame(copy(small[0].RecvBuf(), []byte("own")))
	if string(small[0].Data()) != "own" || small[0].Cap() != 100 {
		t.Errorf("packet does not return to its own buffer: %q, cap %d", small[0].Data(), small[0].Cap())
	}
}

func TestLinkUp(t *testing.T) {
	pr := newPair(t)
	port := openPort(t, pr.ns, pr.a, Options{})
	if !afpackettest.Eventually(time.Second, port.LinkUp) {
		t.Fatal("LinkUp false on an up veth")
	}
	afpackettest.SetDown(t, pr.ns, pr.a)
	if !afpackettest.Eventually(time.Second, func() bool { return !port.LinkUp() }) {
		t.Error("LinkUp still true a second after setting the link down")
	}
	afpackettest.SetUp(t, pr.ns, pr.a)
	if !afpackettest.Eventually(time.Second, port.LinkUp) {
		t.Error("LinkUp false a second after setting the link up")
	}
	// The peer going down takes the carrier away.
	afpackettest.SetDown(t, pr.ns, pr.b)
	if !afpackettest.Eventually(time.Second, func() bool { return !port.LinkUp() }) {
		t.Error("LinkUp still true a second after the peer went down")
	}
	afpackettest.SetUp(t, pr.ns, pr.b)

	// After a down/up cycle the port receives again and WaitFD does not
	// stay in POLLERR.
	raw := afpackettest.OpenRaw(t, pr.ns, pr.b)
	if !afpackettest.Eventually(time.Second, port.LinkUp) {
		t.Fatal("link did not come back")
	}
	raw.Send(t, testFrame(afpackettest.MAC(t, pr.ns, pr.b), 1, "again"))
	if got := readUntil(t, port, 1, 2*time.Second, hasTag("again")); len(got) != 1 {
		t.Errorf("read %d frames after the link came back, want 1", len(got))
	}
	for range 200 {
		if _, err := port.Read(newPackets(1, packet.DefaultBufSize)); err != nil {
			t.Fatal(err)
		}
	}
	fds := []unix.PollFd{{Fd: int32(port.WaitFD()), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, 0); err != nil {
		t.Fatal(err)
	}
	if fds[0].Revents&unix.POLLERR != 0 {
		t.Error("WaitFD still reports POLLERR after Reads")
	}
}

func TestClose(t *testing.T) {
	pr := newPair(t)
	var port *Port
	afpackettest.Do(t, pr.ns, func() {
		var err error
		if port, err = Open(pr.a, Options{}); err != nil {
			t.Fatal(err)
		}
	})
	if err := port.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pkts := newPackets(1, packet.DefaultBufSize)
	if _, err := port.Read(pkts); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := port.Write(pkts); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	if fd := port.WaitFD(); fd != -1 {
		t.Errorf("WaitFD after Close = %d, want -1", fd)
	}
	if port.LinkUp() {
		t.Error("LinkUp after Close = true")
	}
	_ = port.Stats()
	if err := port.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
}

func TestOpenErrors(t *testing.T) {
	pr := newPair(t)
	tests := []struct {
		name   string
		ifname string
		opts   Options
	}{
		{"no such interface", "nonexistent0", Options{}},
		{"unaligned block", pr.a, Options{BlockSize: 100000}},
		{"block too small for GSO", pr.a, Options{BlockSize: 64 << 10}},
		{"one block", pr.a, Options{BlockCount: 1}},
		{"timeout too long", pr.a, Options{BlockTimeout: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			afpackettest.Do(t, pr.ns, func() {
				if p, err := Open(tt.ifname, tt.opts); err == nil {
					p.Close()
					t.Errorf("Open(%q, %+v) succeeded", tt.ifname, tt.opts)
				}
			})
		})
	}
	afpackettest.Do(t, pr.ns, func() {
		p, err := Open(pr.a, Options{BlockSize: 64 << 10, NoVnetHdr: true})
		if err != nil {
			t.Errorf("small blocks without vnet headers: %v", err)
			return
		}
		p.Close()
	})
}

func TestAllocs(t *testing.T) {
	pr := newPair(t)
	pa := openPort(t, pr.ns, pr.a, Options{BlockTimeout: time.Millisecond})
	pb := openPort(t, pr.ns, pr.b, Options{})
	src := afpackettest.MAC(t, pr.ns, pr.b)
	out := make([]*packet.Packet, packet.BatchSize)
	for i := range out {
		out[i] = packet.FromBytes(testFrame(src, i, "alloc"))
	}
	in := newPackets(packet.BatchSize, packet.Headroom+packet.MaxGSOSize)
	allocs := testing.AllocsPerRun(50, func() {
		pb.Write(out)
		time.Sleep(2 * time.Millisecond)
		pa.Read(in)
	})
	if allocs != 0 {
		t.Errorf("Write+Read allocate %v times per batch, want 0", allocs)
	}
	if st := pa.Stats(); st.RxPackets == 0 {
		t.Error("no frames read during the allocation test")
	}
}

// TestKernelDropsCounted overflows a small ring and checks that the frames
// the kernel could not place show up in RxDropped (PACKET_STATISTICS).
func TestKernelDropsCounted(t *testing.T) {
	pr := newPair(t)
	port := openPort(t, pr.ns, pr.a, Options{NoVnetHdr: true, BlockSize: 16 << 10, BlockCount: 2})
	sender := openPort(t, pr.ns, pr.b, Options{})
	src := afpackettest.MAC(t, pr.ns, pr.b)
	out := make([]*packet.Packet, packet.BatchSize)
	for i := range out {
		out[i] = packet.FromBytes(testFrame(src, i, "flood"))
	}
	sent := 0
	for range 20 {
		n, _ := sender.Write(out)
		sent += n
	}
	time.Sleep(20 * time.Millisecond)
	got := len(readUntil(t, port, sent, 200*time.Millisecond, hasTag("flood")))
	st := port.Stats()
	if st.RxDropped == 0 || got >= sent {
		t.Fatalf("sent %d, read %d, RxDropped %d: want the overflow counted", sent, got, st.RxDropped)
	}
	if uint64(got)+st.RxDropped < uint64(sent) {
		t.Errorf("sent %d, read %d + dropped %d: frames unaccounted for", sent, got, st.RxDropped)
	}
}

func TestQdiscBypass(t *testing.T) {
	pr := newPair(t)
	port := openPort(t, pr.ns, pr.a, Options{QdiscBypass: true})
	raw := afpackettest.OpenRaw(t, pr.ns, pr.b)
	p := packet.FromBytes(testFrame(afpackettest.MAC(t, pr.ns, pr.a), 1, "bypass"))
	if n, err := port.Write([]*packet.Packet{p}); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, ok := raw.Recv(t, 2*time.Second, hasTag("bypass")); !ok {
		t.Error("frame sent bypassing the qdisc not received")
	}
}
