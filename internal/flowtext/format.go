package flowtext

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
)

// FormatOptions says how FormatRule prints a rule.
type FormatOptions struct {
	// Stats prints the line as dump-flows does by default: a leading space,
	// cookie, duration, table, n_packets and n_bytes. Without it
	// the line is what add-flow takes (cookie and table only when not
	// zero), as dump-flows --no-stats prints it.
	Stats bool
	// Now is the time durations and ages are measured to; zero means
	// time.Now().
	Now time.Time
	// PortName, if set, names ports in in_port= and output: (as
	// dump-flows --names does).
	PortName func(port uint32) (name string, ok bool)
}

// FormatRule prints r as ovs-ofctl dump-flows does, for example
// " cookie=0x0, duration=1.234s, table=0, n_packets=0, n_bytes=0,
// idle_timeout=10, priority=100,ip,in_port=1,nw_dst=198.51.100.0/24
// actions=mod_vlan_vid:10,output:2". ParseRule reads the result back into
// an equal rule.
func FormatRule(r *flow.Rule, opts FormatOptions) string {
	var b strings.Builder
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if opts.Stats {
		fmt.Fprintf(&b, " cookie=0x%x, duration=%s, table=%d, n_packets=%d, n_bytes=%d, ",
			r.Cookie, formatDuration(age(now, r.Stats.Created)), r.Table, r.Stats.Packets.Load(), r.Stats.Bytes.Load())
	} else {
		if r.Cookie != 0 {
			fmt.Fprintf(&b, "cookie=0x%x, ", r.Cookie)
		}
		if r.Table != 0 {
			fmt.Fprintf(&b, "table=%d, ", r.Table)
		}
	}
	if r.IdleTimeout != 0 {
		fmt.Fprintf(&b, "idle_timeout=%d, ", r.IdleTimeout)
	}
	if r.HardTimeout != 0 {
		fmt.Fprintf(&b, "hard_timeout=%d, ", r.HardTimeout)
	}
	for _, f := range ruleFlags {
		if r.Flags&f.flag != 0 {
			b.WriteString(f.name + " ")
		}
	}
	if m := formatMatch(&r.Match, int(r.Priority), opts.PortName, false); m != "" {
		b.WriteString(m)
		b.WriteByte(' ')
	}
	b.WriteString("actions=")
	b.WriteString(formatActions(&r.Instructions, opts.PortName))
	return b.String()
}

func age(now, then time.Time) time.Duration {
	if then.IsZero() || now.Before(then) {
		return 0
	}
	return now.Sub(then)
}

// formatDuration prints seconds with millisecond precision, as dump-flows
// does: "12s", "1.234s".
func formatDuration(d time.Duration) string {
	sec, ms := d/time.Second, d%time.Second/time.Millisecond
	if ms == 0 {
		return fmt.Sprintf("%ds", sec)
	}
	return fmt.Sprintf("%d.%03ds", sec, ms)
}

// FormatMatch prints a match as dump-flows does: the protocol keyword first
// (ip, tcp, arp, ...) in place of the dl_type and nw_proto it implies, then
// the fields in Open vSwitch's order, each under the name that fits the
// match's protocol (tp_src, icmp_type, arp_spa, ...). A match of everything
// prints as "".
func FormatMatch(m *flow.Match) string { return formatMatch(m, DefaultPriority, nil, false) }

// printOrder is the order dump-flows prints fields in. Where fields share
// key bits the first whose prerequisites the match meets names them.
// FieldVLANTCI stands for the whole outer VLAN tag.
var printOrder = []flow.FieldID{
	flow.FieldReg0, flow.FieldReg1, flow.FieldReg2, flow.FieldReg3,
	flow.FieldReg4, flow.FieldReg5, flow.FieldReg6, flow.FieldReg7,
	flow.FieldTunID, flow.FieldTunSrc, flow.FieldTunDst,
	flow.FieldMetadata, flow.FieldInPort, flow.FieldVLANTCI,
	flow.FieldEthSrc, flow.FieldEthDst, flow.FieldEthType,
	flow.FieldMPLSLabel, flow.FieldMPLSTC, flow.FieldMPLSTTL, flow.FieldMPLSBoS,
	flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPv6Label,
	flow.FieldIPv4Src, flow.FieldARPSPA, flow.FieldIPv4Dst, flow.FieldARPTPA,
	flow.FieldIPProto, flow.FieldARPOp, flow.FieldARPSHA, flow.FieldARPTHA,
	flow.FieldIPDSCP, flow.FieldIPECN, flow.FieldNwTTL, flow.FieldIPFrag,
	flow.FieldTpSrc, flow.FieldTCPSrc, flow.FieldUDPSrc, flow.FieldSCTPSrc, flow.FieldICMPv4Type, flow.FieldICMPv6Type,
	flow.FieldTpDst, flow.FieldTCPDst, flow.FieldUDPDst, flow.FieldSCTPDst, flow.FieldICMPv4Code, flow.FieldICMPv6Code,
	flow.FieldNDTarget, flow.FieldNDSLL, flow.FieldNDTLL, flow.FieldTCPFlags,
}

