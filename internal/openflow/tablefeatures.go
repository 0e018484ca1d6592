package openflow

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/flow"
)

// ETTableFeaturesFailed is OFPET_TABLE_FEATURES_FAILED.
const ETTableFeaturesFailed uint16 = 13

// OFPET_TABLE_FEATURES_FAILED codes.
const (
	TableFeaturesFailedBadTable    uint16 = 0
	TableFeaturesFailedBadMetadata uint16 = 1
	TableFeaturesFailedBadType     uint16 = 2
	TableFeaturesFailedBadLen      uint16 = 3
	TableFeaturesFailedBadArgument uint16 = 4
	TableFeaturesFailedEPerm       uint16 = 5
)

// TableFeaturesErr returns an OFPET_TABLE_FEATURES_FAILED error; the switch
// uses it to refuse a table features request that decoded cleanly.
func TableFeaturesErr(code uint16, format string, args ...any) *Error {
	return errorf(ETTableFeaturesFailed, code, format, args...)
}

// Table feature property types (ofp_table_feature_prop_type).
const (
	tfpInstructions      = 0
	tfpInstructionsMiss  = 1
	tfpNextTables        = 2
	tfpNextTablesMiss    = 3
	tfpWriteActions      = 4
	tfpWriteActionsMiss  = 5
	tfpApplyActions      = 6
	tfpApplyActionsMiss  = 7
	tfpMatch             = 8
	tfpWildcards         = 10
	tfpWriteSetField     = 12
	tfpWriteSetFieldMiss = 13
	tfpApplySetField     = 14
	tfpApplySetFieldMiss = 15
	tfpExperimenter      = 0xfffe
	tfpExperimenterMiss  = 0xffff
	tfpCount             = 16 // property types below this are tracked
)

// tfpRequired are the properties every ofp_table_features must carry;
// Open vSwitch refuses features without them.
const tfpRequired = 1<<tfpInstructions | 1<<tfpNextTables | 1<<tfpWriteActions | 1<<tfpApplyActions |
	1<<tfpMatch | 1<<tfpWildcards | 1<<tfpWriteSetField | 1<<tfpApplySetField

// TableFeatures is one ofp_table_features: what a table can match, which
// instructions and actions it takes and where it may go next. The lists
// hold instruction types, action types and OXM headers (class, field,
// hasmask and payload length; in Match, hasmask says the field takes an
// arbitrary mask). The _MISS lists apply to the table-miss
// rule; nil means the property is absent, so the miss rule has the same
// features as the others. Experimenter instructions, actions and OXMs and
// experimenter properties are skipped when decoding: this package cannot
// express them.
type TableFeatures struct {
	ID                           uint8
	Name                         string // at most 32 bytes on the wire; longer names are cut
	MetadataMatch, MetadataWrite uint64
	Config                       uint32
	MaxEntries                   uint32

	Instructions                 []uint16
	NextTables                   []uint8
	WriteActions, ApplyActions   []uint16
	Match, Wildcards             []uint32
	WriteSetField, ApplySetField []uint32

	InstructionsMiss                   []uint16
	NextTablesMiss                     []uint8
	WriteActionsMiss, ApplyActionsMiss []uint16
	WriteSetFieldMiss                  []uint32
	ApplySetFieldMiss                  []uint32
}

const (
	tableFeaturesLen = 64
	tableNameLen     = 32
)

