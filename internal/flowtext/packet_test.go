package flowtext

import (
	"errors"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// validPackets maps packet descriptions to what FormatKey prints for them.
var validPackets = []struct{ in, want string }{
	{"in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0800,nw_src=203.0.113.1,nw_dst=198.51.100.7",
		"ip,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=203.0.113.1,nw_dst=198.51.100.7,nw_proto=0,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no"},
	{"tcp,in_port=2,nw_src=10.0.0.1,tp_src=4321,tp_dst=80,tcp_flags=syn,nw_ttl=3",
		"tcp,in_port=2,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=10.0.0.1,nw_dst=0.0.0.0,nw_tos=0,nw_ecn=0,nw_ttl=3,nw_frag=no,tp_src=4321,tp_dst=80,tcp_flags=syn"},
	{"udp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,tp_dst=53,nw_tos=32,nw_ecn=1,ipv6_label=0x12345",
		"udp6,in_port=0,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,ipv6_label=0x12345,nw_tos=32,nw_ecn=1,nw_ttl=64,nw_frag=no,tp_src=0,tp_dst=53"},
	{"icmp,icmp_type=8,icmp_code=0,dl_vlan=10,dl_vlan_pcp=3",
		"icmp,in_port=0,dl_vlan=10,dl_vlan_pcp=3,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=0.0.0.0,nw_dst=0.0.0.0,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=8,icmp_code=0"},
	{"icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=00:11:22:33:44:55",
		"icmp6,in_port=0,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,ipv6_src=::,ipv6_dst=::,ipv6_label=0x00000,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=135,icmp_code=0,nd_target=fe80::1,nd_sll=00:11:22:33:44:55"},
	{"arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_sha=00:11:22:33:44:55,in_port=LOCAL",
		"arp,in_port=LOCAL,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00"},
	{"ip,nw_frag=later,nw_proto=6",
		"tcp,in_port=0,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=0.0.0.0,nw_dst=0.0.0.0,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=later"},
	{"ip,nw_frag=first,nw_ttl=0",
		"ip,in_port=0,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=0.0.0.0,nw_dst=0.0.0.0,nw_proto=0,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=first"},
	{"in_port=3,reg0=5,metadata=0x10,tun_id=0x7,tun_dst=203.0.113.9,vlan_vid=0x1005",
		"reg0=0x5,tun_id=0x7,tun_dst=203.0.113.9,metadata=0x10,in_port=3,dl_vlan=5,dl_vlan_pcp=0,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,dl_type=0x0000"},
	{"mpls,mpls_label=100,mpls_tc=3,mpls_bos=1,mpls_ttl=64,dl_vlan=5",
		"mpls,in_port=0,dl_vlan=5,dl_vlan_pcp=0,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,mpls_label=100,mpls_tc=3,mpls_ttl=64,mpls_bos=1"},
	{"dl_type=0x88cc", "in_port=0,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,dl_type=0x88cc"},
	{"", "in_port=0,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,dl_type=0x0000"},
}

func TestParsePacket(t *testing.T) {
	for _, tc := range validPackets {
		t.Run(tc.in, func(t *testing.T) {
			k, err := ParsePacket(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := FormatKey(&k)
			if got != tc.want {
				t.Errorf("FormatKey(ParsePacket(%q)):\n-\t%s\n+\t%s", tc.in, tc.want, got)
			}
			back, err := ParsePacket(got)
			if err != nil {
				t.Fatalf("reparsing %q: %v", got, err)
			}
			if d := diffKeys(&k, &back); d != "" {
				t.Errorf("reparsing %q (-want +got):\n%s", got, d)
			}
		})
	}
}

func TestParsePacketKey(t *testing.T) {
	k, err := ParsePacket("in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0800,nw_src=203.0.113.1,dl_vlan=10")
	if err != nil {
		t.Fatal(err)
	}
	want := flow.Key{
		InPort:  1,
		EthSrc:  [6]byte{0, 0, 0, 0, 0, 1},
		EthDst:  [6]byte{0, 0, 0, 0, 0, 2},
		EthType: flow.EthTypeIPv4,
		NwSrc:   0xcb007101,
		NwTTL:   64,
		VLANs:   [2]flow.VLAN{{TPID: flow.EthTypeVLAN, TCI: flow.TCIPresent | 10}},
	}
	if d := diffKeys(&want, &k); d != "" {
		t.Errorf("ParsePacket (-want +got):\n%s", d)
	}

	names := WithPortNames(func(name string) (uint32, bool) { return 9, name == "vm1" })
	if k, err := ParsePacket("in_port=vm1", names); err != nil || k.InPort != 9 {
		t.Errorf("ParsePacket(in_port=vm1) = %d, %v", k.InPort, err)
	}
}

func TestParsePacketErrors(t *testing.T) {
	tests := []struct {
		in, token string
		is        error
	}{
		{"ip,nw_src=10.0.0.0/8", "nw_src=10.0.0.0/8", nil},
		{"tcp,tcp_flags=+syn", "tcp_flags=+syn", nil},
		{"ip,nw_frag=yes", "nw_frag=yes", nil},
		{"tp_dst=80", "tp_dst=80", flow.ErrPrereq},
		{"priority=1", "priority=1", ErrUnknownField},
		{"ip actions=drop", "actions=drop", nil},
		{"tcp,nw_frag=later,tp_dst=80", "tp_dst=80", nil},
		{"vlan_tci=0x000a", "vlan_tci=0x000a", nil},
		{"vlan_vid=5", "vlan_vid=5", nil},
		{"in_port=vm1", "in_port=vm1", ErrUnknownPort},
		{"tcp,udp", "udp", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParsePacket(tc.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParsePacket(%q) = %v, want an *Error", tc.in, err)
			}
			if e.Token != tc.token {
				t.Errorf("ParsePacket(%q) error %q names %q, want %q", tc.in, err, e.Token, tc.token)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("ParsePacket(%q) error %q is not %v", tc.in, err, tc.is)
			}
		})
	}
}
