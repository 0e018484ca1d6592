package gso

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/dvs-project/dvs/internal/packet"
)

// naiveSum is the RFC 1071 checksum written the obvious way, to check the
// fast one against.
func naiveSum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	var s uint32
	for i := 0; i+1 < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
	}
	if len(all)%2 == 1 {
		s += uint32(all[len(all)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestSum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := sum(b), naiveSum(b); got != want {
			t.Fatalf("len %d: sum = %#04x, want %#04x", n, got, want)
		}
	}
	all := bytes.Repeat([]byte{0xff}, 4096)
	if got, want := sum(all), naiveSum(all); got != want {
		t.Fatalf("all ones: sum = %#04x, want %#04x", got, want)
	}
}

type spec struct {
	ipv6    bool
	udp     bool
	vlan    bool
	payload int
	mss     int
	flags   uint8 // TCP flags of the super-packet
}

// build makes a super-packet as the Linux stack hands it over: headers, a
// patterned payload, NEEDS_CSUM with the pseudo-header sum in the checksum
// field, and the virtio GSO fields.
func build(t testing.TB, s spec) (*packet.Packet, []byte) {
	t.Helper()
	var f []byte
	f = append(f, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1)
	if s.vlan {
		f = append(f, 0x81, 0x00, 0x00, 0x64)
	}
	l3 := len(f) + 2
	proto := byte(protoTCP)
	l4len := 32 // TCP with timestamps
	if s.udp {
		proto, l4len = protoUDP, 8
	}
	var src, dst []byte
	if !s.ipv6 {
		f = append(f, 0x08, 0x00)
		src, dst = []byte{198, 51, 100, 1}, []byte{198, 51, 100, 2}
		ip := []byte{0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0}
		f = append(f, ip...)
		f = append(f, src...)
		f = append(f, dst...)
	} else {
		f = append(f, 0x86, 0xdd)
		src = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
		dst = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
		f = append(f, 0x60, 0, 0, 0, 0, 0, proto, 64)
		f = append(f, src...)
		f = append(f, dst...)
	}
	l4 := len(f)
	if s.udp {
		f = append(f, 0x30, 0x39, 0x10, 0x92, 0, 0, 0, 0)
	} else {
		f = append(f, 0x30, 0x39, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1,
			0x80, s.flags, 0xff, 0xff, 0, 0, 0, 0,
			1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2)
	}
	payload := make([]byte, s.payload)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	f = append(f, payload...)

	if !s.ipv6 {
		binary.BigEndian.PutUint16(f[l3+2:], uint16(len(f)-l3))
		binary.BigEndian.PutUint16(f[l3+10:], ^naiveSum(f[l3:l4]))
	} else {
		binary.BigEndian.PutUint16(f[l3+4:], uint16(len(f)-l4))
	}
	csumOff := 16
	typ := uint8(packet.VirtioNetHdrGSOTCPv4)
	if s.ipv6 {
		typ = packet.VirtioNetHdrGSOTCPv6
	}
	if s.udp {
		csumOff, typ = 6, packet.VirtioNetHdrGSOUDPL4
		binary.BigEndian.PutUint16(f[l4+4:], uint16(len(f)-l4))
	}
	// Pseudo-header sum, not complemented, as CHECKSUM_PARTIAL leaves it.
	l4total := make([]byte, 4)
	binary.BigEndian.PutUint32(l4total, uint32(len(f)-l4))
	binary.BigEndian.PutUint16(f[l4+csumOff:], naiveSum(src, dst, []byte{0, proto}, l4total))

	p := packet.New(packet.Headroom + len(f) + 64)
	p.SetFrame(copy(p.RecvBuf(), f))
	p.InPort = 7
	p.GSO = packet.GSO{
		Flags: packet.VirtioNetHdrFNeedsCsum, Type: typ,
		HdrLen: uint16(l4 + l4len), Size: uint16(s.mss),
		CsumStart: uint16(l4), CsumOffset: uint16(csumOff),
	}
	return p, payload
}

func newOut(n int) []*packet.Packet {
	out := make([]*packet.Packet, n)
	for i := range out {
		out[i] = packet.New(packet.DefaultBufSize)
	}
	return out
}

// check verifies every segment independently of Segment's code and returns
// the reassembled payload.
func check(t *testing.T, s spec, segs []*packet.Packet) []byte {
	t.Helper()
	var payload []byte
	l3 := 14
	if s.vlan {
		l3 += 4
	}
	var l4 int
	var seq0 uint32
	for i, sp := range segs {
		f := sp.Data()
		if sp.GSO != (packet.GSO{}) {
			t.Errorf("segment %d: GSO metadata %+v, want none", i, sp.GSO)
		}
		if sp.InPort != 7 {
			t.Errorf("segment %d: InPort %d, want 7", i, sp.InPort)
		}
		var src, dst []byte
		var proto byte
		if !s.ipv6 {
			ip := f[l3 : l3+20]
			l4 = l3 + 20
			if naiveSum(ip) != 0xffff {
				t.Errorf("segment %d: bad IPv4 header checksum", i)
			}
			if got := int(binary.BigEndian.Uint16(ip[2:])); got != len(f)-l3 {
				t.Errorf("segment %d: IPv4 total length %d, want %d", i, got, len(f)-l3)
			}
			if got := binary.BigEndian.Uint16(ip[4:]); got != 0x1234+uint16(i) {
				t.Errorf("segment %d: IPv4 ID %#x, want %#x", i, got, 0x1234+i)
			}
			src, dst, proto = ip[12:16], ip[16:20], ip[9]
		} else {
			ip := f[l3 : l3+40]
			l4 = l3 + 40
			if got := int(binary.BigEndian.Uint16(ip[4:])); got != len(f)-l4 {
				t.Errorf("segment %d: IPv6 payload length %d, want %d", i, got, len(f)-l4)
			}
			src, dst, proto = ip[8:24], ip[24:40], ip[6]
		}
		l4total := make([]byte, 4)
		binary.BigEndian.PutUint32(l4total, uint32(len(f)-l4))
		if naiveSum(src, dst, []byte{0, proto}, l4total, f[l4:]) != 0xffff {
			t.Errorf("segment %d: bad L4 checksum", i)
		}
		if s.udp {
			if got := int(binary.BigEndian.Uint16(f[l4+4:])); got != len(f)-l4 {
				t.Errorf("segment %d: UDP length %d, want %d", i, got, len(f)-l4)
			}
			payload = append(payload, f[l4+8:]...)
			if i != len(segs)-1 && len(f)-l4-8 != s.mss {
				t.Errorf("segment %d: %d payload bytes, want %d", i, len(f)-l4-8, s.mss)
			}
			continue
		}
		seq := binary.BigEndian.Uint32(f[l4+4:])
		if i == 0 {
			seq0 = seq
		} else if want := seq0 + uint32(i*s.mss); seq != want {
			t.Errorf("segment %d: seq %d, want %d", i, seq, want)
		}
		fl := f[l4+13]
		last, first := i == len(segs)-1, i == 0
		if want := s.flags&(tcpFIN|tcpPSH) != 0 && last; (fl&(tcpFIN|tcpPSH) != 0) != want {
			t.Errorf("segment %d: flags %#x: FIN/PSH present=%v, want %v", i, fl, !want, want)
		}
		if want := s.flags&tcpCWR != 0 && first; (fl&tcpCWR != 0) != want {
			t.Errorf("segment %d: flags %#x: CWR present=%v, want %v", i, fl, !want, want)
		}
		if fl&0x10 == 0 {
			t.Errorf("segment %d: ACK lost", i)
		}
		thl := int(f[l4+12]>>4) * 4
		if i != len(segs)-1 && len(f)-l4-thl != s.mss {
			t.Errorf("segment %d: %d payload bytes, want %d", i, len(f)-l4-thl, s.mss)
		}
		payload = append(payload, f[l4+thl:]...)
	}
	return payload
}

func TestSegment(t *testing.T) {
	const ack, psh, fin, cwr = 0x10, 0x08, 0x01, 0x80
	tests := []struct {
		name string
		spec spec
	}{
		{"tcp4 64KiB", spec{payload: 65536 - 20 - 32, mss: 1448, flags: ack | psh | cwr}},
		{"tcp6 64KiB", spec{ipv6: true, payload: 65536 - 40 - 32, mss: 1428, flags: ack | psh | fin}},
		{"tcp4 vlan odd tail", spec{vlan: true, payload: 10001, mss: 1000, flags: ack | fin}},
		{"tcp6 exact multiple", spec{ipv6: true, payload: 8 * 1220, mss: 1220, flags: ack}},
		{"tcp4 one segment", spec{payload: 100, mss: 1448, flags: ack | psh}},
		{"udp4 uso", spec{udp: true, payload: 30000, mss: 1472}},
		{"udp6 uso vlan", spec{udp: true, ipv6: true, vlan: true, payload: 9000, mss: 1452}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, want := build(t, tt.spec)
			out := newOut(64)
			n, ok := Segment(p, out)
			if !ok {
				t.Fatal("Segment failed")
			}
			if wantN := max(1, (tt.spec.payload+tt.spec.mss-1)/tt.spec.mss); n != wantN {
				t.Fatalf("Segment made %d segments, want %d", n, wantN)
			}
			if got := check(t, tt.spec, out[:n]); !bytes.Equal(got, want) {
				t.Errorf("reassembled payload differs (%d bytes, want %d)", len(got), len(want))
			}
		})
	}
}

