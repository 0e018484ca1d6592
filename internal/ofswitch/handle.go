package ofswitch

import (
	"errors"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/openflow/channel"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// Handle implements channel.Handler: it applies one request.
func (s *Switch) Handle(c *channel.Conn, msg []byte) ([][]byte, error) {
	h, err := openflow.ParseHeader(msg)
	if err != nil {
		return nil, err
	}
	switch h.Type {
	case openflow.TypeFlowMod:
		return nil, s.flowMod(msg)
	case openflow.TypeGroupMod:
		return nil, s.groupMod(msg)
	case openflow.TypeMeterMod:
		return nil, s.meterMod(msg)
	case openflow.TypePortMod:
		return nil, s.portMod(msg)
	case openflow.TypeTableMod:
		return nil, s.tableMod(msg)
	case openflow.TypePacketOut:
		return nil, s.packetOut(msg)
	case openflow.TypeMultipartRequest:
		return s.multipart(h.Xid, msg)
	case openflow.TypeQueueGetConfigRequest:
		return s.queueGetConfig(h.Xid, msg)
	case openflow.TypeExperimenter:
		return s.experimenter(c, h.Xid, msg)
	}
	return nil, &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadType, Msg: "unsupported message type"}
}

// flowMod applies a flow_mod.
func (s *Switch) flowMod(msg []byte) error {
	fm, err := openflow.DecodeFlowMod(msg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyFlowMod(&fm)
}

// applyFlowMod runs one decoded flow_mod; the caller holds s.mu.
func (s *Switch) applyFlowMod(fm *openflow.FlowMod) error {
	p := s.b.Pipeline()
	if err := checkFlowMod(fm); err != nil {
		return err
	}
	switch fm.Command {
	case openflow.FlowAdd:
		r, err := s.addRule(fm)
		if err != nil {
			return err
		}
		return ofError(p.AddCheckedRules([]*flow.Rule{r}))
	case openflow.FlowModify, openflow.FlowModifyStrict:
		if fm.TableID >= flow.MaxTables {
			return &openflow.Error{Type: openflow.ETFlowModFailed, Code: openflow.FlowModFailedBadTableID, Msg: "bad table id"}
		}
		if err := s.checkRefs(&fm.Instructions); err != nil {
			return err
		}
		f := filterOf(fm)
		_, err := p.ModifyRules(f, fm.Instructions, fm.Flags&uint16(flow.FlagResetCounts) != 0)
		return ofError(err)
	default: // delete, delete strict
		if fm.TableID >= flow.MaxTables && fm.TableID != flow.TableAll {
			return &openflow.Error{Type: openflow.ETFlowModFailed, Code: openflow.FlowModFailedBadTableID, Msg: "bad table id"}
		}
		s.b.PushStats()
		removed := p.DeleteRules(filterOf(fm))
		s.flowsRemoved(removed, openflow.FlowRemovedDelete)
		return nil
	}
}

// checkFlowMod checks what every flow_mod command needs.
func checkFlowMod(fm *openflow.FlowMod) error {
	if fm.BufferID != openflow.NoBuffer {
		return &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBufferUnknown, Msg: "the switch buffers no packets"}
	}
	if fm.Flags&^uint16(flow.FlagSendFlowRem|flow.FlagCheckOverlap|flow.FlagResetCounts|flow.FlagNoPktCounts|flow.FlagNoByteCounts) != 0 {
		return &openflow.Error{Type: openflow.ETFlowModFailed, Code: openflow.FlowModFailedBadFlags, Msg: "unknown flow_mod flags"}
	}
	return nil
}

// addRule checks a decoded add and returns the rule it adds, checked as
// pipeline.CheckRule does; what depends on the tables and groups is checked
// when it is added. The caller holds s.mu.
func (s *Switch) addRule(fm *openflow.FlowMod) (*flow.Rule, error) {
	if err := checkFlowMod(fm); err != nil {
		return nil, err
	}
	if fm.TableID >= flow.MaxTables {
		return nil, &openflow.Error{Type: openflow.ETFlowModFailed, Code: openflow.FlowModFailedBadTableID, Msg: "bad table id"}
	}
	if err := s.checkRefs(&fm.Instructions); err != nil {
		return nil, err
	}
	r := fm.Rule()
	// DecodeFlowMod checked the match as CheckRule would.
	if err := pipeline.CheckDecodedRule(r); err != nil {
		return nil, ofError(err)
	}
	return r, nil
}

// checkRefs checks that the groups and meter a rule's instructions name
// exist (OpenFlow rejects a flow referring to a missing one).
func (s *Switch) checkRefs(in *flow.Instructions) error {
	if in.Meter != 0 && !s.meters.Exists(in.Meter) {
		return &openflow.Error{Type: openflow.ETMeterModFailed, Code: openflow.MeterModFailedUnknownMeter, Msg: "the flow's meter does not exist"}
	}
	return nil
}

