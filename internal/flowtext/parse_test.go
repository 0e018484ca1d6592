package flowtext

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
)

// validRules maps input lines to the line FormatRule prints for them (which
// is what ovs-ofctl dump-flows --no-stats prints, as far as the two share
// features).
var validRules = []struct{ in, want string }{
	// Rule attributes.
	{"actions=drop", "actions=drop"},
	{"actions=", "actions=drop"},
	{"priority=32768 actions=normal", "actions=NORMAL"},
	{"priority=0 actions=NORMAL", "priority=0 actions=NORMAL"},
	{"priority=65535,actions=drop", "priority=65535 actions=drop"},
	{"table=3,cookie=0x10,idle_timeout=10,hard_timeout=20,send_flow_rem,check_overlap,reset_counts,no_packet_counts,no_byte_counts,priority=5 actions=drop",
		"cookie=0x10, table=3, idle_timeout=10, hard_timeout=20, send_flow_rem check_overlap reset_counts no_packet_counts no_byte_counts priority=5 actions=drop"},
	{"cookie=18446744073709551615 actions=drop", "cookie=0xffffffffffffffff, actions=drop"},
	{"table=253 actions=drop", "table=253, actions=drop"},
	// dump-flows output reads back; its statistics are ignored.
	{" cookie=0x5, duration=1.234s, table=1, n_packets=7, n_bytes=420, idle_timeout=10, send_flow_rem idle_age=1, priority=100,ip actions=drop",
		"cookie=0x5, table=1, idle_timeout=10, send_flow_rem priority=100,ip actions=drop"},
	{"\tpriority=7\n ip \t actions=drop", "priority=7,ip actions=drop"},

	// The example from dump-flows, in another order.
	{"priority=100,ip,in_port=1,nw_dst=198.51.100.0/24 actions=mod_vlan_vid:10,output:2",
		"priority=100,ip,in_port=1,nw_dst=198.51.100.0/24 actions=mod_vlan_vid:10,output:2"},
	{"in_port=1,nw_dst=198.51.100.0/24,priority=100,ip actions=mod_vlan_vid:10,2",
		"priority=100,ip,in_port=1,nw_dst=198.51.100.0/24 actions=mod_vlan_vid:10,output:2"},

	// in_port and reserved ports.
	{"in_port=65279 actions=in_port", "in_port=65279 actions=IN_PORT"},
	{"in_port=LOCAL actions=drop", "in_port=LOCAL actions=drop"},
	{"in_port=local actions=drop", "in_port=LOCAL actions=drop"},
	{"in_port=4294967294 actions=drop", "in_port=LOCAL actions=drop"},
	{"in_port=65534 actions=drop", "in_port=LOCAL actions=drop"},
	{"in_port:0x10 actions=drop", "in_port=16 actions=drop"},

	// Ethernet.
	{"dl_src=00:11:22:33:44:55,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=flood",
		"dl_src=00:11:22:33:44:55,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=FLOOD"},
	{"eth_src=0:1:2:3:4:A5,eth_dst=ff:ff:ff:ff:ff:ff actions=all", "dl_src=00:01:02:03:04:a5,dl_dst=ff:ff:ff:ff:ff:ff actions=ALL"},
	{"dl_type=0x0800 actions=local", "ip actions=LOCAL"},
	{"eth_type=2054 actions=drop", "arp actions=drop"},
	{"dl_type=0x88cc actions=controller", "dl_type=0x88cc actions=CONTROLLER:65535"},
	{"dl_type=0x8035 actions=drop", "rarp actions=drop"},
	{"mpls actions=drop", "mpls actions=drop"},
	{"mplsm actions=drop", "mplsm actions=drop"},
	{"dl_type=0x8847,mpls_bos=1,mpls_ttl=3,mpls_tc=3,mpls_label=100 actions=set_field:203->mpls_label,set_field:5->mpls_tc,set_field:0->mpls_bos,output:2",
		"mpls,mpls_label=100,mpls_tc=3,mpls_ttl=3,mpls_bos=1 actions=set_field:203->mpls_label,set_field:5->mpls_tc,set_field:0->mpls_bos,output:2"},
	{"ip actions=push_mpls:0x8847,set_mpls_ttl:9,dec_mpls_ttl,output:2", "ip actions=push_mpls:0x8847,set_mpls_ttl(9),dec_mpls_ttl,output:2"},
	{"mpls actions=pop_mpls:0x0800,goto_table:1", "mpls actions=pop_mpls:0x0800,goto_table:1"},
	{"mplsm actions=set_mpls_ttl(255),write_actions(pop_mpls:0x8847,push_mpls:0x8848)", "mplsm actions=set_mpls_ttl(255),write_actions(pop_mpls:0x8847,push_mpls:0x8848)"},

	// VLAN.
	{"dl_vlan=10 actions=strip_vlan", "dl_vlan=10 actions=strip_vlan"},
	{"dl_vlan=0 actions=drop", "dl_vlan=0 actions=drop"},
	{"dl_vlan=4094 actions=drop", "dl_vlan=4094 actions=drop"},
	{"dl_vlan=0xffff actions=push_vlan:0x8100,mod_vlan_vid:5", "vlan_tci=0x0000 actions=push_vlan:0x8100,mod_vlan_vid:5"},
	{"dl_vlan_pcp=5 actions=mod_vlan_pcp:3", "dl_vlan_pcp=5 actions=mod_vlan_pcp:3"},
	{"vlan_pcp=5,dl_vlan=7 actions=pop_vlan", "dl_vlan=7,dl_vlan_pcp=5 actions=strip_vlan"},
	{"vlan_tci=0x1000/0x1000 actions=drop", "vlan_tci=0x1000/0x1000 actions=drop"},
	{"vlan_tci=0/0x1fff actions=drop", "vlan_tci=0x0000/0x1fff actions=drop"},
	{"vlan_tci=0x300a actions=drop", "dl_vlan=10,dl_vlan_pcp=1 actions=drop"},
	{"vlan_tci=0x1fff actions=drop", "vlan_tci=0x1fff actions=drop"},
	{"vlan_vid=0x1005 actions=drop", "dl_vlan=5 actions=drop"},
	{"vlan_vid=0x1000/0x1000 actions=drop", "vlan_tci=0x1000/0x1000 actions=drop"},
	{"vlan_vid=0 actions=drop", "vlan_tci=0x0000/0x1fff actions=drop"},

	// IPv4.
	{"ip,nw_src=10.0.0.1,nw_dst=10.0.0.0/255.0.0.0 actions=drop", "ip,nw_src=10.0.0.1,nw_dst=10.0.0.0/8 actions=drop"},
	{"ip,nw_dst=10.0.0.0/255.0.255.0 actions=drop", "ip,nw_dst=10.0.0.0/255.0.255.0 actions=drop"},
	{"ip,nw_src=10.1.2.3/8 actions=drop", "ip,nw_src=10.0.0.0/8 actions=drop"},
	{"ip,ip_src=10.1.2.3/32,ipv4_dst=0.0.0.0/0 actions=drop", "ip,nw_src=10.1.2.3 actions=drop"},
	{"ip,nw_proto=47 actions=drop", "ip,nw_proto=47 actions=drop"},
	{"ip,nw_proto=6 actions=drop", "tcp actions=drop"},
	{"ip,ip_proto=17 actions=drop", "udp actions=drop"},
	{"ip,nw_tos=184,nw_ecn=2,nw_ttl=5 actions=drop", "ip,nw_tos=184,nw_ecn=2,nw_ttl=5 actions=drop"},
	{"ipv6,ip_dscp=46 actions=drop", "ipv6,nw_tos=184 actions=drop"},
	{"ip,ip_ecn=3 actions=drop", "ip,nw_ecn=3 actions=drop"},
	{"ip,nw_frag=no actions=drop", "ip,nw_frag=no actions=drop"},
	{"ip,nw_frag=yes actions=drop", "ip,nw_frag=yes actions=drop"},
	{"ip,nw_frag=first actions=drop", "ip,nw_frag=first actions=drop"},
	{"ip,ip_frag=later actions=drop", "ip,nw_frag=later actions=drop"},
	{"ipv6,nw_frag=not_later actions=drop", "ipv6,nw_frag=not_later actions=drop"},
	{"ip,nw_frag=0x2/0x2 actions=drop", "ip,nw_frag=0x2/0x2 actions=drop"},
	{"ip,nw_frag=0 actions=drop", "ip,nw_frag=0 actions=drop"},

	// L4.
	{"tcp,tp_src=1024,tp_dst=80 actions=drop", "tcp,tp_src=1024,tp_dst=80 actions=drop"},
	{"tp_dst=80,tcp actions=drop", "tcp,tp_dst=80 actions=drop"},
	{"udp,udp_dst=53 actions=drop", "udp,tp_dst=53 actions=drop"},
	{"sctp6,sctp_src=1 actions=drop", "sctp6,tp_src=1 actions=drop"},
	{"tcp,tcp_dst=0x1000/0xf000 actions=drop", "tcp,tp_dst=0x1000/0xf000 actions=drop"},
	{"tcp6,tp_dst=443 actions=drop", "tcp6,tp_dst=443 actions=drop"},
	{"tcp,tcp_flags=+syn-ack actions=drop", "tcp,tcp_flags=+syn-ack actions=drop"},
	{"tcp,tcp_flags=0x002/0x012 actions=drop", "tcp,tcp_flags=+syn-ack actions=drop"},
	{"tcp,tcp_flags=syn|ack actions=drop", "tcp,tcp_flags=syn|ack actions=drop"},
	{"tcp,tcp_flags=0x12 actions=drop", "tcp,tcp_flags=syn|ack actions=drop"},
	{"tcp,tcp_flags=0 actions=drop", "tcp,tcp_flags=0 actions=drop"},
	{"tcp6,tcp_flags=-[800]+ns actions=drop", "tcp6,tcp_flags=+ns-[800] actions=drop"},
	{"icmp,icmp_type=8,icmp_code=0 actions=drop", "icmp,icmp_type=8,icmp_code=0 actions=drop"},
	{"icmp,icmpv4_type=3 actions=drop", "icmp,icmp_type=3 actions=drop"},
	{"icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=00:11:22:33:44:55 actions=drop",
		"icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=00:11:22:33:44:55 actions=drop"},
	{"icmp6,icmp_type=136,nd_target=fe80::/64,nd_tll=00:11:22:33:44:55 actions=drop",
		"icmp6,icmp_type=136,nd_target=fe80::/64,nd_tll=00:11:22:33:44:55 actions=drop"},
	{"icmp6,icmpv6_type=128,icmpv6_code=0 actions=drop", "icmp6,icmp_type=128,icmp_code=0 actions=drop"},
	{"icmp6,ipv6_nd_target=::1,icmp_type=136 actions=drop", "icmp6,icmp_type=136,nd_target=::1 actions=drop"},

	// ARP, using arp_* names and the nw_* names ovs-ofctl also accepts.
	{"arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00 actions=drop",
		"arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24,arp_op=1,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00 actions=drop"},
	{"arp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_proto=2 actions=drop", "arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=2 actions=drop"},
	{"rarp,arp_op=3 actions=drop", "rarp,arp_op=3 actions=drop"},

	// IPv6.
	{"ipv6,ipv6_src=2001:db8::/32,ipv6_dst=2001:db8::1,ipv6_label=0x12345 actions=drop",
		"ipv6,ipv6_src=2001:db8::/32,ipv6_dst=2001:db8::1,ipv6_label=0x12345 actions=drop"},
	{"ipv6,ipv6_dst=2001:db8::/ffff:ffff::ff actions=drop", "ipv6,ipv6_dst=2001:db8::/ffff:ffff::ff actions=drop"},
	{"ipv6,ipv6_flabel=0x1/0xf actions=drop", "ipv6,ipv6_label=0x00001/0x0000f actions=drop"},
	{"ipv6,ipv6_src=::ffff:1.2.3.4 actions=drop", "ipv6,ipv6_src=::ffff:1.2.3.4 actions=drop"},

	// Pipeline fields and tunnels.
	{"metadata=0x5/0xff,reg0=1,reg7=0x10/0xf0 actions=drop", "reg0=0x1,reg7=0x10/0xf0,metadata=0x5/0xff actions=drop"},
	{"tun_id=0x64,tun_src=203.0.113.1,tun_dst=203.0.113.0/24 actions=drop", "tun_id=0x64,tun_src=203.0.113.1,tun_dst=203.0.113.0/24 actions=drop"},
	{"tunnel_id=5 actions=drop", "tun_id=0x5 actions=drop"},

	// Actions.
	{"actions=output:1,output:NORMAL", "actions=output:1,NORMAL"},
	{"actions=1,2,3", "actions=output:1,output:2,output:3"},
	{"actions=controller:100", "actions=CONTROLLER:100"},
	{"actions=controller(max_len=128)", "actions=CONTROLLER:128"},
	{"actions=output:controller", "actions=CONTROLLER:65535"},
	{"actions=CONTROLLER:65535", "actions=CONTROLLER:65535"},
	{"actions=output(port=1,max_len=64)", "actions=output(port=1,max_len=64)"},
	{"actions=TABLE,in_port,Normal", "actions=TABLE,IN_PORT,NORMAL"},
	{"tcp actions=mod_dl_src:00:11:22:33:44:55,mod_dl_dst:00:00:00:00:00:01,mod_nw_src:1.2.3.4,mod_nw_dst:5.6.7.8,mod_nw_tos:16,mod_nw_ecn:1,mod_nw_ttl:9,dec_ttl,mod_tp_src:1,mod_tp_dst:2",
		"tcp actions=mod_dl_src:00:11:22:33:44:55,mod_dl_dst:00:00:00:00:00:01,mod_nw_src:1.2.3.4,mod_nw_dst:5.6.7.8,mod_nw_tos:16,mod_nw_ecn:1,mod_nw_ttl:9,dec_ttl,mod_tp_src:1,mod_tp_dst:2"},
	{"actions=set_field:00:11:22:33:44:55->eth_dst", "actions=mod_dl_dst:00:11:22:33:44:55"},
	{"ip actions=set_field:10.0.0.0/8->ip_dst", "ip actions=set_field:10.0.0.0/8->nw_dst"},
	{"actions=set_field:0x1/0x1->reg3", "actions=set_field:0x1/0x1->reg3"},
	{"actions=set_field:0xff/0x0f->reg3", "actions=set_field:0xf/0xf->reg3"},
	{"actions=set_field:4100->vlan_vid", "actions=mod_vlan_vid:4"},
	{"actions=set_field:5->vlan_vid", "actions=set_field:5->vlan_vid"},
	{"actions=set_field:0x1fff->vlan_vid", "actions=set_field:8191->vlan_vid"},
	{"actions=set_field:3->vlan_pcp", "actions=mod_vlan_pcp:3"},
	{"actions=load:0x1->NXM_NX_REG0[]", "actions=set_field:0x1->reg0"},
	{"actions=load:1->reg1", "actions=set_field:0x1->reg1"},
	{"actions=load:0xa000001->NXM_NX_TUN_IPV4_DST[]", "actions=set_field:10.0.0.1->tun_dst"},
	{"ipv6 actions=load:0x20010db8000000000000000000000001->NXM_NX_IPV6_DST[]", "ipv6 actions=set_field:2001:db8::1->ipv6_dst"},
	{"actions=load:0x0000aabbccddeeff->NXM_OF_ETH_SRC[]", "actions=mod_dl_src:aa:bb:cc:dd:ee:ff"},
	{"actions=set_field:5->tun_id", "actions=set_field:0x5->tun_id"},
	{"actions=set_tunnel:5", "actions=set_field:0x5->tun_id"},
	{"actions=set_tunnel64:0x100000000", "actions=set_field:0x100000000->tun_id"},
	{"ip actions=set_field:8->nw_tos", "ip actions=mod_nw_tos:8"},
	{"ip actions=set_field:3->ip_dscp", "ip actions=mod_nw_tos:12"},
	{"ip actions=set_field:64->nw_ttl", "ip actions=set_field:64->nw_ttl"},
	{"tcp actions=set_field:80->tcp_dst", "tcp actions=set_field:80->tcp_dst"},
	{"tcp actions=set_field:0x50/0xfff0->tp_dst", "tcp actions=set_field:0x50/0xfff0->tp_dst"},
	{"ipv6 actions=set_field:fe80::1->ipv6_src", "ipv6 actions=set_field:fe80::1->ipv6_src"},
	{"actions=set_field:1.2.3.4->tun_src", "actions=set_field:1.2.3.4->tun_src"},
	{"actions=mod_vlan_vid:0", "actions=mod_vlan_vid:0"},
	{"actions=set_vlan_vid:7,set_vlan_pcp:1", "actions=mod_vlan_vid:7,mod_vlan_pcp:1"},
	{"actions=push_vlan:0x88a8", "actions=push_vlan:0x88a8"},
	{"actions=group:5,set_queue:3", "actions=group:5,set_queue:3"},
	{"actions=meter:1,output:1,clear_actions,write_actions(output:2,group:1),write_metadata:0x1/0x1,goto_table:5",
		"actions=meter:1,output:1,clear_actions,write_actions(output:2,group:1),write_metadata:0x1/0x1,goto_table:5"},
	{"actions=apply_actions(output:1),goto_table:2", "actions=output:1,goto_table:2"},
	{"actions=apply_actions()", "actions=drop"},
	{"actions=write_actions()", "actions=write_actions()"},
	{"actions=write_metadata:0xff", "actions=write_metadata:0xff"},
	{"actions=write_metadata:0x3/0x1", "actions=write_metadata:0x1/0x1"},
	{"table=1 actions=goto_table:2", "table=1, actions=goto_table:2"},
	{"actions=clear_actions", "actions=clear_actions"},
}

