package ofswitch

import (
	"time"

	"github.com/dvs-project/dvs/internal/feature/meter"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// meterMod applies a meter_mod. Deleting a meter deletes the rules that
// use it (reported with reason "delete": OpenFlow 1.3 has no meter-delete
// reason).
func (s *Switch) meterMod(msg []byte) error {
	mm, err := openflow.DecodeMeterMod(msg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch mm.Command {
	case openflow.MeterAdd:
		err = s.meters.Add(mm.Meter)
	case openflow.MeterModify:
		err = s.meters.Modify(mm.Meter)
	case openflow.MeterDelete:
		id := mm.Meter.ID
		if id != flow.MeterAll && !s.meters.Exists(id) {
			return nil // deleting a missing meter is not an error (as in Open vSwitch)
		}
		if err = s.meters.Delete(id); err == nil {
			s.b.PushStats()
			var users []*flow.Rule
			for _, r := range s.b.Pipeline().Rules(pipeline.FilterAll()) {
				if r.Instructions.Meter != 0 && (id == flow.MeterAll || r.Instructions.Meter == id) {
					users = append(users, r)
				}
			}
			s.flowsRemoved(s.b.Pipeline().DeleteRuleList(users), openflow.FlowRemovedDelete)
		}
	}
	if err != nil {
		return openflow.NewMeterModError(meter.MeterModFailedCode(err), err.Error())
	}
	return nil
}

// meterFlows counts the rules using each meter.
func (s *Switch) meterFlows() map[uint32]uint32 {
	n := map[uint32]uint32{}
	for _, r := range s.b.Pipeline().Rules(pipeline.FilterAll()) {
		if r.Instructions.Meter != 0 {
			n[r.Instructions.Meter]++
		}
	}
	return n
}

// meterMultipart answers meter stats, meter config and meter features.
func (s *Switch) meterMultipart(xid uint32, req openflow.Multipart) ([][]byte, error) {
	var entries [][]byte
	switch req.Type {
	case openflow.MultipartMeter, openflow.MultipartMeterConfig:
		r, err := openflow.DecodeMeterRequest(req.Body)
		if err != nil {
			return nil, err
		}
		if req.Type == openflow.MultipartMeterConfig {
			for _, spec := range s.meters.Configs(r.MeterID) {
				b, err := openflow.AppendMeterConfigs(nil, []flow.MeterSpec{spec})
				if err != nil {
					return nil, err
				}
				entries = append(entries, b)
			}
			break
		}
		flows := s.meterFlows()
		for _, st := range s.meters.Stats(r.MeterID) {
			ms := openflow.MeterStats{MeterID: st.ID, FlowCount: flows[st.ID], PacketInCount: st.Packets, ByteInCount: st.Bytes,
				DurationSec: uint32(st.Duration / time.Second), DurationNsec: uint32(st.Duration % time.Second)}
			for _, b := range st.Bands {
				ms.Bands = append(ms.Bands, openflow.MeterBandStats{PacketCount: b.Packets, ByteCount: b.Bytes})
			}
			b, err := openflow.AppendMeterStats(nil, []openflow.MeterStats{ms})
			if err != nil {
				return nil, err
			}
			entries = append(entries, b)
		}
	case openflow.MultipartMeterFeatures:
		if err := openflow.CheckEmptyBody(req.Body); err != nil {
			return nil, err
		}
		f := openflow.MeterFeatures{MaxMeter: meter.MaxMeters, BandTypes: 1<<flow.BandDrop | 1<<flow.BandDSCPRemark,
			Capabilities: uint32(flow.MeterKbps | flow.MeterPktps | flow.MeterBurst | flow.MeterStats),
			MaxBands:     meter.MaxBands, MaxColor: 0}
		entries = append(entries, f.Append(nil))
	}
	return openflow.SplitMultipartReply(xid, req.Type, entries)
}
