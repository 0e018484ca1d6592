package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// refSum is RFC 1071's ones'-complement sum, written the slow and obvious
// way, to check sum against.
func refSum(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestChecksumKnown(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want uint16
	}{
		// The IPv4 header example from RFC 1071's usual illustration
		// (192.168.0.1 -> 192.168.0.199, UDP), checksum field zero.
		{"ipv4-header", []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}, 0xb861},
		// RFC 1071 section 3's worked example sums to 0xddf2.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, ^uint16(0xddf2)},
		{"empty", nil, 0xffff},
		{"odd", []byte{0x01}, ^uint16(0x0100)},
		{"all-ones", []byte{0xff, 0xff, 0xff, 0xff}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checksum(tt.data); got != tt.want {
				t.Errorf("Checksum = %#04x, want %#04x", got, tt.want)
			}
		})
	}
	h := IPv4(tests[0].data)
	h.SetChecksum(0xdead)
	if got := h.CalculateChecksum(); got != 0xb861 {
		t.Errorf("IPv4.CalculateChecksum = %#04x, want 0xb861", got)
	}
	h.SetChecksum(0xb861)
	if got := Checksum(h); got != 0 {
		t.Errorf("Checksum over a correct header = %#04x, want 0", got)
	}
}

func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := randBytes(r, 2048)
	for n := range 300 {
		for _, start := range []int{0, 1, 2, 3, 7} {
			b := buf[start : start+n]
			init := uint16(r.Uint32())
			want := refSum(append([]byte{byte(init >> 8), byte(init)}, b...))
			if got := Sum(b, init); got != want {
				t.Fatalf("Sum(%d bytes at %d, %#x) = %#04x, want %#04x", n, start, init, got, want)
			}
		}
	}
	// A large buffer, as a GSO packet is, and chaining.
	big := randBytes(r, MaxGSOSize)
	if got, want := Sum(big, 0), refSum(big); got != want {
		t.Errorf("Sum(64KiB) = %#04x, want %#04x", got, want)
	}
	if got, want := Sum(big[1000:], Sum(big[:1000], 0)), refSum(big); got != want {
		t.Errorf("chained Sum = %#04x, want %#04x", got, want)
	}
}

// TestUpdateMatchesRecompute changes random words of random data and checks
// that the incrementally updated checksum is the one a full recomputation
// gives.
func TestUpdateMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const csumOff = 10
	recompute := func(b []byte) uint16 {
		binary.BigEndian.PutUint16(b[csumOff:], 0)
		c := Checksum(b)
		binary.BigEndian.PutUint16(b[csumOff:], c)
		return c
	}
	for i := range 20000 {
		b := randBytes(r, 12+2*r.IntN(40))
		c := recompute(b)
		width := []int{2, 4, 16}[i%3]
		if width == 16 && len(b) < csumOff+2+16 {
			width = 4
		}
		// An even offset whose field does not overlap the checksum.
		var off int
		for {
			off = 2 * r.IntN((len(b)-width)/2+1)
			if off+width <= csumOff || off >= csumOff+2 {
				break
			}
		}
		var got uint16
		switch width {
		case 2:
			old, new := binary.BigEndian.Uint16(b[off:]), uint16(r.Uint32())
			if i%7 == 0 {
				new = old
			}
			binary.BigEndian.PutUint16(b[off:], new)
			got = UpdateChecksum16(c, old, new)
		case 4:
			old, new := binary.BigEndian.Uint32(b[off:]), r.Uint32()
			binary.BigEndian.PutUint32(b[off:], new)
			got = UpdateChecksum32(c, old, new)
		default:
			old, new := [16]byte(b[off:off+16]), [16]byte(randBytes(r, 16))
			copy(b[off:], new[:])
			got = UpdateChecksum128(c, old, new)
		}
		if want := recompute(b); got != want {
			t.Fatalf("case %d: incremental %#04x, recomputed %#04x", i, got, want)
		}
	}
}

func TestUpdateByte(t *testing.T) {
	// TTL (even offset 8) and TOS (odd offset 1) of an IPv4 header.
	h := IPv4([]byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7})
	c := UpdateChecksum16(h.Checksum(), uint16(h.TTL())<<8, uint16(h.TTL()-1)<<8)
	h.SetTTL(h.TTL() - 1)
	c = UpdateChecksum16(c, uint16(h.TOS()), 0xb8)
	h.SetTOS(0xb8)
	if want := h.CalculateChecksum(); c != want {
		t.Errorf("incremental %#04x, recomputed %#04x", c, want)
	}
}

