package flowtext

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/dvs-project/dvs/internal/flow"
)

// Instruction ranks: OpenFlow 1.3 executes instructions in this order and
// ovs-ofctl requires them to be written in it.
const (
	rankMeter = iota
	rankApply
	rankClear
	rankWrite
	rankMetadata
	rankGoto
)

var rankNames = [...]string{"meter", "apply_actions", "clear_actions", "write_actions", "write_metadata", "goto_table"}

func instructionRank(key string) (int, bool) {
	for i, n := range rankNames {
		if key == n {
			return i, true
		}
	}
	return 0, false
}

// maxMeter is OpenFlow's OFPM_MAX, the highest ordinary meter id.
const maxMeter = 0xffff0000

// maxGroup is OpenFlow's OFPG_MAX, the highest ordinary group id.
const maxGroup = 0xffffff00

// parseInstructions parses the text after "actions=". It also returns the
// goto_table item, for the caller's check of the target table.
func parseInstructions(s string, o *options) (flow.Instructions, item, error) {
	var in flow.Instructions
	var gotoItem item
	items, err := splitItems(s)
	if err != nil {
		return in, gotoItem, err
	}
	last := -1
	var seen [len(rankNames)]bool
	explicitApply := false
	for _, it := range items {
		key := it.key
		if !it.quoted {
			key = strings.ToLower(key)
		}
		if !it.quoted && key == "drop" {
			if it.hasValue {
				return in, gotoItem, tokenError(it, "drop takes no value")
			}
			if len(items) > 1 {
				return in, gotoItem, tokenError(it, "drop must be the only action")
			}
			continue
		}
		rank, isInstr := instructionRank(key)
		if it.quoted {
			isInstr = false
		}
		if !isInstr {
			rank = rankApply
		}
		if rank < last {
			name, lastName := rankNames[rank], rankNames[last]
			if !isInstr {
				name = "actions"
			}
			if last == rankApply && !explicitApply {
				lastName = "actions"
			}
			return in, gotoItem, tokenError(it, "%s must come before %s", name, lastName)
		}
		if isInstr && seen[rank] {
			if rank == rankApply && !explicitApply {
				return in, gotoItem, tokenError(it, "apply_actions may not follow other actions")
			}
			return in, gotoItem, tokenError(it, "%s given twice", rankNames[rank])
		}
		if !isInstr && explicitApply {
			return in, gotoItem, tokenError(it, "actions may not follow apply_actions(...)")
		}
		seen[rank], last = true, rank
		if !isInstr {
			a, err := parseAction(it, o)
			if err != nil {
				return in, gotoItem, err
			}
			in.Apply = append(in.Apply, a)
			continue
		}
		switch rank {
		case rankMeter:
			v, err := instrValue(it, 1, maxMeter)
			if err != nil {
				return in, gotoItem, err
			}
			in.Meter = uint32(v)
		case rankApply, rankWrite:
			if !it.paren {
				return in, gotoItem, tokenError(it, "write %s(action,...)", key)
			}
			list, err := parseActionList(it.value, key, o)
			if err != nil {
				return in, gotoItem, err
			}
			if rank == rankApply {
				explicitApply = true
				in.Apply = list
			} else {
				in.HasWrite, in.Write = true, list
			}
		case rankClear:
			if it.hasValue {
				return in, gotoItem, tokenError(it, "clear_actions takes no value")
			}
			in.ClearActions = true
		case rankMetadata:
			if !it.hasValue || it.paren {
				return in, gotoItem, tokenError(it, "write write_metadata:value[/mask]")
			}
			valText, maskText, hasMask := strings.Cut(it.value, "/")
			v, err := parseUint(valText, ^uint64(0))
			if err != nil {
				return in, gotoItem, wrapError(it, err)
			}
			mask := ^uint64(0)
			if hasMask {
				if mask, err = parseUint(maskText, ^uint64(0)); err != nil {
					return in, gotoItem, tokenError(it, "bad mask: %v", err)
				}
				if mask == 0 {
					return in, gotoItem, tokenError(it, "write_metadata with a zero mask writes nothing")
				}
			}
			in.Metadata, in.MetadataMask = v&mask, mask
		case rankGoto:
			v, err := instrValue(it, 0, flow.MaxTables-1)
			if err != nil {
				return in, gotoItem, err
			}
			in.GotoTable, in.HasGoto, gotoItem = uint8(v), true, it
		}
	}
	return in, gotoItem, nil
}

