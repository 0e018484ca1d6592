// Package openflow encodes and decodes OpenFlow 1.3 (wire version 0x04)
// messages, matches and instructions to and from the flow package's types,
// checking every length so that no input can make it panic.
package openflow

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Version is the OpenFlow 1.3 wire version.
const Version = 0x04

// HeaderLen is the size of an ofp_header.
const HeaderLen = 8

// OpenFlow 1.3 message types (ofp_type).
const (
	TypeHello                 = 0
	TypeError                 = 1
	TypeEchoRequest           = 2
	TypeEchoReply             = 3
	TypeExperimenter          = 4
	TypeFeaturesRequest       = 5
	TypeFeaturesReply         = 6
	TypeGetConfigRequest      = 7
	TypeGetConfigReply        = 8
	TypeSetConfig             = 9
	TypePacketIn              = 10
	TypeFlowRemoved           = 11
	TypePortStatus            = 12
	TypePacketOut             = 13
	TypeFlowMod               = 14
	TypeGroupMod              = 15
	TypePortMod               = 16
	TypeTableMod              = 17
	TypeMultipartRequest      = 18
	TypeMultipartReply        = 19
	TypeBarrierRequest        = 20
	TypeBarrierReply          = 21
	TypeQueueGetConfigRequest = 22
	TypeQueueGetConfigReply   = 23
	TypeRoleRequest           = 24
	TypeRoleReply             = 25
	TypeGetAsyncRequest       = 26
	TypeGetAsyncReply         = 27
	TypeSetAsync              = 28
	TypeMeterMod              = 29
)

// Header is an ofp_header.
type Header struct {
	Version uint8
	Type    uint8
	Length  uint16 // of the whole message, header included
	Xid     uint32
}

// ParseHeader decodes the header at the start of b. It checks only that b
// holds a header and that Length covers it, not the version or type, so the
// caller can answer a HELLO of another version.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("parsing header: %d bytes, need %d", len(b), HeaderLen)
	}
	h := Header{
		Version: b[0],
		Type:    b[1],
		Length:  binary.BigEndian.Uint16(b[2:]),
		Xid:     binary.BigEndian.Uint32(b[4:]),
	}
	if h.Length < HeaderLen {
		return h, fmt.Errorf("parsing header: length %d is shorter than the header", h.Length)
	}
	return h, nil
}

// Append appends h's wire form to b.
func (h Header) Append(b []byte) []byte {
	b = append(b, h.Version, h.Type)
	b = binary.BigEndian.AppendUint16(b, h.Length)
	return binary.BigEndian.AppendUint32(b, h.Xid)
}

// ReadMessage reads one whole message from r into buf, growing it if it is
// too small, and returns the message (which aliases buf when it fit). The
// result is valid until the next call that reuses buf. A header whose length
// is below 8 is an error; lengths above 65535 cannot be expressed.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < HeaderLen {
		buf = make([]byte, 0, 1024)
	}
	buf = buf[:HeaderLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("reading message header: %w", err)
	}
	h, err := ParseHeader(buf)
	if err != nil {
		return nil, err
	}
	n := int(h.Length)
	if cap(buf) < n {
		nb := make([]byte, n)
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading message body (type %d, length %d): %w", h.Type, n, err)
	}
	return buf, nil
}