func TestUDPChecksumZero(t *testing.T) {
	old, new := [16]byte{1}, [16]byte{2}
	for name, got := range map[string]uint16{
		"16":  UpdateUDPChecksum16(0, 1, 2),
		"32":  UpdateUDPChecksum32(0, 1, 2),
		"128": UpdateUDPChecksum128(0, old, new),
	} {
		if got != 0 {
			t.Errorf("update %s of checksum 0 (none) = %#04x, want 0", name, got)
		}
	}
	// Changing a zero word to x in data whose checksum is x makes the
	// new checksum 0, which UDP must send as 0xffff.
	if got := UpdateChecksum16(0x1234, 0, 0x1234); got != 0 {
		t.Fatalf("UpdateChecksum16 = %#04x, want 0", got)
	}
	if got := UpdateUDPChecksum16(0x1234, 0, 0x1234); got != 0xffff {
		t.Errorf("UpdateUDPChecksum16 = %#04x, want 0xffff", got)
	}
	if got := UpdateUDPChecksum32(0x1234, 0, 0x1234); got != 0xffff {
		t.Errorf("UpdateUDPChecksum32 = %#04x, want 0xffff", got)
	}
	if got := UpdateUDPChecksum128(0x1234, [16]byte{}, [16]byte{14: 0x12, 15: 0x34}); got != 0xffff {
		t.Errorf("UpdateUDPChecksum128 = %#04x, want 0xffff", got)
	}
	// A segment whose checksum computes to 0: UDP sends 0xffff, TCP 0.
	// Storing a segment's checksum in a spare word of it does that.
	for proto, want := range map[uint8]uint16{flow.IPProtoUDP: 0xffff, flow.IPProtoTCP: 0} {
		seg := make([]byte, 10)
		binary.BigEndian.PutUint16(seg[8:], L4ChecksumIPv4(ip4A, ip4B, proto, seg))
		if got := L4ChecksumIPv4(ip4A, ip4B, proto, seg); got != want {
			t.Errorf("IPv4 protocol %d: checksum computing to 0 = %#04x, want %#04x", proto, got, want)
		}
		clear(seg)
		binary.BigEndian.PutUint16(seg[8:], L4ChecksumIPv6(ip6A, ip6B, proto, seg))
		if got := L4ChecksumIPv6(ip6A, ip6B, proto, seg); got != want {
			t.Errorf("IPv6 protocol %d: checksum computing to 0 = %#04x, want %#04x", proto, got, want)
		}
	}
}

// TestL4Checksum checks the pseudo-header checksums against the reference
// sum over an explicitly built pseudo header.
func TestL4Checksum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		seg := randBytes(r, r.IntN(1600))
		proto := uint8(r.IntN(256))
		src4, dst4 := r.Uint32(), r.Uint32()
		p4 := binary.BigEndian.AppendUint32(nil, src4)
		p4 = binary.BigEndian.AppendUint32(p4, dst4)
		p4 = append(p4, 0, proto)
		p4 = binary.BigEndian.AppendUint16(p4, uint16(len(seg)))
		if got, want := L4ChecksumIPv4(src4, dst4, proto, seg), checksumRef(proto, append(p4, seg...)); got != want {
			t.Fatalf("case %d: L4ChecksumIPv4 = %#04x, want %#04x", i, got, want)
		}
		src6, dst6 := [16]byte(randBytes(r, 16)), [16]byte(randBytes(r, 16))
		p6 := cat(src6[:], dst6[:])
		p6 = binary.BigEndian.AppendUint32(p6, uint32(len(seg)))
		p6 = append(p6, 0, 0, 0, proto)
		if got, want := L4ChecksumIPv6(src6, dst6, proto, seg), checksumRef(proto, append(p6, seg...)); got != want {
			t.Fatalf("case %d: L4ChecksumIPv6 = %#04x, want %#04x", i, got, want)
		}
	}
}

func checksumRef(proto uint8, b []byte) uint16 {
	c := ^refSum(b)
	if proto == flow.IPProtoUDP && c == 0 {
		c = 0xffff
	}
	return c
}

