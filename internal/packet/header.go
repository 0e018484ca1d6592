package packet

import (
	"encoding/binary"
	"hash/crc32"
)

// Header views. Each is a []byte starting at the header, with accessors that
// read and setters that write the frame in place, so actions rewrite packets
// without copying them. A view does not check its length: it must hold at
// least the header's fixed part (the *Len constants), and methods that use a
// length field (IPv4.Payload, IPv4.CalculateChecksum) need it to be sane, as
// they are for a header at an offset ParseOffsets reported; otherwise a
// method panics like any out-of-range slice index. Setters never fix
// checksums; see checksum.go.

// Header lengths.
const (
	EthernetLen = 14
	VLANTagLen  = 4
	MPLSLen     = 4  // one label stack entry
	ARPLen      = 28 // Ethernet/IPv4 ARP
	IPv4MinLen  = 20 // without options
	IPv6Len     = 40
	TCPMinLen   = 20 // without options
	UDPLen      = 8
	SCTPLen     = 12 // the common header
	ICMPLen     = 8  // ICMP and ICMPv6: type, code, checksum and 4 more bytes
	NDLen       = ICMPLen + 16
)

// IPv4 fragment word bits (IPv4.FragOff).
const (
	IPv4DontFragment  = 0x4000
	IPv4MoreFragments = 0x2000
	IPv4FragOffMask   = 0x1fff // in 8-byte units
)

// IPv6 extension header protocol numbers the parser walks.
const (
	IPProtoHopByHop = 0
	IPProtoRouting  = 43
	IPProtoFragment = 44
	IPProtoAH       = 51
	IPProtoDstOpts  = 60
)

// Neighbor discovery link-layer address option types (RFC 4861 4.6.1).
const (
	NDOptSourceLinkAddr = 1
	NDOptTargetLinkAddr = 2
)

// Ethernet is an Ethernet II header.
type Ethernet []byte

func (h Ethernet) Dst() [6]byte     { return [6]byte(h[0:6]) }
func (h Ethernet) Src() [6]byte     { return [6]byte(h[6:12]) }
func (h Ethernet) Type() uint16     { return binary.BigEndian.Uint16(h[12:14]) }
func (h Ethernet) SetDst(a [6]byte) { copy(h[0:6], a[:]) }
func (h Ethernet) SetSrc(a [6]byte) { copy(h[6:12], a[:]) }
func (h Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(h[12:14], t) }
func (h Ethernet) Payload() []byte  { return h[EthernetLen:] }

// VLANTag is an 802.1Q or 802.1ad tag as it sits in a frame: the TPID that
// replaced the ethertype, then the TCI. In a tagged frame the first tag is
// at offset 12.
type VLANTag []byte

func (h VLANTag) TPID() uint16     { return binary.BigEndian.Uint16(h[0:2]) }
func (h VLANTag) TCI() uint16      { return binary.BigEndian.Uint16(h[2:4]) }
func (h VLANTag) SetTPID(t uint16) { binary.BigEndian.PutUint16(h[0:2], t) }
func (h VLANTag) SetTCI(t uint16)  { binary.BigEndian.PutUint16(h[2:4], t) }

// ARP is an ARP or RARP packet for Ethernet and IPv4 (htype 1, ptype
// 0x0800, hlen 6, plen 4), the only kind the key describes.
type ARP []byte

func (h ARP) HType() uint16    { return binary.BigEndian.Uint16(h[0:2]) }
func (h ARP) PType() uint16    { return binary.BigEndian.Uint16(h[2:4]) }
func (h ARP) HLen() uint8      { return h[4] }
func (h ARP) PLen() uint8      { return h[5] }
func (h ARP) Op() uint16       { return binary.BigEndian.Uint16(h[6:8]) }
func (h ARP) SHA() [6]byte     { return [6]byte(h[8:14]) }
func (h ARP) SPA() uint32      { return binary.BigEndian.Uint32(h[14:18]) }
func (h ARP) THA() [6]byte     { return [6]byte(h[18:24]) }
func (h ARP) TPA() uint32      { return binary.BigEndian.Uint32(h[24:28]) }
func (h ARP) SetOp(op uint16)  { binary.BigEndian.PutUint16(h[6:8], op) }
func (h ARP) SetSHA(a [6]byte) { copy(h[8:14], a[:]) }
func (h ARP) SetSPA(a uint32)  { binary.BigEndian.PutUint32(h[14:18], a) }
func (h ARP) SetTHA(a [6]byte) { copy(h[18:24], a[:]) }
func (h ARP) SetTPA(a uint32)  { binary.BigEndian.PutUint32(h[24:28], a) }

// IsEthernetIPv4 reports whether the packet is of the kind the view's
// fixed offsets assume.
func (h ARP) IsEthernetIPv4() bool {
	return h.HType() == 1 && h.PType() == 0x0800 && h.HLen() == 6 && h.PLen() == 4
}

// IPv4 is an IPv4 header, options included.
type IPv4 []byte

