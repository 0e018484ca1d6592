package flowtext

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dvs-project/dvs/internal/flow"
)

// shorthand is a protocol keyword such as "tcp": a dl_type and maybe an
// nw_proto.
type shorthand struct {
	name     string
	ethType  uint16
	proto    uint8
	hasProto bool
}

// shorthands lists the protocol keywords in the order ovs-ofctl knows them.
var shorthands = []shorthand{
	{"ip", flow.EthTypeIPv4, 0, false},
	{"ipv6", flow.EthTypeIPv6, 0, false},
	{"icmp", flow.EthTypeIPv4, flow.IPProtoICMP, true},
	{"icmp6", flow.EthTypeIPv6, flow.IPProtoICMPv6, true},
	{"tcp", flow.EthTypeIPv4, flow.IPProtoTCP, true},
	{"tcp6", flow.EthTypeIPv6, flow.IPProtoTCP, true},
	{"udp", flow.EthTypeIPv4, flow.IPProtoUDP, true},
	{"udp6", flow.EthTypeIPv6, flow.IPProtoUDP, true},
	{"sctp", flow.EthTypeIPv4, flow.IPProtoSCTP, true},
	{"sctp6", flow.EthTypeIPv6, flow.IPProtoSCTP, true},
	{"arp", flow.EthTypeARP, 0, false},
	{"rarp", flow.EthTypeRARP, 0, false},
	{"mpls", flow.EthTypeMPLS, 0, false},
	{"mplsm", flow.EthTypeMPLSM, 0, false},
}

func shorthandByName(s string) (shorthand, bool) {
	for _, sh := range shorthands {
		if sh.name == s {
			return sh, true
		}
	}
	return shorthand{}, false
}

// alternates are the fields that a legacy ovs-ofctl name also stands for
// when the match's protocol calls for it: nw_src is arp_spa in an ARP match,
// icmp_type is icmpv6_type in an ICMPv6 match. They share key bits.
var alternates = map[string][]flow.FieldID{
	"nw_src":    {flow.FieldARPSPA},
	"nw_dst":    {flow.FieldARPTPA},
	"nw_proto":  {flow.FieldARPOp},
	"icmp_type": {flow.FieldICMPv6Type},
	"icmp_code": {flow.FieldICMPv6Code},
}

var (
	fEthType  = flow.FieldByID(flow.FieldEthType)
	fIPProto  = flow.FieldByID(flow.FieldIPProto)
	fVLANTCI  = flow.FieldByID(flow.FieldVLANTCI)
	fVLANPCP  = flow.FieldByID(flow.FieldVLANPCP)
	fIPDSCP   = flow.FieldByID(flow.FieldIPDSCP)
	fTCPFlags = flow.FieldByID(flow.FieldTCPFlags)
	fIPFrag   = flow.FieldByID(flow.FieldIPFrag)
)

// matchTok is one item that sets bits of a match.
type matchTok struct {
	it    item
	field *flow.Field // whose prerequisites apply; nil for none
	alts  []*flow.Field
	m     flow.Match // the bits this item sets
	l4    bool       // sets bits of the L4 header
}

// matchBuilder collects the match items of a line, then combines and checks
// them. Prerequisites may follow the fields that need them ("tp_dst=80,tcp"),
// so nothing is checked until every item is in.
type matchBuilder struct {
	o      *options
	packet bool // a packet description: values only, no masks
	toks   []matchTok
}

// errNotMatch is returned by add for an item that is not a match field.
var errNotMatch = errors.New("not a match field")

