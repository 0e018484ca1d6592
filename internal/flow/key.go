// Package flow defines the flow key every packet is parsed into, the masks
// and matches built over it, the registry of matchable fields, and the rules
// (match + priority + instructions + counters) that flow tables hold.
package flow

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// Key is the fixed-size, comparable description of a packet that the
// classifier, the caches and the pipeline work on. Integer fields hold host
// byte order values (198.51.100.1 is 0xc6336401); MAC and IPv6 addresses are
// byte arrays in network order.
//
// The layout has no padding and is a whole number of 64-bit words, so masks
// can be applied, hashed and compared word by word (see Words).
// Fields shared between protocols follow Open vSwitch: NwSrc/NwDst are the IPv4
// addresses or the ARP SPA/TPA, NwProto is the IP protocol or the low byte of
// the ARP opcode, TpSrc/TpDst are L4 ports or the ICMP type/code, ArpSHA/ArpTHA
// are the ARP hardware addresses or the IPv6 ND source/target link-layer
// options.
type Key struct {
	// Pipeline state. The parser never sets these; they are zero when a
	// packet enters the switch and only the pipeline writes them.
	Metadata uint64
	Regs     [NumRegs]uint32

	// Tunnel metadata (zero for packets that did not arrive on a tunnel).
	TunID  uint64
	TunSrc uint32
	TunDst uint32

	InPort uint32

	NwSrc     uint32
	NwDst     uint32
	IPv6Label uint32 // low 20 bits
	IPv6Src   [16]byte
	IPv6Dst   [16]byte
	NDTarget  [16]byte

	EthDst  [6]byte
	EthSrc  [6]byte
	EthType uint16 // the ethertype after all parsed VLAN tags; 0x05ff for 802.3 frames
	// VLANs holds up to two tags, outermost first. A zero TCI means no tag.
	VLANs [2]VLAN

	ArpSHA [6]byte
	ArpTHA [6]byte

	TpSrc    uint16
	TpDst    uint16
	TCPFlags uint16 // low 12 bits of the TCP flags field

	NwProto uint8
	NwTOS   uint8 // DSCP (high 6 bits) and ECN (low 2 bits)
	NwTTL   uint8 // IPv4 TTL or IPv6 hop limit
	NwFrag  uint8 // FragAny | FragLater

	// MPLS is the outermost MPLS label stack entry as on the wire
	// (label<<12 | tc<<9 | bos<<8 | ttl), set when EthType is 0x8847 or
	// 0x8848. Only the top entry is in the key; when it is the bottom of
	// the stack the parser also fills the L3/L4 fields from the IPv4 or
	// IPv6 packet behind it, which matches cannot reach (their
	// prerequisites want an IP EthType) until pop_mpls makes the EthType
	// IP in the pipeline's current flow.
	MPLS uint32
}

// MPLS label stack entry bits (the layout of Key.MPLS).
const (
	MPLSLabelShift = 12
	MPLSLabelMask  = 0xfffff000
	MPLSTCShift    = 9
	MPLSTCMask     = 0x00000e00
	MPLSBoS        = 0x00000100
	MPLSTTLMask    = 0x000000ff
)

// IsMPLS reports whether the key is an MPLS packet.
func (k *Key) IsMPLS() bool { return k.EthType == EthTypeMPLS || k.EthType == EthTypeMPLSM }

// VLAN is one 802.1Q or 802.1ad tag as carried in the key.
type VLAN struct {
	TPID uint16 // 0x8100 or 0x88a8 (0 when TCI is 0)
	// TCI holds PCP (3 bits), VID (12 bits) and, in the DEI/CFI position,
	// TCIPresent, so that a present tag is never zero (as in Open vSwitch and
	// the OpenFlow 1.3 OFPVID_PRESENT convention).
	TCI uint16
}

const (
	// NumRegs is the number of 32-bit pipeline registers (reg0..reg7).
	NumRegs = 8
	// KeyWords is the size of Key in 64-bit words.
	KeyWords = int(unsafe.Sizeof(Key{}) / 8)
	// PipelineWords is how many leading words of Key hold pipeline-only state
	// (Metadata and Regs). They are zero for every packet entering the switch,
	// so exact-match caching can skip them.
	PipelineWords = int(unsafe.Offsetof(Key{}.TunID) / 8)
)

// Compile-time checks that Key has no trailing slack and starts on a word.
var (
	_ [0]struct{} = [unsafe.Sizeof(Key{}) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(Key{}.TunID) % 8]struct{}{}
)

// TCI bits.
const (
	TCIPresent  = 0x1000
	TCIVIDMask  = 0x0fff
	TCIPCPMask  = 0xe000
	TCIPCPShift = 13
)