func (h IPv4) Version() uint8 { return h[0] >> 4 }

// HeaderLen returns the header length in bytes (IHL * 4).
func (h IPv4) HeaderLen() int       { return int(h[0]&0x0f) * 4 }
func (h IPv4) TOS() uint8           { return h[1] }
func (h IPv4) TotalLen() uint16     { return binary.BigEndian.Uint16(h[2:4]) }
func (h IPv4) ID() uint16           { return binary.BigEndian.Uint16(h[4:6]) }
func (h IPv4) FragOff() uint16      { return binary.BigEndian.Uint16(h[6:8]) } // flags and offset
func (h IPv4) TTL() uint8           { return h[8] }
func (h IPv4) Protocol() uint8      { return h[9] }
func (h IPv4) Checksum() uint16     { return binary.BigEndian.Uint16(h[10:12]) }
func (h IPv4) Src() uint32          { return binary.BigEndian.Uint32(h[12:16]) }
func (h IPv4) Dst() uint32          { return binary.BigEndian.Uint32(h[16:20]) }
func (h IPv4) SetTOS(v uint8)       { h[1] = v }
func (h IPv4) SetTotalLen(v uint16) { binary.BigEndian.PutUint16(h[2:4], v) }
func (h IPv4) SetID(v uint16)       { binary.BigEndian.PutUint16(h[4:6], v) }
func (h IPv4) SetFragOff(v uint16)  { binary.BigEndian.PutUint16(h[6:8], v) }
func (h IPv4) SetTTL(v uint8)       { h[8] = v }
func (h IPv4) SetProtocol(v uint8)  { h[9] = v }
func (h IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[10:12], v) }
func (h IPv4) SetSrc(a uint32)      { binary.BigEndian.PutUint32(h[12:16], a) }
func (h IPv4) SetDst(a uint32)      { binary.BigEndian.PutUint32(h[16:20], a) }

// Payload returns what follows the header, up to the total length (or the
// end of h if the packet was cut short).
func (h IPv4) Payload() []byte {
	return h[h.HeaderLen():min(int(h.TotalLen()), len(h))]
}

// CalculateChecksum returns the header checksum to store, computed as if the
// checksum field were zero (so the caller need not clear it first). h must
// hold the whole header, options included.
func (h IPv4) CalculateChecksum() uint16 {
	s := sum(h[:10], 0)
	s = sum(h[12:h.HeaderLen()], s)
	return ^fold(s)
}

// IPv6 is an IPv6 fixed header.
type IPv6 []byte

func (h IPv6) Version() uint8 { return h[0] >> 4 }

// TrafficClass returns the DSCP and ECN byte, which straddles bytes 0 and 1.
func (h IPv6) TrafficClass() uint8    { return uint8(binary.BigEndian.Uint16(h[0:2]) >> 4) }
func (h IPv6) FlowLabel() uint32      { return binary.BigEndian.Uint32(h[0:4]) & 0xfffff }
func (h IPv6) PayloadLen() uint16     { return binary.BigEndian.Uint16(h[4:6]) }
func (h IPv6) NextHeader() uint8      { return h[6] }
func (h IPv6) HopLimit() uint8        { return h[7] }
func (h IPv6) Src() [16]byte          { return [16]byte(h[8:24]) }
func (h IPv6) Dst() [16]byte          { return [16]byte(h[24:40]) }
func (h IPv6) SetPayloadLen(n uint16) { binary.BigEndian.PutUint16(h[4:6], n) }
func (h IPv6) SetNextHeader(p uint8)  { h[6] = p }
func (h IPv6) SetHopLimit(v uint8)    { h[7] = v }
func (h IPv6) SetSrc(a [16]byte)      { copy(h[8:24], a[:]) }
func (h IPv6) SetDst(a [16]byte)      { copy(h[24:40], a[:]) }

func (h IPv6) SetTrafficClass(tc uint8) {
	w := binary.BigEndian.Uint16(h[0:2])
	binary.BigEndian.PutUint16(h[0:2], w&0xf00f|uint16(tc)<<4)
}

// SetFlowLabel sets the low 20 bits of label as the flow label.
func (h IPv6) SetFlowLabel(label uint32) {
	w := binary.BigEndian.Uint32(h[0:4])
	binary.BigEndian.PutUint32(h[0:4], w&^0xfffff|label&0xfffff)
}

// TCP is a TCP header, options included.
type TCP []byte

func (h TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:2]) }
func (h TCP) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:4]) }
func (h TCP) Seq() uint32     { return binary.BigEndian.Uint32(h[4:8]) }
func (h TCP) Ack() uint32     { return binary.BigEndian.Uint32(h[8:12]) }

// DataOffset returns the header length in bytes.
func (h TCP) DataOffset() int { return int(h[12]>>4) * 4 }

