package openflow

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func TestNegotiateVersion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		theirs Hello
		want   uint8
		fail   bool
	}{
		{"bitmap with 1.0 and 1.3", Hello{Version: 0x04, Bitmap: []uint32{1<<1 | 1<<4}}, 0x04, false},
		{"bitmap up to 1.5", Hello{Version: 0x06, Bitmap: []uint32{0x7e}}, 0x04, false},
		{"bitmap without 1.3", Hello{Version: 0x06, Bitmap: []uint32{1<<1 | 1<<6}}, 0, true},
		{"1.5 without bitmap", Hello{Version: 0x06}, 0x04, false},
		{"1.0 without bitmap", Hello{Version: 0x01}, 0, true},
		{"empty bitmap", Hello{Version: 0x04, Bitmap: []uint32{}}, 0, true},
		{"second bitmap word", Hello{Version: 0x04, Bitmap: []uint32{1 << 4, 1}}, 0x04, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Go through the wire so that decoding is covered too.
			h, err := DecodeHello(tc.theirs.Encode(1))
			if err != nil {
				t.Fatalf("DecodeHello: %v", err)
			}
			if !reflect.DeepEqual(h, tc.theirs) {
				t.Fatalf("DecodeHello: got %+v, want %+v", h, tc.theirs)
			}
			v, err := NegotiateVersion(OurHello(), h)
			if tc.fail {
				wantError(t, err, ETHelloFailed, HelloFailedIncompatible)
				return
			}
			if err != nil || v != tc.want {
				t.Errorf("NegotiateVersion: got %#x, %v, want %#x", v, err, tc.want)
			}
		})
	}
}

func TestNewErrorMsgTruncates(t *testing.T) {
	off := make([]byte, 100)
	e := NewErrorMsg(reqErr(BadRequestBadLen, "x"), off)
	if len(e.Data) != ErrorDataMax || e.Type != ETBadRequest || e.Code != BadRequestBadLen {
		t.Errorf("got %+v", e)
	}
}

