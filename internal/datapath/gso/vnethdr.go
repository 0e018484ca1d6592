package gso

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/packet"
)

// VnetHdrLen is the size of struct virtio_net_hdr, the header AF_PACKET
// (PACKET_VNET_HDR) and tap (IFF_VNET_HDR) put before every frame.
const VnetHdrLen = 10

// DecodeVnetHdr reads a virtio_net_hdr. The kernel writes it in host byte
// order for packet sockets and for taps without TUNSETVNETLE/BE, which are
// the only ones dvs opens.
func DecodeVnetHdr(b []byte) packet.GSO {
	_ = b[VnetHdrLen-1]
	return packet.GSO{
		Flags:      b[0],
		Type:       b[1],
		HdrLen:     binary.NativeEndian.Uint16(b[2:]),
		Size:       binary.NativeEndian.Uint16(b[4:]),
		CsumStart:  binary.NativeEndian.Uint16(b[6:]),
		CsumOffset: binary.NativeEndian.Uint16(b[8:]),
	}
}

// EncodeVnetHdr writes g as a virtio_net_hdr into b[:VnetHdrLen].
func EncodeVnetHdr(b []byte, g *packet.GSO) {
	_ = b[VnetHdrLen-1]
	b[0] = g.Flags
	b[1] = g.Type
	binary.NativeEndian.PutUint16(b[2:], g.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], g.Size)
	binary.NativeEndian.PutUint16(b[6:], g.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], g.CsumOffset)
}
