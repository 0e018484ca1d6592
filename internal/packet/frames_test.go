package packet

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// Frame builders for the tests. They compute lengths and checksums so that
// the frames are what a real host would send.

var (
	macA = [6]byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a}
	macB = [6]byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b}
	macC = [6]byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0c}

	ip4A uint32 = 0xcb007101 // 203.0.113.1
	ip4B uint32 = 0xc6336401 // 198.51.100.1

	ip6A = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x01}
	ip6B = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34}
	// ip6Sol is the solicited-node multicast address of ip6B.
	ip6Sol = [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: 0x00, 14: 0x12, 15: 0x34}
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// tag is one VLAN tag as written on the wire.
type tag struct{ tpid, tci uint16 }

// eth returns an Ethernet frame from macB to macA.
func eth(typ uint16, payload []byte, tags ...tag) []byte {
	b := cat(macA[:], macB[:])
	for _, t := range tags {
		b = cat(b, be16(t.tpid), be16(t.tci))
	}
	return cat(b, be16(typ), payload)
}

type ip4 struct {
	proto    uint8
	src, dst uint32
	tos, ttl uint8
	frag     uint16 // flags and offset word
	opts     []byte // a multiple of 4 bytes
	ihl      int    // overrides the computed IHL when non-zero
	totLen   int    // overrides the computed total length when non-zero
	version  uint8  // overrides 4 when non-zero
}

// build returns the IPv4 packet. For TCP and UDP it fills the transport
// checksum, which must be zero in payload.
func (h ip4) build(payload []byte) []byte {
	hl := IPv4MinLen + len(h.opts)
	b := make([]byte, hl, hl+len(payload))
	v, ihl := h.version, h.ihl
	if v == 0 {
		v = 4
	}
	if ihl == 0 {
		ihl = hl / 4
	}
	tot := hl + len(payload)
	if h.totLen != 0 {
		tot = h.totLen
	}
	b[0] = v<<4 | uint8(ihl)
	b[1] = h.tos
	binary.BigEndian.PutUint16(b[2:], uint16(tot))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	binary.BigEndian.PutUint16(b[6:], h.frag)
	b[8] = h.ttl
	b[9] = h.proto
	binary.BigEndian.PutUint32(b[12:], h.src)
	binary.BigEndian.PutUint32(b[16:], h.dst)
	copy(b[20:], h.opts)
	IPv4(b).SetChecksum(Checksum(b))
	b = append(b, payload...)
	if h.frag&(IPv4MoreFragments|IPv4FragOffMask) == 0 {
		seg := b[hl:]
		switch h.proto {
		case flow.IPProtoTCP:
			TCP(seg).SetChecksum(L4ChecksumIPv4(h.src, h.dst, h.proto, seg))
		case flow.IPProtoUDP:
			UDP(seg).SetChecksum(L4ChecksumIPv4(h.src, h.dst, h.proto, seg))
		}
	}
	return b
}

type ip6 struct {
	next     uint8
	src, dst [16]byte
	tc       uint8
	label    uint32
	hlim     uint8
	plen     int // overrides the payload length when non-zero
}

// build returns the IPv6 packet. l4 is the offset in payload of a TCP, UDP
// or ICMPv6 header (protocol l4proto) whose checksum it fills, or -1.
func (h ip6) build(payload []byte, l4proto uint8, l4 int) []byte {
	b := make([]byte, IPv6Len, IPv6Len+len(payload))
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.tc)<<20|h.label&0xfffff)
	plen := len(payload)
	if h.plen != 0 {
		plen = h.plen
	}
	binary.BigEndian.PutUint16(b[4:], uint16(plen))
	b[6] = h.next
	b[7] = h.hlim
	copy(b[8:], h.src[:])
	copy(b[24:], h.dst[:])
	b = append(b, payload...)
	if l4 >= 0 {
		seg := b[IPv6Len+l4:]
		c := L4ChecksumIPv6(h.src, h.dst, l4proto, seg)
		switch l4proto {
		case flow.IPProtoTCP:
			TCP(seg).SetChecksum(c)
		case flow.IPProtoUDP:
			UDP(seg).SetChecksum(c)
		case flow.IPProtoICMPv6:
			ICMP(seg).SetChecksum(c)
		}
	}
	return b
}

// extHdr returns an IPv6 hop-by-hop, routing or destination options header
// of n 8-byte units, padded with PadN.
func extHdr(next uint8, units int) []byte {
	b := make([]byte, units*8)
	b[0] = next
	b[1] = uint8(units - 1)
	b[2] = 1 // PadN
	b[3] = uint8(len(b) - 4)
	return b
}

