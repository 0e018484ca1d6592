package packet

import (
	"encoding/binary"
	"unsafe"

	"github.com/dvs-project/dvs/internal/flow"
)

// The parser fills a flow.Key the way Open vSwitch's flow extraction does, so
// that rules written for OVS match the same packets here. It runs on every
// packet, since even the exact-match cache is looked up by the key, so it
// reads each header once, checks its length once, writes straight into the
// key and never allocates.
//
// A frame is parsed as far as it is valid. Each header is taken whole or not
// at all: a header that is cut short or malformed leaves its fields (and
// everything after it) zero, while the fields of the headers before it stay.
// So a truncated frame's key agrees with the whole frame's key on every
// field it sets, except that EthType can be a VLAN TPID (a tag cut short) or
// EthTypeNone (an LLC/SNAP header cut short), that an ND link-layer address
// is kept when the cut removes a malformed option after it, and that NwFrag
// can lack FragLater when the cut removes a second IPv6 fragment header.

// Offsets says where ParseOffsets found a frame's headers, so that actions
// rewrite them in place without parsing the frame again. Zero means absent:
// no header but Ethernet starts at byte 0.
type Offsets struct {
	// L3 is the ARP, IPv4 or IPv6 header, set exactly when the key holds
	// its fields. An IPv4 header there is whole, options included.
	L3 int
	// L4 is the TCP, UDP, SCTP, ICMP or ICMPv6 header, set exactly when
	// the key holds its ports or type and code. At least the fixed part of
	// the header (TCP: all of it) is in the frame.
	L4 int
}

// Parse sets *k to the key of the Ethernet frame data that arrived on
// inPort. It borrows data until it returns.
func Parse(data []byte, inPort uint32, k *flow.Key) {
	ParseOffsets(data, inPort, k)
}

// ParseOffsets is Parse that also returns where the headers are.
func ParseOffsets(data []byte, inPort uint32, k *flow.Key) Offsets {
	o, _ := ParseHash(data, inPort, k)
	return o
}

// ParseHash is ParseOffsets that also returns k.Hash(). It is ParsePacket
// of a packet holding data.
func ParseHash(data []byte, inPort uint32, k *flow.Key) (Offsets, uint64) {
	p := Packet{buf: data, end: len(data)}
	return ParsePacket(&p, inPort, k)
}

// ParsePacket sets *k to the key of packet p, which arrived on port inPort
// or, when its Tun.Port is set, on that tunnel port: it sets p.InPort to
// that port. The key holds p's tunnel metadata. It returns where the
// headers are and k.Hash().
//
// It parses the commonest frame itself, in one go and without calls but
// one to hash: IPv4 without options or fragmentation, untagged or with one
// 802.1Q tag, carrying a whole UDP or TCP header. It builds that key's
// words in registers and hashes them there (flow.Key.SetCommon), so the key
// is written once, a word at a time, and never read back. Every other
// frame goes to parseAny, which parses anything, and is hashed from the
// key; both ways give the same key (a test checks them against each other).
func ParsePacket(p *Packet, inPort uint32, k *flow.Key) (Offsets, uint64) {
	if p.Tun.Port != 0 {
		inPort = p.Tun.Port
	}
	p.InPort = inPort
	data := p.buf[p.start:p.end]
	if !littleEndian || len(data) < EthernetLen+IPv4MinLen+UDPLen {
		return parseHashAny(p, data, inPort, k)
	}
	typ := binary.BigEndian.Uint16(data[12:14])
	off := EthernetLen
	var tpid, tci uint64
	if typ == flow.EthTypeVLAN && len(data) >= EthernetLen+VLANTagLen+IPv4MinLen+UDPLen {
		tpid, tci = flow.EthTypeVLAN, uint64(binary.BigEndian.Uint16(data[14:16])|flow.TCIPresent)
		typ = binary.BigEndian.Uint16(data[16:18])
		off += VLANTagLen
	}
	b := data[off:]
	if typ != flow.EthTypeIPv4 || b[0] != 0x45 {
		return parseHashAny(p, data, inPort, k)
	}
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if tot < IPv4MinLen+UDPLen || binary.BigEndian.Uint16(b[6:8])&(IPv4MoreFragments|IPv4FragOffMask) != 0 {
		return parseHashAny(p, data, inPort, k)
	}
	l4 := b[IPv4MinLen:min(tot, len(b))]
	var flags uint64
	switch proto := b[9]; {
	case proto == flow.IPProtoUDP:
	case proto == flow.IPProtoTCP && len(l4) >= TCPMinLen:
		if n := TCP(l4).DataOffset(); n < TCPMinLen || n > len(l4) {
			return parseHashAny(p, data, inPort, k)
		}
		flags = uint64(binary.BigEndian.Uint16(l4[12:14]) & 0x0fff)
	default:
		return parseHashAny(p, data, inPort, k)
	}
	// The key's words, little-endian (the layout checks below hold the
	// shifts to the key's field offsets).
	h := k.SetCommon(
		uint64(inPort)|uint64(binary.BigEndian.Uint32(b[12:16]))<<32,
		uint64(binary.BigEndian.Uint32(b[16:20])),
		binary.LittleEndian.Uint64(data[0:8]),
		uint64(binary.LittleEndian.Uint32(data[8:12]))|flow.EthTypeIPv4<<32|tpid<<48,
		tci,
		uint64(binary.BigEndian.Uint16(l4[0:2]))<<16|uint64(binary.BigEndian.Uint16(l4[2:4]))<<32|flags<<48,
		uint64(b[9])|uint64(b[1])<<8|uint64(b[8])<<16,
	)
	if t := &p.Tun; t.ID|uint64(t.Src)|uint64(t.Dst) != 0 {
		k.TunID, k.TunSrc, k.TunDst = t.ID, t.Src, t.Dst
		h = k.Hash()
	}
	return Offsets{L3: off, L4: off + IPv4MinLen}, h
}

