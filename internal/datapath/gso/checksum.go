package gso

import (
	"encoding/binary"
	"math/bits"

	"github.com/dvs-project/dvs/internal/packet"
)

// sum returns the folded ones' complement sum (RFC 1071) of b, as a 16-bit
// big-endian quantity, with b padded with a zero byte if its length is odd.
//
// It adds 64-bit little-endian words with carry and swaps the bytes of the
// folded result: the ones' complement sum is independent of byte order up to
// that final swap (RFC 1071, section 2(B)), and wide words make it several
// times faster than a 16-bit loop.
func sum(b []byte) uint16 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	var tail uint64
	switch len(b) {
	case 7:
		tail = uint64(b[6]) << 48
		fallthrough
	case 6:
		tail |= uint64(binary.LittleEndian.Uint32(b[2:])) << 16
		tail |= uint64(binary.LittleEndian.Uint16(b))
	case 5:
		tail = uint64(b[4])<<32 | uint64(binary.LittleEndian.Uint32(b))
	case 4:
		tail = uint64(binary.LittleEndian.Uint32(b))
	case 3:
		tail = uint64(b[2])<<16 | uint64(binary.LittleEndian.Uint16(b))
	case 2:
		tail = uint64(binary.LittleEndian.Uint16(b))
	case 1:
		tail = uint64(b[0])
	}
	s, c = bits.Add64(s, tail, c)
	s, c = bits.Add64(s, c, 0)
	s += c
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return bits.ReverseBytes16(uint16(s))
}

// add returns the ones' complement sum of a and b.
func add(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// CompleteChecksum fills in the checksum of a packet whose
// VirtioNetHdrFNeedsCsum flag is set, as a NIC with checksum offload would:
// the checksum of the bytes from CsumStart to the end of the frame (whose
// checksum field already holds the pseudo-header sum, by the virtio
// convention) goes at CsumStart+CsumOffset. It clears the flag and reports
// true, or reports false and changes nothing if the offsets do not fit the
// frame. A packet without the flag is left alone and reported true.
//
// It does not segment: a GSO packet still needs Segment.
func CompleteChecksum(p *packet.Packet) bool {
	if p.GSO.Flags&packet.VirtioNetHdrFNeedsCsum == 0 {
		return true
	}
	data := p.Data()
	start, off := int(p.GSO.CsumStart), int(p.GSO.CsumOffset)
	if start+off+2 > len(data) {
		return false
	}
	c := ^sum(data[start:])
	if c == 0 {
		// As Linux does (CSUM_MANGLED_0): for UDP a zero would mean "no
		// checksum", and 0xffff is the same value in ones' complement.
		c = 0xffff
	}
	binary.BigEndian.PutUint16(data[start+off:], c)
	p.GSO.Flags &^= packet.VirtioNetHdrFNeedsCsum
	return true
}
