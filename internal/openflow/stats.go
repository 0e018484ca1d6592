package openflow

import (
	"encoding/binary"
	"fmt"
)

// More multipart types (ofp_multipart_type).
const (
	MultipartAggregate     uint16 = 2
	MultipartTable         uint16 = 3
	MultipartPortStats     uint16 = 4
	MultipartQueue         uint16 = 5
	MultipartTableFeatures uint16 = 12
	MultipartPortDesc      uint16 = 13
	MultipartExperimenter  uint16 = 0xffff
)

// QueueAll (OFPQ_ALL) asks for every queue in a queue stats request.
const QueueAll uint32 = 0xffffffff

// CheckEmptyBody checks that a multipart request that takes no body, such
// as OFPMP_DESC, OFPMP_TABLE or OFPMP_PORT_DESC, has none.
func CheckEmptyBody(body []byte) error {
	if len(body) != 0 {
		return multipartErr("multipart request has a %d-byte body, want none", len(body))
	}
	return nil
}

// DecodeAggregateRequest decodes an OFPMP_AGGREGATE request body, which
// is laid out as an OFPMP_FLOW request's.
func DecodeAggregateRequest(body []byte) (FlowStatsRequest, error) {
	return DecodeFlowStatsRequest(body)
}

// AggregateReply is the body of an OFPMP_AGGREGATE reply.
type AggregateReply struct {
	PacketCount, ByteCount uint64
	FlowCount              uint32
}

const aggregateReplyLen = 24

// Append appends a's wire form to b.
func (a *AggregateReply) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, a.PacketCount)
	b = binary.BigEndian.AppendUint64(b, a.ByteCount)
	b = binary.BigEndian.AppendUint32(b, a.FlowCount)
	return append(b, 0, 0, 0, 0)
}

// DecodeAggregateReply decodes an OFPMP_AGGREGATE reply body.
func DecodeAggregateReply(body []byte) (AggregateReply, error) {
	if len(body) != aggregateReplyLen {
		return AggregateReply{}, multipartErr("aggregate reply is %d bytes, want %d", len(body), aggregateReplyLen)
	}
	return AggregateReply{
		PacketCount: binary.BigEndian.Uint64(body),
		ByteCount:   binary.BigEndian.Uint64(body[8:]),
		FlowCount:   binary.BigEndian.Uint32(body[16:]),
	}, nil
}

// TableStats is one entry of an OFPMP_TABLE reply (ofp_table_stats).
type TableStats struct {
	TableID                   uint8
	ActiveCount               uint32
	LookupCount, MatchedCount uint64
}

// TableStatsLen is the size of an ofp_table_stats.
const TableStatsLen = 24

// Append appends s's wire form to b.
func (s *TableStats) Append(b []byte) []byte {
	b = append(b, s.TableID, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, s.ActiveCount)
	b = binary.BigEndian.AppendUint64(b, s.LookupCount)
	return binary.BigEndian.AppendUint64(b, s.MatchedCount)
}

// AppendTableStats appends the entries' wire form to b.
func AppendTableStats(b []byte, stats []TableStats) []byte {
	for i := range stats {
		b = stats[i].Append(b)
	}
	return b
}

// DecodeTableStats decodes an OFPMP_TABLE reply body.
func DecodeTableStats(body []byte) ([]TableStats, error) {
	if len(body)%TableStatsLen != 0 {
		return nil, multipartErr("table stats body of %d bytes is not a multiple of %d", len(body), TableStatsLen)
	}
	var stats []TableStats
	for ; len(body) > 0; body = body[TableStatsLen:] {
		stats = append(stats, TableStats{
			TableID:      body[0],
			ActiveCount:  binary.BigEndian.Uint32(body[4:]),
			LookupCount:  binary.BigEndian.Uint64(body[8:]),
			MatchedCount: binary.BigEndian.Uint64(body[16:]),
		})
	}
	return stats, nil
}

// PortStatsRequest is the body of an OFPMP_PORT_STATS request; PortNo is
// flow.PortAny for every port.
type PortStatsRequest struct {
	PortNo uint32
}

const portStatsRequestLen = 8

// Append appends r's wire form to b.
func (r *PortStatsRequest) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, r.PortNo)
	return append(b, 0, 0, 0, 0)
}