// ahHdr returns an authentication header with a 12-byte ICV.
func ahHdr(next uint8) []byte {
	b := make([]byte, 24)
	b[0] = next
	b[1] = 24/4 - 2
	binary.BigEndian.PutUint32(b[4:], 0x100) // SPI
	return b
}

// fragHdr returns an IPv6 fragment header; off is in bytes.
func fragHdr(next uint8, off uint16, more bool) []byte {
	b := make([]byte, 8)
	b[0] = next
	w := off &^ 7
	if more {
		w |= 1
	}
	binary.BigEndian.PutUint16(b[2:], w)
	binary.BigEndian.PutUint32(b[4:], 0xabcdef)
	return b
}

func tcp(src, dst, flags uint16, opts, payload []byte) []byte {
	hl := TCPMinLen + len(opts)
	b := make([]byte, hl)
	binary.BigEndian.PutUint16(b[0:], src)
	binary.BigEndian.PutUint16(b[2:], dst)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 2000)
	binary.BigEndian.PutUint16(b[12:], uint16(hl/4)<<12|flags)
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[20:], opts)
	return cat(b, payload)
}

func udp(src, dst uint16, payload []byte) []byte {
	b := make([]byte, UDPLen)
	binary.BigEndian.PutUint16(b[0:], src)
	binary.BigEndian.PutUint16(b[2:], dst)
	binary.BigEndian.PutUint16(b[4:], uint16(UDPLen+len(payload)))
	return cat(b, payload)
}

// sctp returns an SCTP packet holding one INIT chunk, with its CRC32c.
func sctp(src, dst uint16) []byte {
	b := make([]byte, SCTPLen+20)
	binary.BigEndian.PutUint16(b[0:], src)
	binary.BigEndian.PutUint16(b[2:], dst)
	c := b[SCTPLen:]
	c[0] = 1 // INIT
	binary.BigEndian.PutUint16(c[2:], 20)
	binary.BigEndian.PutUint32(c[4:], 0x01020304) // initiate tag
	binary.BigEndian.PutUint32(c[8:], 65536)      // a_rwnd
	binary.BigEndian.PutUint16(c[12:], 10)        // outbound streams
	binary.BigEndian.PutUint16(c[14:], 10)        // inbound streams
	binary.BigEndian.PutUint32(c[16:], 1)         // initial TSN
	SCTP(b).SetChecksum(SCTP(b).CalculateChecksum())
	return b
}

// icmp returns an ICMP or ICMPv6 message with a 4-byte rest of header. The
// ICMPv4 checksum is filled here; ICMPv6 needs the pseudo header.
func icmp(typ, code uint8, rest uint32, data []byte, v4 bool) []byte {
	b := make([]byte, ICMPLen)
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	b = cat(b, data)
	if v4 {
		ICMP(b).SetChecksum(Checksum(b))
	}
	return b
}

// nd returns a neighbor solicitation or advertisement for target with opts.
func nd(typ uint8, code uint8, target [16]byte, opts ...[]byte) []byte {
	var flags uint32
	if typ == flow.ICMPv6NeighborAdvert {
		flags = 0x60000000 // solicited, override
	}
	return icmp(typ, code, flags, cat(target[:], cat(opts...)), false)
}

// ndOpt returns an Ethernet link-layer address option.
func ndOpt(typ uint8, mac [6]byte) []byte { return cat([]byte{typ, 1}, mac[:]) }

// arp returns an Ethernet/IPv4 ARP packet.
func arp(op uint16, sha [6]byte, spa uint32, tha [6]byte, tpa uint32) []byte {
	b := make([]byte, ARPLen)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], flow.EthTypeIPv4)
	b[4], b[5] = 6, 4
	h := ARP(b)
	h.SetOp(op)
	h.SetSHA(sha)
	h.SetSPA(spa)
	h.SetTHA(tha)
	h.SetTPA(tpa)
	return b
}

// pad returns b padded with zeros to the 60-byte Ethernet minimum.
func pad(b []byte) []byte {
	if len(b) < 60 {
		b = cat(b, make([]byte, 60-len(b)))
	}
	return b
}

// base returns the key every test frame from eth has before its L3 fields.
func base(typ uint16, vlans ...flow.VLAN) flow.Key {
	k := flow.Key{InPort: testPort, EthDst: macA, EthSrc: macB, EthType: typ}
	copy(k.VLANs[:], vlans)
	return k
}

const testPort = 7