// TestFramesChecksums checks that the test frames, which the builders
// checksum, verify: over data holding a correct checksum the sum is 0.
func TestFramesChecksums(t *testing.T) {
	for _, c := range parseCases() {
		var k flow.Key
		o := ParseOffsets(c.frame, testPort, &k)
		if o.L4 == 0 || k.NwFrag != 0 || ipEnd(c.frame, &k, o) > len(c.frame) {
			continue // the checksum covers bytes that are not there
		}
		t.Run(c.name, func(t *testing.T) {
			if err := checksumsOK(c.frame); err != "" {
				t.Error(err)
			}
		})
	}
}

// ipEnd returns where the IP packet at o.L3 ends by its length field.
func ipEnd(f []byte, k *flow.Key, o Offsets) int {
	if k.EthType == flow.EthTypeIPv4 {
		return o.L3 + int(IPv4(f[o.L3:]).TotalLen())
	}
	return o.L3 + IPv6Len + int(IPv6(f[o.L3:]).PayloadLen())
}

func TestSCTPChecksumKnown(t *testing.T) {
	// RFC 3720 B.4: the CRC32c of 32 zero bytes is 0x8a9136aa, sent as
	// aa 36 91 8a.
	b := make([]byte, 32)
	binary.BigEndian.PutUint32(b[8:], 0xffffffff) // the checksum field is taken as zero
	if got := SCTP(b).CalculateChecksum(); got != 0x8a9136aa {
		t.Fatalf("CRC32c = %#08x, want 0x8a9136aa", got)
	}
	SCTP(b).SetChecksum(0x8a9136aa)
	if got := b[8:12]; got[0] != 0xaa || got[1] != 0x36 || got[2] != 0x91 || got[3] != 0x8a {
		t.Errorf("stored as % x, want aa 36 91 8a", got)
	}
}

func TestChecksumAllocs(t *testing.T) {
	b := make([]byte, 1500)
	b[0] = 0x45
	var a, c [16]byte
	var s uint16
	for name, f := range map[string]func(){
		"Checksum":             func() { s += Checksum(b) },
		"UpdateChecksum16":     func() { s += UpdateChecksum16(sink, 1, 2) },
		"UpdateChecksum32":     func() { s += UpdateChecksum32(sink, 1, 2) },
		"UpdateChecksum128":    func() { s += UpdateChecksum128(sink, a, c) },
		"UpdateUDPChecksum128": func() { s += UpdateUDPChecksum128(sink, a, c) },
		"L4ChecksumIPv4":       func() { s += L4ChecksumIPv4(1, 2, 6, b) },
		"L4ChecksumIPv6":       func() { s += L4ChecksumIPv6(a, c, 6, b) },
		"IPv4":                 func() { s += IPv4(b).CalculateChecksum() },
		"SCTP":                 func() { s += uint16(SCTP(b).CalculateChecksum()) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

var sink uint16

func BenchmarkChecksum(b *testing.B) {
	old, new := ip6A, ip6B
	b.Run("update16", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for i := 0; b.Loop(); i++ {
			c = UpdateChecksum16(c, uint16(i), uint16(i+1))
		}
		sink = c
	})
	b.Run("update32", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for i := 0; b.Loop(); i++ {
			c = UpdateChecksum32(c, uint32(i), uint32(i)+0x10001)
		}
		sink = c
	})
	b.Run("update128", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for b.Loop() {
			c = UpdateChecksum128(c, old, new)
		}
		sink = c
	})
	b.Run("udp-update32", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for i := 0; b.Loop(); i++ {
			c = UpdateUDPChecksum32(c, uint32(i), uint32(i)+0x10001)
		}
		sink = c
	})
	// The whole job of a set_field on an IPv4 source address: header and
	// TCP checksums updated in place through the views.
	b.Run("rewrite-ipv4-src", func(b *testing.B) {
		b.ReportAllocs()
		frame := eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, ttl: 64}.build(tcp(1, 2, 0x10, nil, make([]byte, 1400))))
		ip, th := IPv4(frame[14:]), TCP(frame[34:])
		for i := uint32(0); b.Loop(); i++ {
			old := ip.Src()
			ip.SetSrc(i)
			ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, i))
			th.SetChecksum(UpdateChecksum32(th.Checksum(), old, i))
		}
	})
	for _, n := range []int{64, 1500, 65536} {
		buf := make([]byte, n)
		b.Run("full-"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sink = Checksum(buf)
			}
		})
	}
}