func instrValue(it item, min, max uint64) (uint64, error) {
	if !it.hasValue || it.paren {
		return 0, tokenError(it, "write %s:N", strings.ToLower(it.key))
	}
	v, err := parseUint(it.value, max)
	if err != nil {
		return 0, wrapError(it, err)
	}
	if v < min {
		return 0, tokenError(it, "%d is out of range (%d to %d)", v, min, max)
	}
	return v, nil
}

// parseActionList parses the actions inside apply_actions(...) or
// write_actions(...).
func parseActionList(s, within string, o *options) ([]flow.Action, error) {
	items, err := splitItems(s)
	if err != nil {
		return nil, err
	}
	var list []flow.Action
	for _, it := range items {
		key := strings.ToLower(it.key)
		if !it.quoted {
			if _, isInstr := instructionRank(key); isInstr || key == "drop" {
				return nil, tokenError(it, "%s is not allowed inside %s", key, within)
			}
		}
		a, err := parseAction(it, o)
		if err != nil {
			return nil, err
		}
		list = append(list, a)
	}
	return list, nil
}

// parseAction parses one action.
func parseAction(it item, o *options) (flow.Action, error) {
	if it.quoted {
		p, err := lookupPort(it.key, o)
		if err != nil {
			return nil, portError(it, err)
		}
		return outputTo(it, p, 0)
	}
	key := strings.ToLower(it.key)
	noValue := func() error {
		if it.hasValue {
			return tokenError(it, "%s takes no value", key)
		}
		return nil
	}
	needValue := func() error {
		if !it.hasValue || it.paren {
			return tokenError(it, "write %s:value", key)
		}
		return nil
	}
	uintValue := func(max uint64) (uint64, error) {
		if err := needValue(); err != nil {
			return 0, err
		}
		v, err := parseUint(it.value, max)
		if err != nil {
			return 0, wrapError(it, err)
		}
		return v, nil
	}
	set := func(id flow.FieldID, v uint64) flow.Action {
		f := flow.FieldByID(id)
		return flow.SetField{Field: id, Value: flow.ValueOf(v), Mask: f.Ones()}
	}
	switch key {
	case "output":
		if it.paren {
			return parseOutputParen(it, o)
		}
		if err := needValue(); err != nil {
			return nil, err
		}
		p, err := parsePort(it.value, o)
		if err != nil {
			return nil, portError(it, err)
		}
		return outputTo(it, p, 0)
	case "controller":
		return parseController(it)
	case "mod_vlan_vid", "set_vlan_vid":
		// As ovs-ofctl: the pipeline pushes a tag if the packet has none.
		v, err := uintValue(0xfff)
		if err != nil {
			return nil, err
		}
		if v > 4094 {
			return nil, tokenError(it, "VLAN %d is out of range (0 to 4094)", v)
		}
		return set(flow.FieldVLANVID, flow.TCIPresent|v), nil
	case "mod_vlan_pcp", "set_vlan_pcp":
		v, err := uintValue(7)
		if err != nil {
			return nil, err
		}
		return set(flow.FieldVLANPCP, v), nil
	case "strip_vlan", "pop_vlan":
		if err := noValue(); err != nil {
			return nil, err
		}
		return flow.PopVLAN{}, nil
	case "push_vlan":
		v, err := uintValue(0xffff)
		if err != nil {
			return nil, err
		}
		if v != flow.EthTypeVLAN && v != flow.EthTypeQinQ {
			return nil, tokenError(it, "push_vlan takes ethertype 0x8100 or 0x88a8")
		}
		return flow.PushVLAN{EthType: uint16(v)}, nil
	case "push_mpls":
		v, err := uintValue(0xffff)
		if err != nil {
			return nil, err
		}
		if v != flow.EthTypeMPLS && v != flow.EthTypeMPLSM {
			return nil, tokenError(it, "push_mpls takes ethertype 0x8847 or 0x8848")
		}
		return flow.PushMPLS{EthType: uint16(v)}, nil
	case "pop_mpls":
		v, err := uintValue(0xffff)
		if err != nil {
			return nil, err
		}
		return flow.PopMPLS{EthType: uint16(v)}, nil
	case "set_mpls_ttl":
		// ovs-ofctl prints set_mpls_ttl(N) and reads set_mpls_ttl:N too.
		if !it.hasValue {
			return nil, tokenError(it, "write set_mpls_ttl:value")
		}
		v, err := parseUint(it.value, 0xff)
		if err != nil {
			return nil, wrapError(it, err)
		}
		return flow.SetMPLSTTL{TTL: uint8(v)}, nil
	case "dec_mpls_ttl":
		if err := noValue(); err != nil {
			return nil, err
		}
		return flow.DecMPLSTTL{}, nil
	case "mod_dl_src", "mod_dl_dst", "mod_nw_src", "mod_nw_dst", "mod_tp_src", "mod_tp_dst", "mod_nw_ecn":
		if err := needValue(); err != nil {
			return nil, err
		}
		id := legacySetFields[key]
		f := flow.FieldByID(id)
		v, err := parseScalar(f, it.value, o)
		if err != nil {
			return nil, wrapError(it, err)
		}
		return flow.SetField{Field: id, Value: v, Mask: f.Ones()}, nil
	case "mod_nw_tos":
		v, err := uintValue(0xff)
		if err != nil {
			return nil, err
		}
		if v&3 != 0 {
			return nil, tokenError(it, "mod_nw_tos %d has ECN bits set (use a multiple of 4, and mod_nw_ecn for ECN)", v)
		}
		return set(flow.FieldIPDSCP, v>>2), nil
	case "mod_nw_ttl":
		v, err := uintValue(0xff)
		if err != nil {
			return nil, err
		}
		return flow.SetTTL{TTL: uint8(v)}, nil
	case "dec_ttl":
		if it.hasValue {
			return nil, &Error{Token: it.text, Err: errorf(ErrNotSupported, "dec_ttl with controller ids is not supported")}
		}
		return flow.DecTTL{}, nil
	case "set_field", "load":
		if err := needValue(); err != nil {
			return nil, err
		}
		return parseSetField(it, key == "load", o)
	case "set_tunnel", "set_tunnel64":
		v, err := uintValue(^uint64(0))
		if err != nil {
			return nil, err
		}
		if key == "set_tunnel" && v > 0xffffffff {
			return nil, tokenError(it, "set_tunnel takes 32 bits (use set_tunnel64)")
		}
		return set(flow.FieldTunID, v), nil
	case "group":
		v, err := uintValue(maxGroup)
		if err != nil {
			return nil, err
		}
		return flow.Group{ID: uint32(v)}, nil
	case "set_queue":
		v, err := uintValue(0xffffffff)
		if err != nil {
			return nil, err
		}
		return flow.SetQueue{ID: uint32(v)}, nil
	}
	if !it.hasValue {
		// A bare port: a number, a reserved name (NORMAL, LOCAL, IN_PORT,
		// ...) or a port name.
		p, err := parsePort(it.key, o)
		var u *unknownPortError
		if errors.As(err, &u) {
			return nil, &Error{Token: it.text, Name: it.key, Err: ErrUnknownAction}
		}
		if err != nil {
			return nil, wrapError(it, err)
		}
		return outputTo(it, p, 0)
	}
	return nil, &Error{Token: it.text, Name: it.key, Err: ErrUnknownAction}
}

