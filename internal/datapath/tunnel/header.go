// Package tunnel is the datapath's overlay tunnel ports: VXLAN (RFC 7348)
// and Geneve (RFC 8926) encapsulation in userspace over UDP sockets. A
// tunnel port has no kernel interface; the ports of one bridge that share
// a type, a local address and a UDP port share one socket, and received
// datagrams are handed to the port whose remote address sent them, with
// the VNI and the outer addresses as the packet's tunnel metadata.
package tunnel

import "encoding/binary"

// Kind is a tunnel's encapsulation.
type Kind uint8

const (
	VXLAN Kind = iota + 1
	Geneve
)

func (k Kind) String() string {
	switch k {
	case VXLAN:
		return "vxlan"
	case Geneve:
		return "geneve"
	}
	return "unknown"
}

// DefaultPort returns the IANA UDP port of the encapsulation.
func (k Kind) DefaultPort() uint16 {
	if k == Geneve {
		return GenevePort
	}
	return VXLANPort
}

const (
	VXLANPort  = 4789
	GenevePort = 6081
	// HeaderLen is the length of the VXLAN header and of the Geneve
	// header without options (what dvs sends).
	HeaderLen = 8
	// Overhead is what encapsulation over IPv4 adds to an inner frame
	// (Ethernet header included): outer IPv4 + UDP + the tunnel header.
	// The inner IP MTU is the underlay MTU less Overhead less the inner
	// Ethernet header: 1450 on a 1500-byte underlay.
	Overhead = 20 + 8 + HeaderLen

	// MaxVNI is the largest 24-bit virtual network identifier.
	MaxVNI = 1<<24 - 1

	vxlanFlagI = 0x08 // RFC 7348: the VNI is valid

	genevePTEthernet = 0x6558 // Transparent Ethernet Bridging
	geneveFlagO      = 0x80   // control (OAM) packet
	geneveFlagC      = 0x40   // critical options present
)

// PutVXLAN writes a VXLAN header with vni into b (at least HeaderLen
// bytes): flags with only the I bit, reserved fields zero.
func PutVXLAN(b []byte, vni uint32) {
	_ = b[7]
	binary.BigEndian.PutUint32(b[0:4], vxlanFlagI<<24)
	binary.BigEndian.PutUint32(b[4:8], (vni&MaxVNI)<<8)
}

// PutGeneve writes a Geneve header with vni and no options into b (at
// least HeaderLen bytes): version 0, protocol type 0x6558 (Ethernet).
func PutGeneve(b []byte, vni uint32) {
	_ = b[7]
	binary.BigEndian.PutUint16(b[0:2], 0) // Ver=0, Opt Len=0, O=0, C=0
	binary.BigEndian.PutUint16(b[2:4], genevePTEthernet)
	binary.BigEndian.PutUint32(b[4:8], (vni&MaxVNI)<<8)
}

// DecapVXLAN reads the VXLAN header at the start of a datagram's payload
// and returns the VNI and the header's length (where the inner frame
// starts). It reports false if the datagram is too short or the I flag is
// clear. Reserved bits are ignored, as RFC 7348 asks of receivers.
func DecapVXLAN(b []byte) (vni uint32, hdr int, ok bool) {
	if len(b) < HeaderLen || b[0]&vxlanFlagI == 0 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b[4:8]) >> 8, HeaderLen, true
}

// DecapGeneve reads the Geneve header at the start of a datagram's
// payload and returns the VNI and the header's length, options included
// (options are skipped). It reports false for a datagram too short for its
// header and options, a version other than 0, a payload that is not
// Ethernet, a control (O bit) packet, which is not data to forward, or a
// packet with critical options (C bit), which RFC 8926 requires a tunnel
// endpoint that does not understand them to drop.
func DecapGeneve(b []byte) (vni uint32, hdr int, ok bool) {
	if len(b) < HeaderLen || b[0]>>6 != 0 {
		return 0, 0, false
	}
	hdr = HeaderLen + int(b[0]&0x3f)*4
	if len(b) < hdr || b[1]&(geneveFlagO|geneveFlagC) != 0 ||
		binary.BigEndian.Uint16(b[2:4]) != genevePTEthernet {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b[4:8]) >> 8, hdr, true
}

// decap dispatches on k.
func (k Kind) decap(b []byte) (uint32, int, bool) {
	if k == Geneve {
		return DecapGeneve(b)
	}
	return DecapVXLAN(b)
}

// put dispatches on k.
func (k Kind) put(b []byte, vni uint32) {
	if k == Geneve {
		PutGeneve(b, vni)
		return
	}
	PutVXLAN(b, vni)
}
