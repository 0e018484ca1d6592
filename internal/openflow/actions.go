package openflow

import (
	"encoding/binary"
	"fmt"

	"github.com/dvs-project/dvs/internal/flow"
)

// Instruction types (ofp_instruction_type).
const (
	instGotoTable     = 1
	instWriteMetadata = 2
	instWriteActions  = 3
	instApplyActions  = 4
	instClearActions  = 5
	instMeter         = 6
)

// Action types (ofp_action_type).
const (
	actOutput       = 0
	actCopyTTLOut   = 11
	actCopyTTLIn    = 12
	actSetMPLSTTL   = 15
	actDecMPLSTTL   = 16
	actPushVLAN     = 17
	actPopVLAN      = 18
	actPushMPLS     = 19
	actPopMPLS      = 20
	actSetQueue     = 21
	actGroup        = 22
	actSetNwTTL     = 23
	actDecNwTTL     = 24
	actSetField     = 25
	actPushPBB      = 26
	actPopPBB       = 27
	actExperimenter = 0xffff
)

// Nicira extension actions we accept.
const (
	nxVendor      = 0x00002320
	nxastDecTTL   = 18
	nxastRegLoad2 = 33 // a set_field whose OXM may carry a mask
)

func instErr(code uint16, format string, args ...any) *Error {
	return errorf(ETBadInstruction, code, format, args...)
}

func actErr(code uint16, format string, args ...any) *Error {
	return errorf(ETBadAction, code, format, args...)
}

// EncodeInstructions returns in as a list of OpenFlow 1.3 instructions, in
// the order they execute: meter, apply-actions, clear-actions,
// write-actions, write-metadata, goto-table. A SetField with a partial mask
// becomes Open vSwitch's reg_load2, since set_field cannot carry a mask
// before OpenFlow 1.5. It fails only for an action it cannot express, such
// as set_field on tp_src, which has no OXM id.
func EncodeInstructions(in *flow.Instructions) ([]byte, error) {
	return AppendInstructions(nil, in)
}

// AppendInstructions appends in's instructions to b, as EncodeInstructions
// does.
func AppendInstructions(b []byte, in *flow.Instructions) ([]byte, error) {
	var err error
	if in.Meter != 0 {
		b = be16(b, instMeter, 8)
		b = binary.BigEndian.AppendUint32(b, in.Meter)
	}
	if len(in.Apply) > 0 {
		if b, err = appendActionsInst(b, instApplyActions, in.Apply); err != nil {
			return nil, err
		}
	}
	if in.ClearActions {
		b = be16(b, instClearActions, 8)
		b = append(b, 0, 0, 0, 0)
	}
	if in.HasWrite || len(in.Write) > 0 {
		if b, err = appendActionsInst(b, instWriteActions, in.Write); err != nil {
			return nil, err
		}
	}
	if in.MetadataMask != 0 {
		b = be16(b, instWriteMetadata, 24)
		b = append(b, 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint64(b, in.Metadata&in.MetadataMask)
		b = binary.BigEndian.AppendUint64(b, in.MetadataMask)
	}
	if in.HasGoto {
		b = be16(b, instGotoTable, 8)
		b = append(b, in.GotoTable, 0, 0, 0)
	}
	return b, nil
}

func be16(b []byte, x, y uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, x)
	return binary.BigEndian.AppendUint16(b, y)
}

