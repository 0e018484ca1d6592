package flowtext

import (
	"errors"
	"strings"

	"github.com/dvs-project/dvs/internal/flow"
)

// DefaultPriority is the priority of a rule that does not give one, as in
// OpenFlow; dump-flows omits it.
const DefaultPriority = 0x8000

// GroupAny is the out_group of a filter that does not restrict groups
// (OpenFlow's OFPG_ANY).
const GroupAny uint32 = 0xffffffff

// FlowSpec selects rules, as the arguments of del-flows and dump-flows do:
// a match plus the rule attributes those commands filter on.
type FlowSpec struct {
	Table       uint8 // flow.TableAll if not given
	Priority    uint16
	HasPriority bool // priority was given (for strict commands)
	Cookie      uint64
	CookieMask  uint64 // zero: any cookie
	OutPort     uint32 // flow.PortAny if not given
	OutGroup    uint32 // GroupAny if not given
	Match       flow.Match
}

var ruleFlags = []struct {
	name string
	flag flow.RuleFlags
}{
	{"send_flow_rem", flow.FlagSendFlowRem},
	{"check_overlap", flow.FlagCheckOverlap},
	{"reset_counts", flow.FlagResetCounts},
	{"no_packet_counts", flow.FlagNoPktCounts},
	{"no_byte_counts", flow.FlagNoByteCounts},
}

// statsKeys are printed by dump-flows and ignored when read back, as
// ovs-ofctl does, so that its output can be fed to add-flow.
var statsKeys = []string{"duration", "n_packets", "n_bytes", "idle_age", "hard_age"}

type lineKind int

const (
	kindRule lineKind = iota
	kindSpec
	kindMatch
	kindPacket
)

// line is the result of reading the part of a line before "actions=".
type line struct {
	rule    flow.Rule
	spec    FlowSpec
	match   flow.Match
	actions *item
}

// parseLine reads s as a rule, filter or packet description.
func parseLine(s string, kind lineKind, o *options) (*line, error) {
	l := &line{}
	l.rule.Priority = DefaultPriority
	l.spec = FlowSpec{Table: flow.TableAll, Priority: DefaultPriority, OutPort: flow.PortAny, OutGroup: GroupAny}
	b := matchBuilder{o: o, packet: kind == kindPacket}
	seen := map[string]item{}
	sc := scanner{s: s}
	matchEnd := len(s)
	for {
		start := sc.pos
		it, ok, err := sc.next("actions", "action")
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if it.quoted {
			return nil, &Error{Token: it.text, Name: it.key, Err: ErrUnknownField}
		}
		if it.key == "actions" || it.key == "action" {
			if kind != kindRule {
				return nil, tokenError(it, "actions are not allowed here")
			}
			if !it.hasValue || it.paren || !strings.HasPrefix(it.text[len(it.key):], "=") {
				return nil, tokenError(it, "write actions=...")
			}
			l.actions = &it
			matchEnd = start
			break
		}
		err = b.add(it)
		if err == nil {
			continue
		}
		if err != errNotMatch {
			return nil, err
		}
		if kind == kindPacket || kind == kindMatch {
			return nil, &Error{Token: it.text, Name: it.key, Err: ErrUnknownField}
		}
		if prev, dup := seen[it.key]; dup {
			return nil, tokenError(it, "%s given twice (also %q)", it.key, prev.text)
		}
		seen[it.key] = it
		if err := l.keyword(it, kind, o); err != nil {
			return nil, err
		}
	}
	m, err := b.finish(strings.TrimSpace(s[:matchEnd]))
	if err != nil {
		return nil, err
	}
	l.match = m
	return l, nil
}