// Ethertypes the switch understands.
const (
	EthTypeIPv4  = 0x0800
	EthTypeARP   = 0x0806
	EthTypeRARP  = 0x8035
	EthTypeVLAN  = 0x8100 // 802.1Q customer tag
	EthTypeQinQ  = 0x88a8 // 802.1ad service tag
	EthTypeIPv6  = 0x86dd
	EthTypeNone  = 0x05ff // OFP_DL_TYPE_NOT_ETH_TYPE: an 802.3 length field
	EthTypeMin   = 0x0600
	EthTypeMPLS  = 0x8847
	EthTypeMPLSM = 0x8848
)

// IP protocols the switch understands.
const (
	IPProtoICMP   = 1
	IPProtoTCP    = 6
	IPProtoUDP    = 17
	IPProtoICMPv6 = 58
	IPProtoSCTP   = 132
)

// NwFrag bits (Open vSwitch's nw_frag): FragAny is set for every fragment,
// FragLater for every fragment except the first.
const (
	FragAny   = 1
	FragLater = 2
	FragMask  = FragAny | FragLater
)

// ICMPv6 neighbor discovery types.
const (
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
)

// Words views k as an array of 64-bit words. Writes through the view write k.
func (k *Key) Words() *[KeyWords]uint64 {
	return (*[KeyWords]uint64)(unsafe.Pointer(k))
}

// VID returns the outermost VLAN ID and whether the packet has a tag.
func (k *Key) VID() (vid uint16, tagged bool) {
	t := k.VLANs[0].TCI
	return t & TCIVIDMask, t&TCIPresent != 0
}

// IsIP reports whether the key is an IPv4 or IPv6 packet.
func (k *Key) IsIP() bool { return k.EthType == EthTypeIPv4 || k.EthType == EthTypeIPv6 }

// Mask selects the bits of a Key that matter: a 1 bit is examined, a 0 bit
// is a wildcard. It has the same layout as Key so the word view applies.
type Mask Key

// Words views m as an array of 64-bit words.
func (m *Mask) Words() *[KeyWords]uint64 {
	return (*[KeyWords]uint64)(unsafe.Pointer(m))
}

// ExactMask returns a mask with every bit set.
func ExactMask() Mask {
	var m Mask
	for i := range m.Words() {
		m.Words()[i] = ^uint64(0)
	}
	return m
}

// L2Mask examines the in port, the Ethernet addresses and type and the
// VLAN tags: a megaflow whose mask it covers was decided on those alone
// (what a kernel fast path can key on).
var L2Mask = func() Mask {
	var m Mask
	m.InPort = ^uint32(0)
	m.EthDst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	m.EthSrc = m.EthDst
	m.EthType = 0xffff
	m.VLANs = [2]VLAN{{0xffff, 0xffff}, {0xffff, 0xffff}}
	return m
}()

// IsZero reports whether m wildcards everything.
func (m *Mask) IsZero() bool { return *m == Mask{} }

// Or sets m to the union of m and o (every bit either examines).
func (m *Mask) Or(o *Mask) {
	a, b := m.Words(), o.Words()
	for i := range a {
		a[i] |= b[i]
	}
}

// And sets m to the intersection of m and o.
func (m *Mask) And(o *Mask) {
	a, b := m.Words(), o.Words()
	for i := range a {
		a[i] &= b[i]
	}
}

// Covers reports whether every bit set in o is also set in m.
func (m *Mask) Covers(o *Mask) bool {
	a, b := m.Words(), o.Words()
	for i := range a {
		if b[i]&^a[i] != 0 {
			return false
		}
	}
	return true
}

// Bits returns the number of bits m examines.
func (m *Mask) Bits() int {
	n := 0
	for _, w := range m.Words() {
		n += bits.OnesCount64(w)
	}
	return n
}

// Apply returns k with every bit that m wildcards cleared.
func (k Key) Apply(m *Mask) Key {
	a, b := k.Words(), m.Words()
	for i := range a {
		a[i] &= b[i]
	}
	return k
}

// EqualMasked reports whether k and o agree on every bit m examines.
func (k *Key) EqualMasked(o *Key, m *Mask) bool {
	a, b, w := k.Words(), o.Words(), m.Words()
	for i := range a {
		if (a[i]^b[i])&w[i] != 0 {
			return false
		}
	}
	return true
}

// PacketWords is the part of a key that comes from the packet (and its
// arrival): everything after the pipeline-only words.
type PacketWords [KeyWords - PipelineWords]uint64

// Packet views the packet part of k.
func (k *Key) Packet() *PacketWords {
	return (*PacketWords)(unsafe.Pointer(&k.Words()[PipelineWords]))
}