func appendActionsInst(b []byte, typ uint16, acts []flow.Action) ([]byte, error) {
	start := len(b)
	b = be16(b, typ, 0)
	b = append(b, 0, 0, 0, 0)
	b, err := AppendActions(b, acts)
	if err != nil {
		return nil, err
	}
	if len(b)-start > 0xffff {
		return nil, fmt.Errorf("encoding instruction %d: %d bytes of actions is too long", typ, len(b)-start)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b, nil
}

// AppendActions appends the OpenFlow 1.3 encoding of acts to b.
func AppendActions(b []byte, acts []flow.Action) ([]byte, error) {
	for _, a := range acts {
		switch a := a.(type) {
		case flow.Output:
			b = be16(b, actOutput, 16)
			b = binary.BigEndian.AppendUint32(b, a.Port)
			b = binary.BigEndian.AppendUint16(b, a.MaxLen)
			b = append(b, 0, 0, 0, 0, 0, 0)
		case flow.SetQueue:
			b = be16(b, actSetQueue, 8)
			b = binary.BigEndian.AppendUint32(b, a.ID)
		case flow.Group:
			b = be16(b, actGroup, 8)
			b = binary.BigEndian.AppendUint32(b, a.ID)
		case flow.SetTTL:
			b = be16(b, actSetNwTTL, 8)
			b = append(b, a.TTL, 0, 0, 0)
		case flow.DecTTL:
			b = be16(b, actDecNwTTL, 8)
			b = append(b, 0, 0, 0, 0)
		case flow.PushVLAN:
			b = be16(b, actPushVLAN, 8)
			b = be16(b, a.EthType, 0)
		case flow.PopVLAN:
			b = be16(b, actPopVLAN, 8)
			b = append(b, 0, 0, 0, 0)
		case flow.PushMPLS:
			b = be16(b, actPushMPLS, 8)
			b = be16(b, a.EthType, 0)
		case flow.PopMPLS:
			b = be16(b, actPopMPLS, 8)
			b = be16(b, a.EthType, 0)
		case flow.SetMPLSTTL:
			b = be16(b, actSetMPLSTTL, 8)
			b = append(b, a.TTL, 0, 0, 0)
		case flow.DecMPLSTTL:
			b = be16(b, actDecMPLSTTL, 8)
			b = append(b, 0, 0, 0, 0)
		case flow.SetField:
			if a.Field >= flow.NumFields {
				return nil, fmt.Errorf("encoding set_field: no field %d", a.Field)
			}
			f := flow.FieldByID(a.Field)
			if oxmFields[oxmID{f.OXMClass, f.OXMField}] != f {
				return nil, fmt.Errorf("encoding set_field: %s has no OXM id", f.Name)
			}
			mask := a.Mask.And(f.Ones())
			start := len(b)
			masked := mask != f.Ones()
			if masked {
				// OpenFlow 1.3's set_field cannot carry a mask; Open
				// vSwitch's reg_load2 can.
				b = be16(b, actExperimenter, 0)
				b = binary.BigEndian.AppendUint32(b, nxVendor)
				b = binary.BigEndian.AppendUint16(b, nxastRegLoad2)
			} else {
				b = be16(b, actSetField, 0)
			}
			b = appendOXM(b, f, a.Value.And(mask), mask, masked)
			for (len(b)-start)%8 != 0 {
				b = append(b, 0)
			}
			binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
		default:
			return nil, fmt.Errorf("encoding actions: unsupported action %T", a)
		}
	}
	return b, nil
}

// DecodeInstructions decodes a list of OpenFlow 1.3 instructions, the whole
// of b. Errors are *Error values with OFPET_BAD_INSTRUCTION or
// OFPET_BAD_ACTION codes.
func DecodeInstructions(b []byte) (flow.Instructions, error) {
	var in flow.Instructions
	var seen [instMeter + 1]bool
	for len(b) > 0 {
		if len(b) < 4 {
			return flow.Instructions{}, instErr(BadInstBadLen, "instruction header needs 4 bytes, have %d", len(b))
		}
		typ := binary.BigEndian.Uint16(b)
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n%8 != 0 || n > len(b) {
			return flow.Instructions{}, instErr(BadInstBadLen, "instruction %d has length %d of %d bytes", typ, n, len(b))
		}
		body := b[4:n]
		b = b[n:]
		if typ < instGotoTable || typ > instMeter {
			return flow.Instructions{}, instErr(BadInstUnknownInst, "unknown instruction type %d", typ)
		}
		if seen[typ] {
			return flow.Instructions{}, instErr(BadInstUnsupInst, "instruction type %d appears twice", typ)
		}
		seen[typ] = true
		if want := instLen(typ, n); n != want {
			return flow.Instructions{}, instErr(BadInstBadLen, "instruction %d has length %d, want %d", typ, n, want)
		}
		switch typ {
		case instGotoTable:
			if body[0] >= flow.MaxTables {
				return flow.Instructions{}, instErr(BadInstBadTableID, "goto_table %d", body[0])
			}
			in.GotoTable, in.HasGoto = body[0], true
		case instWriteMetadata:
			in.MetadataMask = binary.BigEndian.Uint64(body[12:])
			in.Metadata = binary.BigEndian.Uint64(body[4:]) & in.MetadataMask
		case instWriteActions, instApplyActions:
			acts, err := DecodeActions(body[4:])
			if err != nil {
				return flow.Instructions{}, err
			}
			if typ == instWriteActions {
				in.Write, in.HasWrite = acts, true
			} else {
				in.Apply = acts
			}
		case instClearActions:
			in.ClearActions = true
		case instMeter:
			in.Meter = binary.BigEndian.Uint32(body)
			if in.Meter == 0 {
				return flow.Instructions{}, instErr(BadInstUnsupInst, "meter id 0")
			}
		}
	}
	return in, nil
}

// instLen is the length an instruction of type typ must have, n if it
// carries a variable-length list of actions.
func instLen(typ uint16, n int) int {
	switch typ {
	case instWriteMetadata:
		return 24
	case instWriteActions, instApplyActions:
		return n
	}
	return 8
}

// DecodeActions decodes a list of OpenFlow 1.3 actions, the whole of b.
// Besides the standard actions it accepts two Open vSwitch extensions:
// dec_ttl, as DecTTL, and reg_load2, as a SetField that may be masked.
func DecodeActions(b []byte) ([]flow.Action, error) {
	var acts []flow.Action
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, actErr(BadActionBadLen, "action header needs 4 bytes, have %d", len(b))
		}
		typ := binary.BigEndian.Uint16(b)
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n%8 != 0 || n > len(b) {
			return nil, actErr(BadActionBadLen, "action %d has length %d of %d bytes", typ, n, len(b))
		}
		body := b[4:n]
		b = b[n:]
		want := 8
		switch typ {
		case actOutput:
			want = 16
		case actSetField, actExperimenter:
			want = n
		}
		if n != want {
			return nil, actErr(BadActionBadLen, "action %d has length %d, want %d", typ, n, want)
		}
		var a flow.Action
		switch typ {
		case actOutput:
			port := binary.BigEndian.Uint32(body)
			if port == 0 || port == flow.PortAny || port > flow.PortMax && port < flow.PortInPort {
				return nil, actErr(BadActionBadOutPort, "output to port 0x%x", port)
			}
			a = flow.Output{Port: port, MaxLen: binary.BigEndian.Uint16(body[4:])}
		case actSetQueue:
			a = flow.SetQueue{ID: binary.BigEndian.Uint32(body)}
		case actGroup:
			a = flow.Group{ID: binary.BigEndian.Uint32(body)}
		case actSetNwTTL:
			a = flow.SetTTL{TTL: body[0]}
		case actDecNwTTL:
			a = flow.DecTTL{}
		case actPushVLAN:
			et := binary.BigEndian.Uint16(body)
			if et != flow.EthTypeVLAN && et != flow.EthTypeQinQ {
				return nil, actErr(BadActionBadArgument, "push_vlan ethertype 0x%04x", et)
			}
			a = flow.PushVLAN{EthType: et}
		case actPopVLAN:
			a = flow.PopVLAN{}
		case actPushMPLS:
			et := binary.BigEndian.Uint16(body)
			if et != flow.EthTypeMPLS && et != flow.EthTypeMPLSM {
				return nil, actErr(BadActionBadArgument, "push_mpls ethertype 0x%04x", et)
			}
			a = flow.PushMPLS{EthType: et}
		case actPopMPLS:
			a = flow.PopMPLS{EthType: binary.BigEndian.Uint16(body)}
		case actSetMPLSTTL:
			a = flow.SetMPLSTTL{TTL: body[0]}
		case actDecMPLSTTL:
			a = flow.DecMPLSTTL{}
		case actSetField:
			sf, err := decodeSetField(body, n, 4, false)
			if err != nil {
				return nil, err
			}
			a = sf
		case actExperimenter:
			if vendor := binary.BigEndian.Uint32(body); vendor != nxVendor {
				return nil, actErr(BadActionBadExperimenter, "experimenter 0x%08x", vendor)
			}
			if n < 16 {
				return nil, actErr(BadActionBadLen, "Nicira action has length %d", n)
			}
			switch sub := binary.BigEndian.Uint16(body[4:]); sub {
			case nxastRegLoad2:
				sf, err := decodeSetField(body[6:], n, 10, true)
				if err != nil {
					return nil, err
				}
				acts = append(acts, sf)
				continue
			case nxastDecTTL:
			default:
				return nil, actErr(BadActionBadExpType, "Nicira action subtype %d", sub)
			}
			if n != 16 {
				return nil, actErr(BadActionBadLen, "Nicira dec_ttl has length %d, want 16", n)
			}
			a = flow.DecTTL{}
		default:
			return nil, actErr(BadActionBadType, "unsupported action type %d", typ)
		}
		acts = append(acts, a)
	}
	return acts, nil
}