// Append appends t's wire form to b. It fails if the entry exceeds 65535
// bytes.
func (t *TableFeatures) Append(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, t.ID, 0, 0, 0, 0, 0)
	b = appendString(b, t.Name, tableNameLen)
	b = binary.BigEndian.AppendUint64(b, t.MetadataMatch)
	b = binary.BigEndian.AppendUint64(b, t.MetadataWrite)
	b = binary.BigEndian.AppendUint32(b, t.Config)
	b = binary.BigEndian.AppendUint32(b, t.MaxEntries)

	b = appendTFP16(b, tfpInstructions, t.Instructions, true)
	b = appendTFP16(b, tfpInstructionsMiss, t.InstructionsMiss, false)
	b = appendTFPTables(b, tfpNextTables, t.NextTables, true)
	b = appendTFPTables(b, tfpNextTablesMiss, t.NextTablesMiss, false)
	b = appendTFP16(b, tfpWriteActions, t.WriteActions, true)
	b = appendTFP16(b, tfpWriteActionsMiss, t.WriteActionsMiss, false)
	b = appendTFP16(b, tfpApplyActions, t.ApplyActions, true)
	b = appendTFP16(b, tfpApplyActionsMiss, t.ApplyActionsMiss, false)
	b = appendTFP32(b, tfpMatch, t.Match, true)
	b = appendTFP32(b, tfpWildcards, t.Wildcards, true)
	b = appendTFP32(b, tfpWriteSetField, t.WriteSetField, true)
	b = appendTFP32(b, tfpWriteSetFieldMiss, t.WriteSetFieldMiss, false)
	b = appendTFP32(b, tfpApplySetField, t.ApplySetField, true)
	b = appendTFP32(b, tfpApplySetFieldMiss, t.ApplySetFieldMiss, false)

	n := len(b) - start
	if n > 0xffff {
		return nil, multipartErr("table features entry of %d bytes", n)
	}
	binary.BigEndian.PutUint16(b[start:], uint16(n))
	return b, nil
}