func formatMatch(m *flow.Match, priority int, portName func(uint32) (string, bool), packet bool) string {
	var parts []string
	if priority != DefaultPriority {
		parts = append(parts, "priority="+strconv.Itoa(priority))
	}
	rem := m.Mask // bits not yet printed
	if m.Mask.EthType == 0xffff {
		for _, sh := range shorthands {
			if sh.hasProto || sh.ethType != m.Key.EthType {
				continue
			}
			name := sh.name
			rem.EthType = 0
			if m.Mask.NwProto == 0xff {
				for _, p := range shorthands {
					if p.hasProto && p.ethType == sh.ethType && p.proto == m.Key.NwProto {
						name = p.name
						rem.NwProto = 0
					}
				}
			}
			parts = append(parts, name)
			break
		}
	}
	for _, id := range printOrder {
		if id == flow.FieldVLANTCI {
			if s := formatVLAN(m.Key.VLANs[0].TCI, m.Mask.VLANs[0].TCI); s != "" {
				parts = append(parts, s)
			}
			rem.VLANs[0].TCI = 0
			continue
		}
		f := flow.FieldByID(id)
		mask := f.GetMask(&rem)
		if mask == (flow.Value{}) || !m.PrereqsMet(f) || (!f.Maskable && mask != f.Ones()) {
			continue
		}
		parts = append(parts, fieldText(f, f.Get(&m.Key).And(mask), mask, portName, packet, true))
		f.Set((*flow.Key)(&rem), flow.Value{})
	}
	// Whatever is left belongs to fields whose prerequisites the match
	// lacks: print it under its own name, so nothing is hidden.
	for i := range flow.Fields() {
		f := &flow.Fields()[i]
		if f.ID == flow.FieldVLANVID || f.ID == flow.FieldVLANPCP {
			continue
		}
		mask := f.GetMask(&rem)
		if mask == (flow.Value{}) {
			continue
		}
		parts = append(parts, fieldText(f, f.Get(&m.Key).And(mask), mask, portName, packet, false))
		f.Set((*flow.Key)(&rem), flow.Value{})
	}
	return strings.Join(parts, ",")
}

// formatVLAN prints a match on the outer tag's TCI as Open vSwitch does:
// dl_vlan and dl_vlan_pcp when the match requires a tag and examines whole
// VID and PCP fields, vlan_tci otherwise.
func formatVLAN(tci, mask uint16) string {
	if mask == 0 {
		return ""
	}
	vidMask, pcpMask := mask&flow.TCIVIDMask, mask&flow.TCIPCPMask
	if mask&flow.TCIPresent != 0 && tci&flow.TCIPresent != 0 &&
		(vidMask == 0 || (vidMask == flow.TCIVIDMask && tci&flow.TCIVIDMask != 4095)) &&
		(pcpMask == 0 || pcpMask == flow.TCIPCPMask) && vidMask|pcpMask != 0 {
		var parts []string
		if vidMask != 0 {
			parts = append(parts, fmt.Sprintf("dl_vlan=%d", tci&flow.TCIVIDMask))
		}
		if pcpMask != 0 {
			parts = append(parts, fmt.Sprintf("dl_vlan_pcp=%d", tci>>flow.TCIPCPShift))
		}
		return strings.Join(parts, ",")
	}
	if mask == 0xffff {
		return fmt.Sprintf("vlan_tci=0x%04x", tci)
	}
	return fmt.Sprintf("vlan_tci=0x%04x/0x%04x", tci, mask)
}

