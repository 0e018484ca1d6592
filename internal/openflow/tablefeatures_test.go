package openflow

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

func testTableFeatures() []TableFeatures {
	t0 := NewTableFeatures(0, "classifier", 1000000, []uint8{1, 2})
	t1 := NewTableFeatures(1, "a-table-name-longer-than-32-bytes", 100, nil)
	t1.Name = t1.Name[:32]
	t1.InstructionsMiss = []uint16{instApplyActions}
	t1.NextTablesMiss = []uint8{}
	t1.WriteActionsMiss = []uint16{}
	t1.ApplyActionsMiss = []uint16{actOutput}
	t1.WriteSetFieldMiss = []uint32{}
	t1.ApplySetFieldMiss = []uint32{OXMHeader(flow.FieldByID(flow.FieldReg0), false)}
	return []TableFeatures{t0, t1}
}

func TestTableFeaturesRoundTrip(t *testing.T) {
	tables := testTableFeatures()
	body, err := AppendTableFeatures(nil, tables)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTableFeatures(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tables) {
		t.Errorf("got %+v\nwant %+v", got, tables)
	}
	if got, err := DecodeTableFeatures(nil); err != nil || got != nil {
		t.Errorf("empty request: %v, %v", got, err)
	}
	// A long name is cut to 32 bytes.
	long := NewTableFeatures(0, strings.Repeat("x", 40), 1, nil)
	b, _ := long.Append(nil)
	if got, err := DecodeTableFeatures(b); err != nil || got[0].Name != strings.Repeat("x", 32) {
		t.Errorf("long name: %+v, %v", got, err)
	}
}

// TestTableFeaturesOfctl checks a reply with ovs-ofctl, which refuses
// table features without the required properties.
func TestTableFeaturesOfctl(t *testing.T) {
	tables := testTableFeatures()
	body, err := AppendTableFeatures(nil, tables[:1])
	if err != nil {
		t.Fatal(err)
	}
	msg := (&Multipart{Reply: true, Type: MultipartTableFeatures, Body: body}).Encode(7)
	out, ok := ofctlPrint(t, msg)
	if !ok {
		t.Skip("no ovs-ofctl")
	}
	want := `OFPST_TABLE_FEATURES reply (OF1.3) (xid=0x7):
  table 0 ("classifier"):
    metadata: match=0xffffffffffffffff write=0xffffffffffffffff
    max_entries=1000000
    instructions (table miss and others):
      next tables: 1-2
      instructions: meter apply_actions clear_actions write_actions write_metadata goto_table
      Write-Actions and Apply-Actions features:
        actions: output group set_field strip_vlan push_vlan mod_nw_ttl dec_ttl set_mpls_ttl dec_mpls_ttl push_mpls pop_mpls set_queue
        supported on Set-Field: tun_{id,src,dst} metadata reg0...reg7 eth_{src,dst} vlan_{tci,vid,pcp} mpls_{label,tc,bos,ttl} ip_{src,dst} ipv6_{src,dst,label} nw_proto ip_dscp nw_{ecn,ttl} arp_{op,spa,tpa,sha,tha} tcp_{src,dst} udp_{src,dst} sctp_{src,dst} icmp_{type,code} icmpv6_{type,code} nd_{target,sll,tll}
    matching:
      arbitrary mask: tun_{id,src,dst} metadata reg0...reg7 eth_{src,dst} vlan_{tci,vid} ip_{src,dst} ipv6_{src,dst,label} ip_frag arp_{spa,tpa,sha,tha} tcp_{src,dst,flags} udp_{src,dst} sctp_{src,dst} nd_{target,sll,tll}
      exact match or wildcard: in_port_oxm eth_type vlan_pcp mpls_{label,tc,bos,ttl} nw_proto ip_dscp nw_{ecn,ttl} arp_op icmp_{type,code} icmpv6_{type,code}`
	if out != want {
		t.Errorf("ovs-ofctl ofp-print:\n-\t%s\n+\t%s", want, out)
	}
	if strings.Contains(out, "***") {
		t.Errorf("ovs-ofctl ofp-print complains:\n%s", out)
	}
}

func TestOXMHeaders(t *testing.T) {
	match := MatchOXMHeaders()
	wild := WildcardOXMHeaders()
	set := SetFieldOXMHeaders()
	if len(match) != len(wild) || len(set) >= len(match) {
		t.Fatalf("%d match, %d wildcard, %d set-field headers", len(match), len(wild), len(set))
	}
	seen := map[uint32]bool{}
	for i, h := range match {
		f := OXMField(h)
		if f == nil || OXMHeader(f, f.Maskable) != h || wild[i] != OXMHeader(f, false) || seen[h] {
			t.Errorf("header %#08x: field %v", h, f)
		}
		seen[wild[i]] = true
	}
	for _, h := range set {
		if f := OXMField(h); f == nil || !f.Writable || !seen[h] {
			t.Errorf("set-field header %#08x: field %v", h, f)
		}
	}
	for _, tc := range []struct {
		id     flow.FieldID
		masked bool
		want   uint32
	}{
		{flow.FieldInPort, false, 0x80000004},
		{flow.FieldIPv6Label, false, 0x80003804},
		{flow.FieldIPv6Label, true, 0x80003908},
		{flow.FieldReg1, true, 0x00010308},
		{flow.FieldVLANTCI, true, 0x00000904},
		{flow.FieldTpSrc, false, 0},
	} {
		if h := OXMHeader(flow.FieldByID(tc.id), tc.masked); h != tc.want {
			t.Errorf("OXMHeader(%v, %v) = %#08x, want %#08x", flow.FieldByID(tc.id), tc.masked, h, tc.want)
		}
	}
	if match[0] != 0x80000004 {
		t.Errorf("first match header %#08x, want in_port", match[0])
	}
}