// decodeSetField decodes the OXM TLV of a set_field or reg_load2 action of
// total length n whose OXM starts hdrLen bytes in; the action is the TLV
// padded to a multiple of 8. Only reg_load2 (withMask) may carry a mask.
func decodeSetField(oxm []byte, n, hdrLen int, withMask bool) (flow.SetField, error) {
	t, _, ok := nextOXM(oxm)
	if !ok {
		return flow.SetField{}, actErr(BadActionBadSetLen, "set_field OXM overruns the action")
	}
	if want := (hdrLen + 4 + len(t.payload) + 7) &^ 7; n != want {
		return flow.SetField{}, actErr(BadActionBadSetLen, "set_field length %d, want %d", n, want)
	}
	f := oxmField(t.class, t.field)
	if f == nil || !f.Writable {
		return flow.SetField{}, actErr(BadActionBadSetType, "cannot set OXM class 0x%04x field %d", t.class, t.field)
	}
	if t.hasMask && (!f.Maskable || !withMask) {
		return flow.SetField{}, actErr(BadActionBadSetArgument, "%s cannot be masked", f.Name)
	}
	v, mask, bad := oxmValue(t, f)
	switch {
	case bad == "len":
		return flow.SetField{}, actErr(BadActionBadSetLen, "%s has length %d", f.Name, len(t.payload))
	case bad != "":
		return flow.SetField{}, actErr(BadActionBadSetArgument, "%s of %s is out of range", bad, f.Name)
	case v.And(mask) != v:
		return flow.SetField{}, actErr(BadActionBadSetArgument, "value of %s has bits outside its mask", f.Name)
	}
	return flow.SetField{Field: f.ID, Value: v, Mask: mask}, nil
}