// fieldText prints name=value[/mask] for f. With ovsNames, fields print
// under the names dump-flows uses for them (nw_tos for ip_dscp, icmp_type
// for icmpv6_type).
func fieldText(f *flow.Field, v, mask flow.Value, portName func(uint32) (string, bool), packet, ovsNames bool) string {
	name := f.Name
	var val string
	switch {
	case f.ID == flow.FieldIPDSCP && ovsNames && mask == f.Ones():
		name, val = "nw_tos", strconv.FormatUint(v.U64()<<2, 10)
	case f.ID == flow.FieldTCPFlags:
		val = formatTCPFlags(uint16(v.U64()), uint16(mask.U64()))
	case f.ID == flow.FieldIPFrag:
		val = formatFrag(uint8(v.U64()), uint8(mask.U64()), packet)
	case f.Format == flow.FormatPort && mask == f.Ones():
		val = formatPort(uint32(v.U64()), portName)
	default:
		val = formatMasked(f, v, mask)
	}
	if ovsNames {
		switch f.ID {
		case flow.FieldICMPv6Type:
			name = "icmp_type"
		case flow.FieldICMPv6Code:
			name = "icmp_code"
		}
	}
	return name + "=" + val
}

// FormatActions prints instructions as dump-flows does: apply-actions as a
// plain action list, the other instructions by name in execution order, and
// "drop" when there are none.
func FormatActions(in *flow.Instructions) string { return formatActions(in, nil) }

func formatActions(in *flow.Instructions, portName func(uint32) (string, bool)) string {
	var parts []string
	if in.Meter != 0 {
		parts = append(parts, fmt.Sprintf("meter:%d", in.Meter))
	}
	parts = appendActions(parts, in.Apply, portName)
	if in.ClearActions {
		parts = append(parts, "clear_actions")
	}
	if in.HasWrite {
		parts = append(parts, "write_actions("+strings.Join(appendActions(nil, in.Write, portName), ",")+")")
	}
	if in.MetadataMask != 0 {
		s := fmt.Sprintf("write_metadata:0x%x", in.Metadata)
		if in.MetadataMask != ^uint64(0) {
			s += fmt.Sprintf("/0x%x", in.MetadataMask)
		}
		parts = append(parts, s)
	}
	if in.HasGoto {
		parts = append(parts, fmt.Sprintf("goto_table:%d", in.GotoTable))
	}
	if len(parts) == 0 {
		return "drop"
	}
	return strings.Join(parts, ",")
}

func appendActions(parts []string, list []flow.Action, portName func(uint32) (string, bool)) []string {
	for _, a := range list {
		if s := actionText(a, portName); s != "" {
			parts = append(parts, s)
		}
	}
	return parts
}

func actionText(a flow.Action, portName func(uint32) (string, bool)) string {
	switch a := a.(type) {
	case flow.Output:
		switch {
		case a.Port == flow.PortController:
			return fmt.Sprintf("CONTROLLER:%d", a.MaxLen)
		case a.MaxLen != 0:
			return fmt.Sprintf("output(port=%s,max_len=%d)", formatPort(a.Port, portName), a.MaxLen)
		case a.Port >= flow.PortInPort:
			return formatPort(a.Port, nil)
		}
		return "output:" + formatPort(a.Port, portName)
	case flow.PushVLAN:
		return fmt.Sprintf("push_vlan:0x%04x", a.EthType)
	case flow.PopVLAN:
		return "strip_vlan"
	case flow.SetField:
		return setFieldText(a)
	case flow.DecTTL:
		return "dec_ttl"
	case flow.SetTTL:
		return fmt.Sprintf("mod_nw_ttl:%d", a.TTL)
	case flow.PushMPLS:
		return fmt.Sprintf("push_mpls:0x%04x", a.EthType)
	case flow.PopMPLS:
		return fmt.Sprintf("pop_mpls:0x%04x", a.EthType)
	case flow.SetMPLSTTL:
		return fmt.Sprintf("set_mpls_ttl(%d)", a.TTL)
	case flow.DecMPLSTTL:
		return "dec_mpls_ttl"
	case flow.Group:
		return fmt.Sprintf("group:%d", a.ID)
	case flow.SetQueue:
		return fmt.Sprintf("set_queue:%d", a.ID)
	}
	return ""
}