// keyword handles the rule attributes that may appear among match fields.
func (l *line) keyword(it item, kind lineKind, o *options) error {
	for _, f := range ruleFlags {
		if it.key != f.name {
			continue
		}
		if kind != kindRule {
			return tokenError(it, "%s is not valid in a flow filter", it.key)
		}
		if it.hasValue {
			return tokenError(it, "%s takes no value", it.key)
		}
		l.rule.Flags |= f.flag
		return nil
	}
	if contains(statsKeys, it.key) {
		if !it.hasValue {
			return tokenError(it, "%s needs a value", it.key)
		}
		return nil
	}
	switch it.key {
	case "table", "priority", "cookie", "idle_timeout", "hard_timeout", "importance", "out_port", "out_group":
	default:
		return &Error{Token: it.text, Name: it.key, Err: ErrUnknownField}
	}
	if !it.hasValue || it.paren {
		return tokenError(it, "%s needs a value (%s=value)", it.key, it.key)
	}
	switch it.key {
	case "table":
		max := uint64(flow.MaxTables - 1)
		if kind == kindSpec {
			if it.value == "all" {
				return nil
			}
			max = flow.TableAll
		}
		v, err := parseUint(it.value, max)
		if err != nil {
			return tokenError(it, "bad table: %v", err)
		}
		if v == flow.MaxTables {
			return tokenError(it, "table %d does not exist (0 to %d)", v, flow.MaxTables-1)
		}
		l.rule.Table, l.spec.Table = uint8(v), uint8(v)
	case "priority":
		v, err := parseUint(it.value, 0xffff)
		if err != nil {
			return tokenError(it, "bad priority: %v", err)
		}
		l.rule.Priority, l.spec.Priority, l.spec.HasPriority = uint16(v), uint16(v), true
	case "cookie":
		valText, maskText, hasMask := strings.Cut(it.value, "/")
		v, err := parseUint(valText, ^uint64(0))
		if err != nil {
			return tokenError(it, "bad cookie: %v", err)
		}
		mask := ^uint64(0)
		if hasMask {
			if kind == kindRule {
				return tokenError(it, "a cookie mask selects rules; it is only valid in del-flows and dump-flows filters")
			}
			if mask, err = parseUint(maskText, ^uint64(0)); err != nil {
				return tokenError(it, "bad cookie mask: %v", err)
			}
		}
		l.rule.Cookie = v
		l.spec.Cookie, l.spec.CookieMask = v&mask, mask
	case "idle_timeout", "hard_timeout":
		if kind != kindRule {
			return tokenError(it, "%s is not valid in a flow filter", it.key)
		}
		v, err := parseUint(it.value, 0xffff)
		if err != nil {
			return tokenError(it, "bad %s: %v", it.key, err)
		}
		if it.key == "idle_timeout" {
			l.rule.IdleTimeout = uint16(v)
		} else {
			l.rule.HardTimeout = uint16(v)
		}
	case "importance":
		return &Error{Token: it.text, Err: errorf(ErrNotSupported, "importance is not supported (dvs never evicts rules)")}
	case "out_port":
		if kind != kindSpec {
			return tokenError(it, "out_port is only valid in del-flows and dump-flows filters")
		}
		p, err := parsePort(it.value, o)
		if err != nil {
			return portError(it, err)
		}
		l.spec.OutPort = p
	case "out_group":
		if kind != kindSpec {
			return tokenError(it, "out_group is only valid in del-flows and dump-flows filters")
		}
		v, err := parseUint(it.value, 0xffffffff)
		if err != nil {
			return tokenError(it, "bad group: %v", err)
		}
		l.spec.OutGroup = uint32(v)
	}
	return nil
}

// ParseRule parses a rule written as for ovs-ofctl add-flow or mod-flows:
// match fields, protocol keywords and rule attributes (table, priority,
// cookie, idle_timeout, hard_timeout, send_flow_rem, check_overlap,
// reset_counts, no_packet_counts, no_byte_counts) in any order, then
// actions=. The priority defaults to 32768. Statistics printed by
// dump-flows (duration=, n_packets=, ...) are ignored, so its output parses.
//
// The ovs-ofctl actions that rewrite a field become set-fields:
// mod_vlan_vid:N sets vlan_vid to 0x1000|N and mod_vlan_pcp:N sets
// vlan_pcp; the pipeline pushes a tag for them when the packet has none, as
// Open vSwitch does. mod_nw_tos:T sets ip_dscp to T>>2, mod_tp_src sets
// tp_src (whichever L4 protocol the packet has) and load:V->F writes all of
// F. mod_nw_ttl is a SetTTL.
func ParseRule(s string, opts ...Option) (*flow.Rule, error) {
	o := newOptions(opts)
	l, err := parseLine(s, kindRule, o)
	if err != nil {
		return nil, err
	}
	if l.actions == nil {
		return nil, &Error{Token: strings.TrimSpace(s), Err: errors.New("missing actions= (use actions=drop for none)")}
	}
	in, gotoItem, err := parseInstructions(l.actions.value, o)
	if err != nil {
		return nil, err
	}
	r := &flow.Rule{
		Table:        l.rule.Table,
		Priority:     l.rule.Priority,
		Match:        l.match,
		Cookie:       l.rule.Cookie,
		IdleTimeout:  l.rule.IdleTimeout,
		HardTimeout:  l.rule.HardTimeout,
		Flags:        l.rule.Flags,
		Instructions: in,
	}
	if in.HasGoto && in.GotoTable <= r.Table {
		return nil, tokenError(gotoItem, "goto_table must go to a later table than this rule's table %d", r.Table)
	}
	return r, nil
}

// ParseFlowSpec parses the rule filter that del-flows and dump-flows take: a
// match plus table=, priority=, cookie=value/mask (a cookie without a mask
// must match exactly), out_port= and out_group=.
func ParseFlowSpec(s string, opts ...Option) (*FlowSpec, error) {
	l, err := parseLine(s, kindSpec, newOptions(opts))
	if err != nil {
		return nil, err
	}
	spec := l.spec
	spec.Match = l.match
	return &spec, nil
}

// ParseMatch parses a match alone: fields and protocol keywords, no rule
// attributes.
func ParseMatch(s string, opts ...Option) (flow.Match, error) {
	l, err := parseLine(s, kindMatch, newOptions(opts))
	if err != nil {
		return flow.Match{}, err
	}
	return l.match, nil
}

// ParsePacket parses a packet description for tracing, such as
// "in_port=1,tcp,nw_src=203.0.113.1,tp_dst=80", into a key. Every field is
// exact (no masks); fields not given are zero, except that an IP packet
// without nw_ttl gets TTL 64 as ofproto/trace gives it, and a tagged packet
// gets TPID 0x8100.
func ParsePacket(s string, opts ...Option) (flow.Key, error) {
	l, err := parseLine(s, kindPacket, newOptions(opts))
	if err != nil {
		return flow.Key{}, err
	}
	k := l.match.Key
	if k.VLANs[0].TCI != 0 {
		k.VLANs[0].TPID = flow.EthTypeVLAN
	}
	if k.IsIP() && l.match.Mask.NwTTL == 0 {
		k.NwTTL = 64
	}
	return k, nil
}
