package offload

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// Key is the flows map's key: what a packet is forwarded by. It has no
// mask; every (in port, VLAN, addresses, type) seen gets its own entry.
// The layout is the BPF programs' (see lookup); padding stays zero.
type Key struct {
	Ifindex uint32  // the interface the packet arrived on
	TCI     uint16  // flow.VLAN.TCI (with TCIPresent), 0 without a tag
	TPID    uint16  // 0x8100 or 0x88a8, 0 without a tag
	EthDst  [6]byte // as in the frame
	EthSrc  [6]byte
	EthType [2]byte // as in the frame (network order)
	_       uint16
}

// Offsets in Key (KeySize bytes).
const (
	keyIfindex = 0
	keyTCI     = 4
	keyTPID    = 6
	keyEthDst  = 8
	keyEthType = 20
	// KeySize is the size of Key.
	KeySize = 24
)

const tciPresent = flow.TCIPresent

// Value is the flows map's value: where to forward and the entry's counters.
type Value struct {
	Out     uint32 // ifindex to redirect to
	MaxLen  uint32 // frames longer than this that are not GSO pass to userspace (0: no limit): the smaller of the two ports' limits
	Gen     uint64 // the pipeline generation the entry is valid at
	Packets uint64 // counted by the BPF program with atomic adds
	Bytes   uint64
	Flags   uint32 // FlagPeer
	_       uint32
}

// FlagPeer hands packets straight to the ingress of Out's veth peer
// (bpf_redirect_peer) instead of to Out's egress. Install sets it only when
// the packets' destination MAC is the peer's own, which is what the peer
// would accept anyway: the shortcut skips the peer's check of the
// destination (every packet arrives as PACKET_HOST) and Out's egress qdisc.
const FlagPeer = 1

// KeyOf returns the kernel key of packets with flow key k arriving on
// interface ifindex, and whether the kernel can key such packets at all
// (one tag at most, which the kernel moves to skb metadata; an Ethernet II
// type other than ARP).
func KeyOf(k *flow.Key, ifindex int) (Key, bool) {
	if k.VLANs[1].TCI != 0 || k.EthType < flow.EthTypeMin ||
		k.EthType == flow.EthTypeARP || k.EthType == flow.EthTypeRARP ||
		k.EthType == flow.EthTypeVLAN || k.EthType == flow.EthTypeQinQ {
		return Key{}, false
	}
	key := Key{Ifindex: uint32(ifindex), TCI: k.VLANs[0].TCI, TPID: k.VLANs[0].TPID, EthDst: k.EthDst, EthSrc: k.EthSrc}
	binary.BigEndian.PutUint16(key.EthType[:], k.EthType)
	return key, true
}