// AppendTableFeatures appends the entries' wire form to b.
func AppendTableFeatures(b []byte, tables []TableFeatures) ([]byte, error) {
	for i := range tables {
		var err error
		if b, err = tables[i].Append(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// beginTFP starts a property; endTFP sets its length and pads it.
func beginTFP(b []byte, typ uint16) ([]byte, int) {
	return be16(b, typ, 0), len(b)
}

func endTFP(b []byte, start int) []byte {
	n := len(b) - start
	binary.BigEndian.PutUint16(b[start+2:], uint16(n))
	return append(b, make([]byte, pad8(n))...)
}

// appendTFP16 appends a property listing instruction or action ids, each
// a type and a length of 4. Optional properties are left out when nil.
func appendTFP16(b []byte, typ uint16, ids []uint16, required bool) []byte {
	if ids == nil && !required {
		return b
	}
	b, start := beginTFP(b, typ)
	for _, id := range ids {
		b = be16(b, id, 4)
	}
	return endTFP(b, start)
}

func appendTFPTables(b []byte, typ uint16, ids []uint8, required bool) []byte {
	if ids == nil && !required {
		return b
	}
	b, start := beginTFP(b, typ)
	b = append(b, ids...)
	return endTFP(b, start)
}

func appendTFP32(b []byte, typ uint16, ids []uint32, required bool) []byte {
	if ids == nil && !required {
		return b
	}
	b, start := beginTFP(b, typ)
	for _, id := range ids {
		b = binary.BigEndian.AppendUint32(b, id)
	}
	return endTFP(b, start)
}

func tfErr(code uint16, format string, args ...any) *Error {
	return errorf(ETTableFeaturesFailed, code, format, args...)
}

// DecodeTableFeatures decodes an OFPMP_TABLE_FEATURES request or reply
// body. An empty request body asks for the current features and decodes
// to no entries; a non-empty one asks to set them. An entry whose length
// lies is OFPBRC_BAD_LEN; problems inside an entry are
// OFPET_TABLE_FEATURES_FAILED: BAD_LEN for properties and ids that
// overrun, BAD_TYPE for an unknown property, BAD_ARGUMENT for a repeated
// or missing required property.
func DecodeTableFeatures(body []byte) ([]TableFeatures, error) {
	var tables []TableFeatures
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, multipartErr("table features entry of %d bytes", len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < tableFeaturesLen || n > len(body) {
			return nil, multipartErr("table features entry length %d of %d bytes", n, len(body))
		}
		t, err := decodeTableFeatures(body[:n])
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
		body = body[n:]
	}
	return tables, nil
}

func decodeTableFeatures(e []byte) (TableFeatures, error) {
	t := TableFeatures{
		ID:            e[2],
		Name:          fixedString(e[8:40]),
		MetadataMatch: binary.BigEndian.Uint64(e[40:]),
		MetadataWrite: binary.BigEndian.Uint64(e[48:]),
		Config:        binary.BigEndian.Uint32(e[56:]),
		MaxEntries:    binary.BigEndian.Uint32(e[60:]),
	}
	var seen uint32
	for p := e[tableFeaturesLen:]; len(p) > 0; {
		if len(p) < 4 {
			return TableFeatures{}, tfErr(TableFeaturesFailedBadLen, "table %d: property header needs 4 bytes, have %d", t.ID, len(p))
		}
		typ, n := binary.BigEndian.Uint16(p), int(binary.BigEndian.Uint16(p[2:]))
		if n < 4 || n > len(p) {
			return TableFeatures{}, tfErr(TableFeaturesFailedBadLen, "table %d: property %d has length %d of %d bytes", t.ID, typ, n, len(p))
		}
		data := p[4:n]
		// Properties are padded to 8 bytes; tolerate a last one whose
		// padding is missing.
		if n+pad8(n) <= len(p) {
			n += pad8(n)
		} else {
			n = len(p)
		}
		p = p[n:]
		if typ == tfpExperimenter || typ == tfpExperimenterMiss {
			if len(data) < 8 {
				return TableFeatures{}, tfErr(TableFeaturesFailedBadLen, "table %d: experimenter property of %d bytes", t.ID, len(data)+4)
			}
			continue
		}
		if typ >= tfpCount || typ == 9 || typ == 11 {
			return TableFeatures{}, tfErr(TableFeaturesFailedBadType, "table %d: property type %d", t.ID, typ)
		}
		if seen&(1<<typ) != 0 {
			return TableFeatures{}, tfErr(TableFeaturesFailedBadArgument, "table %d: property %d repeated", t.ID, typ)
		}
		seen |= 1 << typ
		var err error
		switch typ {
		case tfpInstructions:
			t.Instructions, err = decodeTFPIDs(data, "instruction")
		case tfpInstructionsMiss:
			t.InstructionsMiss, err = decodeTFPIDs(data, "instruction")
		case tfpNextTables:
			t.NextTables = append([]uint8{}, data...)
		case tfpNextTablesMiss:
			t.NextTablesMiss = append([]uint8{}, data...)
		case tfpWriteActions:
			t.WriteActions, err = decodeTFPIDs(data, "action")
		case tfpWriteActionsMiss:
			t.WriteActionsMiss, err = decodeTFPIDs(data, "action")
		case tfpApplyActions:
			t.ApplyActions, err = decodeTFPIDs(data, "action")
		case tfpApplyActionsMiss:
			t.ApplyActionsMiss, err = decodeTFPIDs(data, "action")
		case tfpMatch:
			t.Match, err = decodeTFPOXMs(data)
		case tfpWildcards:
			t.Wildcards, err = decodeTFPOXMs(data)
		case tfpWriteSetField:
			t.WriteSetField, err = decodeTFPOXMs(data)
		case tfpWriteSetFieldMiss:
			t.WriteSetFieldMiss, err = decodeTFPOXMs(data)
		case tfpApplySetField:
			t.ApplySetField, err = decodeTFPOXMs(data)
		case tfpApplySetFieldMiss:
			t.ApplySetFieldMiss, err = decodeTFPOXMs(data)
		}
		if err != nil {
			e := err.(*Error)
			return TableFeatures{}, tfErr(e.Code, "table %d: %s", t.ID, e.Msg)
		}
	}
	if missing := tfpRequired &^ seen; missing != 0 {
		return TableFeatures{}, tfErr(TableFeaturesFailedBadArgument, "table %d: required properties missing (bitmap %#x)", t.ID, missing)
	}
	return t, nil
}

// decodeTFPIDs decodes a list of instruction or action ids: a type and a
// length, 4 for a standard one, more for an experimenter one (skipped).
func decodeTFPIDs(b []byte, what string) ([]uint16, error) {
	ids := make([]uint16, 0, len(b)/4)
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, tfErr(TableFeaturesFailedBadLen, "%s id needs 4 bytes, have %d", what, len(b))
		}
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if typ == 0xffff {
			if n < 8 || n > len(b) {
				return nil, tfErr(TableFeaturesFailedBadLen, "experimenter %s id has length %d of %d bytes", what, n, len(b))
			}
			b = b[n:]
			continue
		}
		if n != 4 {
			return nil, tfErr(TableFeaturesFailedBadLen, "%s id %d has length %d, want 4", what, typ, n)
		}
		ids = append(ids, typ)
		b = b[4:]
	}
	return ids, nil
}

// decodeTFPOXMs decodes a list of OXM headers; an experimenter one (class
// 0xffff) is followed by its experimenter id and skipped.
func decodeTFPOXMs(b []byte) ([]uint32, error) {
	ids := make([]uint32, 0, len(b)/4)
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, tfErr(TableFeaturesFailedBadLen, "OXM id needs 4 bytes, have %d", len(b))
		}
		h := binary.BigEndian.Uint32(b)
		if h>>16 == oxmClassExperimenter {
			if len(b) < 8 {
				return nil, tfErr(TableFeaturesFailedBadLen, "experimenter OXM id needs 8 bytes, have %d", len(b))
			}
			b = b[8:]
			continue
		}
		ids = append(ids, h)
		b = b[4:]
	}
	return ids, nil
}