// add parses it as a match item. It returns errNotMatch, unwrapped, if the
// item names no field or protocol.
func (b *matchBuilder) add(it item) error {
	t := matchTok{it: it}
	if it.quoted {
		return errNotMatch
	}
	if sh, ok := shorthandByName(it.key); ok {
		if it.hasValue {
			return tokenError(it, "%s takes no value", it.key)
		}
		t.m.Set(fEthType, flow.ValueOf(uint64(sh.ethType)))
		if sh.hasProto {
			t.m.Set(fIPProto, flow.ValueOf(uint64(sh.proto)))
		}
		b.toks = append(b.toks, t)
		return nil
	}
	var f *flow.Field
	switch it.key {
	case "dl_vlan", "dl_vlan_pcp", "vlan_pcp", "nw_tos", "tcp_flags":
	default:
		if f = flow.FieldByName(it.key); f == nil {
			return errNotMatch
		}
	}
	if !it.hasValue || it.paren {
		return tokenError(it, "%s needs a value (%s=value)", it.key, it.key)
	}
	allowMask := !b.packet
	switch it.key {
	case "dl_vlan":
		// An 802.1Q VID with a tag present, or 0xffff for no tag.
		v, err := parseUint(it.value, 0xffff)
		if err != nil {
			return wrapError(it, err)
		}
		switch {
		case v == 0xffff:
			t.m.SetMasked(fVLANTCI, flow.ValueOf(0), flow.ValueOf(0xffff))
		case v > 4094:
			return tokenError(it, "VLAN %d is out of range (0 to 4094, or 0xffff for no tag)", v)
		default:
			t.m.SetMasked(fVLANTCI, flow.ValueOf(flow.TCIPresent|v), flow.ValueOf(flow.TCIPresent|flow.TCIVIDMask))
		}
	case "dl_vlan_pcp", "vlan_pcp":
		// As in Open vSwitch, matching a priority requires a tag.
		v, err := parseUint(it.value, 7)
		if err != nil {
			return wrapError(it, err)
		}
		t.field = fVLANPCP
		t.m.SetMasked(fVLANTCI, flow.ValueOf(flow.TCIPresent|v<<flow.TCIPCPShift), flow.ValueOf(flow.TCIPresent|flow.TCIPCPMask))
	case "nw_tos":
		// The TOS byte with the ECN bits zero: ip_dscp shifted left by 2.
		v, err := parseUint(it.value, 0xff)
		if err != nil {
			return wrapError(it, err)
		}
		if v&3 != 0 {
			return tokenError(it, "nw_tos %d has ECN bits set (use a multiple of 4, and nw_ecn for ECN)", v)
		}
		t.field = fIPDSCP
		t.m.Set(fIPDSCP, flow.ValueOf(v>>2))
	case "tcp_flags":
		v, m, err := parseTCPFlags(it.value, allowMask)
		if err != nil {
			return wrapError(it, err)
		}
		t.field, t.l4 = fTCPFlags, true
		t.m.SetMasked(fTCPFlags, flow.ValueOf(uint64(v)), flow.ValueOf(uint64(m)))
	default:
		t.field = f
		t.l4 = f.ID >= flow.FieldTpSrc && f.ID <= flow.FieldNDTLL
		for _, id := range alternates[it.key] {
			t.alts = append(t.alts, flow.FieldByID(id))
		}
		if f.ID == flow.FieldIPFrag {
			v, m, err := parseFrag(it.value, b.packet)
			if err != nil {
				return wrapError(it, err)
			}
			t.m.SetMasked(f, flow.ValueOf(uint64(v)), flow.ValueOf(uint64(m)))
			break
		}
		v, m, err := parseFieldValue(f, it.value, allowMask, b.o)
		if err != nil {
			if f.Format == flow.FormatPort {
				return portError(it, err)
			}
			return wrapError(it, err)
		}
		if b.packet && (f.ID == flow.FieldVLANTCI || f.ID == flow.FieldVLANVID) {
			tci := v.U64()
			if tci != 0 && tci&flow.TCIPresent == 0 {
				return tokenError(it, "a tagged packet's TCI has the 0x1000 (present) bit set")
			}
		}
		t.m.SetMasked(f, v, m)
	}
	b.toks = append(b.toks, t)
	return nil
}

// finish combines the items into a match and checks it: no two items may
// disagree about a bit, and every field's prerequisites must be met.
func (b *matchBuilder) finish(whole string) (flow.Match, error) {
	var acc flow.Match
	for i := range b.toks {
		t := &b.toks[i]
		if overlapConflict(&acc, &t.m) {
			for j := range b.toks[:i] {
				if overlapConflict(&b.toks[j].m, &t.m) {
					return flow.Match{}, tokenError(t.it, "conflicts with %q", b.toks[j].it.text)
				}
			}
		}
		mergeMatch(&acc, &t.m)
	}
	for i := range b.toks {
		t := &b.toks[i]
		if t.field == nil {
			continue
		}
		ok := acc.PrereqsMet(t.field)
		for _, a := range t.alts {
			ok = ok || acc.PrereqsMet(a)
		}
		if !ok {
			return flow.Match{}, &Error{Token: t.it.text, Err: prereqError(t.it.key, t.field, t.alts, &acc)}
		}
	}
	if b.packet && acc.Key.NwFrag&flow.FragLater != 0 {
		for _, t := range b.toks {
			if t.l4 {
				return flow.Match{}, tokenError(t.it, "a later fragment has no L4 header")
			}
		}
	}
	// A last check of the whole match; the checks above name the item at
	// fault, so this should never fail.
	if err := acc.Validate(); err != nil {
		return flow.Match{}, &Error{Token: whole, Err: err}
	}
	return acc, nil
}