// Compile-time checks of the field offsets ParseHash's words assume: a
// word is 8 bytes of the key, each field at its byte offset in the word.
var (
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.InPort) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.NwSrc) - unsafe.Offsetof(flow.Key{}.InPort) - 4]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.NwDst)%8 + unsafe.Offsetof(flow.Key{}.EthDst)%8]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.EthSrc) - unsafe.Offsetof(flow.Key{}.EthDst) - 6]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.EthType)%8 - 4]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.VLANs)%8 - 6]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.TpSrc)%8 - 2]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.TpDst)%8 - 4]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.TCPFlags)%8 - 6]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.NwProto) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.NwTOS)%8 - 1]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(flow.Key{}.NwTTL)%8 - 2]struct{}{}
)

// parseHashAny is ParsePacket for any frame.
func parseHashAny(p *Packet, data []byte, inPort uint32, k *flow.Key) (Offsets, uint64) {
	o := parseAny(data, inPort, k)
	if t := &p.Tun; t.ID|uint64(t.Src)|uint64(t.Dst) != 0 {
		k.TunID, k.TunSrc, k.TunDst = t.ID, t.Src, t.Dst
	}
	return o, k.Hash()
}

// parseAny is ParseOffsets for any frame.
func parseAny(data []byte, inPort uint32, k *flow.Key) Offsets {
	*k = flow.Key{}
	k.InPort = inPort
	if len(data) < EthernetLen {
		return Offsets{}
	}
	k.EthDst = [6]byte(data[0:6])
	k.EthSrc = [6]byte(data[6:12])
	typ := binary.BigEndian.Uint16(data[12:14])
	off := EthernetLen
	for i := range k.VLANs {
		// off is past the TPID. A tag counts only with its TCI and the
		// ethertype after it, as in OVS; a frame cut inside keeps the
		// TPID as its EthType.
		if typ != flow.EthTypeVLAN && typ != flow.EthTypeQinQ || len(data)-off < 4 {
			break
		}
		k.VLANs[i] = flow.VLAN{TPID: typ, TCI: binary.BigEndian.Uint16(data[off:off+2]) | flow.TCIPresent}
		typ = binary.BigEndian.Uint16(data[off+2 : off+4])
		off += VLANTagLen
	}
	if typ < flow.EthTypeMin {
		typ, off = llcSNAP(data, off)
	}
	k.EthType = typ

	var ok bool
	var l4 int
	switch typ {
	case flow.EthTypeMPLS, flow.EthTypeMPLSM:
		parseMPLS(data[off:], k)
		return Offsets{}
	case flow.EthTypeIPv4:
		ok, l4 = parseIPv4(data[off:], k)
	case flow.EthTypeIPv6:
		ok, l4 = parseIPv6(data[off:], k)
	case flow.EthTypeARP, flow.EthTypeRARP:
		ok = parseARP(data[off:], k)
	}
	if !ok {
		return Offsets{}
	}
	o := Offsets{L3: off}
	if l4 > 0 {
		o.L4 = off + l4
	}
	return o
}

