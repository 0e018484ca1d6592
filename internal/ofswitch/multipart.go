package ofswitch

import (
	"fmt"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// Description strings (OFPMP_DESC).
var (
	mfrDesc = "dvs project"
	hwDesc  = "dvs userspace datapath"
	swDesc  = "dvs"
)

// multipart answers a multipart request with one or more replies.
func (s *Switch) multipart(xid uint32, msg []byte) ([][]byte, error) {
	req, err := openflow.DecodeMultipart(msg)
	if err != nil {
		return nil, err
	}
	var entries [][]byte // reply elements, split into messages at the end
	one := func(b []byte) { entries = append(entries, b) }
	switch req.Type {
	case openflow.MultipartDesc:
		if err := openflow.CheckEmptyBody(req.Body); err != nil {
			return nil, err
		}
		d := openflow.Desc{MfrDesc: mfrDesc, HWDesc: hwDesc, SWDesc: swDesc, SerialNum: "None", DPDesc: s.b.Name()}
		one(d.Append(nil))
	case openflow.MultipartFlow, openflow.MultipartAggregate:
		r, err := openflow.DecodeFlowStatsRequest(req.Body)
		if err != nil {
			return nil, err
		}
		if r.TableID >= flow.MaxTables && r.TableID != flow.TableAll {
			return nil, &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadTableID, Msg: "bad table id"}
		}
		s.b.PushStats()
		rules := s.b.Pipeline().Rules(pipeline.Filter{Table: r.TableID, Match: r.Match, Cookie: r.Cookie,
			CookieMask: r.CookieMask, OutPort: r.OutPort, OutGroup: r.OutGroup})
		if req.Type == openflow.MultipartAggregate {
			var a openflow.AggregateReply
			for _, rule := range rules {
				a.PacketCount += rule.Stats.Packets.Load()
				a.ByteCount += rule.Stats.Bytes.Load()
				a.FlowCount++
			}
			one(a.Append(nil))
			break
		}
		now := time.Now()
		for _, rule := range rules {
			d := now.Sub(rule.Stats.Created)
			fs := []openflow.FlowStats{{TableID: rule.Table, DurationSec: uint32(d / time.Second),
				DurationNsec: uint32(d % time.Second), Priority: rule.Priority, IdleTimeout: rule.IdleTimeout,
				HardTimeout: rule.HardTimeout, Flags: uint16(rule.Flags), Cookie: rule.Cookie,
				PacketCount: rule.Stats.Packets.Load(), ByteCount: rule.Stats.Bytes.Load(),
				Match: rule.Match, Instructions: rule.Instructions}}
			b, err := openflow.AppendFlowStats(nil, fs)
			if err != nil {
				return nil, err
			}
			one(b)
		}
	case openflow.MultipartTable:
		if err := openflow.CheckEmptyBody(req.Body); err != nil {
			return nil, err
		}
		byID := map[uint8]pipeline.TableStats{}
		for _, t := range s.b.Pipeline().TableStats() {
			byID[t.ID] = t
		}
		for id := 0; id < flow.MaxTables; id++ {
			t := byID[uint8(id)]
			ts := openflow.TableStats{TableID: uint8(id), ActiveCount: uint32(t.Rules), LookupCount: t.Lookups, MatchedCount: t.Matched}
			one(ts.Append(nil))
		}
	case openflow.MultipartPortStats:
		r, err := openflow.DecodePortStatsRequest(req.Body)
		if err != nil {
			return nil, err
		}
		found := false
		for _, p := range s.b.Ports() {
			if r.PortNo != flow.PortAny && r.PortNo != p.OFPort {
				continue
			}
			found = true
			st := p.Stats
			ps := openflow.PortStats{PortNo: p.OFPort, RxPackets: st.RxPackets, TxPackets: st.TxPackets,
				RxBytes: st.RxBytes, TxBytes: st.TxBytes, RxDropped: st.RxDropped, TxDropped: st.TxDropped + p.Drops,
				RxErrors: st.RxErrors, TxErrors: st.TxErrors}
			one(ps.Append(nil))
		}
		if !found && r.PortNo != flow.PortAny {
			return nil, &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadPort, Msg: "no such port"}
		}
	case openflow.MultipartPortDesc:
		if err := openflow.CheckEmptyBody(req.Body); err != nil {
			return nil, err
		}
		for _, p := range s.b.Ports() {
			op := ofPort(p)
			one(op.Append(nil))
		}
	case openflow.MultipartQueue:
		r, err := openflow.DecodeQueueStatsRequest(req.Body)
		if err != nil {
			return nil, err
		}
		if r.PortNo != flow.PortAny && !s.portExists(r.PortNo) {
			return nil, &openflow.Error{Type: openflow.ETQueueOpFailed, Code: openflow.QueueOpFailedBadPort, Msg: "no such port"}
		}
		// No queues: an empty reply.
	case openflow.MultipartGroup, openflow.MultipartGroupDesc, openflow.MultipartGroupFeatures:
		return s.groupMultipart(xid, req)
	case openflow.MultipartMeter, openflow.MultipartMeterConfig, openflow.MultipartMeterFeatures:
		return s.meterMultipart(xid, req)
	case openflow.MultipartTableFeatures:
		return s.tableFeatures(xid, req)
	default:
		return nil, &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadMultipart, Msg: "unsupported multipart type"}
	}
	return openflow.SplitMultipartReply(xid, req.Type, entries)
}

// tableFeatures answers a table features request. Reading the features
// is supported; changing them is not (the pipeline's tables all take every
// match field, instruction and action), so a request that carries
// features is refused with EPERM, as the specification allows.
func (s *Switch) tableFeatures(xid uint32, req openflow.Multipart) ([][]byte, error) {
	if len(req.Body) > 0 {
		if _, err := openflow.DecodeTableFeatures(req.Body); err != nil {
			return nil, err
		}
		return nil, openflow.TableFeaturesErr(openflow.TableFeaturesFailedEPerm, "table features cannot be changed")
	}
	var entries [][]byte
	for id := 0; id < flow.MaxTables; id++ {
		next := make([]uint8, 0, flow.MaxTables-id-1)
		for n := id + 1; n < flow.MaxTables; n++ {
			next = append(next, uint8(n))
		}
		tf := openflow.NewTableFeatures(uint8(id), fmt.Sprintf("table%d", id), 1_000_000, next)
		b, err := tf.Append(nil)
		if err != nil {
			return nil, err
		}
		entries = append(entries, b)
	}
	return openflow.SplitMultipartReply(xid, req.Type, entries)
}
