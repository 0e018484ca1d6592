package openflow

import (
	"bytes"
	"encoding/binary"
)

// Port is an ofp_port, the description of one switch port.
type Port struct {
	PortNo uint32
	HWAddr [6]byte
	// Name is at most 16 bytes on the wire (NUL-terminated when shorter);
	// longer names are cut.
	Name                              string
	Config, State                     uint32
	Curr, Advertised, Supported, Peer uint32 // ofp_port_features bitmaps
	CurrSpeed, MaxSpeed               uint32 // kbps
}

// PortLen is the size of an ofp_port.
const PortLen = 64

const portNameLen = 16

// Port config bits (ofp_port_config).
const (
	PortConfigDown       uint32 = 1 << 0
	PortConfigNoRecv     uint32 = 1 << 2
	PortConfigNoFwd      uint32 = 1 << 5
	PortConfigNoPacketIn uint32 = 1 << 6
)

// Port state bits (ofp_port_state).
const (
	PortStateLinkDown uint32 = 1 << 0
	PortStateBlocked  uint32 = 1 << 1
	PortStateLive     uint32 = 1 << 2
)

// Append appends p's wire form to b.
func (p *Port) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, p.PortNo)
	b = append(b, 0, 0, 0, 0)
	b = append(b, p.HWAddr[:]...)
	b = append(b, 0, 0)
	b = appendString(b, p.Name, portNameLen)
	for _, x := range [...]uint32{p.Config, p.State, p.Curr, p.Advertised, p.Supported, p.Peer, p.CurrSpeed, p.MaxSpeed} {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

// appendString appends s as a NUL-padded field of n bytes, cutting it if
// it is longer.
func appendString(b []byte, s string, n int) []byte {
	if len(s) > n {
		s = s[:n]
	}
	b = append(b, s...)
	return append(b, make([]byte, n-len(s))...)
}

// fixedString returns the string in a NUL-padded field.
func fixedString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// DecodePort decodes the ofp_port at the start of b.
func DecodePort(b []byte) (Port, error) {
	if len(b) < PortLen {
		return Port{}, reqErr(BadRequestBadLen, "port description needs %d bytes, have %d", PortLen, len(b))
	}
	p := Port{
		PortNo: binary.BigEndian.Uint32(b),
		Name:   fixedString(b[16:32]),
	}
	copy(p.HWAddr[:], b[8:14])
	u := func(off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }
	p.Config, p.State = u(32), u(36)
	p.Curr, p.Advertised, p.Supported, p.Peer = u(40), u(44), u(48), u(52)
	p.CurrSpeed, p.MaxSpeed = u(56), u(60)
	return p, nil
}

// Port status reasons (ofp_port_reason).
const (
	PortAdd    uint8 = 0
	PortDelete uint8 = 1
	PortModify uint8 = 2
)

// PortStatus is an OFPT_PORT_STATUS.
type PortStatus struct {
	Reason uint8
	Port   Port
}

const portStatusLen = HeaderLen + 8 + PortLen

// Encode returns the port status message.
func (ps *PortStatus) Encode(xid uint32) []byte {
	b := beginMsg(TypePortStatus, xid, portStatusLen)
	b = append(b, ps.Reason, 0, 0, 0, 0, 0, 0, 0)
	return finishMsg(ps.Port.Append(b))
}

// DecodePortStatus decodes a port status message.
func DecodePortStatus(msg []byte) (PortStatus, error) {
	if _, err := checkMsg(msg, TypePortStatus, portStatusLen); err != nil {
		return PortStatus{}, err
	}
	if len(msg) != portStatusLen {
		return PortStatus{}, reqErr(BadRequestBadLen, "port status is %d bytes, want %d", len(msg), portStatusLen)
	}
	p, err := DecodePort(msg[16:])
	if err != nil {
		return PortStatus{}, err
	}
	return PortStatus{Reason: msg[8], Port: p}, nil
}