func TestSegmentRejects(t *testing.T) {
	good := spec{payload: 5000, mss: 1000, flags: 0x10}
	tests := []struct {
		name   string
		mutate func(p *packet.Packet)
		out    int
	}{
		{"no gso", func(p *packet.Packet) { p.GSO.Type = packet.VirtioNetHdrGSONone }, 64},
		{"ufo", func(p *packet.Packet) { p.GSO.Type = packet.VirtioNetHdrGSOUDP }, 64},
		{"zero mss", func(p *packet.Packet) { p.GSO.Size = 0 }, 64},
		{"type mismatch", func(p *packet.Packet) { p.GSO.Type = packet.VirtioNetHdrGSOTCPv6 }, 64},
		{"csum start mismatch", func(p *packet.Packet) { p.GSO.CsumStart++ }, 64},
		{"not ip", func(p *packet.Packet) { p.Data()[12] = 0x88 }, 64},
		{"fragment", func(p *packet.Packet) { p.Data()[20] |= 0x20 }, 64},
		{"truncated", func(p *packet.Packet) { p.Truncate(40) }, 64},
		{"too few out", func(p *packet.Packet) {}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := build(t, good)
			tt.mutate(p)
			if n, ok := Segment(p, newOut(tt.out)); ok {
				t.Errorf("Segment = %d, true; want false", n)
			}
		})
	}
	t.Run("small out buffer", func(t *testing.T) {
		p, _ := build(t, good)
		out := newOut(8)
		out[3] = packet.New(packet.Headroom + 200)
		if n, ok := Segment(p, out); ok {
			t.Errorf("Segment = %d, true; want false", n)
		}
	})
}