// legacySetFields maps the ovs-ofctl mod_* actions to the fields they set.
var legacySetFields = map[string]flow.FieldID{
	"mod_dl_src": flow.FieldEthSrc,
	"mod_dl_dst": flow.FieldEthDst,
	"mod_nw_src": flow.FieldIPv4Src,
	"mod_nw_dst": flow.FieldIPv4Dst,
	"mod_tp_src": flow.FieldTpSrc,
	"mod_tp_dst": flow.FieldTpDst,
	"mod_nw_ecn": flow.FieldIPECN,
}

func outputTo(it item, p uint32, maxLen uint16) (flow.Action, error) {
	switch {
	case p == flow.PortAny:
		return nil, tokenError(it, "cannot output to ANY")
	case p == 0:
		return nil, tokenError(it, "port 0 is not a valid output port")
	case p == flow.PortController && maxLen == 0:
		maxLen = 0xffff
	}
	return flow.Output{Port: p, MaxLen: maxLen}, nil
}

// parseOutputParen parses output(port=P,max_len=N).
func parseOutputParen(it item, o *options) (flow.Action, error) {
	items, err := splitItems(it.value)
	if err != nil {
		return nil, err
	}
	var port uint32
	var maxLen uint64
	hasPort := false
	for _, sub := range items {
		if !sub.hasValue || sub.paren {
			return nil, tokenError(sub, "write output(port=P,max_len=N)")
		}
		switch sub.key {
		case "port":
			if port, err = parsePort(sub.value, o); err != nil {
				return nil, portError(sub, err)
			}
			hasPort = true
		case "max_len":
			if maxLen, err = parseUint(sub.value, 0xffff); err != nil {
				return nil, wrapError(sub, err)
			}
		default:
			return nil, &Error{Token: sub.text, Name: sub.key, Err: ErrUnknownField}
		}
	}
	if !hasPort {
		return nil, tokenError(it, "output(...) needs port=")
	}
	if maxLen == 0 {
		return nil, tokenError(it, "output(...) needs max_len= (else write output:P)")
	}
	return outputTo(it, port, uint16(maxLen))
}

