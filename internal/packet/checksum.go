package packet

import (
	"encoding/binary"
	"math/bits"

	"github.com/dvs-project/dvs/internal/flow"
)

// Internet checksums (RFC 1071) and their incremental update (RFC 1624).
//
// A checksum field holds the complement of the ones'-complement sum of the
// data. Rewriting a header field changes the sum by (new - old), so actions
// update checksums from the old and new field values alone instead of
// summing the whole packet again; with ones'-complement arithmetic the result
// is the same value a full recomputation gives.
//
// For a packet whose transport checksum is left to the receiver (GSO.Flags
// has VirtioNetHdrFNeedsCsum), the field holds the uncomplemented sum of the
// pseudo header only: update it for an address change with
// ^UpdateChecksum32(^csum, old, new), and leave it alone for a port change.

// sum adds b, as big-endian 16-bit words, to the ones'-complement
// accumulator acc. A trailing odd byte is padded with a zero byte. Pieces
// summed one after another must have even lengths, except the last.
//
// It reads 64 bits at a time: ones'-complement addition of 16-bit words is
// the same as 64-bit addition with end-around carry, folded at the end,
// because 2^16-1 divides 2^64-1.
func sum(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b[0:4])), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b[0:2])), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	// Adding the last carry cannot carry again: if acc overflowed to 0 the
	// carry makes it 1.
	acc, c = bits.Add64(acc, c, 0)
	return acc + c
}

// fold reduces a 64-bit ones'-complement accumulator to 16 bits.
func fold(s uint64) uint16 {
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// foldSmall is fold for a sum below 2^32, which two steps reduce: the first
// leaves at most 0x1fffe, the second at most 0xffff.
func foldSmall(s uint32) uint16 {
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// Sum returns the ones'-complement sum of b, as big-endian 16-bit words,
// added to initial and folded to 16 bits, but not complemented. It chains:
// Sum(b, Sum(a, 0)) is the sum of a followed by b when len(a) is even.
func Sum(b []byte, initial uint16) uint16 {
	return fold(sum(b, uint64(initial)))
}

// Checksum returns the Internet checksum of b: the value to store in a
// zeroed checksum field inside b. Over data that holds a correct checksum
// it returns 0.
func Checksum(b []byte) uint16 {
	return ^fold(sum(b, 0))
}

// UpdateChecksum16 returns checksum csum after a 16-bit word of the data
// changed from old to new (RFC 1624 equation 3). For a single byte, pass it
// as the high byte (old<<8) if it sits at an even offset from the start of
// the checksummed data and as the low byte if at an odd one.
func UpdateChecksum16(csum, old, new uint16) uint16 {
	return ^foldSmall(uint32(^csum) + uint32(^old) + uint32(new))
}

// UpdateChecksum32 returns csum after a 32-bit field at an even offset
// changed from old to new.
func UpdateChecksum32(csum uint16, old, new uint32) uint16 {
	// Split into 16-bit words so the sum stays small: the words add up in
	// parallel and only the short fold follows the incoming checksum.
	o := ^old
	return ^foldSmall(uint32(^csum) + o>>16 + o&0xffff + new>>16 + new&0xffff)
}

// UpdateChecksum128 returns csum after a 128-bit field at an even offset
// (an IPv6 address) changed from old to new.
func UpdateChecksum128(csum uint16, old, new [16]byte) uint16 {
	s := uint64(^csum)
	for i := 0; i < 16; i += 8 {
		// ^x + y cannot overflow 2^66, but the sum of four could: fold
		// 64-bit halves into 32 bits first.
		o := ^binary.BigEndian.Uint64(old[i:])
		n := binary.BigEndian.Uint64(new[i:])
		s += o>>32 + o&0xffffffff + n>>32 + n&0xffffffff
	}
	return ^fold(s)
}

// UDP checksums differ in one way: 0 means the sender did not compute one
// (allowed over IPv4, and over IPv6 for tunnels, RFC 6935), so a computed 0
// is sent as 0xffff, its ones'-complement equal, and a 0 must stay 0 when
// the packet is rewritten.

// UpdateUDPChecksum16 is UpdateChecksum16 for a UDP checksum.
func UpdateUDPChecksum16(csum, old, new uint16) uint16 {
	if csum == 0 {
		return 0
	}
	return udpNonZero(UpdateChecksum16(csum, old, new))
}

// UpdateUDPChecksum32 is UpdateChecksum32 for a UDP checksum.
func UpdateUDPChecksum32(csum uint16, old, new uint32) uint16 {
	if csum == 0 {
		return 0
	}
	return udpNonZero(UpdateChecksum32(csum, old, new))
}

// UpdateUDPChecksum128 is UpdateChecksum128 for a UDP checksum.
func UpdateUDPChecksum128(csum uint16, old, new [16]byte) uint16 {
	if csum == 0 {
		return 0
	}
	return udpNonZero(UpdateChecksum128(csum, old, new))
}

func udpNonZero(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}

// L4ChecksumIPv4 returns the checksum to store in the transport segment seg
// (a TCP, UDP or other header plus payload whose checksum field is zero),
// covering the IPv4 pseudo header (RFC 793, RFC 768). For UDP a result of 0
// is returned as 0xffff.
func L4ChecksumIPv4(src, dst uint32, proto uint8, seg []byte) uint16 {
	s := uint64(src) + uint64(dst) + uint64(proto) + uint64(len(seg))
	return l4Final(proto, sum(seg, s))
}

// L4ChecksumIPv6 is L4ChecksumIPv4 over the IPv6 pseudo header (RFC 8200
// 8.1), as TCP, UDP and ICMPv6 use it.
func L4ChecksumIPv6(src, dst [16]byte, proto uint8, seg []byte) uint16 {
	s := uint64(proto) + uint64(len(seg))
	for i := 0; i < 16; i += 8 {
		a := binary.BigEndian.Uint64(src[i:])
		b := binary.BigEndian.Uint64(dst[i:])
		s += a>>32 + a&0xffffffff + b>>32 + b&0xffffffff
	}
	return l4Final(proto, sum(seg, s))
}

func l4Final(proto uint8, s uint64) uint16 {
	c := ^fold(s)
	if proto == flow.IPProtoUDP {
		return udpNonZero(c)
	}
	return c
}
