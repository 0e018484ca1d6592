package openflow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// matchRules cover every field with an OXM id, exact and masked where the
// field allows a mask, each with its prerequisites.
var matchRules = []string{
	"in_port=1,metadata=0x1234/0xff00,reg0=1,reg1=0x10/0xf0,reg2=2,reg3=3,reg4=4,reg5=5,reg6=6,reg7=0x7/0xf",
	"reg0=0x1/0x1,reg1=1,reg2=0x2/0x2,reg3=0x3/0x3,reg4=0x4/0x4,reg5=0x5/0x5,reg6=0x6/0x6,reg7=7",
	"metadata=0xfedcba9876543210,tun_id=0x5/0xf,tun_src=10.0.0.1,tun_dst=10.1.0.0/16",
	"tun_id=0xffffffffffffffff,tun_src=10.0.0.0/8,tun_dst=10.1.2.3",
	"dl_src=00:11:22:33:44:55,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,dl_type=0x88cc",
	"dl_src=00:11:00:00:00:00/ff:ff:00:00:00:00,dl_dst=aa:bb:cc:dd:ee:ff",
	"dl_vlan=10",
	"dl_vlan=10,dl_vlan_pcp=7",
	"vlan_tci=0x1000/0x1000",
	"vlan_tci=0",
	"vlan_tci=0x1005/0x1fff",
	"vlan_tci=0x0005/0x0fff",
	"vlan_tci=0x2000/0x2000",
	"vlan_tci=0xb00a",
	"ip,nw_src=203.0.113.1,nw_dst=198.51.100.0/24,ip_dscp=46,nw_ecn=3,nw_ttl=64,nw_frag=first",
	"ip,nw_frag=later,nw_src=10.0.0.0/8,nw_dst=10.0.0.1",
	"ip,nw_proto=47",
	"tcp,tcp_src=80,tcp_dst=0x400/0xfc00,tcp_flags=+syn-ack",
	"tcp,tp_src=0x10/0xf0,tp_dst=443,tcp_flags=0x12",
	"tcp6,tcp_src=22",
	"udp,udp_src=53,udp_dst=0x1000/0xf000",
	"udp6,udp_src=0x100/0xff00,udp_dst=67",
	"sctp,sctp_src=100,sctp_dst=0x200/0xff00",
	"sctp6,sctp_src=0x3/0x3,sctp_dst=9",
	"icmp,icmp_type=8,icmp_code=0",
	"arp,arp_op=1,arp_spa=203.0.113.1,arp_tpa=203.0.113.0/24,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00/ff:ff:ff:00:00:00",
	"rarp,arp_op=3,arp_spa=10.0.0.0/8,arp_tpa=10.0.0.2,arp_sha=00:11:00:00:00:00/ff:ff:00:00:00:00,arp_tha=00:11:22:33:44:55",
	"ipv6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::/32,ipv6_label=0x12345,nw_ttl=3,nw_frag=yes",
	"ipv6,ipv6_src=2001:db8::/64,ipv6_dst=::1,ipv6_label=0x5/0xf",
	"icmp6,icmpv6_type=128,icmpv6_code=0",
	"icmp6,icmpv6_type=135,nd_target=2001:db8::1,nd_sll=00:11:22:33:44:55",
	"icmp6,icmpv6_type=136,nd_target=2001:db8::/32,nd_tll=00:11:00:00:00:00/ff:ff:00:00:00:00",
	"icmp6,icmpv6_type=135,nd_sll=00:11:00:00:00:00/ff:ff:00:00:00:00",
	"icmp6,icmpv6_type=136,nd_tll=00:11:22:33:44:55",
	"mpls,mpls_label=1048575,mpls_tc=7,mpls_bos=1,mpls_ttl=64",
	"mplsm,mpls_label=0,mpls_tc=0,mpls_bos=0",
	"",
}

func TestMatchRoundTrip(t *testing.T) {
	seen := map[oxmID]map[bool]bool{}
	for _, s := range matchRules {
		t.Run(s, func(t *testing.T) {
			r := mustRule(t, s+",actions=drop")
			if err := r.Match.Validate(); err != nil {
				t.Fatalf("test match is invalid: %v", err)
			}
			b := EncodeMatch(&r.Match)
			if len(b)%8 != 0 {
				t.Errorf("match is %d bytes, not a multiple of 8", len(b))
			}
			for body := b[4:binary.BigEndian.Uint16(b[2:])]; len(body) > 0; {
				tlv, rest, ok := nextOXM(body)
				if !ok {
					t.Fatalf("EncodeMatch wrote a bad TLV: %x", b)
				}
				id := oxmID{tlv.class, tlv.field}
				if seen[id] == nil {
					seen[id] = map[bool]bool{}
				}
				seen[id][tlv.hasMask] = true
				body = rest
			}
			// Trailing bytes after the match are not consumed.
			m, n, err := DecodeMatch(append(b, 0xde, 0xad))
			if err != nil {
				t.Fatalf("DecodeMatch(%x): %v", b, err)
			}
			if n != len(b) {
				t.Errorf("DecodeMatch consumed %d bytes, want %d", n, len(b))
			}
			if m != r.Match {
				t.Errorf("round trip of %x:\n-\t%+v\n+\t%+v", b, r.Match, m)
			}
		})
	}
	for id, f := range oxmFields {
		if !seen[id][false] {
			t.Errorf("no test matches %s exactly", f.Name)
		}
		// vlan_vid masked and vlan_tci cover the TCI; in_port, eth_type,
		// ip_proto and the like cannot be masked.
		if f.Maskable && !seen[id][true] {
			t.Errorf("no test matches %s with a mask", f.Name)
		}
	}
}