// parseMPLS puts the top label stack entry into the key. Open vSwitch
// keeps the packet behind an MPLS stack opaque; here, when the top entry is
// the bottom of the stack and an IPv4 or IPv6 header (by its version
// nibble) or an ARP header follows, its fields go into the key too, so that after pop_mpls
// the pipeline can match them without parsing the frame again. Matches on
// them need an IP EthType, so they do not apply before the pop, and the
// returned Offsets stay zero: actions do not rewrite headers behind MPLS.
func parseMPLS(b []byte, k *flow.Key) {
	if len(b) < MPLSLen {
		return
	}
	k.MPLS = binary.BigEndian.Uint32(b[0:4])
	if k.MPLS&flow.MPLSBoS == 0 || len(b) == MPLSLen {
		return
	}
	b = b[MPLSLen:]
	switch b[0] >> 4 {
	case 4:
		parseIPv4(b, k)
	case 6:
		parseIPv6(b, k)
	case 0:
		// An Ethernet/IPv4 ARP header (htype 1, ptype 0x0800, hlen 6,
		// plen 4) is recognizable by its first six bytes.
		if len(b) >= 6 && b[1] == 1 && b[2] == 0x08 && b[3] == 0 && b[4] == 6 && b[5] == 4 {
			parseARP(b, k)
		}
	}
}

// llcSNAP handles an 802.3 frame, whose type field is a length. Like OVS it
// gives such a frame the pseudo-ethertype EthTypeNone, unless an LLC/SNAP
// header with OUI 0 (RFC 1042 encapsulation) carries a real ethertype: then
// that is the EthType and parsing goes on after the SNAP header.
func llcSNAP(data []byte, off int) (typ uint16, next int) {
	b := data[off:]
	if len(b) >= 8 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 && b[3]|b[4]|b[5] == 0 {
		if t := binary.BigEndian.Uint16(b[6:8]); t >= flow.EthTypeMin {
			return t, off + 8
		}
	}
	return flow.EthTypeNone, off
}

func parseARP(b []byte, k *flow.Key) bool {
	if len(b) < ARPLen {
		return false
	}
	h := ARP(b)
	if !h.IsEthernetIPv4() {
		return false
	}
	// The key has 8 bits for the opcode; larger ones match as 0, as in OVS.
	if op := h.Op(); op <= 0xff {
		k.NwProto = uint8(op)
	}
	k.NwSrc = h.SPA()
	k.NwDst = h.TPA()
	k.ArpSHA = h.SHA()
	k.ArpTHA = h.THA()
	return true
}