const oxmClassExperimenter = 0xffff

// OXMHeader returns the OXM header naming f, as table features list
// fields: with hasmask set and a doubled length when masked. It returns 0
// for a field OpenFlow cannot name (tp_src, which is tcp_src, udp_src or
// sctp_src).
func OXMHeader(f *flow.Field, masked bool) uint32 {
	switch f.OXMClass {
	case flow.OXMClassOFB, flow.OXMClassNXM0, flow.OXMClassNXM1:
	default:
		return 0
	}
	h := uint32(f.OXMClass)<<16 | uint32(f.OXMField)<<9 | uint32(wireLen(f))
	if masked {
		h = h&^0xff | 1<<8 | uint32(2*wireLen(f))
	}
	return h
}

// OXMField returns the registry field an OXM header names (hasmask and
// length are ignored), or nil.
func OXMField(h uint32) *flow.Field {
	return oxmFields[oxmID{uint16(h >> 16), uint8(h>>9) & 0x7f}]
}

// MatchOXMHeaders returns the OXM header of every field the flow key can
// match, in registry order, with hasmask set for those that take an
// arbitrary mask: the list for the match property.
func MatchOXMHeaders() []uint32 { return oxmHeaders(false, true) }

// WildcardOXMHeaders returns the OXM header of every field the flow key can
// match, unmasked: the list for the wildcards property, since any field may
// be left out of a match.
func WildcardOXMHeaders() []uint32 { return oxmHeaders(false, false) }

// SetFieldOXMHeaders returns the OXM header of every field set_field can
// write, in registry order.
func SetFieldOXMHeaders() []uint32 { return oxmHeaders(true, false) }

func oxmHeaders(writable, masks bool) []uint32 {
	var hs []uint32
	fs := flow.Fields()
	for i := range fs {
		f := &fs[i]
		if writable && !f.Writable {
			continue
		}
		if h := OXMHeader(f, masks && f.Maskable); h != 0 && oxmFields[oxmID{f.OXMClass, f.OXMField}] == f {
			hs = append(hs, h)
		}
	}
	return hs
}

// Instruction and action types this package encodes and decodes, for the
// table features a switch built on it advertises.
var (
	codecInstructions = []uint16{instGotoTable, instWriteMetadata, instWriteActions, instApplyActions, instClearActions, instMeter}
	codecActions      = []uint16{actOutput, actSetMPLSTTL, actDecMPLSTTL, actPushVLAN, actPopVLAN, actPushMPLS, actPopMPLS, actSetQueue, actGroup, actSetNwTTL, actDecNwTTL, actSetField}
)

// NewTableFeatures returns the features of a table that takes every
// instruction, action and field this package can decode, can go to the
// tables in next, and holds up to maxEntries rules. The switch trims what
// its pipeline does not allow.
func NewTableFeatures(id uint8, name string, maxEntries uint32, next []uint8) TableFeatures {
	set := SetFieldOXMHeaders()
	return TableFeatures{
		ID:            id,
		Name:          name,
		MetadataMatch: ^uint64(0),
		MetadataWrite: ^uint64(0),
		MaxEntries:    maxEntries,
		Instructions:  append([]uint16{}, codecInstructions...),
		NextTables:    append([]uint8{}, next...),
		WriteActions:  append([]uint16{}, codecActions...),
		ApplyActions:  append([]uint16{}, codecActions...),
		Match:         MatchOXMHeaders(),
		Wildcards:     WildcardOXMHeaders(),
		WriteSetField: set,
		ApplySetField: append([]uint32{}, set...),
	}
}