func TestCompleteChecksum(t *testing.T) {
	for _, s := range []spec{
		{payload: 1000, mss: 1448, flags: 0x18},
		{ipv6: true, payload: 999, mss: 1448, flags: 0x18},
		{udp: true, payload: 333, mss: 1472},
	} {
		p, _ := build(t, s)
		p.GSO.Type, p.GSO.Size = packet.VirtioNetHdrGSONone, 0
		if !CompleteChecksum(p) {
			t.Fatal("CompleteChecksum failed")
		}
		if p.GSO.Flags&packet.VirtioNetHdrFNeedsCsum != 0 {
			t.Error("NEEDS_CSUM still set")
		}
		p.GSO = packet.GSO{}
		// Segmenting a one-segment packet computes the checksum from
		// scratch and check verifies it independently.
		check(t, s, []*packet.Packet{p})
	}
	p := packet.FromBytes(make([]byte, 60))
	p.GSO = packet.GSO{Flags: packet.VirtioNetHdrFNeedsCsum, CsumStart: 50, CsumOffset: 16}
	if CompleteChecksum(p) {
		t.Error("CompleteChecksum accepted offsets past the frame")
	}
}

func TestVnetHdrRoundTrip(t *testing.T) {
	g := packet.GSO{Flags: 1, Type: 4 | 0x80, HdrLen: 86, Size: 1428, CsumStart: 54, CsumOffset: 16}
	var b [VnetHdrLen]byte
	EncodeVnetHdr(b[:], &g)
	if got := DecodeVnetHdr(b[:]); got != g {
		t.Errorf("DecodeVnetHdr(EncodeVnetHdr(%+v)) = %+v", g, got)
	}
}