// parseIPv4 fills the IPv4 fields and returns whether the header is valid
// and the offset in b of a parsed transport header (0 if none).
func parseIPv4(b []byte, k *flow.Key) (ok bool, l4 int) {
	if len(b) < IPv4MinLen {
		return false, 0
	}
	hl := int(b[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if b[0]>>4 != 4 || hl < IPv4MinLen || hl > len(b) || tot < hl {
		return false, 0
	}
	proto := b[9]
	k.NwProto = proto
	k.NwTOS = b[1]
	k.NwTTL = b[8]
	k.NwSrc = binary.BigEndian.Uint32(b[12:16])
	k.NwDst = binary.BigEndian.Uint32(b[16:20])
	if f := binary.BigEndian.Uint16(b[6:8]); f&(IPv4MoreFragments|IPv4FragOffMask) != 0 {
		k.NwFrag = flow.FragAny
		// Only the first fragment has the transport header.
		if f&IPv4FragOffMask != 0 {
			k.NwFrag |= flow.FragLater
			return true, 0
		}
	}
	// The total length bounds the transport header, so Ethernet padding
	// after a short packet is not read as part of it; a frame cut short
	// bounds it too.
	if parseL4(b[hl:min(tot, len(b))], proto, false, k) {
		return true, hl
	}
	return true, 0
}

// parseIPv6 fills the IPv6 fields, walking extension headers to the
// upper-layer protocol, and returns what parseIPv4 does. If the chain is cut
// short NwProto stays 0: the protocol is unknown. A later fragment gets
// NwProto 44 (the fragment header), as in OVS, because the rest of the chain
// is in the first fragment.
func parseIPv6(b []byte, k *flow.Key) (ok bool, l4 int) {
	if len(b) < IPv6Len || b[0]>>4 != 6 {
		return false, 0
	}
	w := binary.BigEndian.Uint32(b[0:4])
	k.NwTOS = uint8(w >> 20)
	k.IPv6Label = w & 0xfffff
	k.NwTTL = b[7]
	k.IPv6Src = [16]byte(b[8:24])
	k.IPv6Dst = [16]byte(b[24:40])
	end := min(IPv6Len+int(binary.BigEndian.Uint16(b[4:6])), len(b))
	next := b[6]
	off := IPv6Len
	for {
		switch next {
		case IPProtoHopByHop, IPProtoRouting, IPProtoDstOpts, IPProtoAH:
			if end-off < 8 {
				return true, 0
			}
			n := (int(b[off+1]) + 1) * 8
			if next == IPProtoAH {
				n = (int(b[off+1]) + 2) * 4 // AH counts 32-bit words
			}
			if n > end-off {
				return true, 0
			}
			next = b[off]
			off += n
			continue
		case IPProtoFragment:
			if end-off < 8 {
				return true, 0
			}
			// Offset in the high 13 bits, M flag in the lowest. An
			// atomic fragment (both zero, RFC 6946) is no fragment.
			if f := binary.BigEndian.Uint16(b[off+2 : off+4]); f&0xfff9 != 0 {
				k.NwFrag = flow.FragAny
				if f&0xfff8 != 0 {
					k.NwFrag |= flow.FragLater
					k.NwProto = IPProtoFragment
					return true, 0
				}
			}
			next = b[off]
			off += 8
			continue
		}
		break
	}
	k.NwProto = next
	if parseL4(b[off:end], next, true, k) {
		return true, off
	}
	return true, 0
}

// parseL4 fills the transport fields from b, which ends where the IP packet
// does, and reports whether the header was valid.
func parseL4(b []byte, proto uint8, v6 bool, k *flow.Key) bool {
	switch proto {
	case flow.IPProtoTCP:
		if len(b) < TCPMinLen {
			return false
		}
		if n := TCP(b).DataOffset(); n < TCPMinLen || n > len(b) {
			return false
		}
		k.TpSrc = binary.BigEndian.Uint16(b[0:2])
		k.TpDst = binary.BigEndian.Uint16(b[2:4])
		k.TCPFlags = binary.BigEndian.Uint16(b[12:14]) & 0x0fff
	case flow.IPProtoUDP:
		if len(b) < UDPLen {
			return false
		}
		k.TpSrc = binary.BigEndian.Uint16(b[0:2])
		k.TpDst = binary.BigEndian.Uint16(b[2:4])
	case flow.IPProtoSCTP:
		if len(b) < SCTPLen {
			return false
		}
		k.TpSrc = binary.BigEndian.Uint16(b[0:2])
		k.TpDst = binary.BigEndian.Uint16(b[2:4])
	case flow.IPProtoICMP:
		if v6 || len(b) < ICMPLen {
			return false
		}
		k.TpSrc = uint16(b[0])
		k.TpDst = uint16(b[1])
	case flow.IPProtoICMPv6:
		if !v6 || len(b) < ICMPLen {
			return false
		}
		k.TpSrc = uint16(b[0])
		k.TpDst = uint16(b[1])
		// RFC 4861 has receivers drop ND messages with a non-zero code.
		if (b[0] == flow.ICMPv6NeighborSolicit || b[0] == flow.ICMPv6NeighborAdvert) && b[1] == 0 && len(b) >= NDLen {
			parseND(b, k)
		}
	default:
		return false
	}
	return true
}

// parseND fills the target and, from a well-formed option list, the source
// link-layer address of a solicitation or the target link-layer address of
// an advertisement (the only option each may carry that the key matches).
func parseND(b []byte, k *flow.Key) {
	k.NDTarget = [16]byte(b[8:24])
	opts := b[NDLen:]
	if b[0] == flow.ICMPv6NeighborSolicit {
		if o, ok := ndLinkAddr(opts, NDOptSourceLinkAddr); ok && o >= 0 {
			k.ArpSHA = [6]byte(opts[o : o+6])
		}
	} else {
		if o, ok := ndLinkAddr(opts, NDOptTargetLinkAddr); ok && o >= 0 {
			k.ArpTHA = [6]byte(opts[o : o+6])
		}
	}
}