// Equal reports whether p and o are the same words. It compares them all
// at once, without a call or a branch per word (a hit in a cache compares
// every word anyway).
func (p *PacketWords) Equal(o *PacketWords) bool {
	return (p[0]^o[0])|(p[1]^o[1])|(p[2]^o[2])|(p[3]^o[3])|(p[4]^o[4])|(p[5]^o[5])|(p[6]^o[6])|(p[7]^o[7])|
		(p[8]^o[8])|(p[9]^o[9])|(p[10]^o[10])|(p[11]^o[11])|(p[12]^o[12])|(p[13]^o[13])|(p[14]^o[14])|(p[15]^o[15]) == 0
}

// A compile-time check that PacketWords.Equal reads every word.
var _ [0]struct{} = [len(PacketWords{}) - 16]struct{}{}

// EqualCommon reports whether p and o agree on the words that Hash always
// reads (in port, Ethernet, VLAN, IPv4 and transport fields). Of two keys
// with one hash that lacks HashRare, every other word is zero, so for them
// it is Equal at half the cost.
func (p *PacketWords) EqualCommon(o *PacketWords) bool {
	return (p[hwInPort]^o[hwInPort])|(p[hwNwDst]^o[hwNwDst])|(p[hwEthDst]^o[hwEthDst])|(p[hwEthType]^o[hwEthType])|
		(p[hwVLAN]^o[hwVLAN])|(p[hwTp]^o[hwTp])|(p[hwNwProto]^o[hwNwProto]) == 0
}

// HashRare is the bit of a Hash that is set exactly when one of the words
// most packets leave zero (tunnel metadata, IPv6 and ND addresses, ARP
// hardware addresses) is not.
const HashRare = 1 << 63

// Hash returns a hash of all of k except the pipeline-only words, which are
// zero for packets entering the switch. It is the exact-match cache hash.
// Its top bit is HashRare. Most keys (an untunneled IPv4 packet's) have
// only seven non-zero words: their hash is hashCommon of those words, a
// few 128-bit multiplies. The other keys are hashed whole with the
// runtime's memory hash (AES rounds where the processor has them), which
// beats eight multiplies. The secrets and the seed are drawn at random when
// the process starts, so hashes must not be stored or sent anywhere.
func (k *Key) Hash() uint64 {
	p := k.Packet()
	if p[hwTunID]|p[hwTunSrc]|p[hwIPv6Src]|p[hwIPv6Src+1]|p[hwIPv6Dst]|p[hwIPv6Dst+1]|
		p[hwNDTarget]|p[hwNDTarget+1]|p[hwArp] != 0 {
		return hashAll(p) | HashRare
	}
	return hashCommon(p[hwInPort], p[hwNwDst], p[hwEthDst], p[hwEthType], p[hwVLAN], p[hwTp], p[hwNwProto])
}

// SetCommon sets k to the key whose packet words at the seven indexes
// Hash reads for every key hold the given values and whose other words
// (pipeline, tunnel, IPv6, ND and ARP hardware words) are zero, and
// returns k.Hash(). The values are whole words as Words reads them: inPort
// holds InPort and NwSrc, nwDst NwDst (and IPv6Label), ethDst EthDst and
// the first two bytes of EthSrc, ethType the rest of EthSrc, EthType and
// the outer TPID, vlan the outer TCI and the inner tag, tp the transport
// ports and TCP flags, nwProto NwProto, NwTOS, NwTTL, NwFrag and MPLS. A
// parser that has those words in registers hashes them without reading
// the key back.
func (k *Key) SetCommon(inPort, nwDst, ethDst, ethType, vlan, tp, nwProto uint64) uint64 {
	// Each word is written once: the others as three runs of zeros.
	w := k.Words()
	*(*[PipelineWords + hwInPort]uint64)(w[:]) = [PipelineWords + hwInPort]uint64{}
	*(*[hwEthDst - hwNwDst - 1]uint64)(w[PipelineWords+hwNwDst+1:]) = [hwEthDst - hwNwDst - 1]uint64{}
	w[PipelineWords+hwArp] = 0
	p := k.Packet()
	p[hwInPort], p[hwNwDst], p[hwEthDst], p[hwEthType] = inPort, nwDst, ethDst, ethType
	p[hwVLAN], p[hwTp], p[hwNwProto] = vlan, tp, nwProto
	// hashCommon, spelled out so that SetCommon calls nothing and needs
	// no stack frame (TestHashShortcut holds the two to each other).
	m := &hashMul
	h := mum(inPort^m[0], nwDst^m[1]) ^ mum(ethDst^m[2], ethType^m[3]) ^ mum(vlan^m[4], tp^m[5])
	return mum(h^m[6], nwProto^m[7]) &^ HashRare
}