// parseController parses controller, controller:N and
// controller(max_len=N).
func parseController(it item) (flow.Action, error) {
	maxLen := uint64(0xffff)
	switch {
	case !it.hasValue:
	case it.paren:
		items, err := splitItems(it.value)
		if err != nil {
			return nil, err
		}
		for _, sub := range items {
			if sub.key != "max_len" {
				return nil, &Error{Token: sub.text, Err: errorf(ErrNotSupported, "controller option %s is not supported", sub.key)}
			}
			if !sub.hasValue || sub.paren {
				return nil, tokenError(sub, "write max_len=N")
			}
			if maxLen, err = parseUint(sub.value, 0xffff); err != nil {
				return nil, wrapError(sub, err)
			}
		}
	default:
		var err error
		if maxLen, err = parseUint(it.value, 0xffff); err != nil {
			return nil, wrapError(it, err)
		}
	}
	return flow.Output{Port: flow.PortController, MaxLen: uint16(maxLen)}, nil
}

// nxmNames maps the NXM and OXM names that load and set_field commonly
// name fields by to registry names.
var nxmNames = map[string]string{
	"NXM_OF_IN_PORT":      "in_port",
	"NXM_OF_ETH_DST":      "dl_dst",
	"NXM_OF_ETH_SRC":      "dl_src",
	"NXM_OF_ETH_TYPE":     "dl_type",
	"NXM_OF_VLAN_TCI":     "vlan_tci",
	"NXM_OF_IP_PROTO":     "nw_proto",
	"NXM_OF_IP_SRC":       "nw_src",
	"NXM_OF_IP_DST":       "nw_dst",
	"NXM_OF_TCP_SRC":      "tcp_src",
	"NXM_OF_TCP_DST":      "tcp_dst",
	"NXM_OF_UDP_SRC":      "udp_src",
	"NXM_OF_UDP_DST":      "udp_dst",
	"NXM_OF_ICMP_TYPE":    "icmp_type",
	"NXM_OF_ICMP_CODE":    "icmp_code",
	"NXM_OF_ARP_OP":       "arp_op",
	"NXM_OF_ARP_SPA":      "arp_spa",
	"NXM_OF_ARP_TPA":      "arp_tpa",
	"NXM_NX_ARP_SHA":      "arp_sha",
	"NXM_NX_ARP_THA":      "arp_tha",
	"NXM_NX_IPV6_SRC":     "ipv6_src",
	"NXM_NX_IPV6_DST":     "ipv6_dst",
	"NXM_NX_IPV6_LABEL":   "ipv6_label",
	"NXM_NX_ICMPV6_TYPE":  "icmpv6_type",
	"NXM_NX_ICMPV6_CODE":  "icmpv6_code",
	"NXM_NX_ND_TARGET":    "nd_target",
	"NXM_NX_ND_SLL":       "nd_sll",
	"NXM_NX_ND_TLL":       "nd_tll",
	"NXM_NX_IP_TTL":       "nw_ttl",
	"NXM_NX_IP_ECN":       "nw_ecn",
	"NXM_NX_IP_FRAG":      "nw_frag",
	"NXM_NX_TCP_FLAGS":    "tcp_flags",
	"NXM_NX_TUN_ID":       "tun_id",
	"NXM_NX_TUN_IPV4_SRC": "tun_src",
	"NXM_NX_TUN_IPV4_DST": "tun_dst",
	"NXM_NX_REG0":         "reg0",
	"NXM_NX_REG1":         "reg1",
	"NXM_NX_REG2":         "reg2",
	"NXM_NX_REG3":         "reg3",
	"NXM_NX_REG4":         "reg4",
	"NXM_NX_REG5":         "reg5",
	"NXM_NX_REG6":         "reg6",
	"NXM_NX_REG7":         "reg7",
	"OXM_OF_METADATA":     "metadata",
	"OXM_OF_VLAN_VID":     "vlan_vid",
	"OXM_OF_VLAN_PCP":     "vlan_pcp",
	"OXM_OF_IP_DSCP":      "ip_dscp",
	"OXM_OF_IP_ECN":       "ip_ecn",
	"OXM_OF_IPV4_SRC":     "ipv4_src",
	"OXM_OF_IPV4_DST":     "ipv4_dst",
	"OXM_OF_SCTP_SRC":     "sctp_src",
	"OXM_OF_SCTP_DST":     "sctp_dst",
	"OXM_OF_TUNNEL_ID":    "tun_id",
}

