package openflow

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"

	"github.com/dvs-project/dvs/internal/flow"
)

// OFPMT_OXM, the only match type OpenFlow 1.3 defines besides the obsolete
// standard match.
const matchTypeOXM = 1

// OFPVID_PRESENT: the VLAN_VID bit saying a tag is present. Our TCI keeps
// the same bit (flow.TCIPresent) so VLAN_VID maps to its low 13 bits as is.
const vidPresent = 0x1000

type oxmID struct {
	class uint16
	field uint8
}

// oxmFields maps an OXM id to the registry field with that id.
var oxmFields = map[oxmID]*flow.Field{}

// oxmTable is oxmFields as arrays, one per class, for decoding: a map
// lookup per OXM was a fifth of decoding a flow_mod.
var oxmTable [3][128]*flow.Field

// oxmField returns the registry field with OXM id (class, field), or nil.
func oxmField(class uint16, field uint8) *flow.Field {
	i := oxmClassIndex(class)
	if i < 0 {
		return nil
	}
	return oxmTable[i][field&0x7f]
}

func oxmClassIndex(class uint16) int {
	switch class {
	case flow.OXMClassOFB:
		return 0
	case flow.OXMClassNXM0:
		return 1
	case flow.OXMClassNXM1:
		return 2
	}
	return -1
}

func init() {
	fs := flow.Fields()
	for i := range fs {
		f := &fs[i]
		switch f.OXMClass {
		case flow.OXMClassOFB, flow.OXMClassNXM0, flow.OXMClassNXM1:
		default:
			continue
		}
		id := oxmID{f.OXMClass, f.OXMField}
		if _, dup := oxmFields[id]; !dup {
			oxmFields[id] = f
			oxmTable[oxmClassIndex(f.OXMClass)][f.OXMField&0x7f] = f
		}
	}
}

// wireLen is the number of bytes a field's value takes in an OXM TLV; a few
// fields are narrower in our key than on the wire.
func wireLen(f *flow.Field) int {
	switch f.ID {
	case flow.FieldARPOp:
		return 2
	case flow.FieldIPv6Label, flow.FieldMPLSLabel:
		return 4
	}
	return (int(f.Bits) + 7) / 8
}

// appendOXM appends one OXM TLV for f.
func appendOXM(b []byte, f *flow.Field, v, mask flow.Value, hasMask bool) []byte {
	n := wireLen(f)
	plen := n
	hm := uint32(0)
	if hasMask {
		plen, hm = 2*n, 1
	}
	h := uint32(f.OXMClass)<<16 | uint32(f.OXMField)<<9 | hm<<8 | uint32(plen)
	b = binary.BigEndian.AppendUint32(b, h)
	b = append(b, v[16-n:]...)
	if hasMask {
		b = append(b, mask[16-n:]...)
	}
	return b
}

// EncodeMatch returns m as an ofp_match of type OFPMT_OXM, padded to a
// multiple of 8 bytes. Where several fields share key bits it writes the one
// whose prerequisites m meets (tcp_src rather than udp_src or icmp_type).
// m should satisfy m.Validate; bits that no OXM field can express are left
// out.
func EncodeMatch(m *flow.Match) []byte { return AppendMatch(nil, m) }