// DecodePortStatsRequest decodes an OFPMP_PORT_STATS request body.
func DecodePortStatsRequest(body []byte) (PortStatsRequest, error) {
	if len(body) != portStatsRequestLen {
		return PortStatsRequest{}, multipartErr("port stats request is %d bytes, want %d", len(body), portStatsRequestLen)
	}
	return PortStatsRequest{PortNo: binary.BigEndian.Uint32(body)}, nil
}

// PortStats is one entry of an OFPMP_PORT_STATS reply (ofp_port_stats).
type PortStats struct {
	PortNo                    uint32
	RxPackets, TxPackets      uint64
	RxBytes, TxBytes          uint64
	RxDropped, TxDropped      uint64
	RxErrors, TxErrors        uint64
	RxFrameErr, RxOverErr     uint64
	RxCRCErr, Collisions      uint64
	DurationSec, DurationNsec uint32
}

// PortStatsLen is the size of an ofp_port_stats.
const PortStatsLen = 112

// Append appends s's wire form to b.
func (s *PortStats) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, s.PortNo)
	b = append(b, 0, 0, 0, 0)
	for _, x := range [...]uint64{s.RxPackets, s.TxPackets, s.RxBytes, s.TxBytes, s.RxDropped, s.TxDropped,
		s.RxErrors, s.TxErrors, s.RxFrameErr, s.RxOverErr, s.RxCRCErr, s.Collisions} {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	b = binary.BigEndian.AppendUint32(b, s.DurationSec)
	return binary.BigEndian.AppendUint32(b, s.DurationNsec)
}

// AppendPortStats appends the entries' wire form to b.
func AppendPortStats(b []byte, stats []PortStats) []byte {
	for i := range stats {
		b = stats[i].Append(b)
	}
	return b
}

// DecodePortStats decodes an OFPMP_PORT_STATS reply body.
func DecodePortStats(body []byte) ([]PortStats, error) {
	if len(body)%PortStatsLen != 0 {
		return nil, multipartErr("port stats body of %d bytes is not a multiple of %d", len(body), PortStatsLen)
	}
	var stats []PortStats
	for ; len(body) > 0; body = body[PortStatsLen:] {
		u := func(i int) uint64 { return binary.BigEndian.Uint64(body[8+8*i:]) }
		stats = append(stats, PortStats{
			PortNo:       binary.BigEndian.Uint32(body),
			RxPackets:    u(0),
			TxPackets:    u(1),
			RxBytes:      u(2),
			TxBytes:      u(3),
			RxDropped:    u(4),
			TxDropped:    u(5),
			RxErrors:     u(6),
			TxErrors:     u(7),
			RxFrameErr:   u(8),
			RxOverErr:    u(9),
			RxCRCErr:     u(10),
			Collisions:   u(11),
			DurationSec:  binary.BigEndian.Uint32(body[104:]),
			DurationNsec: binary.BigEndian.Uint32(body[108:]),
		})
	}
	return stats, nil
}

// QueueStatsRequest is the body of an OFPMP_QUEUE request; PortNo may be
// flow.PortAny and QueueID QueueAll.
type QueueStatsRequest struct {
	PortNo, QueueID uint32
}

const queueStatsRequestLen = 8

// Append appends r's wire form to b.
func (r *QueueStatsRequest) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, r.PortNo)
	return binary.BigEndian.AppendUint32(b, r.QueueID)
}

// DecodeQueueStatsRequest decodes an OFPMP_QUEUE request body.
func DecodeQueueStatsRequest(body []byte) (QueueStatsRequest, error) {
	if len(body) != queueStatsRequestLen {
		return QueueStatsRequest{}, multipartErr("queue stats request is %d bytes, want %d", len(body), queueStatsRequestLen)
	}
	return QueueStatsRequest{PortNo: binary.BigEndian.Uint32(body), QueueID: binary.BigEndian.Uint32(body[4:])}, nil
}

// QueueStats is one entry of an OFPMP_QUEUE reply (ofp_queue_stats).
type QueueStats struct {
	PortNo, QueueID              uint32
	TxBytes, TxPackets, TxErrors uint64
	DurationSec, DurationNsec    uint32
}

// QueueStatsLen is the size of an ofp_queue_stats.
const QueueStatsLen = 40

// Append appends s's wire form to b.
func (s *QueueStats) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, s.PortNo)
	b = binary.BigEndian.AppendUint32(b, s.QueueID)
	b = binary.BigEndian.AppendUint64(b, s.TxBytes)
	b = binary.BigEndian.AppendUint64(b, s.TxPackets)
	b = binary.BigEndian.AppendUint64(b, s.TxErrors)
	b = binary.BigEndian.AppendUint32(b, s.DurationSec)
	return binary.BigEndian.AppendUint32(b, s.DurationNsec)
}

