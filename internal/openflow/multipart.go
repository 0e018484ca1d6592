package openflow

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// Multipart types (ofp_multipart_type) that have body codecs here.
const (
	MultipartDesc uint16 = 0
	MultipartFlow uint16 = 1
)

// MultipartReplyMore (OFPMPF_REPLY_MORE, and OFPMPF_REQ_MORE in requests)
// says more parts follow with the same xid.
const MultipartReplyMore uint16 = 1

// Multipart is the framing of an OFPT_MULTIPART_REQUEST or
// OFPT_MULTIPART_REPLY; Body is decoded according to Type with
// DecodeDesc, DecodeFlowStatsRequest or DecodeFlowStats.
type Multipart struct {
	Reply bool
	Type  uint16
	Flags uint16
	Body  []byte
}

const multipartLen = HeaderLen + 8

// Encode returns the multipart message.
func (m *Multipart) Encode(xid uint32) []byte {
	typ := uint8(TypeMultipartRequest)
	if m.Reply {
		typ = TypeMultipartReply
	}
	b := beginMsg(typ, xid, multipartLen+len(m.Body))
	b = be16(b, m.Type, m.Flags)
	b = append(b, 0, 0, 0, 0)
	return finishMsg(append(b, m.Body...))
}

// DecodeMultipart decodes a multipart request or reply; Body aliases msg.
func DecodeMultipart(msg []byte) (Multipart, error) {
	typ := uint8(TypeMultipartRequest)
	if len(msg) >= HeaderLen && msg[1] == TypeMultipartReply {
		typ = TypeMultipartReply
	}
	if _, err := checkMsg(msg, typ, multipartLen); err != nil {
		return Multipart{}, err
	}
	return Multipart{
		Reply: typ == TypeMultipartReply,
		Type:  binary.BigEndian.Uint16(msg[8:]),
		Flags: binary.BigEndian.Uint16(msg[10:]),
		Body:  msg[multipartLen:],
	}, nil
}

func multipartErr(format string, args ...any) *Error {
	return reqErr(BadRequestBadLen, format, args...)
}

// Desc is the body of an OFPMP_DESC reply (ofp_desc). Strings longer than
// their fields are cut.
type Desc struct {
	MfrDesc, HWDesc, SWDesc, SerialNum, DPDesc string
}

const (
	descStrLen   = 256
	serialNumLen = 32
	descLen      = 4*descStrLen + serialNumLen
)

// Append appends d's wire form to b.
func (d *Desc) Append(b []byte) []byte {
	b = appendString(b, d.MfrDesc, descStrLen)
	b = appendString(b, d.HWDesc, descStrLen)
	b = appendString(b, d.SWDesc, descStrLen)
	b = appendString(b, d.SerialNum, serialNumLen)
	return appendString(b, d.DPDesc, descStrLen)
}

// DecodeDesc decodes an OFPMP_DESC reply body.
func DecodeDesc(body []byte) (Desc, error) {
	if len(body) != descLen {
		return Desc{}, multipartErr("desc body is %d bytes, want %d", len(body), descLen)
	}
	return Desc{
		MfrDesc:   fixedString(body[:256]),
		HWDesc:    fixedString(body[256:512]),
		SWDesc:    fixedString(body[512:768]),
		SerialNum: fixedString(body[768:800]),
		DPDesc:    fixedString(body[800:]),
	}, nil
}

// FlowStatsRequest is the body of an OFPMP_FLOW request.
type FlowStatsRequest struct {
	TableID            uint8
	OutPort, OutGroup  uint32
	Cookie, CookieMask uint64
	Match              flow.Match
}

const flowStatsRequestMatchOffset = 32

// Append appends r's wire form to b.
func (r *FlowStatsRequest) Append(b []byte) []byte {
	b = append(b, r.TableID, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, r.OutPort)
	b = binary.BigEndian.AppendUint32(b, r.OutGroup)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, r.Cookie)
	b = binary.BigEndian.AppendUint64(b, r.CookieMask)
	return AppendMatch(b, &r.Match)
}

