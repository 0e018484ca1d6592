package openflow

import (
	"encoding/hex"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// encodeMessage encodes v, a value DecodeMessage returns for a message of
// type typ, with the given xid.
func encodeMessage(t testing.TB, typ uint8, v any, xid uint32) []byte {
	t.Helper()
	var b []byte
	var err error
	switch v := v.(type) {
	case nil:
		b = EncodeEmpty(typ, xid)
	case Hello:
		b = v.Encode(xid)
	case ErrorMsg:
		b = v.Encode(xid)
	case Echo:
		b = v.Encode(xid)
	case FeaturesReply:
		b = v.Encode(xid)
	case SwitchConfig:
		b = v.Encode(typ, xid)
	case AsyncConfig:
		b = v.Encode(typ, xid)
	case GroupMod:
		b, err = v.Encode(xid)
	case MeterMod:
		b, err = v.Encode(xid)
	case FlowMod:
		b, err = v.Encode(xid)
	case PacketIn:
		b = v.Encode(xid)
	case PacketOut:
		b, err = v.Encode(xid)
	case FlowRemoved:
		b = v.Encode(xid)
	case PortStatus:
		b = v.Encode(xid)
	case Multipart:
		b = v.Encode(xid)
	default:
		switch e := v.(type) {
		case interface{ Encode(uint32) []byte }:
			b = e.Encode(xid)
		case interface{ Encode(uint32) ([]byte, error) }:
			b, err = e.Encode(xid)
		default:
			t.Fatalf("cannot encode %T", v)
		}
	}
	if err != nil {
		t.Fatalf("encoding %+v: %v", v, err)
	}
	return b
}

func testFlowMod(t testing.TB) FlowMod {
	fm := NewFlowMod(mustRule(t, "table=1,priority=200,tcp,nw_src=10.0.0.0/8,tp_dst=80,idle_timeout=10,actions=dec_ttl,output:2,goto_table:2"))
	fm.Cookie = 0x1234
	fm.Flags = uint16(flow.FlagSendFlowRem)
	return fm
}

func testPacketIn(t testing.TB) PacketIn {
	return PacketIn{
		BufferID: NoBuffer,
		TotalLen: 14,
		Reason:   PacketInAction,
		TableID:  3,
		Cookie:   0xabcd,
		Match:    mustRule(t, "in_port=7,actions=drop").Match,
		Data:     hx(t, "ffffffffffff 001122334455 0806"),
	}
}

func testPacketOut(t testing.TB) PacketOut {
	return PacketOut{
		BufferID: NoBuffer,
		InPort:   flow.PortController,
		Actions:  []flow.Action{flow.PopVLAN{}, flow.Output{Port: 5}},
		Data:     hx(t, "ffffffffffff 001122334455 0806"),
	}
}

func testFlowRemoved(t testing.TB) FlowRemoved {
	return FlowRemoved{
		Cookie:       0x99,
		Priority:     300,
		Reason:       FlowRemovedIdleTimeout,
		TableID:      2,
		DurationSec:  5,
		DurationNsec: 500000000,
		IdleTimeout:  60,
		PacketCount:  10,
		ByteCount:    1000,
		Match:        mustRule(t, "udp,tp_src=53,actions=drop").Match,
	}
}

func testPortStatus() PortStatus {
	return PortStatus{Reason: PortModify, Port: Port{
		PortNo:     3,
		HWAddr:     [6]byte{0x02, 0, 0, 0, 0, 3},
		Name:       "tap3",
		Config:     PortConfigNoFwd,
		State:      PortStateLive,
		Curr:       1<<5 | 1<<11, // 1GB_FD, COPPER
		Advertised: 1 << 5,
		Supported:  1<<5 | 1<<3,
		CurrSpeed:  1000000,
		MaxSpeed:   1000000,
	}}
}

func testFlowStats(t testing.TB) []FlowStats {
	fm := testFlowMod(t)
	return []FlowStats{
		{TableID: 1, DurationSec: 3, DurationNsec: 250000000, Priority: fm.Priority, IdleTimeout: fm.IdleTimeout,
			Flags: fm.Flags, Cookie: fm.Cookie, PacketCount: 4, ByteCount: 256, Match: fm.Match, Instructions: fm.Instructions},
		{Priority: 0, Instructions: flow.Instructions{Apply: []flow.Action{flow.Output{Port: flow.PortController, MaxLen: 128}}}},
	}
}

func multipartBody(t testing.TB, typ uint16, reply bool, flags uint16, body func([]byte) ([]byte, error)) Multipart {
	b, err := body(nil)
	if err != nil {
		t.Fatal(err)
	}
	return Multipart{Reply: reply, Type: typ, Flags: flags, Body: b}
}

// messageCases are encoded, decoded and (where want is set) checked with
// ovs-ofctl ofp-print; hex and want were checked against it when written.
func messageCases(t testing.TB) []struct {
	name string
	typ  uint8
	v    any
	hex  string
	want string
} {
	return []struct {
		name string
		typ  uint8
		v    any
		hex  string
		want string
	}{
		{"hello", TypeHello, OurHello(),
			"04000010000000070001000800000010",
			"OFPT_HELLO (OF1.3) (xid=0x7):\n version bitmap: 0x04"},
		{"hello without bitmap", TypeHello, Hello{Version: 0x01},
			"0100000800000007",
			""},
		{"error", TypeError, NewErrorMsg(reqErr(BadRequestEPerm, "x"), hx(t, "04050008 00000005")),
			"0401001400000007000100050405000800000005",
			"OFPT_ERROR (OF1.3) (xid=0x7): OFPBRC_EPERM\nOFPT_FEATURES_REQUEST (OF1.3) (xid=0x5):"},
		{"echo request", TypeEchoRequest, Echo{Data: []byte("ping")},
			"0402000c0000000770696e67",
			"OFPT_ECHO_REQUEST (OF1.3) (xid=0x7): 4 bytes of payload\n00000000  70 69 6e 67                                     |ping            |"},
		{"echo reply", TypeEchoReply, Echo{Reply: true, Data: []byte("ping")},
			"0403000c0000000770696e67",
			""},
		{"features request", TypeFeaturesRequest, nil,
			"0405000800000007",
			""},
		{"features reply", TypeFeaturesReply, FeaturesReply{DatapathID: 0x42, NBuffers: 256, NTables: 254, AuxiliaryID: 0, Capabilities: CapFlowStats | CapPortStats},
			"0406002000000007000000000000004200000100fe0000000000000500000000",
			"OFPT_FEATURES_REPLY (OF1.3) (xid=0x7): dpid:0000000000000042\nn_tables:254, n_buffers:256\ncapabilities: FLOW_STATS PORT_STATS"},
		{"get config request", TypeGetConfigRequest, nil,
			"0407000800000007",
			""},
		{"get config reply", TypeGetConfigReply, SwitchConfig{Flags: ConfigFragNormal, MissSendLen: 128},
			"0408000c0000000700000080",
			"OFPT_GET_CONFIG_REPLY (OF1.3) (xid=0x7): frags=normal miss_send_len=128"},
		{"set config", TypeSetConfig, SwitchConfig{Flags: ConfigFragDrop, MissSendLen: ControllerMaxLenNoBuffer},
			"0409000c000000070001ffff",
			"OFPT_SET_CONFIG (OF1.3) (xid=0x7): frags=drop miss_send_len=65535"},
		{"barrier request", TypeBarrierRequest, nil,
			"0414000800000007",
			"OFPT_BARRIER_REQUEST (OF1.3) (xid=0x7):"},
		{"barrier reply", TypeBarrierReply, nil,
			"0415000800000007",
			""},
		{"flow mod", TypeFlowMod, testFlowMod(t),
			"040e008000000007000000000000123400000000000000000100000a000000c8ffffffffffffffffffffffff000100000001002180000a0208008000140106800017080a000000ff00000080001c0200500000000000000000040020000000000018000800000000000000100000000200000000000000000001000802000000",
			"OFPT_FLOW_MOD (OF1.3) (xid=0x7): ADD table:1 priority=200,tcp,nw_src=10.0.0.0/8,tp_dst=80 cookie:0x1234 idle:10 send_flow_rem actions=dec_ttl,output:2,goto_table:2"},
		{"packet in", TypePacketIn, testPacketIn(t),
			"040a003800000007ffffffff000e0103000000000000abcd0001000c8000000400000007000000000000ffffffffffff0011223344550806",
			"OFPT_PACKET_IN (OF1.3) (xid=0x7): table_id=3 cookie=0xabcd total_len=14 in_port=7 (via action) data_len=14 (unbuffered)\narp,vlan_tci=0x0000,dl_src=00:11:22:33:44:55,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=0.0.0.0,arp_tpa=0.0.0.0,arp_op=0,arp_sha=00:00:00:00:00:00,arp_tha=00:00:00:00:00:00"},
		{"packet out", TypePacketOut, testPacketOut(t),
			"040d003e00000007fffffffffffffffd0018000000000000001200080000000000000010000000050000000000000000ffffffffffff0011223344550806",
			"OFPT_PACKET_OUT (OF1.3) (xid=0x7): in_port=CONTROLLER actions=pop_vlan,output:5 data_len=14\narp,vlan_tci=0x0000,dl_src=00:11:22:33:44:55,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=0.0.0.0,arp_tpa=0.0.0.0,arp_op=0,arp_sha=00:00:00:00:00:00,arp_tha=00:00:00:00:00:00"},
		{"port status", TypePortStatus, testPortStatus(),
			"040c00500000000702000000000000000000000300000000020000000003000074617033000000000000000000000000000000200000000400000820000000200000002800000000000f4240000f4240",
			"OFPT_PORT_STATUS (OF1.3) (xid=0x7): MOD: 3(tap3): addr:02:00:00:00:00:03\n     config:     NO_FWD\n     state:      LIVE\n     current:    1GB-FD COPPER\n     advertised: 1GB-FD\n     supported:  100MB-FD 1GB-FD\n     speed: 1000 Mbps now, 1000 Mbps max"},
		{"desc request", TypeMultipartRequest, Multipart{Type: MultipartDesc, Body: []byte{}},
			"04120010000000070000000000000000",
			"OFPST_DESC request (OF1.3) (xid=0x7):"},
		{"desc reply", TypeMultipartReply, multipartBody(t, MultipartDesc, true, 0, func(b []byte) ([]byte, error) {
			d := Desc{MfrDesc: "dvs project", HWDesc: "userspace", SWDesc: "dvs 0.1", SerialNum: "none", DPDesc: "br0"}
			return d.Append(b), nil
		}),
			"041304300000000700000000000000006476732070726f6a65637400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000007573657273706163650000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000064767320302e310000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006e6f6e650000000000000000000000000000000000000000000000000000000062723000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
			"OFPST_DESC reply (OF1.3) (xid=0x7):\nManufacturer: dvs project\nHardware: userspace\nSoftware: dvs 0.1\nSerial Num: none\nDP Description: br0"},
		{"flow stats request", TypeMultipartRequest, multipartBody(t, MultipartFlow, false, 0, func(b []byte) ([]byte, error) {
			r := FlowStatsRequest{TableID: flow.TableAll, OutPort: flow.PortAny, OutGroup: GroupAny, Cookie: 0x1234, CookieMask: 0xffff,
				Match: mustRule(t, "ip,nw_dst=10.0.0.0/8,actions=drop").Match}
			return r.Append(b), nil
		}),
			"04120048000000070001000000000000ff000000ffffffffffffffff000000000000000000001234000000000000ffff0001001680000a020800800019080a000000ff0000000000",
			"OFPST_FLOW request (OF1.3) (xid=0x7): ip,nw_dst=10.0.0.0/8"},
		{"flow stats reply", TypeMultipartReply, multipartBody(t, MultipartFlow, true, MultipartReplyMore, func(b []byte) ([]byte, error) {
			return AppendFlowStats(b, testFlowStats(t))
		}),
			"041300e000000007000100010000000000800100000000030ee6b28000c8000a00000001000000000000000000001234000000000000000400000000000001000001002180000a0208008000140106800017080a000000ff00000080001c02005000000000000000000400200000000000180008000000000000001000000002000000000000000000010008020000000050000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001000400000000000400180000000000000010fffffffd0080000000000000",
			"OFPST_FLOW reply (OF1.3) (xid=0x7): flags=[more]\n cookie=0x1234, duration=3.250s, table=1, n_packets=4, n_bytes=256, idle_timeout=10, send_flow_rem priority=200,tcp,nw_src=10.0.0.0/8,tp_dst=80 actions=dec_ttl,output:2,goto_table:2\n cookie=0x0, duration=0s, table=0, n_packets=0, n_bytes=0, priority=0 actions=CONTROLLER:128"},
		{"flow removed", TypeFlowRemoved, testFlowRemoved(t),
			"040b0048000000070000000000000099012c0002000000051dcd6500003c0000000000000000000a00000000000003e80001001580000a020800800014011180001e020035000000",
			"OFPT_FLOW_REMOVED (OF1.3) (xid=0x7): priority=300,udp,tp_src=53 reason=idle table_id=2 cookie:0x99 duration5.500s idle60 pkts10 bytes1000"},
	}
}

func TestMessages(t *testing.T) {
	ofctl, _ := exec.LookPath("ovs-ofctl")
	for _, tc := range messageCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			msg := encodeMessage(t, tc.typ, tc.v, 7)
			got := hex.EncodeToString(msg)
			if tc.hex != "" && got != tc.hex {
				t.Errorf("encoding:\n-\t%s\n+\t%s", tc.hex, got)
			}
			h, err := ParseHeader(msg)
			if err != nil || h.Type != tc.typ || h.Xid != 7 || int(h.Length) != len(msg) {
				t.Fatalf("header %+v, %v", h, err)
			}
			v, err := DecodeMessage(msg)
			if err != nil {
				t.Fatalf("DecodeMessage(%s): %v", got, err)
			}
			if !reflect.DeepEqual(v, tc.v) {
				t.Errorf("DecodeMessage(%s):\n-\t%+v\n+\t%+v", got, tc.v, v)
			}
			if ofctl == "" || tc.want == "" {
				return
			}
			out, err := exec.Command(ofctl, "ofp-print", got).CombinedOutput()
			if err != nil {
				t.Fatalf("ovs-ofctl ofp-print: %v\n%s", err, out)
			}
			if s := strings.TrimSpace(string(out)); s != tc.want {
				t.Errorf("ovs-ofctl ofp-print:\n-\t%s\n+\t%s", tc.want, s)
			}
		})
	}
}
