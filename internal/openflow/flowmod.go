package openflow

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// Flow mod commands (ofp_flow_mod_command).
const (
	FlowAdd          uint8 = 0
	FlowModify       uint8 = 1
	FlowModifyStrict uint8 = 2
	FlowDelete       uint8 = 3
	FlowDeleteStrict uint8 = 4
)

// FlowMod is an OFPT_FLOW_MOD.
type FlowMod struct {
	Cookie, CookieMask          uint64
	TableID, Command            uint8
	IdleTimeout, HardTimeout    uint16
	Priority                    uint16
	BufferID, OutPort, OutGroup uint32
	Flags                       uint16
	Match                       flow.Match
	Instructions                flow.Instructions
}

// flowModMatchOffset is where the match starts in a flow mod.
const flowModMatchOffset = 48

// NewFlowMod returns an OFPFC_ADD of r, with no buffer and no out port or
// group.
func NewFlowMod(r *flow.Rule) FlowMod {
	return FlowMod{
		Cookie:       r.Cookie,
		TableID:      r.Table,
		Command:      FlowAdd,
		IdleTimeout:  r.IdleTimeout,
		HardTimeout:  r.HardTimeout,
		Priority:     r.Priority,
		BufferID:     NoBuffer,
		OutPort:      flow.PortAny,
		OutGroup:     GroupAny,
		Flags:        uint16(r.Flags),
		Match:        r.Match,
		Instructions: r.Instructions,
	}
}

// Rule returns the rule fm adds or modifies to. The instructions share
// fm's action slices.
func (fm *FlowMod) Rule() *flow.Rule {
	return &flow.Rule{
		Table:        fm.TableID,
		Priority:     fm.Priority,
		Match:        fm.Match,
		Cookie:       fm.Cookie,
		IdleTimeout:  fm.IdleTimeout,
		HardTimeout:  fm.HardTimeout,
		Flags:        flow.RuleFlags(fm.Flags),
		Instructions: fm.Instructions,
	}
}

// Encode returns the flow mod message. It fails only if an action cannot
// be encoded.
func (fm *FlowMod) Encode(xid uint32) ([]byte, error) {
	b := beginMsg(TypeFlowMod, xid, 256)
	b = binary.BigEndian.AppendUint64(b, fm.Cookie)
	b = binary.BigEndian.AppendUint64(b, fm.CookieMask)
	b = append(b, fm.TableID, fm.Command)
	b = be16(b, fm.IdleTimeout, fm.HardTimeout)
	b = binary.BigEndian.AppendUint16(b, fm.Priority)
	b = binary.BigEndian.AppendUint32(b, fm.BufferID)
	b = binary.BigEndian.AppendUint32(b, fm.OutPort)
	b = binary.BigEndian.AppendUint32(b, fm.OutGroup)
	b = be16(b, fm.Flags, 0)
	b = AppendMatch(b, &fm.Match)
	b, err := AppendInstructions(b, &fm.Instructions)
	if err != nil {
		return nil, err
	}
	return finishMsg(b), nil
}

// DecodeFlowMod decodes a flow mod. The actions' values are copied, so the
// result does not alias msg.
func DecodeFlowMod(msg []byte) (FlowMod, error) {
	if _, err := checkMsg(msg, TypeFlowMod, flowModMatchOffset+8); err != nil {
		return FlowMod{}, err
	}
	fm := FlowMod{
		Cookie:      binary.BigEndian.Uint64(msg[8:]),
		CookieMask:  binary.BigEndian.Uint64(msg[16:]),
		TableID:     msg[24],
		Command:     msg[25],
		IdleTimeout: binary.BigEndian.Uint16(msg[26:]),
		HardTimeout: binary.BigEndian.Uint16(msg[28:]),
		Priority:    binary.BigEndian.Uint16(msg[30:]),
		BufferID:    binary.BigEndian.Uint32(msg[32:]),
		OutPort:     binary.BigEndian.Uint32(msg[36:]),
		OutGroup:    binary.BigEndian.Uint32(msg[40:]),
		Flags:       binary.BigEndian.Uint16(msg[44:]),
	}
	if fm.Command > FlowDeleteStrict {
		return FlowMod{}, errorf(ETFlowModFailed, FlowModFailedBadCommand, "flow mod command %d", fm.Command)
	}
	m, n, err := DecodeMatch(msg[flowModMatchOffset:])
	if err != nil {
		return FlowMod{}, err
	}
	fm.Match = m
	if fm.Instructions, err = DecodeInstructions(msg[flowModMatchOffset+n:]); err != nil {
		return FlowMod{}, err
	}
	return fm, nil
}
