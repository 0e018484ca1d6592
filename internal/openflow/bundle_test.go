package openflow

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

// What ovs-ofctl 3.1 -O OpenFlow13 --bundle add-flows sent a fake switch on
// 127.0.0.1 for two flows (after the hello), and the replies it accepted.
const (
	capturedOpen      = "04040018000000084f4e4600000008fc0000000000000003"
	capturedOpenReply = "04040018000000084f4e4600000008fc0000000000010003"
	capturedAdd1      = "04040050000000064f4e4600000008fd0000000000000003" +
		"040e003800000006000000000000000000000000000000000000000000000001ffffffffffffffffffffffff000000000001000400000000"
	capturedAdd2 = "04040070000000074f4e4600000008fd0000000000000003" +
		"040e005800000007000000000000000000000000000000000000000000000002ffffffffffffffffffffffff000000000001000c800000040000000100000000000400180000000000000010000000020000000000000000"
	capturedCommit      = "040400180000000a4f4e4600000008fc0000000000040003"
	capturedCommitReply = "040400180000000a4f4e4600000008fc0000000000050003"
	// The error the fake switch sent for the commit, which ovs-ofctl
	// reported as "Error OFPBFC_BAD_ID for: ONFT_BUNDLE_CONTROL".
	capturedBadID = "0401002800000009ffff08fe4f4e4600" + "04040018000000094f4e4600000008fc0000000000040003"
)

func TestBundleCaptured(t *testing.T) {
	open, err := DecodeMessage(hx(t, capturedOpen))
	if err != nil {
		t.Fatal(err)
	}
	wantOpen := BundleControl{BundleID: 0, Type: BundleOpenRequest, Flags: BundleAtomic | BundleOrdered}
	if !reflect.DeepEqual(open, wantOpen) {
		t.Errorf("open: got %+v, want %+v", open, wantOpen)
	}
	if got := hex.EncodeToString(wantOpen.Reply().Encode(8)); got != capturedOpenReply {
		t.Errorf("open reply:\n-\t%s\n+\t%s", capturedOpenReply, got)
	}
	for i, s := range []string{capturedAdd1, capturedAdd2} {
		msg := hx(t, s)
		v, err := DecodeMessage(msg)
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
		a, ok := v.(BundleAdd)
		if !ok || a.BundleID != 0 || a.Flags != BundleAtomic|BundleOrdered || a.Props != nil {
			t.Fatalf("add %d: %+v", i, v)
		}
		fm, err := DecodeFlowMod(a.Message)
		if err != nil || fm.Priority != uint16(i+1) {
			t.Errorf("add %d: embedded flow mod %+v, %v", i, fm, err)
		}
		if got := a.Encode(uint32(6 + i)); !reflect.DeepEqual(got, msg) {
			t.Errorf("add %d re-encoded:\n-\t%x\n+\t%x", i, msg, got)
		}
	}
	commit, err := DecodeBundleControl(hx(t, capturedCommit))
	if err != nil || commit.Type != BundleCommitRequest {
		t.Fatalf("commit: %+v, %v", commit, err)
	}
	if got := hex.EncodeToString(commit.Reply().Encode(10)); got != capturedCommitReply {
		t.Errorf("commit reply:\n-\t%s\n+\t%s", capturedCommitReply, got)
	}
	req := hx(t, "04040018000000094f4e4600000008fc0000000000040003")
	if got := hex.EncodeToString(EncodeErrorReply(BundleErr(BundleFailedBadID, "no bundle 0"), req, 9)); got != capturedBadID {
		t.Errorf("bad id error:\n-\t%s\n+\t%s", capturedBadID, got)
	}
	checkOfctl(t, hx(t, capturedBadID), "OFPT_ERROR (OF1.3) (xid=0x9): OFPBFC_BAD_ID\nONFT_BUNDLE_CONTROL (OF1.3) (xid=0x9):\n bundle_id=0 type=COMMIT_REQUEST flags=atomic ordered")
	e, err := DecodeExperimenterError(hx(t, capturedBadID))
	if err != nil || e.ExpCode != BundleErrBase+BundleFailedBadID || e.Experimenter != ONFExperimenterID || !reflect.DeepEqual(e.Data, req) {
		t.Errorf("DecodeExperimenterError: %+v, %v", e, err)
	}
	// Other errors keep the standard form.
	if got := hex.EncodeToString(EncodeErrorReply(reqErr(BadRequestEPerm, "x"), hx(t, "04050008 00000005"), 7)); got != "0401001400000007000100050405000800000005" {
		t.Errorf("standard error: %s", got)
	}
}

