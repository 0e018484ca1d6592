package openflow

import (
	"encoding/binary"
	"encoding/hex"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

func testBucket(t testing.TB, actions string, weight uint16, watchPort, watchGroup uint32) flow.Bucket {
	t.Helper()
	r := mustRule(t, "actions="+actions)
	return flow.Bucket{Weight: weight, WatchPort: watchPort, WatchGroup: watchGroup, Actions: r.Instructions.Apply}
}

func groupMods(t testing.TB) []GroupMod {
	anyP, anyG := flow.PortAny, flow.GroupAny
	return []GroupMod{
		{GroupAdd, flow.GroupSpec{ID: 1, Type: flow.GroupAll, Buckets: []flow.Bucket{
			testBucket(t, "output:2", 0, anyP, anyG),
			testBucket(t, "set_field:00:00:00:00:00:99->eth_dst,output:3", 0, anyP, anyG),
		}}},
		{GroupModify, flow.GroupSpec{ID: 7, Type: flow.GroupSelect, Buckets: []flow.Bucket{
			testBucket(t, "output:2", 1, anyP, anyG),
			testBucket(t, "dec_ttl,output:3", 3, 3, anyG),
		}}},
		{GroupAdd, flow.GroupSpec{ID: flow.GroupMax, Type: flow.GroupIndirect, Buckets: []flow.Bucket{
			testBucket(t, "push_vlan:0x8100,set_field:4196->vlan_vid,group:1", 0, anyP, anyG),
		}}},
		{GroupAdd, flow.GroupSpec{ID: 3, Type: flow.GroupFastFailover, Buckets: []flow.Bucket{
			testBucket(t, "output:2", 0, 2, anyG),
			testBucket(t, "output:3", 0, anyP, 1),
		}}},
		{GroupDelete, flow.GroupSpec{ID: GroupAll}},
		{GroupDelete, flow.GroupSpec{ID: 3}},
	}
}

// groupModPrints are groupMods(t) encoded with xid 1, and what Debian's
// ovs-ofctl ofp-print printed for them.
var groupModPrints = []struct{ hex, want string }{
	{
		"040f006000000001000000000000000100200000ffffffffffffffff000000000000001000000002000000000000000000300000ffffffffffffffff000000000019001080000606000000000099000000000010000000030000000000000000",
		"OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n ADD group_id=1,type=all,bucket=actions=output:2,bucket=actions=set_field:00:00:00:00:00:99->eth_dst,output:3",
	},
	{
		"040f005800000001000101000000000700200001ffffffffffffffff00000000000000100000000200000000000000000028000300000003ffffffff00000000001800080000000000000010000000030000000000000000",
		// ovs-ofctl leaves out the default weight 1.
		"OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n MOD group_id=7,type=select,bucket=actions=output:2,bucket=weight:3,watch_port:3,actions=dec_ttl,output:3",
	},
	{
		"040f00400000000100000200ffffff0000300000ffffffffffffffff0000000000110008810000000019001080000c0210640000000000000016000800000001",
		"OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n ADD group_id=4294967040,type=indirect,bucket=actions=push_vlan:0x8100,set_field:4196->vlan_vid,group:1",
	},
	{
		"040f00500000000100000300000000030020000000000002ffffffff000000000000001000000002000000000000000000200000ffffffff000000010000000000000010000000030000000000000000",
		"OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n ADD group_id=3,type=ff,bucket=watch_port:2,actions=output:2,bucket=watch_group:1,actions=output:3",
	},
	{
		"040f00100000000100020000fffffffc",
		"OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n DEL group_id=4294967292,type=all",
	},
	{
		"040f0010000000010002000000000003",
		"OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n DEL group_id=3,type=all",
	},
}

func ofprint(t *testing.T, h string) (string, bool) {
	t.Helper()
	ofctl, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		return "", false
	}
	out, err := exec.Command(ofctl, "ofp-print", h).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl ofp-print %s: %v\n%s", h, err, out)
	}
	return strings.TrimSpace(string(out)), true
}