// hashCommon is Hash of a key whose only non-zero packet words are the
// seven common ones, in the order Hash reads them. Words are paired and each
// pair, mixed with secret words, multiplied into 128 bits whose halves are
// folded (wyhash's "mum": every input bit reaches the middle bits, which
// a 64-bit product's top bits would not); the three pairs' products
// combine with the last word in one more multiply.
func hashCommon(inPort, nwDst, ethDst, ethType, vlan, tp, nwProto uint64) uint64 {
	m := &hashMul
	h := mum(inPort^m[0], nwDst^m[1]) ^ mum(ethDst^m[2], ethType^m[3]) ^ mum(vlan^m[4], tp^m[5])
	return mum(h^m[6], nwProto^m[7]) &^ HashRare
}

// mum multiplies a by b into 128 bits and folds the halves.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// SetCommon's runs of zeros and its seven words are every word of a key.
var _ [0]struct{} = [PipelineWords + hwInPort + 1 + 1 + (hwEthDst - hwNwDst - 1) + 1 + 1 + 1 + 1 + 1 + 1 - KeyWords]struct{}{}

// hashAll is Hash for the keys that have rare words set. It is not
// inlined, to keep Hash's common case small.
//
//go:noinline
func hashAll(p *PacketWords) uint64 {
	return maphash.Bytes(hashSeed, unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p)))
}

var hashSeed = maphash.MakeSeed()

// Indexes in PacketWords of the words Hash reads, named by a field each
// holds (others share the word: hwInPort holds NwSrc, hwEthDst the start of
// EthSrc, hwEthType the rest of EthSrc and the outer TPID, hwVLAN the outer
// TCI, the inner tag and the start of ArpSHA, hwArp the rest of ArpSHA and
// most of ArpTHA, hwTp the end of ArpTHA, the ports and the TCP flags). The
// first seven are the words an untunneled IPv4 packet fills.
const (
	hwInPort   = int(unsafe.Offsetof(Key{}.InPort))/8 - PipelineWords
	hwNwDst    = int(unsafe.Offsetof(Key{}.NwDst))/8 - PipelineWords
	hwEthDst   = int(unsafe.Offsetof(Key{}.EthDst))/8 - PipelineWords
	hwEthType  = int(unsafe.Offsetof(Key{}.EthType))/8 - PipelineWords
	hwVLAN     = int(unsafe.Offsetof(Key{}.VLANs)+2)/8 - PipelineWords
	hwTp       = int(unsafe.Offsetof(Key{}.TpSrc))/8 - PipelineWords
	hwNwProto  = int(unsafe.Offsetof(Key{}.NwProto))/8 - PipelineWords
	hwTunID    = int(unsafe.Offsetof(Key{}.TunID))/8 - PipelineWords
	hwTunSrc   = int(unsafe.Offsetof(Key{}.TunSrc))/8 - PipelineWords
	hwIPv6Src  = int(unsafe.Offsetof(Key{}.IPv6Src))/8 - PipelineWords
	hwIPv6Dst  = int(unsafe.Offsetof(Key{}.IPv6Dst))/8 - PipelineWords
	hwNDTarget = int(unsafe.Offsetof(Key{}.NDTarget))/8 - PipelineWords
	hwArp      = int(unsafe.Offsetof(Key{}.ArpSHA)+2)/8 - PipelineWords
)

// hashMul holds hashCommon's secret words, drawn at random when the
// process starts, so that nobody outside can pick keys that share a hash
// and crowd one exact-match slot.
var hashMul = func() (m [8]uint64) {
	for i := range m {
		m[i] = rand.Uint64()
	}
	return m
}()

// MaskedHasher hashes keys under one mask, looking only at the mask's
// non-zero words, which it keeps side by side (select groups hash a
// packet's fields under their selection mask with it).
type MaskedHasher struct {
	idx []uint8  // indexes of the mask's non-zero words
	mw  []uint64 // those words
}

// NewMaskedHasher prepares hashing under m.
func NewMaskedHasher(m *Mask) MaskedHasher {
	var h MaskedHasher
	for i, w := range m.Words() {
		if w != 0 {
			h.idx = append(h.idx, uint8(i))
			h.mw = append(h.mw, w)
		}
	}
	return h
}

// Hash hashes the bits of k the mask selects. Each word's multiply is
// independent of the running hash, so the processor overlaps them; the
// chain is only xor and rotate.
func (mh *MaskedHasher) Hash(k *Key) uint64 {
	w := k.Words()
	h := uint64(len(mh.idx))
	for j, i := range mh.idx {
		h = bits.RotateLeft64(h^(w[i]&mh.mw[j])*wordMul[j&7], 29)
	}
	return finalize(h)
}

var wordMul = [8]uint64{0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9, 0x94d049bb133111eb, 0xd6e8feb86659fd93,
	0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3, 0x589965cc75374cc3}

// finalize spreads h's bits over the low bits tables index with (one
// multiply: the per-word step already multiplied every input).
func finalize(h uint64) uint64 {
	h ^= h >> 32
	h *= 0x94d049bb133111eb
	return h ^ h>>29
}