func TestTableFeaturesErrors(t *testing.T) {
	tf := NewTableFeatures(0, "t", 1, []uint8{1})
	good, err := tf.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Property offsets in good: the first is instructions at 64.
	const p0 = tableFeaturesLen
	set := func(off int, v uint16) []byte {
		b := append([]byte(nil), good...)
		binary.BigEndian.PutUint16(b[off:], v)
		return b
	}
	instPadded := (4 + 4*len(tf.Instructions) + 7) &^ 7
	noInst := append(append([]byte(nil), good[:p0]...), good[p0+instPadded:]...)
	binary.BigEndian.PutUint16(noInst, uint16(len(noInst)))
	dup := append(append([]byte(nil), good...), good[p0:p0+instPadded]...)
	binary.BigEndian.PutUint16(dup, uint16(len(dup)))
	withExp := append(append([]byte(nil), good...), hx(t, "fffe000c 00002320 00000001 00000000")...)
	binary.BigEndian.PutUint16(withExp, uint16(len(withExp)))
	shortExp := append(append([]byte(nil), good...), hx(t, "fffe0008 00002320")...)
	binary.BigEndian.PutUint16(shortExp, uint16(len(shortExp)))
	for _, tc := range []struct {
		name      string
		body      []byte
		typ, code uint16
	}{
		{"entry short", good[:63], ETBadRequest, BadRequestBadLen},
		{"entry length lies", set(0, uint16(len(good)+8)), ETBadRequest, BadRequestBadLen},
		{"entry length below fixed part", set(0, 60), ETBadRequest, BadRequestBadLen},
		{"one byte", good[:1], ETBadRequest, BadRequestBadLen},
		{"property overruns entry", set(p0+2, uint16(len(good))), ETTableFeaturesFailed, TableFeaturesFailedBadLen},
		{"property length below header", set(p0+2, 2), ETTableFeaturesFailed, TableFeaturesFailedBadLen},
		{"instruction id length", set(p0+6, 8), ETTableFeaturesFailed, TableFeaturesFailedBadLen},
		{"instruction id odd property", set(p0+2, 6), ETTableFeaturesFailed, TableFeaturesFailedBadLen},
		{"unknown property", set(p0, 9), ETTableFeaturesFailed, TableFeaturesFailedBadType},
		{"unknown property 0x100", set(p0, 0x100), ETTableFeaturesFailed, TableFeaturesFailedBadType},
		{"repeated property", dup, ETTableFeaturesFailed, TableFeaturesFailedBadArgument},
		{"missing instructions", noInst, ETTableFeaturesFailed, TableFeaturesFailedBadArgument},
		{"experimenter property short", shortExp, ETTableFeaturesFailed, TableFeaturesFailedBadLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTableFeatures(tc.body)
			wantError(t, err, tc.typ, tc.code)
		})
	}
	// An experimenter property is skipped.
	if got, err := DecodeTableFeatures(withExp); err != nil || !reflect.DeepEqual(got, []TableFeatures{tf}) {
		t.Errorf("experimenter property: %+v, %v", got, err)
	}
	// Experimenter ids inside lists are skipped; a short one is an error.
	ids, err := decodeTFPIDs(hx(t, "0001 0004 ffff 0008 00002320 0004 0004"), "action")
	if err != nil || !reflect.DeepEqual(ids, []uint16{1, 4}) {
		t.Errorf("experimenter action id: %v, %v", ids, err)
	}
	if _, err := decodeTFPIDs(hx(t, "ffff 000c 00002320"), "action"); err == nil {
		t.Error("overrunning experimenter action id accepted")
	}
	oxms, err := decodeTFPOXMs(hx(t, "80000004 ffff0004 00002320 80000606"))
	if err != nil || !reflect.DeepEqual(oxms, []uint32{0x80000004, 0x80000606}) {
		t.Errorf("experimenter OXM id: %v, %v", oxms, err)
	}
	for _, b := range []string{"800000", "80000004 ffff0004"} {
		if _, err := decodeTFPOXMs(hx(t, b)); err == nil {
			t.Errorf("OXM ids %s accepted", b)
		}
	}
}

func FuzzDecodeTableFeatures(f *testing.F) {
	body, err := AppendTableFeatures(nil, testTableFeatures())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	tf := NewTableFeatures(3, "x", 1, nil)
	b, _ := tf.Append(nil)
	f.Add(b)
	f.Add(append(b, hx(f, "0040 0000 00000000")...))
	f.Fuzz(func(t *testing.T, b []byte) {
		tables, err := DecodeTableFeatures(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		enc, err := AppendTableFeatures(nil, tables)
		if err != nil {
			t.Fatalf("%x decodes to %+v, which does not encode: %v", b, tables, err)
		}
		tables2, err := DecodeTableFeatures(enc)
		if err != nil {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which does not decode: %v", b, tables, enc, err)
		}
		if !reflect.DeepEqual(tables, tables2) {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which decodes to %+v", b, tables, enc, tables2)
		}
	})
}