func overlapConflict(a, b *flow.Match) bool {
	ak, am, bk, bm := a.Key.Words(), a.Mask.Words(), b.Key.Words(), b.Mask.Words()
	for i := range ak {
		if (ak[i]^bk[i])&am[i]&bm[i] != 0 {
			return true
		}
	}
	return false
}

func mergeMatch(a, b *flow.Match) {
	ak, am, bk, bm := a.Key.Words(), a.Mask.Words(), b.Key.Words(), b.Mask.Words()
	for i := range ak {
		ak[i] |= bk[i]
		am[i] |= bm[i]
	}
}

// prereqError explains what a field given as name needs, naming the most
// specific missing condition (for tp_dst, the protocol rather than the
// ethertype) and the keywords that would supply it.
func prereqError(name string, f *flow.Field, alts []*flow.Field, m *flow.Match) error {
	p := f.Prereq
	for _, a := range alts {
		p.EthTypes = union(p.EthTypes, a.Prereq.EthTypes)
		p.Protos = union(p.Protos, a.Prereq.Protos)
		p.ICMPv6Type = union(p.ICMPv6Type, a.Prereq.ICMPv6Type)
	}
	msg := missingPrereq(name, &p, m)
	if msg == "" {
		msg = missingPrereq(name, &f.Prereq, m)
	}
	if msg == "" {
		msg = name + " has unmet prerequisites"
	}
	return errorf(flow.ErrPrereq, "%s", msg)
}

func union[T comparable](a, b []T) []T {
	out := append([]T(nil), a...)
	for _, x := range b {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func missingPrereq(name string, p *flow.Prereq, m *flow.Match) string {
	if len(p.ICMPv6Type) > 0 && (m.Mask.TpSrc&0xff != 0xff || !contains(p.ICMPv6Type, uint8(m.Key.TpSrc))) {
		var nums, hints []string
		for _, t := range p.ICMPv6Type {
			nums = append(nums, fmt.Sprint(t))
			hints = append(hints, fmt.Sprintf("icmp6,icmp_type=%d", t))
		}
		return fmt.Sprintf("%s requires icmp_type=%s (add %s)", name, strings.Join(nums, "|"), joinOr(hints))
	}
	if len(p.Protos) > 0 && (m.Mask.NwProto != 0xff || !contains(p.Protos, m.Key.NwProto)) {
		v6 := (len(p.EthTypes) == 1 && p.EthTypes[0] == flow.EthTypeIPv6) ||
			(m.Mask.EthType == 0xffff && m.Key.EthType == flow.EthTypeIPv6)
		var nums, hints []string
		for _, proto := range p.Protos {
			nums = append(nums, fmt.Sprint(proto))
			hints = append(hints, protoKeyword(proto, v6))
		}
		return fmt.Sprintf("%s requires nw_proto=%s (add %s)", name, strings.Join(nums, "|"), joinOr(hints))
	}
	if len(p.EthTypes) > 0 && (m.Mask.EthType != 0xffff || !contains(p.EthTypes, m.Key.EthType)) {
		var nums, hints []string
		for _, t := range p.EthTypes {
			nums = append(nums, fmt.Sprintf("0x%04x", t))
			for _, sh := range shorthands {
				if sh.ethType == t && !sh.hasProto {
					hints = append(hints, sh.name)
					break
				}
			}
		}
		return fmt.Sprintf("%s requires dl_type=%s (add %s)", name, strings.Join(nums, "|"), joinOr(hints))
	}
	if p.VLAN && (m.Mask.VLANs[0].TCI&flow.TCIPresent == 0 || m.Key.VLANs[0].TCI&flow.TCIPresent == 0) {
		return fmt.Sprintf("%s requires a VLAN tag (add dl_vlan=N or vlan_tci=0x1000/0x1000)", name)
	}
	return ""
}

func protoKeyword(proto uint8, v6 bool) string {
	for _, sh := range shorthands {
		if sh.hasProto && sh.proto == proto && (sh.ethType == flow.EthTypeIPv6) == v6 {
			return sh.name
		}
	}
	for _, sh := range shorthands {
		if sh.hasProto && sh.proto == proto {
			return sh.name
		}
	}
	return fmt.Sprintf("nw_proto=%d", proto)
}

// joinOr joins words as "a", "a or b", "a, b or c".
func joinOr(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
