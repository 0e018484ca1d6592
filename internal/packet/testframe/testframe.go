// Package testframe builds Ethernet frames for tests and benchmarks.
package testframe

import (
	"encoding/binary"
	"net/netip"

	"github.com/dvs-project/dvs/internal/packet"
)

// Frame describes a frame to build. Zero fields get defaults.
type Frame struct {
	Dst, Src [6]byte
	VLANs    []Tag // outermost first
	// MPLS, if set, are label stack entries (label<<12|tc<<9|bos<<8|ttl,
	// outermost first) put between the tags and L3, with ethertype 0x8847.
	MPLS []uint32
	// L3: one of IPv4 (Src4/Dst4 set), IPv6 (Src6/Dst6 set), ARP.
	Src4, Dst4 netip.Addr
	Src6, Dst6 netip.Addr
	ARP        *ARP
	Proto      uint8 // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6
	SrcPort    uint16
	DstPort    uint16
	TTL        uint8
	TCPFlags   uint8
	Payload    int // bytes of payload after L4
	EthType    uint16
}

// Tag is one VLAN tag.
type Tag struct {
	TPID uint16
	VID  uint16
	PCP  uint8
}

// ARP is an ARP body.
type ARP struct {
	Op       uint16
	SHA, THA [6]byte
	SPA, TPA netip.Addr
}

// Bytes builds the frame with valid checksums.
func (f Frame) Bytes() []byte {
	b := make([]byte, 0, 128+f.Payload)
	b = append(b, f.Dst[:]...)
	b = append(b, f.Src[:]...)
	for _, t := range f.VLANs {
		tpid := t.TPID
		if tpid == 0 {
			tpid = 0x8100
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(t.PCP)<<13|t.VID)
	}
	ttl := f.TTL
	if ttl == 0 {
		ttl = 64
	}
	switch {
	case f.ARP != nil:
		b = binary.BigEndian.AppendUint16(b, 0x0806)
		a := f.ARP
		b = append(b, 0, 1, 8, 0, 6, 4)
		b = binary.BigEndian.AppendUint16(b, a.Op)
		b = append(b, a.SHA[:]...)
		s4, t4 := a.SPA.As4(), a.TPA.As4()
		b = append(b, s4[:]...)
		b = append(b, a.THA[:]...)
		b = append(b, t4[:]...)
	case f.Src4.IsValid():
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		l4 := f.l4(f.Src4.AsSlice(), f.Dst4.AsSlice())
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		ip[8] = ttl
		ip[9] = f.Proto
		copy(ip[12:], f.Src4.AsSlice())
		copy(ip[16:], f.Dst4.AsSlice())
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip))
		b = append(b, ip...)
		b = append(b, l4...)
	case f.Src6.IsValid():
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		l4 := f.l4(f.Src6.AsSlice(), f.Dst6.AsSlice())
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = f.Proto
		ip[7] = ttl
		copy(ip[8:], f.Src6.AsSlice())
		copy(ip[24:], f.Dst6.AsSlice())
		b = append(b, ip...)
		b = append(b, l4...)
	default:
		t := f.EthType
		if t == 0 {
			t = 0x88b5 // local experimental
		}
		b = binary.BigEndian.AppendUint16(b, t)
		b = append(b, make([]byte, max(f.Payload, 46))...)
	}
	if len(f.MPLS) > 0 {
		off := 12 + 4*len(f.VLANs)
		stack := binary.BigEndian.AppendUint16(nil, 0x8847)
		for _, lse := range f.MPLS {
			stack = binary.BigEndian.AppendUint32(stack, lse)
		}
		b = append(b[:off], append(stack, b[off+2:]...)...)
	}
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}

// l4 builds the transport header and payload with a valid checksum.
func (f Frame) l4(src, dst []byte) []byte {
	payload := make([]byte, f.Payload)
	for i := range payload {
		payload[i] = byte(i)
	}
	var h []byte
	csumOff := -1
	switch f.Proto {
	case 6:
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], f.SrcPort)
		binary.BigEndian.PutUint16(h[2:], f.DstPort)
		h[12] = 5 << 4
		h[13] = f.TCPFlags
		csumOff = 16
	case 17:
		h = make([]byte, 8)
		binary.BigEndian.PutUint16(h[0:], f.SrcPort)
		binary.BigEndian.PutUint16(h[2:], f.DstPort)
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
		csumOff = 6
	case 1, 58:
		h = make([]byte, 8)
		h[0] = 8 // echo request
		if f.Proto == 58 {
			h[0] = 128
		}
		csumOff = 2
	}
	seg := append(h, payload...)
	if csumOff < 0 {
		return seg
	}
	var c uint16
	switch {
	case f.Proto == 1:
		c = packet.Checksum(seg)
	case len(src) == 4:
		c = packet.L4ChecksumIPv4(binary.BigEndian.Uint32(src), binary.BigEndian.Uint32(dst), f.Proto, seg)
	default:
		c = packet.L4ChecksumIPv6([16]byte(src), [16]byte(dst), f.Proto, seg)
	}
	binary.BigEndian.PutUint16(seg[csumOff:], c)
	return seg
}

// MAC returns a locally administered unicast MAC ending in n.
func MAC(n byte) [6]byte { return [6]byte{0x02, 0, 0, 0, 0, n} }

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// UDP4 returns a UDP/IPv4 frame from src to dst MAC with addresses in
// 198.51.100.0/24 and the given ports.
func UDP4(src, dst [6]byte, sport, dport uint16) []byte {
	return Frame{Src: src, Dst: dst, Src4: netip.MustParseAddr("198.51.100.1"), Dst4: netip.MustParseAddr("198.51.100.2"),
		Proto: 17, SrcPort: sport, DstPort: dport, Payload: 18}.Bytes()
}