var instructionRules = []string{
	"actions=drop",
	"actions=output:1,output:controller,output:in_port,output:local,output:all,output:flood,output:normal",
	"actions=push_vlan:0x88a8,pop_vlan,set_queue:3,group:9,mod_nw_ttl:1,dec_ttl",
	"actions=push_mpls:0x8847,push_mpls:0x8848,pop_mpls:0x0800,set_mpls_ttl(7),dec_mpls_ttl,set_field:203->mpls_label,set_field:5->mpls_tc,set_field:0->mpls_bos,set_field:9->mpls_ttl",
	"actions=set_field:10.0.0.1->nw_dst,set_field:2001:db8::1->ipv6_src,set_field:0x12345->ipv6_label,set_field:5->reg3,set_field:0x1234->tun_id,set_field:1->ip_ecn,set_field:3->vlan_pcp",
	"actions=meter:1,clear_actions,write_actions(output:2,group:1),write_metadata:0xff00/0xffff,goto_table:3",
	"actions=write_actions()",
	"actions=set_field:0x5/0xf->reg0,set_field:0x1000/0x1000->vlan_tci",
	"actions=load:0x1->NXM_NX_REG1[],load:0xab->OXM_OF_METADATA[]",
}

func TestInstructionsRoundTrip(t *testing.T) {
	for _, s := range instructionRules {
		t.Run(s, func(t *testing.T) {
			r, err := flowtextParse(s)
			if err != nil {
				t.Skipf("flowtext does not take %q: %v", s, err)
			}
			b, err := EncodeInstructions(&r.Instructions)
			if err != nil {
				t.Fatalf("EncodeInstructions: %v", err)
			}
			in, err := DecodeInstructions(b)
			if err != nil {
				t.Fatalf("DecodeInstructions(%x): %v", b, err)
			}
			if !reflect.DeepEqual(in, r.Instructions) {
				t.Errorf("round trip of %x:\n-\t%+v\n+\t%+v", b, r.Instructions, in)
			}
		})
	}
}

func TestEncodeInstructionsErrors(t *testing.T) {
	for _, in := range []flow.Instructions{
		{Apply: []flow.Action{flow.SetField{Field: flow.FieldTpSrc, Value: flow.ValueOf(1), Mask: flow.ValueOf(0xffff)}}},
		{Write: []flow.Action{nil}},
		{Apply: []flow.Action{flow.SetField{Field: flow.NumFields}}},
	} {
		if _, err := EncodeInstructions(&in); err == nil {
			t.Errorf("EncodeInstructions(%+v) succeeded", in)
		}
	}
}

func TestNiciraDecTTL(t *testing.T) {
	b := []byte{0, 4, 0, 24, 0, 0, 0, 0, 0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 18, 0, 0, 0, 0, 0, 0}
	in, err := DecodeInstructions(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []flow.Action{flow.DecTTL{}}; !reflect.DeepEqual(in.Apply, want) {
		t.Errorf("got %+v, want %+v", in.Apply, want)
	}
}

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader([]byte{4, 14, 0, 8, 1, 2, 3, 4})
	if want := (Header{Version: 4, Type: TypeFlowMod, Length: 8, Xid: 0x01020304}); err != nil || h != want {
		t.Errorf("ParseHeader = %+v, %v; want %+v", h, err, want)
	}
	for _, b := range [][]byte{nil, {4, 0, 0, 8}, {4, 0, 0, 7, 0, 0, 0, 0}, {4, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := ParseHeader(b); err == nil {
			t.Errorf("ParseHeader(%x) succeeded", b)
		}
	}
}

func TestReadMessage(t *testing.T) {
	hello := []byte{4, 0, 0, 8, 0, 0, 0, 1}
	echo := []byte{4, 2, 0, 12, 0, 0, 0, 2, 'p', 'i', 'n', 'g'}
	r := bytes.NewReader(append(append([]byte{}, hello...), echo...))
	buf := make([]byte, 0, 8)
	msg, err := ReadMessage(r, buf)
	if err != nil || !bytes.Equal(msg, hello) {
		t.Fatalf("first message: %x, %v", msg, err)
	}
	if &msg[0] != &buf[:1][0] {
		t.Error("ReadMessage did not reuse a big enough buffer")
	}
	msg, err = ReadMessage(r, msg)
	if err != nil || !bytes.Equal(msg, echo) {
		t.Fatalf("second message: %x, %v", msg, err)
	}
	if _, err := ReadMessage(r, msg); !errors.Is(err, io.EOF) {
		t.Errorf("at end: %v, want EOF", err)
	}
	// A body cut short, a length below the header and a lying big length.
	for _, in := range [][]byte{
		{4, 2, 0, 12, 0, 0, 0, 2, 'p'},
		{4, 0, 0, 4, 0, 0, 0, 1},
		{4, 0, 0xff, 0xff, 0, 0, 0, 1, 0},
		{4, 0, 0},
	} {
		if msg, err := ReadMessage(bytes.NewReader(in), nil); err == nil {
			t.Errorf("ReadMessage(%x) = %x, want an error", in, msg)
		}
	}
}