func bundleCases(t testing.TB) []struct {
	name string
	v    any
	want string
} {
	fm := NewFlowMod(mustRule(t, "priority=1,actions=drop"))
	inner, err := fm.Encode(5)
	if err != nil {
		t.Fatal(err)
	}
	po, err := (&PacketOut{BufferID: NoBuffer, InPort: 1}).Encode(5)
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		v    any
		want string
	}{
		{"open", BundleControl{BundleID: 7, Type: BundleOpenRequest, Flags: BundleAtomic},
			"ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x5):\n bundle_id=0x7 type=OPEN_REQUEST flags=atomic"},
		{"discard reply", BundleControl{BundleID: 0xffffffff, Type: BundleDiscardReply},
			"ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x5):\n bundle_id=0xffffffff type=DISCARD_REPLY flags=0"},
		{"close with property", BundleControl{BundleID: 1, Type: BundleCloseRequest, Flags: BundleOrdered,
			Props: []BundleProp{{Type: 0xffff, Data: hx(t, "00002320 00000001 aabbcc")}}},
			"ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x5):\n bundle_id=0x1 type=CLOSE_REQUEST flags=ordered"},
		{"add flow mod", BundleAdd{BundleID: 7, Flags: BundleAtomic | BundleOrdered, Message: inner},
			"ONFT_BUNDLE_ADD_MESSAGE (OF1.3) (xid=0x5):\n bundle_id=0x7 flags=atomic ordered\nOFPT_FLOW_MOD (OF1.3) (xid=0x5): ADD priority=1 actions=drop"},
		{"add packet out with property", BundleAdd{BundleID: 8, Message: po, Props: []BundleProp{{Type: 0xffff, Data: hx(t, "00002320 00000001")}}},
			""},
	}
}

func TestBundleMessages(t *testing.T) {
	for _, tc := range bundleCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			msg := encodeConfigMessage(t, tc.v, 5)
			v, err := DecodeMessage(msg)
			if err != nil {
				t.Fatalf("DecodeMessage(%x): %v", msg, err)
			}
			if !reflect.DeepEqual(v, tc.v) {
				t.Errorf("DecodeMessage(%x):\n-\t%+v\n+\t%+v", msg, tc.v, v)
			}
			checkOfctl(t, msg, tc.want)
			for n := range len(msg) {
				var oe *Error
				if _, err := DecodeMessage(msg[:n]); !errors.As(err, &oe) {
					t.Errorf("cut to %d bytes: got %v, want *Error", n, err)
				}
				if n < HeaderLen {
					continue
				}
				if _, err := DecodeMessage(setLen(msg[:n], n)); err != nil && !errors.As(err, &oe) {
					t.Errorf("cut to %d bytes, length fixed: got %v, want *Error", n, err)
				}
			}
		})
	}
}