func TestFlowModRule(t *testing.T) {
	r := mustRule(t, "table=3,priority=9,cookie=0x77,ip,nw_dst=10.0.0.1,hard_timeout=5,actions=output:1")
	fm := NewFlowMod(r)
	msg, err := fm.Encode(1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFlowMod(msg)
	if err != nil {
		t.Fatal(err)
	}
	g := got.Rule()
	if g.Table != r.Table || g.Priority != r.Priority || g.Match != r.Match || g.Cookie != r.Cookie ||
		g.IdleTimeout != r.IdleTimeout || g.HardTimeout != r.HardTimeout || g.Flags != r.Flags ||
		!reflect.DeepEqual(g.Instructions, r.Instructions) {
		t.Errorf("Rule():\n-\t%+v\n+\t%+v", r, g)
	}
}

// setLen rewrites msg's header length.
func setLen(msg []byte, n int) []byte {
	msg = append([]byte(nil), msg...)
	binary.BigEndian.PutUint16(msg[2:], uint16(n))
	return msg
}

func TestMessageErrors(t *testing.T) {
	fmv := testFlowMod(t)
	fm, err := fmv.Encode(1)
	if err != nil {
		t.Fatal(err)
	}
	po, err := (&PacketOut{BufferID: NoBuffer}).Encode(1)
	if err != nil {
		t.Fatal(err)
	}
	badCmd := append([]byte(nil), fm...)
	badCmd[25] = 5
	poLong := append([]byte(nil), po...)
	poLong[17] = 8
	fr := testFlowRemoved(t)
	frTrail := fr.Encode(1)
	frTrail = setLen(append(frTrail, 0, 0, 0, 0, 0, 0, 0, 0), len(frTrail)+8)
	for _, tc := range []struct {
		name       string
		msg        []byte
		typ, code  uint16
		decodeWith func([]byte) error
	}{
		{"empty", nil, ETBadRequest, BadRequestBadLen, nil},
		{"short header", hx(t, "040e00"), ETBadRequest, BadRequestBadLen, nil},
		{"unknown type", hx(t, "04ee0008 00000001"), ETBadRequest, BadRequestBadType, nil},
		{"wrong version", hx(t, "01050008 00000001"), ETBadRequest, BadRequestBadVersion, nil},
		{"length above slice", setLen(fm, len(fm)+1), ETBadRequest, BadRequestBadLen, nil},
		{"length below slice", setLen(fm, len(fm)-8), ETBadRequest, BadRequestBadLen, nil},
		{"length below header", setLen(fm, 4), ETBadRequest, BadRequestBadLen, nil},
		{"barrier with body", hx(t, "04140010 00000001 0000000000000000"), ETBadRequest, BadRequestBadLen, nil},
		{"features reply short", hx(t, "04060010 00000001 0000000000000042"), ETBadRequest, BadRequestBadLen, nil},
		{"set config long", hx(t, "04090010 00000001 00000080 00000000"), ETBadRequest, BadRequestBadLen, nil},
		{"error without code", hx(t, "0401000a 00000001 0001"), ETBadRequest, BadRequestBadLen, nil},
		{"hello element overruns", hx(t, "04000010 00000001 00010010 00000010"), ETBadRequest, BadRequestBadLen, nil},
		{"hello element length 0", hx(t, "04000010 00000001 00020000 00000000"), ETBadRequest, BadRequestBadLen, nil},
		{"hello bitmap odd length", hx(t, "04000010 00000001 00010006 00000000"), ETBadRequest, BadRequestBadLen, nil},
		{"flow mod bad command", badCmd, ETFlowModFailed, FlowModFailedBadCommand, nil},
		{"flow mod without match", setLen(fm[:48], 48), ETBadRequest, BadRequestBadLen, nil},
		{"flow mod match overruns", setLen(fm[:56], 56), ETBadMatch, BadMatchBadLen, nil},
		{"packet out actions_len overruns", poLong, ETBadRequest, BadRequestBadLen, nil},
		{"flow removed trailing bytes", frTrail, ETBadRequest, BadRequestBadLen, nil},
		{"echo to DecodeFeaturesReply", hx(t, "04020008 00000001"), ETBadRequest, BadRequestBadType,
			func(b []byte) error { _, err := DecodeFeaturesReply(b); return err }},
		{"flow mod to DecodePacketIn", fm, ETBadRequest, BadRequestBadType,
			func(b []byte) error { _, err := DecodePacketIn(b); return err }},
		{"1.0 echo to DecodeEcho", hx(t, "01020008 00000001"), ETBadRequest, BadRequestBadVersion,
			func(b []byte) error { _, err := DecodeEcho(b); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decode := tc.decodeWith
			if decode == nil {
				decode = func(b []byte) error { _, err := DecodeMessage(b); return err }
			}
			wantError(t, decode(tc.msg), tc.typ, tc.code)
		})
	}
}

// TestTruncatedMessages cuts every message short, both keeping the header's
// length (a lying length) and fixing it up, and checks that decoding fails
// with an *Error or succeeds, never panicking.
func TestTruncatedMessages(t *testing.T) {
	for _, tc := range messageCases(t) {
		msg := encodeMessage(t, tc.typ, tc.v, 1)
		for n := range len(msg) {
			_, err := DecodeMessage(msg[:n])
			var oe *Error
			if !errors.As(err, &oe) {
				t.Errorf("%s cut to %d bytes: got %v, want *Error", tc.name, n, err)
			}
			if n < HeaderLen {
				continue
			}
			if _, err := DecodeMessage(setLen(msg[:n], n)); err != nil && !errors.As(err, &oe) {
				t.Errorf("%s cut to %d bytes, length fixed: got %v, want *Error", tc.name, n, err)
			}
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, tc := range messageCases(f) {
		f.Add(encodeMessage(f, tc.typ, tc.v, 1))
	}
	for _, tc := range ofprintCases {
		f.Add(hx(f, tc.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeMessage(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		h, _ := ParseHeader(b)
		enc := encodeMessage(t, h.Type, v, h.Xid)
		v2, err := DecodeMessage(enc)
		if err != nil {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which does not decode: %v", b, v, enc, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which decodes to %+v", b, v, enc, v2)
		}
		m, ok := v.(Multipart)
		if !ok {
			return
		}
		body, ok, err := decodeBody(m)
		if !ok {
			return
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		enc = encodeBody(t, body)
		body2, _, err := decodeBody(Multipart{Reply: m.Reply, Type: m.Type, Body: enc})
		if err != nil {
			t.Fatalf("body %x decodes to %+v, which encodes to %x, which does not decode: %v", m.Body, body, enc, err)
		}
		if !reflect.DeepEqual(body, body2) {
			t.Fatalf("body %x decodes to %+v, which encodes to %x, which decodes to %+v", m.Body, body, enc, body2)
		}
	})
}

// decodeBody decodes a multipart body of a type this package knows; ok is
// false for other types.
func decodeBody(m Multipart) (v any, ok bool, err error) {
	switch {
	case m.Type == MultipartDesc && m.Reply:
		v, err = DecodeDesc(m.Body)
	case m.Type == MultipartFlow && !m.Reply:
		v, err = DecodeFlowStatsRequest(m.Body)
	case m.Type == MultipartFlow && m.Reply:
		v, err = DecodeFlowStats(m.Body)
	default:
		return nil, false, nil
	}
	return v, true, err
}

func encodeBody(t testing.TB, v any) []byte {
	t.Helper()
	switch v := v.(type) {
	case Desc:
		return v.Append(nil)
	case FlowStatsRequest:
		return v.Append(nil)
	case []FlowStats:
		b, err := AppendFlowStats(nil, v)
		if err != nil {
			t.Fatalf("encoding %+v: %v", v, err)
		}
		return b
	}
	t.Fatalf("cannot encode %T", v)
	return nil
}

func TestMultipartBodies(t *testing.T) {
	desc := Desc{MfrDesc: "m", HWDesc: "h", SWDesc: "s", SerialNum: "0123456789012345678901234567890123456789", DPDesc: "d"}
	wantDesc := desc
	wantDesc.SerialNum = desc.SerialNum[:32]
	req := FlowStatsRequest{TableID: 4, OutPort: 2, OutGroup: GroupAny, Match: mustRule(t, "in_port=1,actions=drop").Match}
	for _, tc := range []struct {
		name string
		m    Multipart
		want any
	}{
		{"desc", Multipart{Reply: true, Type: MultipartDesc, Body: encodeBody(t, desc)}, wantDesc},
		{"flow request", Multipart{Type: MultipartFlow, Body: encodeBody(t, req)}, req},
		{"flow reply", Multipart{Reply: true, Type: MultipartFlow, Body: encodeBody(t, testFlowStats(t))}, testFlowStats(t)},
		{"empty flow reply", Multipart{Reply: true, Type: MultipartFlow}, []FlowStats(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeMultipart(tc.m.Encode(9))
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := decodeBody(m)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v, tc.want) {
				t.Errorf("got %+v, want %+v", v, tc.want)
			}
		})
	}
}

func TestMultipartBodyErrors(t *testing.T) {
	reply := encodeBody(t, testFlowStats(t))
	long := append([]byte(nil), reply...)
	long[1]++ // first entry claims one byte more
	req := FlowStatsRequest{Match: mustRule(t, "in_port=1,actions=drop").Match}
	reqBody := encodeBody(t, req)
	for _, tc := range []struct {
		name      string
		m         Multipart
		typ, code uint16
	}{
		{"desc short", Multipart{Reply: true, Type: MultipartDesc, Body: make([]byte, descLen-1)}, ETBadRequest, BadRequestBadLen},
		{"flow reply truncated", Multipart{Reply: true, Type: MultipartFlow, Body: reply[:len(reply)-1]}, ETBadRequest, BadRequestBadLen},
		{"flow reply entry length lies", Multipart{Reply: true, Type: MultipartFlow, Body: long}, ETBadInstruction, BadInstBadLen},
		{"flow reply one byte", Multipart{Reply: true, Type: MultipartFlow, Body: []byte{0}}, ETBadRequest, BadRequestBadLen},
		{"flow reply entry too short", Multipart{Reply: true, Type: MultipartFlow, Body: []byte{0, 8, 0, 0, 0, 0, 0, 0}}, ETBadRequest, BadRequestBadLen},
		{"flow request short", Multipart{Type: MultipartFlow, Body: reqBody[:20]}, ETBadRequest, BadRequestBadLen},
		{"flow request trailing", Multipart{Type: MultipartFlow, Body: append(reqBody, 0)}, ETBadRequest, BadRequestBadLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeBody(tc.m)
			wantError(t, err, tc.typ, tc.code)
		})
	}
}

func TestPortStatusErrors(t *testing.T) {
	ps := testPortStatus()
	msg := ps.Encode(1)
	_, err := DecodePortStatus(setLen(msg[:len(msg)-4], len(msg)-4))
	wantError(t, err, ETBadRequest, BadRequestBadLen)
	_, err = DecodePortStatus(setLen(append(msg, 0), len(msg)+1))
	wantError(t, err, ETBadRequest, BadRequestBadLen)
	if _, err := DecodePort(msg[16:79]); err == nil {
		t.Error("DecodePort of 63 bytes succeeded")
	}
	long := ps
	long.Port.Name = "a-name-longer-than-sixteen"
	msg = long.Encode(1)
	got, err := DecodePortStatus(msg)
	if err != nil || got.Port.Name != "a-name-longer-th" {
		t.Errorf("long name: got %q, %v", got.Port.Name, err)
	}
}

func TestHelloElements(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string
		want Hello
	}{
		{"unknown element skipped", "04000018 00000001 00020005 aa000000 00010008 00000012", Hello{Version: 4, Bitmap: []uint32{0x12}}},
		{"last element unpadded", "04000014 00000001 0001000c 00000012 00000000", Hello{Version: 4, Bitmap: []uint32{0x12, 0}}},
		{"no elements, version 6", "06000008 00000001", Hello{Version: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeHello(hx(t, tc.hex))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
