package openflow

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// Packet-in reasons (ofp_packet_in_reason).
const (
	PacketInNoMatch    uint8 = 0
	PacketInAction     uint8 = 1
	PacketInInvalidTTL uint8 = 2
)

// PacketIn is an OFPT_PACKET_IN. Data is the packet, or its first bytes
// when the switch buffered it.
type PacketIn struct {
	BufferID uint32
	TotalLen uint16
	Reason   uint8
	TableID  uint8
	Cookie   uint64
	Match    flow.Match
	Data     []byte
}

const packetInMatchOffset = 24

// Encode returns the packet-in message.
func (p *PacketIn) Encode(xid uint32) []byte {
	b := beginMsg(TypePacketIn, xid, 128+len(p.Data))
	b = binary.BigEndian.AppendUint32(b, p.BufferID)
	b = binary.BigEndian.AppendUint16(b, p.TotalLen)
	b = append(b, p.Reason, p.TableID)
	b = binary.BigEndian.AppendUint64(b, p.Cookie)
	b = AppendMatch(b, &p.Match)
	b = append(b, 0, 0)
	return finishMsg(append(b, p.Data...))
}

// DecodePacketIn decodes a packet-in; Data aliases msg.
func DecodePacketIn(msg []byte) (PacketIn, error) {
	if _, err := checkMsg(msg, TypePacketIn, packetInMatchOffset+8+2); err != nil {
		return PacketIn{}, err
	}
	p := PacketIn{
		BufferID: binary.BigEndian.Uint32(msg[8:]),
		TotalLen: binary.BigEndian.Uint16(msg[12:]),
		Reason:   msg[14],
		TableID:  msg[15],
		Cookie:   binary.BigEndian.Uint64(msg[16:]),
	}
	m, n, err := DecodeMatch(msg[packetInMatchOffset:])
	if err != nil {
		return PacketIn{}, err
	}
	rest := msg[packetInMatchOffset+n:]
	if len(rest) < 2 {
		return PacketIn{}, reqErr(BadRequestBadLen, "packet-in has no room for padding after its match")
	}
	p.Match, p.Data = m, rest[2:]
	return p, nil
}

// PacketOut is an OFPT_PACKET_OUT. Data is empty when BufferID names a
// buffered packet.
type PacketOut struct {
	BufferID uint32
	InPort   uint32
	Actions  []flow.Action
	Data     []byte
}

const packetOutLen = 24

// Encode returns the packet-out message. It fails only if an action cannot
// be encoded.
func (p *PacketOut) Encode(xid uint32) ([]byte, error) {
	b := beginMsg(TypePacketOut, xid, 128+len(p.Data))
	b = binary.BigEndian.AppendUint32(b, p.BufferID)
	b = binary.BigEndian.AppendUint32(b, p.InPort)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // actions_len, set below; pad
	b, err := AppendActions(b, p.Actions)
	if err != nil {
		return nil, err
	}
	if n := len(b) - packetOutLen; n > 0xffff-packetOutLen {
		return nil, actErr(BadActionTooMany, "%d bytes of actions", n)
	}
	binary.BigEndian.PutUint16(b[16:], uint16(len(b)-packetOutLen))
	return finishMsg(append(b, p.Data...)), nil
}

// DecodePacketOut decodes a packet-out; Data aliases msg.
func DecodePacketOut(msg []byte) (PacketOut, error) {
	if _, err := checkMsg(msg, TypePacketOut, packetOutLen); err != nil {
		return PacketOut{}, err
	}
	p := PacketOut{
		BufferID: binary.BigEndian.Uint32(msg[8:]),
		InPort:   binary.BigEndian.Uint32(msg[12:]),
	}
	n := int(binary.BigEndian.Uint16(msg[16:]))
	if n > len(msg)-packetOutLen {
		return PacketOut{}, reqErr(BadRequestBadLen, "packet-out actions_len %d, but %d bytes follow", n, len(msg)-packetOutLen)
	}
	acts, err := DecodeActions(msg[packetOutLen : packetOutLen+n])
	if err != nil {
		return PacketOut{}, err
	}
	p.Actions, p.Data = acts, msg[packetOutLen+n:]
	return p, nil
}

// Flow-removed reasons (ofp_flow_removed_reason).
const (
	FlowRemovedIdleTimeout uint8 = 0
	FlowRemovedHardTimeout uint8 = 1
	FlowRemovedDelete      uint8 = 2
	FlowRemovedGroupDelete uint8 = 3
)

// FlowRemoved is an OFPT_FLOW_REMOVED.
type FlowRemoved struct {
	Cookie       uint64
	Priority     uint16
	Reason       uint8
	TableID      uint8
	DurationSec  uint32
	DurationNsec uint32
	IdleTimeout  uint16
	HardTimeout  uint16
	PacketCount  uint64
	ByteCount    uint64
	Match        flow.Match
}

const flowRemovedMatchOffset = 48

// Encode returns the flow-removed message.
func (f *FlowRemoved) Encode(xid uint32) []byte {
	b := beginMsg(TypeFlowRemoved, xid, 128)
	b = binary.BigEndian.AppendUint64(b, f.Cookie)
	b = binary.BigEndian.AppendUint16(b, f.Priority)
	b = append(b, f.Reason, f.TableID)
	b = binary.BigEndian.AppendUint32(b, f.DurationSec)
	b = binary.BigEndian.AppendUint32(b, f.DurationNsec)
	b = be16(b, f.IdleTimeout, f.HardTimeout)
	b = binary.BigEndian.AppendUint64(b, f.PacketCount)
	b = binary.BigEndian.AppendUint64(b, f.ByteCount)
	return finishMsg(AppendMatch(b, &f.Match))
}

// DecodeFlowRemoved decodes a flow-removed message.
func DecodeFlowRemoved(msg []byte) (FlowRemoved, error) {
	if _, err := checkMsg(msg, TypeFlowRemoved, flowRemovedMatchOffset+8); err != nil {
		return FlowRemoved{}, err
	}
	f := FlowRemoved{
		Cookie:       binary.BigEndian.Uint64(msg[8:]),
		Priority:     binary.BigEndian.Uint16(msg[16:]),
		Reason:       msg[18],
		TableID:      msg[19],
		DurationSec:  binary.BigEndian.Uint32(msg[20:]),
		DurationNsec: binary.BigEndian.Uint32(msg[24:]),
		IdleTimeout:  binary.BigEndian.Uint16(msg[28:]),
		HardTimeout:  binary.BigEndian.Uint16(msg[30:]),
		PacketCount:  binary.BigEndian.Uint64(msg[32:]),
		ByteCount:    binary.BigEndian.Uint64(msg[40:]),
	}
	m, n, err := DecodeMatch(msg[flowRemovedMatchOffset:])
	if err != nil {
		return FlowRemoved{}, err
	}
	if flowRemovedMatchOffset+n != len(msg) {
		return FlowRemoved{}, reqErr(BadRequestBadLen, "%d bytes after the flow-removed match", len(msg)-flowRemovedMatchOffset-n)
	}
	f.Match = m
	return f, nil
}