func TestGroupModBytes(t *testing.T) {
	mods := groupMods(t)
	for i, tc := range groupModPrints {
		m := mods[i]
		b, err := m.Encode(1)
		if err != nil {
			t.Fatalf("encoding %+v: %v", m, err)
		}
		if got := hex.EncodeToString(b); got != tc.hex {
			t.Errorf("case %d encoding:\n-\t%s\n+\t%s", i, tc.hex, got)
		}
		got, err := DecodeGroupMod(b)
		if err != nil {
			t.Fatalf("case %d: DecodeGroupMod: %v", i, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("case %d round trip:\n-\t%+v\n+\t%+v", i, m, got)
		}
		if dm, err := DecodeMessage(b); err != nil || !reflect.DeepEqual(dm, m) {
			t.Errorf("case %d: DecodeMessage = %+v, %v", i, dm, err)
		}
		if out, ok := ofprint(t, tc.hex); ok && out != tc.want {
			t.Errorf("case %d ovs-ofctl ofp-print:\n-\t%s\n+\t%s", i, tc.want, out)
		}
	}
}

func TestGroupMultipartBytes(t *testing.T) {
	mods := groupMods(t)
	stats := []GroupStats{
		{GroupID: 1, RefCount: 2, PacketCount: 10, ByteCount: 1000, DurationSec: 5, DurationNsec: 7, Buckets: []BucketCounter{{4, 400}, {6, 600}}},
		{GroupID: 2},
	}
	statsBody, err := AppendGroupStats(nil, stats)
	if err != nil {
		t.Fatal(err)
	}
	descs := []flow.GroupSpec{mods[0].Group, mods[3].Group}
	descBody, err := AppendGroupDesc(nil, descs)
	if err != nil {
		t.Fatal(err)
	}
	feat := OurGroupFeatures()
	for _, tc := range []struct {
		name string
		mp   Multipart
		hex  string
		want string
	}{
		{
			"group stats request", Multipart{Type: MultipartGroup, Body: (&GroupStatsRequest{GroupID: GroupAll}).Append(nil)},
			"04120018000000010006000000000000fffffffc00000000",
			"OFPST_GROUP request (OF1.3) (xid=0x1): group_id=ALL",
		},
		{
			"group stats reply", Multipart{Reply: true, Type: MultipartGroup, Body: statsBody},
			"0413008000000001000600000000000000480000000000010000000200000000000000000000000a00000000000003e80000000500000007000000000000000400000000000001900000000000000006000000000000025800280000000000020000000000000000000000000000000000000000000000000000000000000000",
			"OFPST_GROUP reply (OF1.3) (xid=0x1):\n group_id=1,duration=5.000000007s,ref_count=2,packet_count=10,byte_count=1000,bucket0:packet_count=4,byte_count=400,bucket1:packet_count=6,byte_count=600\n group_id=2,duration=0s,ref_count=0,packet_count=0,byte_count=0",
		},
		{
			"group desc request", Multipart{Type: MultipartGroupDesc},
			"04120010000000010007000000000000",
			"OFPST_GROUP_DESC request (OF1.3) (xid=0x1): group_id=ALL",
		},
		{
			"group desc reply", Multipart{Reply: true, Type: MultipartGroupDesc, Body: descBody},
			"041300b0000000010007000000000000005800000000000100200000ffffffffffffffff000000000000001000000002000000000000000000300000ffffffffffffffff00000000001900108000060600000000009900000000001000000003000000000000000000480300000000030020000000000002ffffffff000000000000001000000002000000000000000000200000ffffffff000000010000000000000010000000030000000000000000",
			"OFPST_GROUP_DESC reply (OF1.3) (xid=0x1):\n group_id=1,type=all,bucket=actions=output:2,bucket=actions=set_field:00:00:00:00:00:99->eth_dst,output:3\n group_id=3,type=ff,bucket=watch_port:2,actions=output:2,bucket=watch_group:1,actions=output:3",
		},
		{
			"group features reply", Multipart{Reply: true, Type: MultipartGroupFeatures, Body: feat.Append(nil)},
			"041300380000000100080000000000000000000f0000000fffffff00ffffff00ffffff00ffffff0003ff800103ff800103ff800103ff8001",
			featuresPrint(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.mp.Encode(1)
			if got := hex.EncodeToString(msg); got != tc.hex {
				t.Errorf("encoding:\n-\t%s\n+\t%s", tc.hex, got)
			}
			mp, err := DecodeMultipart(msg)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case mp.Type == MultipartGroup && !mp.Reply:
				r, err := DecodeGroupStatsRequest(mp.Body)
				if err != nil || r.GroupID != GroupAll {
					t.Errorf("DecodeGroupStatsRequest = %+v, %v", r, err)
				}
			case mp.Type == MultipartGroup:
				got, err := DecodeGroupStats(mp.Body)
				if err != nil || !reflect.DeepEqual(got, stats) {
					t.Errorf("DecodeGroupStats = %+v, %v; want %+v", got, err, stats)
				}
			case mp.Type == MultipartGroupDesc && mp.Reply:
				got, err := DecodeGroupDesc(mp.Body)
				if err != nil || !reflect.DeepEqual(got, descs) {
					t.Errorf("DecodeGroupDesc = %+v, %v; want %+v", got, err, descs)
				}
			case mp.Type == MultipartGroupFeatures && mp.Reply:
				got, err := DecodeGroupFeatures(mp.Body)
				if err != nil || got != feat {
					t.Errorf("DecodeGroupFeatures = %+v, %v; want %+v", got, err, feat)
				}
			}
			if out, ok := ofprint(t, tc.hex); ok && out != tc.want {
				t.Errorf("ovs-ofctl ofp-print:\n-\t%s\n+\t%s", tc.want, out)
			}
		})
	}
}