func filterOf(fm *openflow.FlowMod) pipeline.Filter {
	f := pipeline.Filter{Table: fm.TableID, Match: fm.Match, Priority: fm.Priority,
		Cookie: fm.Cookie, CookieMask: fm.CookieMask, OutPort: fm.OutPort, OutGroup: fm.OutGroup}
	switch fm.Command {
	case openflow.FlowModifyStrict, openflow.FlowDeleteStrict:
		f.Strict = true
	}
	if fm.Command == openflow.FlowModify || fm.Command == openflow.FlowModifyStrict {
		// out_port and out_group apply to deletes only.
		f.OutPort, f.OutGroup = flow.PortAny, flow.GroupAny
	}
	return f
}

// ofError maps a pipeline error to the OpenFlow error a controller expects.
func ofError(err error) error {
	if err == nil {
		return nil
	}
	var oe *openflow.Error
	if errors.As(err, &oe) {
		return err
	}
	e := func(typ, code uint16) error { return &openflow.Error{Type: typ, Code: code, Msg: err.Error()} }
	switch {
	case errors.Is(err, pipeline.ErrOverlap):
		return e(openflow.ETFlowModFailed, openflow.FlowModFailedOverlap)
	case errors.Is(err, pipeline.ErrBadGoto):
		return e(openflow.ETBadInstruction, openflow.BadInstBadTableID)
	case errors.Is(err, pipeline.ErrBadTable):
		return e(openflow.ETFlowModFailed, openflow.FlowModFailedBadTableID)
	case errors.Is(err, pipeline.ErrBadOutPort):
		return e(openflow.ETBadAction, openflow.BadActionBadOutPort)
	case errors.Is(err, pipeline.ErrMatchInconsistent):
		return e(openflow.ETBadAction, openflow.BadActionMatchInconsis)
	case errors.Is(err, pipeline.ErrBadSetField):
		return e(openflow.ETBadAction, openflow.BadActionBadSetType)
	case errors.Is(err, pipeline.ErrBadArgument):
		return e(openflow.ETBadAction, openflow.BadActionBadArgument)
	case errors.Is(err, pipeline.ErrBadOutGroup):
		return e(openflow.ETBadAction, openflow.BadActionBadOutGroup)
	case errors.Is(err, pipeline.ErrBadAction):
		return e(openflow.ETBadAction, openflow.BadActionBadArgument)
	case errors.Is(err, pipeline.ErrBadMatch):
		return e(openflow.ETBadMatch, openflow.BadMatchBadPrereq)
	}
	return e(openflow.ETFlowModFailed, openflow.FlowModFailedUnknown)
}

// flowsRemoved sends flow-removed messages for the rules that asked for
// them.
func (s *Switch) flowsRemoved(rules []*flow.Rule, reason uint8) {
	now := time.Now()
	for _, r := range rules {
		if r.Flags&flow.FlagSendFlowRem == 0 {
			continue
		}
		d := now.Sub(r.Stats.Created)
		fr := openflow.FlowRemoved{Cookie: r.Cookie, Priority: r.Priority, Reason: reason, TableID: r.Table,
			DurationSec: uint32(d / time.Second), DurationNsec: uint32(d % time.Second),
			IdleTimeout: r.IdleTimeout, HardTimeout: r.HardTimeout,
			PacketCount: r.Stats.Packets.Load(), ByteCount: r.Stats.Bytes.Load(), Match: r.Match}
		s.ch.Send(fr.Encode(0))
	}
}

// expired receives rules removed by timeouts.
func (s *Switch) expired(exp []pipeline.Expired) {
	for _, e := range exp {
		reason := openflow.FlowRemovedIdleTimeout
		if e.Reason == "hard" {
			reason = openflow.FlowRemovedHardTimeout
		}
		s.flowsRemoved([]*flow.Rule{e.Rule}, reason)
	}
}

// packetOut runs a packet-out.
func (s *Switch) packetOut(msg []byte) error {
	po, err := openflow.DecodePacketOut(msg)
	if err != nil {
		return err
	}
	if po.BufferID != openflow.NoBuffer {
		return &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBufferUnknown, Msg: "the switch buffers no packets"}
	}
	in := po.InPort
	switch {
	case in == flow.PortController || in == flow.PortAny || in == flow.PortLocal:
		in = flow.PortController
	case in == 0 || in > flow.PortMax:
		return &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadPort, Msg: "bad packet-out in_port"}
	}
	for _, a := range po.Actions {
		if o, ok := a.(flow.Output); ok && (o.Port == 0 || o.Port == flow.PortAny) {
			return &openflow.Error{Type: openflow.ETBadAction, Code: openflow.BadActionBadOutPort, Msg: "bad output port"}
		}
	}
	if err := s.b.Inject(in, po.Data, po.Actions); err != nil {
		return &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadPacket, Msg: err.Error()}
	}
	return nil
}