// parseSetField parses set_field:value[/mask]->field and
// load:value->field. load takes a number (as ovs-ofctl prints it) or the
// field's own notation, and whole fields only.
func parseSetField(it item, load bool, o *options) (flow.Action, error) {
	valText, target, ok := strings.Cut(it.value, "->")
	if !ok {
		return nil, tokenError(it, "write %s:value->field", strings.ToLower(it.key))
	}
	name := target
	if i := strings.IndexByte(name, '['); i >= 0 {
		if name[i:] != "[]" {
			return nil, &Error{Token: it.text, Err: errorf(ErrNotSupported, "bit range %s is not supported; %s writes whole fields", name[i:], strings.ToLower(it.key))}
		}
		name = name[:i]
	}
	if n, ok := nxmNames[name]; ok {
		name = n
	}
	if name == "nw_tos" {
		v, err := parseUint(valText, 0xff)
		if err != nil {
			return nil, wrapError(it, err)
		}
		if v&3 != 0 {
			return nil, tokenError(it, "nw_tos %d has ECN bits set", v)
		}
		return flow.SetField{Field: flow.FieldIPDSCP, Value: flow.ValueOf(v >> 2), Mask: fIPDSCP.Ones()}, nil
	}
	f := flow.FieldByName(name)
	if f == nil {
		return nil, &Error{Token: it.text, Name: target, Err: ErrUnknownField}
	}
	if !f.Writable {
		return nil, tokenError(it, "field %s is not writable", f.Name)
	}
	if load {
		if strings.Contains(valText, "/") {
			return nil, tokenError(it, "load takes no mask (use set_field:value/mask->field)")
		}
		v, err := parseWide(valText)
		if err != nil {
			if v, err = parseScalar(f, valText, o); err != nil {
				return nil, wrapError(it, err)
			}
		}
		if !fieldFits(f, v) {
			return nil, tokenError(it, "value %s does not fit in %s (%d bits)", valText, f.Name, f.Bits)
		}
		return flow.SetField{Field: f.ID, Value: v, Mask: f.Ones()}, nil
	}
	v, mask, err := parseFieldValue(f, valText, true, o)
	if err != nil {
		return nil, wrapError(it, err)
	}
	return flow.SetField{Field: f.ID, Value: v.And(mask), Mask: mask}, nil
}

// parseWide parses a decimal number of up to 64 bits or a hexadecimal one
// of up to 128 bits.
func parseWide(s string) (flow.Value, error) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		h := s[2:]
		if len(h) > 32 {
			return flow.Value{}, fmt.Errorf("%s is more than 128 bits", s)
		}
		if len(h)%2 == 1 {
			h = "0" + h
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return flow.Value{}, fmt.Errorf("%q is not a number", s)
		}
		return flow.ValueBytes(b), nil
	}
	v, err := parseUint(s, ^uint64(0))
	return flow.ValueOf(v), err
}