// featuresPrint is what ovs-ofctl prints for OurGroupFeatures.
func featuresPrint() string {
	s := "OFPST_GROUP_FEATURES reply (OF1.3) (xid=0x1):\n Group table:\n    Types:  0xf\n    Capabilities:  0xf"
	for _, name := range []string{"all", "select", "indirect", "fast failover"} {
		s += "\n    " + name + " group:\n       max_groups=0xffffff00\n       actions: output group set_field strip_vlan push_vlan mod_nw_ttl dec_ttl set_mpls_ttl dec_mpls_ttl push_mpls pop_mpls set_queue"
	}
	return s
}

func TestDecodeGroupModErrors(t *testing.T) {
	// msg frames a group mod body (from the command on) with a header
	// whose length is right.
	msg := func(body string) []byte {
		b := hx(t, "040f0000 00000001"+body)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	for _, tc := range []struct {
		name      string
		msg       []byte
		typ, code uint16
	}{
		{"short", msg("0000 00 00"), ETBadRequest, BadRequestBadLen},
		{"header length lies", hx(t, "040f0020 00000001 0000 00 00 00000001"), ETBadRequest, BadRequestBadLen},
		{"bad version", hx(t, "030f0010 00000001 0000 00 00 00000001"), ETBadRequest, BadRequestBadVersion},
		{"bad command", msg("0003 00 00 00000001"), ETGroupModFailed, GroupModFailedBadCommand},
		{"bad type", msg("0000 04 00 00000001"), ETGroupModFailed, GroupModFailedBadType},
		{"bucket header cut", msg("0000 00 00 00000001 0010 0000 ffffffff"), ETGroupModFailed, GroupModFailedBadBucket},
		{"bucket length below header", msg("0000 00 00 00000001 0008 0000 ffffffff ffffffff 00000000"), ETGroupModFailed, GroupModFailedBadBucket},
		{"bucket length zero", msg("0000 00 00 00000001 0000 0000 ffffffff ffffffff 00000000"), ETGroupModFailed, GroupModFailedBadBucket},
		{"bucket overruns the message", msg("0000 00 00 00000001 0020 0000 ffffffff ffffffff 00000000 0000 0010 00000002"), ETGroupModFailed, GroupModFailedBadBucket},
		{"bucket length not a multiple of 8", msg("0000 00 00 00000001 0014 0000 ffffffff ffffffff 00000000 00000000"), ETGroupModFailed, GroupModFailedBadBucket},
		{"trailing bytes", msg("0000 00 00 00000001 0010 0000 ffffffff ffffffff 00000000 0000"), ETGroupModFailed, GroupModFailedBadBucket},
		{"action overruns the bucket", msg("0000 00 00 00000001 0018 0000 ffffffff ffffffff 00000000 0000 0010 00000002 0000 0000 00000000 00000000"), ETBadAction, BadActionBadLen},
		{"bad action", msg("0000 00 00 00000001 0018 0000 ffffffff ffffffff 00000000 0063 0008 00000000"), ETBadAction, BadActionBadType},
		{"output to port 0", msg("0000 00 00 00000001 0020 0000 ffffffff ffffffff 00000000 0000 0010 00000000 ffff 000000000000"), ETBadAction, BadActionBadOutPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeGroupMod(tc.msg)
			wantError(t, err, tc.typ, tc.code)
		})
	}
}

func TestDecodeGroupMultipartErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func([]byte) error
		hex  string
	}{
		{"stats request short", func(b []byte) error { _, err := DecodeGroupStatsRequest(b); return err }, "00000001"},
		{"stats short", func(b []byte) error { _, err := DecodeGroupStats(b); return err }, "0028 0000 00000001"},
		{"stats length below fixed part", func(b []byte) error { _, err := DecodeGroupStats(b); return err }, "0020" + strings.Repeat("00", 38)},
		{"stats length beyond body", func(b []byte) error { _, err := DecodeGroupStats(b); return err }, "0038" + strings.Repeat("00", 38)},
		{"stats bucket counter cut", func(b []byte) error { _, err := DecodeGroupStats(b); return err }, "0030" + strings.Repeat("00", 46)},
		{"desc short", func(b []byte) error { _, err := DecodeGroupDesc(b); return err }, "0008 00 00"},
		{"desc length zero", func(b []byte) error { _, err := DecodeGroupDesc(b); return err }, "0000 00 00 00000001"},
		{"desc length beyond body", func(b []byte) error { _, err := DecodeGroupDesc(b); return err }, "0010 00 00 00000001"},
		{"desc bad type", func(b []byte) error { _, err := DecodeGroupDesc(b); return err }, "0008 09 00 00000001"},
		{"desc bad bucket", func(b []byte) error { _, err := DecodeGroupDesc(b); return err }, "0010 00 00 00000001 0008 0000 00000000"},
		{"features short", func(b []byte) error { _, err := DecodeGroupFeatures(b); return err }, strings.Repeat("00", 39)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn(hx(t, tc.hex))
			if err == nil {
				t.Fatal("decoded without error")
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error %v is not an *Error", err)
			}
		})
	}
}

func TestEncodeGroupModTooLong(t *testing.T) {
	// A bucket whose actions exceed 65535 bytes cannot be framed.
	acts := make([]flow.Action, 5000)
	for i := range acts {
		acts[i] = flow.Output{Port: 2}
	}
	m := GroupMod{Group: flow.GroupSpec{ID: 1, Buckets: []flow.Bucket{{WatchPort: flow.PortAny, WatchGroup: flow.GroupAny, Actions: acts}}}}
	if _, err := m.Encode(1); err == nil {
		t.Error("encoded a bucket of 80000 bytes")
	}
}

func FuzzDecodeGroupMod(f *testing.F) {
	for _, tc := range groupModPrints {
		f.Add(hx(f, tc.hex))
	}
	f.Add(hx(f, "040f0020 00000001 0000 00 00 00000001 0010 0000 ffffffff ffffffff 00000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeGroupMod(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		enc, err := m.Encode(binary.BigEndian.Uint32(b[4:]))
		if err != nil {
			t.Fatalf("decoded %+v from %x but cannot encode it: %v", m, b, err)
		}
		m2, err := DecodeGroupMod(enc)
		if err != nil {
			t.Fatalf("re-encoding %x gave %x, which does not decode: %v", b, enc, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding %x gave %x, which decodes to %+v, want %+v", b, enc, m2, m)
		}
	})
}