func TestParseRuleValid(t *testing.T) {
	for _, tc := range validRules {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRule(tc.in)
			if err != nil {
				t.Fatalf("ParseRule(%q): %v", tc.in, err)
			}
			got := FormatRule(r, FormatOptions{})
			if got != tc.want {
				t.Errorf("FormatRule(ParseRule(%q)):\n-\t%s\n+\t%s", tc.in, tc.want, got)
			}
			text, err := roundTrip(r, FormatOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The printed form is canonical: printing it again changes
			// nothing.
			again, err := ParseRule(text)
			if err != nil {
				t.Fatal(err)
			}
			if s := FormatRule(again, FormatOptions{}); s != text {
				t.Errorf("printing is not stable:\n-\t%s\n+\t%s", text, s)
			}
			if _, err := roundTrip(r, FormatOptions{Stats: true}); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestParseRuleFields checks what the text becomes, not only that it
// survives printing.
func TestParseRuleFields(t *testing.T) {
	field := flow.FieldByID
	exact := func(id flow.FieldID, v uint64) func(*flow.Match) {
		return func(m *flow.Match) { m.Set(field(id), flow.ValueOf(v)) }
	}
	masked := func(id flow.FieldID, v, mask uint64) func(*flow.Match) {
		return func(m *flow.Match) { m.SetMasked(field(id), flow.ValueOf(v), flow.ValueOf(mask)) }
	}
	tcp := []func(*flow.Match){exact(flow.FieldEthType, flow.EthTypeIPv4), exact(flow.FieldIPProto, flow.IPProtoTCP)}
	tests := []struct {
		in    string
		match []func(*flow.Match)
		in2   flow.Instructions
	}{
		{
			in:    "dl_vlan=10 actions=mod_vlan_vid:20",
			match: []func(*flow.Match){masked(flow.FieldVLANTCI, 0x100a, 0x1fff)},
			in2:   flow.Instructions{Apply: []flow.Action{flow.SetField{Field: flow.FieldVLANVID, Value: flow.ValueOf(0x1014), Mask: flow.ValueOf(0x1fff)}}},
		},
		{
			in:    "dl_vlan=0xffff actions=strip_vlan,push_vlan:0x8100",
			match: []func(*flow.Match){masked(flow.FieldVLANTCI, 0, 0xffff)},
			in2:   flow.Instructions{Apply: []flow.Action{flow.PopVLAN{}, flow.PushVLAN{EthType: 0x8100}}},
		},
		{
			in:    "dl_vlan_pcp=3 actions=mod_vlan_pcp:4",
			match: []func(*flow.Match){masked(flow.FieldVLANTCI, 0x7000, 0xf000)},
			in2:   flow.Instructions{Apply: []flow.Action{flow.SetField{Field: flow.FieldVLANPCP, Value: flow.ValueOf(4), Mask: flow.ValueOf(7)}}},
		},
		{
			in:    "tcp,nw_tos=184,tp_dst=80 actions=mod_nw_tos:8,mod_tp_dst:8080",
			match: append(tcp[:2:2], exact(flow.FieldIPDSCP, 46), exact(flow.FieldTCPDst, 80)),
			in2: flow.Instructions{Apply: []flow.Action{
				flow.SetField{Field: flow.FieldIPDSCP, Value: flow.ValueOf(2), Mask: flow.ValueOf(0x3f)},
				flow.SetField{Field: flow.FieldTpDst, Value: flow.ValueOf(8080), Mask: flow.ValueOf(0xffff)},
			}},
		},
		{
			in:    "tcp,tcp_flags=+syn-ack actions=mod_nw_ttl:3,dec_ttl",
			match: append(tcp[:2:2], masked(flow.FieldTCPFlags, 0x002, 0x012)),
			in2:   flow.Instructions{Apply: []flow.Action{flow.SetTTL{TTL: 3}, flow.DecTTL{}}},
		},
		{
			in:    "ip,nw_frag=later actions=controller:64",
			match: []func(*flow.Match){exact(flow.FieldEthType, flow.EthTypeIPv4), masked(flow.FieldIPFrag, 3, 3)},
			in2:   flow.Instructions{Apply: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 64}}},
		},
		{
			in:    "in_port=LOCAL actions=normal,flood,all,local,in_port,controller,output:7",
			match: []func(*flow.Match){exact(flow.FieldInPort, uint64(flow.PortLocal))},
			in2: flow.Instructions{Apply: []flow.Action{
				flow.Output{Port: flow.PortNormal}, flow.Output{Port: flow.PortFlood}, flow.Output{Port: flow.PortAll},
				flow.Output{Port: flow.PortLocal}, flow.Output{Port: flow.PortInPort},
				flow.Output{Port: flow.PortController, MaxLen: 0xffff}, flow.Output{Port: 7},
			}},
		},
		{
			in: "actions=meter:2,group:1,set_queue:4,clear_actions,write_actions(output:3),write_metadata:0x10/0xf0,goto_table:9",
			in2: flow.Instructions{
				Meter:        2,
				Apply:        []flow.Action{flow.Group{ID: 1}, flow.SetQueue{ID: 4}},
				ClearActions: true,
				HasWrite:     true,
				Write:        []flow.Action{flow.Output{Port: 3}},
				Metadata:     0x10, MetadataMask: 0xf0,
				GotoTable: 9, HasGoto: true,
			},
		},
		{
			in:    "arp,nw_dst=10.0.0.0/8 actions=drop",
			match: []func(*flow.Match){exact(flow.FieldEthType, flow.EthTypeARP), masked(flow.FieldARPTPA, 0x0a000000, 0xff000000)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRule(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			want := &flow.Rule{Priority: DefaultPriority, Instructions: tc.in2}
			for _, f := range tc.match {
				f(&want.Match)
			}
			if d := diffRules(want, r); d != "" {
				t.Errorf("ParseRule(%q) (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

func TestParseRuleErrors(t *testing.T) {
	tests := []struct {
		in    string
		token string // the offending item the error must name
		msg   string // the whole message, when it matters
		is    error
	}{
		{in: "foo=1 actions=drop", token: "foo=1", msg: `unknown field "foo" at "foo=1"`, is: ErrUnknownField},
		{in: "tp_dst=80 actions=drop", token: "tp_dst=80", msg: `parsing "tp_dst=80": tp_dst requires nw_proto=6|17|132 (add tcp, udp or sctp)`, is: flow.ErrPrereq},
		{in: "ipv6,tp_dst=80 actions=drop", token: "tp_dst=80", msg: `parsing "tp_dst=80": tp_dst requires nw_proto=6|17|132 (add tcp6, udp6 or sctp6)`},
		{in: "ip,tcp_flags=+syn actions=drop", token: "tcp_flags=+syn", msg: `parsing "tcp_flags=+syn": tcp_flags requires nw_proto=6 (add tcp)`},
		{in: "nw_tos=4 actions=drop", token: "nw_tos=4", msg: `parsing "nw_tos=4": nw_tos requires dl_type=0x0800|0x86dd (add ip or ipv6)`},
		{in: "ipv6,nw_src=1.2.3.4 actions=drop", token: "nw_src=1.2.3.4", msg: `parsing "nw_src=1.2.3.4": nw_src requires dl_type=0x0800|0x0806|0x8035 (add ip, arp or rarp)`},
		{in: "ip_src=1.2.3.4 actions=drop", token: "ip_src=1.2.3.4", msg: `parsing "ip_src=1.2.3.4": ip_src requires dl_type=0x0800 (add ip)`},
		{in: "arp,tp_src=1 actions=drop", token: "tp_src=1"},
		{in: "ip,mpls_label=1 actions=drop", token: "mpls_label=1"},
		{in: "mpls,mpls_label=1/0xf actions=drop", token: "mpls_label=1/0xf"},
		{in: "mpls,mpls_tc=8 actions=drop", token: "mpls_tc=8"},
		{in: "ip actions=push_mpls:0x0800", token: "push_mpls:0x0800"},
		{in: "ip actions=dec_mpls_ttl:1", token: "dec_mpls_ttl:1"},
		{in: "ip actions=set_mpls_ttl:256", token: "set_mpls_ttl:256"},
		{in: "icmp_type=3 actions=drop", token: "icmp_type=3", msg: `parsing "icmp_type=3": icmp_type requires nw_proto=1|58 (add icmp or icmp6)`},
		{in: "nd_target=::1 actions=drop", token: "nd_target=::1", msg: `parsing "nd_target=::1": nd_target requires icmp_type=135|136 (add icmp6,icmp_type=135 or icmp6,icmp_type=136)`},
		{in: "nd_sll=00:11:22:33:44:55,icmp6,icmp_type=136 actions=drop", token: "nd_sll=00:11:22:33:44:55"},
		{in: "arp_sha=00:11:22:33:44:55 actions=drop", token: "arp_sha=00:11:22:33:44:55", msg: `parsing "arp_sha=00:11:22:33:44:55": arp_sha requires dl_type=0x0806|0x8035 (add arp or rarp)`},
		{in: "dl_vlan=4095 actions=drop", token: "dl_vlan=4095"},
		{in: "dl_vlan=4096 actions=drop", token: "dl_vlan=4096"},
		{in: "dl_vlan=-1 actions=drop", token: "dl_vlan=-1"},
		{in: "vlan_pcp=8 actions=drop", token: "vlan_pcp=8"},
		{in: "in_port=70000 actions=drop", token: "in_port=70000"},
		{in: "in_port=0xffffff00 actions=drop", token: "in_port=0xffffff00"},
		{in: "in_port=1/1 actions=drop", token: "in_port=1/1"},
		{in: "in_port=vm1 actions=drop", token: "in_port=vm1", msg: `unknown port "vm1" at "in_port=vm1"`, is: ErrUnknownPort},
		{in: "ip,nw_proto=6/0xf actions=drop", token: "nw_proto=6/0xf"},
		{in: "ip,nw_src=1.2.3 actions=drop", token: "nw_src=1.2.3"},
		{in: "ip,nw_src=1.2.3.4/33 actions=drop", token: "nw_src=1.2.3.4/33"},
		{in: "ip,nw_src=1.2.3.4/255.0.0.x actions=drop", token: "nw_src=1.2.3.4/255.0.0.x"},
		{in: "ipv6,ipv6_src=fe80::1%eth0 actions=drop", token: "ipv6_src=fe80::1%eth0"},
		{in: "dl_src=aa:bb:cc actions=drop", token: "dl_src=aa:bb:cc"},
		{in: "dl_src=aa:bb:cc:dd:ee:fff actions=drop", token: "dl_src=aa:bb:cc:dd:ee:fff"},
		{in: "tcp,udp actions=drop", token: "udp", msg: `parsing "udp": conflicts with "tcp"`},
		{in: "tcp,nw_proto=17 actions=drop", token: "nw_proto=17"},
		{in: "dl_vlan=0xffff,dl_vlan_pcp=1 actions=drop", token: "dl_vlan_pcp=1"},
		{in: "ip,nw_tos=5 actions=drop", token: "nw_tos=5"},
		{in: "icmp,icmp_type=300 actions=drop", token: "icmp_type=300"},
		{in: "icmp,icmp_type=3/0xf actions=drop", token: "icmp_type=3/0xf"},
		{in: "ip,nw_frag=maybe actions=drop", token: "nw_frag=maybe"},
		{in: "tcp,tcp_flags=+bogus actions=drop", token: "tcp_flags=+bogus"},
		{in: "tcp,tcp_flags=0x1000 actions=drop", token: "tcp_flags=0x1000"},
		{in: "tcp,tp_dst=65536 actions=drop", token: "tp_dst=65536"},
		{in: "tcp,tp_dst= actions=drop", token: "tp_dst="},
		{in: "tcp,tp_dst actions=drop", token: "tp_dst"},
		{in: "reg8=1 actions=drop", token: "reg8=1", is: ErrUnknownField},
		{in: "ip=1 actions=drop", token: "ip=1"},
		{in: "send_flow_rem=1 actions=drop", token: "send_flow_rem=1"},
		{in: "priority=65536 actions=drop", token: "priority=65536"},
		{in: "priority=1,priority=2 actions=drop", token: "priority=2"},
		{in: "table=254 actions=drop", token: "table=254"},
		{in: "table=all actions=drop", token: "table=all"},
		{in: "idle_timeout=70000 actions=drop", token: "idle_timeout=70000"},
		{in: "importance=5 actions=drop", token: "importance=5", is: ErrNotSupported},
		{in: "out_port=1 actions=drop", token: "out_port=1"},
		{in: "out_group=1 actions=drop", token: "out_group=1"},
		{in: "cookie=1/1 actions=drop", token: "cookie=1/1"},
		{in: "cookie=0x1ffffffffffffffff actions=drop", token: "cookie=0x1ffffffffffffffff"},
		{in: "ip", token: "ip"},
		{in: "", token: ""},
		{in: "actions:output:1", token: "actions:output:1"},
		{in: `"vm1" actions=drop`, token: `"vm1"`, is: ErrUnknownField},
		{in: `in_port="vm1 actions=drop`, token: `in_port="vm1`},
		{in: "dl_vlan=1) actions=drop", token: "dl_vlan=1)"},
		{in: "dl_vlan(1 actions=drop", token: "dl_vlan(1 actions=drop"},
		{in: "=5 actions=drop", token: "=5"},

		// Actions.
		{in: "tcp actions=foo", token: "foo", msg: `unknown action "foo" at "foo"`, is: ErrUnknownAction},
		{in: "actions=bogus:1", token: "bogus:1", msg: `unknown action "bogus" at "bogus:1"`, is: ErrUnknownAction},
		{in: "actions=output:70000", token: "output:70000"},
		{in: "actions=70000", token: "70000"},
		{in: "actions=output:vm1", token: "output:vm1", msg: `unknown port "vm1" at "output:vm1"`},
		{in: "actions=output:ANY", token: "output:ANY"},
		{in: "actions=output:0", token: "output:0"},
		{in: "actions=output", token: "output"},
		{in: "actions=output(port=1)", token: "output(port=1)"},
		{in: "actions=output(port=1,max_len=2,x=3)", token: "x=3"},
		{in: "actions=output(port=1", token: "output(port=1"},
		{in: "actions=normal:1", token: "normal:1"},
		{in: "actions=controller:70000", token: "controller:70000"},
		{in: "actions=controller(reason=no_match)", token: "reason=no_match", is: ErrNotSupported},
		{in: "actions=mod_vlan_vid:4095", token: "mod_vlan_vid:4095"},
		{in: "actions=mod_vlan_pcp:8", token: "mod_vlan_pcp:8"},
		{in: "actions=mod_nw_tos:5", token: "mod_nw_tos:5"},
		{in: "actions=mod_nw_ecn:4", token: "mod_nw_ecn:4"},
		{in: "actions=mod_nw_ttl:256", token: "mod_nw_ttl:256"},
		{in: "actions=mod_dl_src:1.2.3.4", token: "mod_dl_src:1.2.3.4"},
		{in: "actions=mod_nw_dst:fe80::1", token: "mod_nw_dst:fe80::1"},
		{in: "actions=push_vlan:0x0800", token: "push_vlan:0x0800"},
		{in: "actions=strip_vlan:1", token: "strip_vlan:1"},
		{in: "actions=dec_ttl(1,2)", token: "dec_ttl(1,2)", is: ErrNotSupported},
		{in: "actions=load:1->NXM_NX_REG0[0..3]", token: "load:1->NXM_NX_REG0[0..3]", is: ErrNotSupported},
		{in: "actions=load:1/1->reg0", token: "load:1/1->reg0"},
		{in: "actions=load:0x100000000->reg0", token: "load:0x100000000->reg0"},
		{in: "actions=set_field:1->in_port", token: "set_field:1->in_port"},
		{in: "actions=set_field:1->foo", token: "set_field:1->foo", msg: `unknown field "foo" at "set_field:1->foo"`},
		{in: "actions=set_field:1", token: "set_field:1"},
		{in: "actions=set_field:1/1->nw_ttl", token: "set_field:1/1->nw_ttl"},
		{in: "actions=set_field:5->nw_tos", token: "set_field:5->nw_tos"},
		{in: "actions=set_tunnel:0x100000000", token: "set_tunnel:0x100000000"},
		{in: "actions=group:0xffffff01", token: "group:0xffffff01"},
		{in: "actions=meter:0", token: "meter:0"},
		{in: "actions=goto_table:254", token: "goto_table:254"},
		{in: "table=2 actions=goto_table:1", token: "goto_table:1"},
		{in: "table=2 actions=goto_table:2", token: "goto_table:2"},
		{in: "actions=goto_table:1,output:1", token: "output:1", msg: `parsing "output:1": actions must come before goto_table`},
		{in: "actions=write_actions(output:1),meter:1", token: "meter:1"},
		{in: "actions=clear_actions,clear_actions", token: "clear_actions"},
		{in: "actions=clear_actions:1", token: "clear_actions:1"},
		{in: "actions=output:1,apply_actions(output:2)", token: "apply_actions(output:2)"},
		{in: "actions=apply_actions(output:2),output:1", token: "output:1"},
		{in: "actions=apply_actions(output:2),apply_actions(output:1)", token: "apply_actions(output:1)"},
		{in: "actions=write_actions(goto_table:1)", token: "goto_table:1"},
		{in: "actions=write_actions:1", token: "write_actions:1"},
		{in: "actions=write_metadata:1/0", token: "write_metadata:1/0"},
		{in: "actions=write_metadata:x", token: "write_metadata:x"},
		{in: "actions=drop,output:1", token: "drop"},
		{in: "actions=output:1,drop", token: "drop"},
		{in: "actions=apply_actions(drop)", token: "drop"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRule(tc.in)
			if err == nil {
				t.Fatalf("ParseRule(%q) = %q, want an error", tc.in, FormatRule(r, FormatOptions{}))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseRule(%q) error %v is %T, want *Error", tc.in, err, err)
			}
			if e.Token != tc.token {
				t.Errorf("ParseRule(%q) error %q names token %q, want %q", tc.in, err, e.Token, tc.token)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tc.token)) {
				t.Errorf("ParseRule(%q) error %q does not show %q", tc.in, err, tc.token)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("ParseRule(%q) error:\n-\t%s\n+\t%s", tc.in, tc.msg, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("ParseRule(%q) error %q is not %v", tc.in, err, tc.is)
			}
		})
	}
}

func TestFormatRuleStats(t *testing.T) {
	r, err := ParseRule("priority=100,ip,in_port=1,nw_dst=198.51.100.0/24,idle_timeout=10 actions=mod_vlan_vid:10,output:2")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	r.Stats.Created = now.Add(-1234 * time.Millisecond)
	r.Stats.Add(3, 180, now.Add(-1000*time.Millisecond))
	got := FormatRule(r, FormatOptions{Stats: true, Now: now})
	want := " cookie=0x0, duration=1.234s, table=0, n_packets=3, n_bytes=180, idle_timeout=10, priority=100,ip,in_port=1,nw_dst=198.51.100.0/24 actions=mod_vlan_vid:10,output:2"
	if got != want {
		t.Errorf("FormatRule with stats:\n-\t%s\n+\t%s", want, got)
	}
	r, err = ParseRule("priority=100,ip,in_port=1,nw_dst=198.51.100.0/24,idle_timeout=10 actions=mod_vlan_vid:10,output:2")
	if err != nil {
		t.Fatal(err)
	}
	r.Stats.Created = now.Add(-5 * time.Second)
	r.Stats.Packets.Store(3)
	r.Stats.Bytes.Store(180)
	got = FormatRule(r, FormatOptions{Stats: true, Now: now})
	want = " cookie=0x0, duration=5s, table=0, n_packets=3, n_bytes=180, idle_timeout=10, priority=100,ip,in_port=1,nw_dst=198.51.100.0/24 actions=mod_vlan_vid:10,output:2"
	if got != want {
		t.Errorf("FormatRule with stats:\n-\t%s\n+\t%s", want, got)
	}
	if _, err := roundTrip(r, FormatOptions{Stats: true, Now: now}); err != nil {
		t.Error(err)
	}
}

func TestPortNames(t *testing.T) {
	names := map[string]uint32{"vm1": 1, "vm2": 2, "s1-eth1": 3, "local": 4, "7": 7, `we"ird`: 8}
	byNumber := map[uint32]string{}
	for n, p := range names {
		byNumber[p] = n
	}
	lookup := WithPortNames(func(name string) (uint32, bool) { p, ok := names[name]; return p, ok })
	portName := func(p uint32) (string, bool) { n, ok := byNumber[p]; return n, ok }
	tests := []struct{ in, want string }{
		{"in_port=vm1 actions=output:vm2", "in_port=vm1 actions=output:vm2"},
		{"in_port=vm1 actions=vm2", "in_port=vm1 actions=output:vm2"},
		{`in_port="s1-eth1" actions="vm2",output:"local"`, `in_port="s1-eth1" actions=output:vm2,output:"local"`},
		{`in_port="7" actions=output:7`, `in_port="7" actions=output:"7"`},
		{`in_port=local actions=output:"we\"ird"`, `in_port=LOCAL actions=output:"we\"ird"`},
		{"in_port=9 actions=output:9,write_actions(output:vm1)", "in_port=9 actions=output:9,write_actions(output:vm1)"},
		{"actions=output(port=vm1,max_len=10)", "actions=output(port=vm1,max_len=10)"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRule(tc.in, lookup)
			if err != nil {
				t.Fatal(err)
			}
			opts := FormatOptions{PortName: portName}
			if got := FormatRule(r, opts); got != tc.want {
				t.Errorf("FormatRule:\n-\t%s\n+\t%s", tc.want, got)
			}
			if _, err := roundTrip(r, opts, lookup); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := ParseRule("in_port=vm3 actions=drop", lookup); !errors.Is(err, ErrUnknownPort) {
		t.Errorf("unknown name: got %v, want ErrUnknownPort", err)
	}
	if _, err := ParseRule("actions=vm3", lookup); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("unknown bare name: got %v, want ErrUnknownAction", err)
	}
}

func TestParseFlowSpec(t *testing.T) {
	all, err := ParseFlowSpec("")
	if err != nil {
		t.Fatal(err)
	}
	want := FlowSpec{Table: flow.TableAll, Priority: DefaultPriority, OutPort: flow.PortAny, OutGroup: GroupAny}
	if *all != want {
		t.Errorf("ParseFlowSpec(\"\") = %+v, want %+v", *all, want)
	}

	s, err := ParseFlowSpec("table=2,priority=5,cookie=0x1f/0xf0,out_port=LOCAL,out_group=7,tcp,tp_dst=80", WithPortNames(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Table != 2 || s.Priority != 5 || !s.HasPriority || s.Cookie != 0x10 || s.CookieMask != 0xf0 ||
		s.OutPort != flow.PortLocal || s.OutGroup != 7 || FormatMatch(&s.Match) != "tcp,tp_dst=80" {
		t.Errorf("ParseFlowSpec: got %+v (match %q)", *s, FormatMatch(&s.Match))
	}

	s, err = ParseFlowSpec("table=255,cookie=5,out_port=3")
	if err != nil {
		t.Fatal(err)
	}
	if s.Table != flow.TableAll || s.Cookie != 5 || s.CookieMask != ^uint64(0) || s.HasPriority || s.OutPort != 3 {
		t.Errorf("ParseFlowSpec: got %+v", *s)
	}
	if s, err = ParseFlowSpec("table=all"); err != nil || s.Table != flow.TableAll {
		t.Errorf("ParseFlowSpec(table=all) = %+v, %v", s, err)
	}

	for _, tc := range []struct{ in, token string }{
		{"idle_timeout=5", "idle_timeout=5"},
		{"send_flow_rem", "send_flow_rem"},
		{"ip actions=drop", "actions=drop"},
		{"table=254", "table=254"},
		{"out_port=vm9", "out_port=vm9"},
		{"tp_dst=80", "tp_dst=80"},
		{"cookie=1/x", "cookie=1/x"},
	} {
		_, err := ParseFlowSpec(tc.in)
		var e *Error
		if !errors.As(err, &e) || e.Token != tc.token {
			t.Errorf("ParseFlowSpec(%q) error %v, want one naming %q", tc.in, err, tc.token)
		}
	}
}

func TestParseMatch(t *testing.T) {
	m, err := ParseMatch("tp_dst=80,tcp,nw_src=10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FormatMatch(&m), "tcp,nw_src=10.0.0.0/8,tp_dst=80"; got != want {
		t.Errorf("FormatMatch(ParseMatch(...)):\n-\t%s\n+\t%s", want, got)
	}
	if m, err := ParseMatch(""); err != nil || m != (flow.Match{}) {
		t.Errorf("ParseMatch(\"\") = %s, %v; want the match of everything", FormatMatch(&m), err)
	}
	for _, in := range []string{"priority=1,tcp", "tcp,cookie=1"} {
		if _, err := ParseMatch(in); !errors.Is(err, ErrUnknownField) {
			t.Errorf("ParseMatch(%q) = %v, want ErrUnknownField", in, err)
		}
	}
	if _, err := ParseMatch("tcp actions=drop"); err == nil {
		t.Error("ParseMatch accepted actions")
	}
}