// AppendQueueStats appends the entries' wire form to b.
func AppendQueueStats(b []byte, stats []QueueStats) []byte {
	for i := range stats {
		b = stats[i].Append(b)
	}
	return b
}

// DecodeQueueStats decodes an OFPMP_QUEUE reply body, which may be empty.
func DecodeQueueStats(body []byte) ([]QueueStats, error) {
	if len(body)%QueueStatsLen != 0 {
		return nil, multipartErr("queue stats body of %d bytes is not a multiple of %d", len(body), QueueStatsLen)
	}
	var stats []QueueStats
	for ; len(body) > 0; body = body[QueueStatsLen:] {
		stats = append(stats, QueueStats{
			PortNo:       binary.BigEndian.Uint32(body),
			QueueID:      binary.BigEndian.Uint32(body[4:]),
			TxBytes:      binary.BigEndian.Uint64(body[8:]),
			TxPackets:    binary.BigEndian.Uint64(body[16:]),
			TxErrors:     binary.BigEndian.Uint64(body[24:]),
			DurationSec:  binary.BigEndian.Uint32(body[32:]),
			DurationNsec: binary.BigEndian.Uint32(body[36:]),
		})
	}
	return stats, nil
}

// AppendPortDesc appends an OFPMP_PORT_DESC reply body listing ports to b.
func AppendPortDesc(b []byte, ports []Port) []byte {
	for i := range ports {
		b = ports[i].Append(b)
	}
	return b
}

// DecodePortDesc decodes an OFPMP_PORT_DESC reply body.
func DecodePortDesc(body []byte) ([]Port, error) {
	if len(body)%PortLen != 0 {
		return nil, multipartErr("port desc body of %d bytes is not a multiple of %d", len(body), PortLen)
	}
	var ports []Port
	for ; len(body) > 0; body = body[PortLen:] {
		p, err := DecodePort(body)
		if err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// MultipartMax is the largest multipart body one message can carry.
const MultipartMax = 0xffff - multipartLen

// SplitMultipartReply packs reply entries of multipart type typ, each a
// whole encoded element (an ofp_flow_stats, ofp_port_stats, ...), into as
// few OFPT_MULTIPART_REPLY messages as fit in 65535 bytes each, in order,
// all with the given xid; every message but the last has
// OFPMPF_REPLY_MORE set. No entries give one reply with an empty body. An
// entry too big for a message by itself is an error. The messages do not
// alias entries.
func SplitMultipartReply(xid uint32, typ uint16, entries [][]byte) ([][]byte, error) {
	var msgs [][]byte
	for i := 0; i < len(entries) || msgs == nil; {
		size := 0
		j := i
		for ; j < len(entries); j++ {
			n := len(entries[j])
			if n > MultipartMax {
				return nil, fmt.Errorf("splitting multipart reply: entry %d is %d bytes, at most %d fit", j, n, MultipartMax)
			}
			if size+n > MultipartMax {
				break
			}
			size += n
		}
		b := beginMsg(TypeMultipartReply, xid, multipartLen+size)
		flags := uint16(0)
		if j < len(entries) {
			flags = MultipartReplyMore
		}
		b = be16(b, typ, flags)
		b = append(b, 0, 0, 0, 0)
		for _, e := range entries[i:j] {
			b = append(b, e...)
		}
		msgs = append(msgs, finishMsg(b))
		i = j
	}
	return msgs, nil
}

// SplitFixed cuts body, a list of fixed-size elements of size bytes each
// (as AppendPortStats writes), into entries for SplitMultipartReply. The
// entries alias body.
func SplitFixed(body []byte, size int) [][]byte {
	entries := make([][]byte, 0, len(body)/size)
	for len(body) >= size {
		entries = append(entries, body[:size:size])
		body = body[size:]
	}
	return entries
}

// SplitLengthPrefixed cuts body, a list of elements whose first two bytes
// are their length (ofp_flow_stats, ofp_table_features), into entries for
// SplitMultipartReply. The entries alias body.
func SplitLengthPrefixed(body []byte) ([][]byte, error) {
	var entries [][]byte
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, multipartErr("multipart entry of %d bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < 4 || n > len(body) {
			return nil, multipartErr("multipart entry length %d of %d bytes", n, len(body))
		}
		entries = append(entries, body[:n:n])
		body = body[n:]
	}
	return entries, nil
}