func TestSegmentAllocs(t *testing.T) {
	p, _ := build(t, spec{payload: 65000, mss: 1448, flags: 0x18})
	out := newOut(64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := Segment(p, out); !ok {
			t.Fatal("Segment failed")
		}
		q := out[0]
		q.GSO.Flags = packet.VirtioNetHdrFNeedsCsum
		q.GSO.CsumStart, q.GSO.CsumOffset = 34, 16
		CompleteChecksum(q)
	})
	if allocs != 0 {
		t.Errorf("Segment+CompleteChecksum allocate %v times per run, want 0", allocs)
	}
}

func FuzzSegment(f *testing.F) {
	p, _ := build(f, spec{payload: 3000, mss: 1000, flags: 0x18})
	f.Add(p.Data(), uint8(packet.VirtioNetHdrGSOTCPv4), uint16(1000), uint16(34), uint8(1))
	p6, _ := build(f, spec{ipv6: true, udp: true, payload: 3000, mss: 1000})
	f.Add(p6.Data(), uint8(packet.VirtioNetHdrGSOUDPL4), uint16(1000), uint16(54), uint8(1))
	out := newOut(128)
	f.Fuzz(func(t *testing.T, frame []byte, typ uint8, size, csumStart uint16, flags uint8) {
		if len(frame) > 65535 {
			return
		}
		p := packet.FromBytes(frame)
		p.GSO = packet.GSO{Flags: flags, Type: typ, Size: size, CsumStart: csumStart, CsumOffset: 16}
		n, ok := Segment(p, out)
		if !ok {
			return
		}
		total := 0
		for _, s := range out[:n] {
			total += s.Len()
		}
		if total < len(frame) {
			t.Fatalf("%d segments hold %d bytes, less than the %d-byte input", n, total, len(frame))
		}
		q := packet.FromBytes(frame)
		q.GSO = packet.GSO{Flags: packet.VirtioNetHdrFNeedsCsum, CsumStart: csumStart, CsumOffset: uint16(typ)}
		CompleteChecksum(q)
	})
}

func BenchmarkSegment(b *testing.B) {
	for _, s := range []struct {
		name string
		spec spec
	}{
		{"tcp4-64KiB", spec{payload: 65536 - 52, mss: 1448, flags: 0x18}},
		{"tcp6-64KiB", spec{ipv6: true, payload: 65536 - 72, mss: 1428, flags: 0x18}},
	} {
		b.Run(s.name, func(b *testing.B) {
			p, _ := build(b, s.spec)
			out := newOut(64)
			b.SetBytes(int64(p.Len()))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := Segment(p, out); !ok {
					b.Fatal("Segment failed")
				}
			}
		})
	}
}

func BenchmarkCompleteChecksum1500(b *testing.B) {
	p, _ := build(b, spec{payload: 1448, mss: 1448, flags: 0x18})
	g := p.GSO
	b.SetBytes(int64(p.Len()))
	b.ReportAllocs()
	for b.Loop() {
		p.GSO = g
		CompleteChecksum(p)
	}
}