// setFieldText prints a set-field as the ovs-ofctl action that writes it:
// mod_vlan_vid, mod_dl_src, ... for whole fields that have one, set_field
// otherwise.
func setFieldText(a flow.SetField) string {
	if a.Field >= flow.NumFields {
		return fmt.Sprintf("set_field:0x%x->field%d", a.Value.U64(), a.Field)
	}
	f := flow.FieldByID(a.Field)
	v := a.Value.U64()
	if a.Mask == f.Ones() && fieldFits(f, a.Value) {
		switch a.Field {
		case flow.FieldVLANVID:
			if v&flow.TCIPresent != 0 && v&flow.TCIVIDMask != 4095 {
				return fmt.Sprintf("mod_vlan_vid:%d", v&flow.TCIVIDMask)
			}
		case flow.FieldVLANPCP:
			return fmt.Sprintf("mod_vlan_pcp:%d", v)
		case flow.FieldIPDSCP:
			return fmt.Sprintf("mod_nw_tos:%d", v<<2)
		}
		for name, id := range legacySetFields {
			if id == a.Field {
				return name + ":" + formatValue(f, a.Value, nil)
			}
		}
		return "set_field:" + formatValue(f, a.Value, nil) + "->" + f.Name
	}
	return "set_field:" + formatMasked(f, a.Value, a.Mask) + "->" + f.Name
}

// FormatKey prints a packet as ofproto/trace prints a flow: the fields that
// are meaningful for its protocols, all of them exact. ParsePacket reads it
// back.
func FormatKey(k *flow.Key) string {
	var m flow.Match
	set := func(ids ...flow.FieldID) {
		for _, id := range ids {
			f := flow.FieldByID(id)
			m.Set(f, f.Get(k))
		}
	}
	set(flow.FieldInPort)
	for _, id := range []flow.FieldID{flow.FieldMetadata, flow.FieldReg0, flow.FieldReg1, flow.FieldReg2,
		flow.FieldReg3, flow.FieldReg4, flow.FieldReg5, flow.FieldReg6, flow.FieldReg7,
		flow.FieldTunID, flow.FieldTunSrc, flow.FieldTunDst} {
		if f := flow.FieldByID(id); f.Get(k) != (flow.Value{}) {
			set(id)
		}
	}
	set(flow.FieldVLANTCI, flow.FieldEthSrc, flow.FieldEthDst, flow.FieldEthType)
	switch k.EthType {
	case flow.EthTypeIPv4, flow.EthTypeIPv6:
		if k.EthType == flow.EthTypeIPv4 {
			set(flow.FieldIPv4Src, flow.FieldIPv4Dst)
		} else {
			set(flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPv6Label)
		}
		set(flow.FieldIPProto, flow.FieldIPDSCP, flow.FieldIPECN, flow.FieldNwTTL, flow.FieldIPFrag)
		if k.NwFrag&flow.FragLater != 0 {
			break
		}
		switch {
		case k.NwProto == flow.IPProtoTCP:
			set(flow.FieldTpSrc, flow.FieldTpDst, flow.FieldTCPFlags)
		case k.NwProto == flow.IPProtoUDP || k.NwProto == flow.IPProtoSCTP:
			set(flow.FieldTpSrc, flow.FieldTpDst)
		case k.NwProto == flow.IPProtoICMP && k.EthType == flow.EthTypeIPv4:
			set(flow.FieldICMPv4Type, flow.FieldICMPv4Code)
		case k.NwProto == flow.IPProtoICMPv6 && k.EthType == flow.EthTypeIPv6:
			set(flow.FieldICMPv6Type, flow.FieldICMPv6Code)
			switch k.TpSrc {
			case flow.ICMPv6NeighborSolicit:
				set(flow.FieldNDTarget, flow.FieldNDSLL)
			case flow.ICMPv6NeighborAdvert:
				set(flow.FieldNDTarget, flow.FieldNDTLL)
			}
		}
	case flow.EthTypeARP, flow.EthTypeRARP:
		set(flow.FieldARPOp, flow.FieldARPSPA, flow.FieldARPTPA, flow.FieldARPSHA, flow.FieldARPTHA)
	case flow.EthTypeMPLS, flow.EthTypeMPLSM:
		set(flow.FieldMPLSLabel, flow.FieldMPLSTC, flow.FieldMPLSTTL, flow.FieldMPLSBoS)
	}
	return formatMatch(&m, DefaultPriority, nil, true)
}