// DecodeFlowStatsRequest decodes an OFPMP_FLOW request body.
func DecodeFlowStatsRequest(body []byte) (FlowStatsRequest, error) {
	if len(body) < flowStatsRequestMatchOffset+8 {
		return FlowStatsRequest{}, multipartErr("flow stats request is %d bytes", len(body))
	}
	r := FlowStatsRequest{
		TableID:    body[0],
		OutPort:    binary.BigEndian.Uint32(body[4:]),
		OutGroup:   binary.BigEndian.Uint32(body[8:]),
		Cookie:     binary.BigEndian.Uint64(body[16:]),
		CookieMask: binary.BigEndian.Uint64(body[24:]),
	}
	m, n, err := DecodeMatch(body[flowStatsRequestMatchOffset:])
	if err != nil {
		return FlowStatsRequest{}, err
	}
	if flowStatsRequestMatchOffset+n != len(body) {
		return FlowStatsRequest{}, multipartErr("%d bytes after the flow stats request's match", len(body)-flowStatsRequestMatchOffset-n)
	}
	r.Match = m
	return r, nil
}

// FlowStats is one entry of an OFPMP_FLOW reply (ofp_flow_stats).
type FlowStats struct {
	TableID                   uint8
	DurationSec, DurationNsec uint32
	Priority                  uint16
	IdleTimeout, HardTimeout  uint16
	Flags                     uint16
	Cookie                    uint64
	PacketCount, ByteCount    uint64
	Match                     flow.Match
	Instructions              flow.Instructions
}

const flowStatsMatchOffset = 48

// AppendFlowStats appends the entries' wire form to b. It fails if an
// action cannot be encoded or an entry exceeds 65535 bytes.
func AppendFlowStats(b []byte, stats []FlowStats) ([]byte, error) {
	for i := range stats {
		s := &stats[i]
		start := len(b)
		b = append(b, 0, 0, s.TableID, 0)
		b = binary.BigEndian.AppendUint32(b, s.DurationSec)
		b = binary.BigEndian.AppendUint32(b, s.DurationNsec)
		b = be16(b, s.Priority, s.IdleTimeout)
		b = be16(b, s.HardTimeout, s.Flags)
		b = append(b, 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint64(b, s.Cookie)
		b = binary.BigEndian.AppendUint64(b, s.PacketCount)
		b = binary.BigEndian.AppendUint64(b, s.ByteCount)
		b = AppendMatch(b, &s.Match)
		var err error
		if b, err = AppendInstructions(b, &s.Instructions); err != nil {
			return nil, err
		}
		n := len(b) - start
		if n > 0xffff {
			return nil, multipartErr("flow stats entry of %d bytes", n)
		}
		binary.BigEndian.PutUint16(b[start:], uint16(n))
	}
	return b, nil
}

// DecodeFlowStats decodes an OFPMP_FLOW reply body, the whole of body.
func DecodeFlowStats(body []byte) ([]FlowStats, error) {
	var stats []FlowStats
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, multipartErr("flow stats entry of %d bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < flowStatsMatchOffset+8 || n > len(body) {
			return nil, multipartErr("flow stats entry length %d of %d bytes", n, len(body))
		}
		e := body[:n]
		body = body[n:]
		s := FlowStats{
			TableID:      e[2],
			DurationSec:  binary.BigEndian.Uint32(e[4:]),
			DurationNsec: binary.BigEndian.Uint32(e[8:]),
			Priority:     binary.BigEndian.Uint16(e[12:]),
			IdleTimeout:  binary.BigEndian.Uint16(e[14:]),
			HardTimeout:  binary.BigEndian.Uint16(e[16:]),
			Flags:        binary.BigEndian.Uint16(e[18:]),
			Cookie:       binary.BigEndian.Uint64(e[24:]),
			PacketCount:  binary.BigEndian.Uint64(e[32:]),
			ByteCount:    binary.BigEndian.Uint64(e[40:]),
		}
		m, mn, err := DecodeMatch(e[flowStatsMatchOffset:])
		if err != nil {
			return nil, err
		}
		s.Match = m
		if s.Instructions, err = DecodeInstructions(e[flowStatsMatchOffset+mn:]); err != nil {
			return nil, err
		}
		stats = append(stats, s)
	}
	return stats, nil
}