func TestBundleErrors(t *testing.T) {
	add := hx(t, capturedAdd1)
	mod := func(off int, b ...byte) []byte {
		m := append([]byte(nil), add...)
		copy(m[off:], b)
		return m
	}
	const inner = bundleAddLen
	ctrl := hx(t, capturedOpen)
	modCtrl := func(off int, b ...byte) []byte {
		m := append([]byte(nil), ctrl...)
		copy(m[off:], b)
		return m
	}
	barrier := hx(t, "04040020 00000006 4f4e4600 000008fd 00000000 00000003 04140008 00000006")
	ctrlProp := func(p string) []byte {
		m := append(append([]byte(nil), ctrl...), hx(t, p)...)
		return setLen(m, len(m))
	}
	addTrail := func(p string) []byte {
		m := append(append([]byte(nil), add...), hx(t, p)...)
		return setLen(m, len(m))
	}
	for _, tc := range []struct {
		name      string
		msg       []byte
		typ, code uint16
	}{
		{"other experimenter", modCtrl(8, 0, 0, 0x23, 0x20), ETBadRequest, BadRequestBadExperimenter},
		{"other ONF type", modCtrl(12, 0, 0, 0x08, 0xfe), ETBadRequest, BadRequestBadExpType},
		{"experimenter header short", setLen(ctrl[:12], 12), ETBadRequest, BadRequestBadLen},
		{"control short", setLen(ctrl[:20], 20), ETBadRequest, BadRequestBadLen},
		{"control bad type", modCtrl(20, 0, 8), ETExperimenter, BundleErrBase + BundleFailedBadType},
		{"control bad flags", modCtrl(22, 0, 4), ETExperimenter, BundleErrBase + BundleFailedBadFlags},
		{"control property overruns", ctrlProp("ffff0010 00002320"), ETBadRequest, BadRequestBadLen},
		{"control property length 2", ctrlProp("ffff0002 00000000"), ETBadRequest, BadRequestBadLen},
		{"control property header cut", ctrlProp("ffff"), ETBadRequest, BadRequestBadLen},
		{"add bad flags", mod(22, 0, 8), ETExperimenter, BundleErrBase + BundleFailedBadFlags},
		{"add without message", setLen(add[:inner], inner), ETExperimenter, BundleErrBase + BundleFailedMsgBadLen},
		{"add message header cut", setLen(add[:inner+6], inner+6), ETExperimenter, BundleErrBase + BundleFailedMsgBadLen},
		{"inner length overruns", mod(inner+2, 0, 0x40), ETExperimenter, BundleErrBase + BundleFailedMsgBadLen},
		{"inner length below header", mod(inner+2, 0, 4), ETExperimenter, BundleErrBase + BundleFailedMsgBadLen},
		{"inner xid differs", mod(inner+7, 7), ETExperimenter, BundleErrBase + BundleFailedMsgBadXID},
		{"inner version differs", mod(inner, 5), ETBadRequest, BadRequestBadVersion},
		{"inner not bundlable", barrier, ETExperimenter, BundleErrBase + BundleFailedMsgUnsup},
		{"property after unpadded message", addTrail("00"), ETBadRequest, BadRequestBadLen},
		{"add property overruns", addTrail("ffff0010 00000000"), ETBadRequest, BadRequestBadLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage(tc.msg)
			wantError(t, err, tc.typ, tc.code)
		})
	}
	// An experimenter message of another experimenter decodes as such.
	e, err := DecodeExperimenter(modCtrl(8, 0, 0, 0x23, 0x20))
	if err != nil || e.Experimenter != 0x2320 || e.ExpType != 2300 || len(e.Data) != 8 {
		t.Errorf("DecodeExperimenter: %+v, %v", e, err)
	}
	if got := (Experimenter{Experimenter: e.Experimenter, ExpType: e.ExpType, Data: e.Data}).Encode(8); !reflect.DeepEqual(got, modCtrl(8, 0, 0, 0x23, 0x20)) {
		t.Errorf("Experimenter.Encode: %x", got)
	}
	if _, err := DecodeExperimenterError(hx(t, "0401000c 00000001 00010005")); err == nil {
		t.Error("DecodeExperimenterError accepted a short error")
	}
	if _, err := DecodeExperimenterError(hx(t, "04010010 00000001 00010005 00000000")); err == nil {
		t.Error("DecodeExperimenterError accepted a standard error")
	}
}

func FuzzDecodeBundle(f *testing.F) {
	for _, s := range []string{capturedOpen, capturedAdd1, capturedAdd2, capturedCommit} {
		f.Add(hx(f, s))
	}
	for _, tc := range bundleCases(f) {
		f.Add(encodeConfigMessage(f, tc.v, 5))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeONF(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		h, _ := ParseHeader(b)
		enc := encodeConfigMessage(t, v, h.Xid)
		v2, err := DecodeONF(enc)
		if err != nil {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which does not decode: %v", b, v, enc, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which decodes to %+v", b, v, enc, v2)
		}
	})
}