// AppendMatch appends m's ofp_match to b, as EncodeMatch does.
func AppendMatch(b []byte, m *flow.Match) []byte {
	start := len(b)
	b = append(b, 0, matchTypeOXM, 0, 0)
	rest := m.Mask
	fs := flow.Fields()
	for i := range fs {
		f := &fs[i]
		switch {
		case f.OXMClass != flow.OXMClassOFB && f.OXMClass != flow.OXMClassNXM0 && f.OXMClass != flow.OXMClassNXM1:
			continue
		case f.ID == flow.FieldVLANVID || f.ID == flow.FieldVLANPCP:
			continue // written with vlan_tci below
		case f.ID == flow.FieldVLANTCI:
			b = appendTCI(b, m)
			continue
		}
		mask := f.GetMask(&rest)
		if mask == (flow.Value{}) || !m.PrereqsMet(f) {
			continue
		}
		exact := mask == f.Ones()
		if !f.Maskable && !exact {
			continue
		}
		b = appendOXM(b, f, f.Get(&m.Key).And(mask), mask, !exact)
		f.SetMasked((*flow.Key)(&rest), flow.Value{}, f.Ones())
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	for (len(b)-start)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendTCI writes the outer VLAN tag match as VLAN_VID (and VLAN_PCP) when
// OpenFlow 1.3 can say it that way, else as NXM_OF_VLAN_TCI.
func appendTCI(b []byte, m *flow.Match) []byte {
	tciF := flow.FieldByID(flow.FieldVLANTCI)
	vt, mt := m.Get(tciF)
	tv, tm := uint16(vt.U64()), uint16(mt.U64())
	const vidBits = flow.TCIVIDMask | vidPresent
	switch {
	case tm == 0:
		return b
	case tm&^vidBits == 0:
		return appendOXM(b, flow.FieldByID(flow.FieldVLANVID), flow.ValueOf(uint64(tv)), flow.ValueOf(uint64(tm)), tm != vidBits)
	case tm&flow.TCIPCPMask == flow.TCIPCPMask && tm&vidPresent != 0 && tv&vidPresent != 0:
		vm := tm & vidBits
		b = appendOXM(b, flow.FieldByID(flow.FieldVLANVID), flow.ValueOf(uint64(tv&vm)), flow.ValueOf(uint64(vm)), vm != vidBits)
		return appendOXM(b, flow.FieldByID(flow.FieldVLANPCP), flow.ValueOf(uint64(tv>>flow.TCIPCPShift)), flow.Value{}, false)
	}
	return appendOXM(b, tciF, vt, mt, tm != 0xffff)
}

func matchErr(code uint16, format string, args ...any) *Error {
	return errorf(ETBadMatch, code, format, args...)
}

// oxmTLV is one decoded OXM header and its payload.
type oxmTLV struct {
	class   uint16
	field   uint8
	hasMask bool
	payload []byte
}

// nextOXM splits the first OXM TLV off b. It reports a short TLV as ok=false.
func nextOXM(b []byte) (t oxmTLV, rest []byte, ok bool) {
	if len(b) < 4 {
		return t, nil, false
	}
	h := binary.BigEndian.Uint32(b)
	n := int(h & 0xff)
	if 4+n > len(b) {
		return t, nil, false
	}
	t = oxmTLV{class: uint16(h >> 16), field: uint8(h>>9) & 0x7f, hasMask: h&0x100 != 0, payload: b[4 : 4+n]}
	return t, b[4+n:], true
}

// oxmValue checks t's length against f and returns its value and mask (all
// of f's bits when t has none). A non-empty kind says what is wrong: "len",
// "value" or "mask".
func oxmValue(t oxmTLV, f *flow.Field) (v, mask flow.Value, kind string) {
	n := wireLen(f)
	want := n
	if t.hasMask {
		want = 2 * n
	}
	if len(t.payload) != want {
		return v, mask, "len"
	}
	ones := f.Ones()
	v = flow.ValueBytes(t.payload[:n])
	mask = ones
	if t.hasMask {
		mask = flow.ValueBytes(t.payload[n:])
	}
	for i := range v {
		if v[i]&^ones[i] != 0 {
			return v, mask, "value"
		}
		if mask[i]&^ones[i] != 0 {
			return v, mask, "mask"
		}
	}
	return v, mask, ""
}

// setUintOXM checks OXM t of field f, which has IsUint, and sets it in m:
// what oxmValue, the checks after it and Match.SetMasked do, with integers.
func setUintOXM(m *flow.Match, t oxmTLV, f *flow.Field) error {
	n := wireLen(f)
	want := n
	if t.hasMask {
		want = 2 * n
	}
	if len(t.payload) != want || n > 8 {
		return matchErr(BadMatchBadLen, "%s has length %d", f.Name, len(t.payload))
	}
	ones := f.OnesUint()
	v, mask := beUint(t.payload[:n]), ones
	if t.hasMask {
		mask = beUint(t.payload[n:])
	}
	// oxmValue reports the problem in the most significant byte first.
	if badV, badM := v&^ones, mask&^ones; badV|badM != 0 {
		if bits.LeadingZeros64(badV)/8 <= bits.LeadingZeros64(badM)/8 {
			return matchErr(BadMatchBadValue, "value of %s is out of range", f.Name)
		}
		return matchErr(BadMatchBadMask, "mask of %s is out of range", f.Name)
	}
	if v&mask != v {
		return matchErr(BadMatchBadWildcards, "value of %s has bits outside its mask", f.Name)
	}
	if f.GetUint((*flow.Key)(&m.Mask))&mask != 0 {
		return matchErr(BadMatchDupField, "%s overlaps a field already matched", f.Name)
	}
	m.SetMaskedUint(f, v, mask)
	return nil
}

// beUint returns big-endian b, at most 8 bytes, as an integer.
func beUint(b []byte) uint64 {
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}

// DecodeMatch decodes the ofp_match at the start of b and returns it with
// the number of bytes it took, padding included. Errors are *Error values
// with OFPET_BAD_MATCH codes. The match is checked with flow.Match.Validate,
// so prerequisites may come in any order.
func DecodeMatch(b []byte) (flow.Match, int, error) { return decodeMatch(b, true) }

// decodeMatch is DecodeMatch; with fast, a field that fits a uint64 (most
// do) is checked and set as an integer, which decides exactly as the
// general path through flow.Value does (a fuzz test holds them equal), in
// a fraction of the time: decoding matches is most of what installing
// flows costs.
func decodeMatch(b []byte, fast bool) (flow.Match, int, error) {
	var m flow.Match
	if len(b) < 4 {
		return m, 0, matchErr(BadMatchBadLen, "match header needs 4 bytes, have %d", len(b))
	}
	if typ := binary.BigEndian.Uint16(b); typ != matchTypeOXM {
		return m, 0, matchErr(BadMatchBadType, "match type %d is not OXM", typ)
	}
	length := int(binary.BigEndian.Uint16(b[2:]))
	padded := (length + 7) &^ 7
	if length < 4 || padded > len(b) {
		return m, 0, matchErr(BadMatchBadLen, "match length %d does not fit in %d bytes", length, len(b))
	}
	body := b[4:length]
	var seen [flow.NumFields]bool
	var order [flow.NumFields]flow.FieldID // the fields seen, in order
	nseen := 0
	for len(body) > 0 {
		t, rest, ok := nextOXM(body)
		if !ok {
			return m, 0, matchErr(BadMatchBadLen, "OXM TLV overruns the match")
		}
		body = rest
		f := oxmField(t.class, t.field)
		if f == nil {
			return m, 0, matchErr(BadMatchBadField, "unknown OXM class 0x%04x field %d", t.class, t.field)
		}
		if seen[f.ID] {
			return m, 0, matchErr(BadMatchDupField, "%s appears twice", f.Name)
		}
		seen[f.ID] = true
		order[nseen] = f.ID
		nseen++
		if t.hasMask && !f.Maskable {
			return m, 0, matchErr(BadMatchBadMask, "%s cannot be masked", f.Name)
		}
		if fast && f.IsUint() {
			if err := setUintOXM(&m, t, f); err != nil {
				return m, 0, err
			}
			continue
		}
		v, mask, bad := oxmValue(t, f)
		switch bad {
		case "len":
			return m, 0, matchErr(BadMatchBadLen, "%s has length %d", f.Name, len(t.payload))
		case "value":
			return m, 0, matchErr(BadMatchBadValue, "value of %s is out of range", f.Name)
		case "mask":
			return m, 0, matchErr(BadMatchBadMask, "mask of %s is out of range", f.Name)
		}
		if v.And(mask) != v {
			return m, 0, matchErr(BadMatchBadWildcards, "value of %s has bits outside its mask", f.Name)
		}
		if old := f.GetMask(&m.Mask); old.And(mask) != (flow.Value{}) {
			return m, 0, matchErr(BadMatchDupField, "%s overlaps a field already matched", f.Name)
		}
		m.SetMasked(f, v, mask)
	}
	if err := m.Validate(); err != nil {
		code := BadMatchBadPrereq
		if !errors.Is(err, flow.ErrPrereq) {
			code = BadMatchBadMask
		}
		return flow.Match{}, 0, matchErr(code, "%v", err)
	}
	// Validate accepts bits that any field sharing them could explain
	// (vlan_tci has no prerequisites); each OXM given must have its own.
	if fast {
		slices.Sort(order[:nseen]) // as the general path below reports them
	} else {
		nseen = 0
		for id, ok := range seen {
			if ok {
				order[nseen] = flow.FieldID(id)
				nseen++
			}
		}
	}
	for _, id := range order[:nseen] {
		if err := m.CheckPrereq(flow.FieldByID(id)); err != nil {
			return flow.Match{}, 0, matchErr(BadMatchBadPrereq, "%v", err)
		}
	}
	return m, padded, nil
}