// Flags returns the 12 flag bits (NS down to FIN), as the key holds them.
func (h TCP) Flags() uint16        { return binary.BigEndian.Uint16(h[12:14]) & 0x0fff }
func (h TCP) Window() uint16       { return binary.BigEndian.Uint16(h[14:16]) }
func (h TCP) Checksum() uint16     { return binary.BigEndian.Uint16(h[16:18]) }
func (h TCP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(h[0:2], p) }
func (h TCP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(h[2:4], p) }
func (h TCP) SetSeq(n uint32)      { binary.BigEndian.PutUint32(h[4:8], n) }
func (h TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(h[16:18], c) }

// SetFlags sets the 12 flag bits, keeping the data offset.
func (h TCP) SetFlags(f uint16) {
	w := binary.BigEndian.Uint16(h[12:14])
	binary.BigEndian.PutUint16(h[12:14], w&0xf000|f&0x0fff)
}

// UDP is a UDP header.
type UDP []byte

func (h UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(h[0:2]) }
func (h UDP) DstPort() uint16      { return binary.BigEndian.Uint16(h[2:4]) }
func (h UDP) Length() uint16       { return binary.BigEndian.Uint16(h[4:6]) }
func (h UDP) Checksum() uint16     { return binary.BigEndian.Uint16(h[6:8]) }
func (h UDP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(h[0:2], p) }
func (h UDP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(h[2:4], p) }
func (h UDP) SetLength(n uint16)   { binary.BigEndian.PutUint16(h[4:6], n) }
func (h UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(h[6:8], c) }

// SCTP is an SCTP common header.
type SCTP []byte

func (h SCTP) SrcPort() uint16     { return binary.BigEndian.Uint16(h[0:2]) }
func (h SCTP) DstPort() uint16     { return binary.BigEndian.Uint16(h[2:4]) }
func (h SCTP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(h[0:2], p) }
func (h SCTP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(h[2:4], p) }

// Checksum returns the CRC32c, which SCTP stores in little-endian order
// (RFC 4960 appendix B), unlike every other field.
func (h SCTP) Checksum() uint32     { return binary.LittleEndian.Uint32(h[8:12]) }
func (h SCTP) SetChecksum(c uint32) { binary.LittleEndian.PutUint32(h[8:12], c) }

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// zero4 stands in for the checksum field. It is a global because a
	// local array passed to crc32 escapes to the heap.
	zero4 [4]byte
)

// CalculateChecksum returns the CRC32c of the whole packet h (common header
// and chunks) with the checksum field taken as zero. SCTP has no
// incremental update: changing a port means recomputing this.
func (h SCTP) CalculateChecksum() uint32 {
	c := crc32.Update(0, castagnoli, h[:8])
	c = crc32.Update(c, castagnoli, zero4[:])
	return crc32.Update(c, castagnoli, h[12:])
}

// ICMP is an ICMP or ICMPv6 header; both start with type, code, checksum.
type ICMP []byte

func (h ICMP) Type() uint8          { return h[0] }
func (h ICMP) Code() uint8          { return h[1] }
func (h ICMP) Checksum() uint16     { return binary.BigEndian.Uint16(h[2:4]) }
func (h ICMP) SetType(t uint8)      { h[0] = t }
func (h ICMP) SetCode(c uint8)      { h[1] = c }
func (h ICMP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(h[2:4], c) }

// ND is an ICMPv6 neighbor solicitation or advertisement: the ICMPv6 header,
// the target address and the options.
type ND []byte

func (h ND) Target() [16]byte     { return [16]byte(h[8:24]) }
func (h ND) SetTarget(a [16]byte) { copy(h[8:24], a[:]) }

// LinkAddr returns the 6 address bytes of the Ethernet link-layer address
// option typ (NDOptSourceLinkAddr or NDOptTargetLinkAddr) as a slice of h,
// for reading or rewriting in place. It returns nil if the option is absent,
// repeated, or the option list is malformed; h must end where the ICMPv6
// message does.
func (h ND) LinkAddr(typ uint8) []byte {
	off, ok := ndLinkAddr(h[NDLen:], typ)
	if !ok || off < 0 {
		return nil
	}
	return h[NDLen+off : NDLen+off+6]
}

// ndLinkAddr walks an ND option list and returns the offset in opts of the
// address in the Ethernet-sized (8-byte) link-layer address option typ, or
// -1 if there is none. ok is false if the list is malformed: an option of
// length zero, one that runs past the end, or typ present twice (RFC 4861
// 4.6: a receiver must discard such a message, so nothing in it is trusted).
// Options of typ with another length carry a non-Ethernet address and are
// skipped, as are trailing bytes too short to be an option.
func ndLinkAddr(opts []byte, typ uint8) (off int, ok bool) {
	off = -1
	for i := 0; len(opts)-i >= 8; {
		n := int(opts[i+1]) * 8
		if n == 0 || n > len(opts)-i {
			return -1, false
		}
		if opts[i] == typ && n == 8 {
			if off >= 0 {
				return -1, false
			}
			off = i + 2
		}
		i += n
	}
	return off, true
}
