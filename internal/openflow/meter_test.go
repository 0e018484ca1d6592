package openflow

import (
	"encoding/hex"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

var (
	testMeterAdd = MeterMod{Command: MeterAdd, Meter: flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterBurst | flow.MeterStats,
		Bands: []flow.MeterBand{{Type: flow.BandDrop, Rate: 1000, Burst: 100}, {Type: flow.BandDSCPRemark, Rate: 500, Burst: 50, PrecLevel: 1}}}}
	testMeterStats = []MeterStats{{MeterID: 1, FlowCount: 2, PacketInCount: 30, ByteInCount: 4000, DurationSec: 5, DurationNsec: 6000000,
		Bands: []MeterBandStats{{7, 800}, {9, 1000}}}}
	testMeterConfigs = []flow.MeterSpec{{ID: flow.MeterAll}, {ID: 2, Flags: flow.MeterPktps | flow.MeterStats,
		Bands: []flow.MeterBand{{Type: flow.BandDSCPRemark, Rate: 100, PrecLevel: 2}}}}
	testMeterFeatures = MeterFeatures{MaxMeter: 65536, BandTypes: 1<<flow.BandDrop | 1<<flow.BandDSCPRemark, Capabilities: 15, MaxBands: 8}
)

// mustBytes returns a function that passes on an encoder's bytes and
// fails t on its error.
func mustBytes(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// meterPrintCases were checked with Debian's ovs-ofctl ofp-print; want is
// what it printed (lines joined with "|").
func meterPrintCases(t testing.TB) []struct{ name, hex, want string } {
	mp := func(reply bool, typ uint16, body []byte, xid uint32) string {
		return hex.EncodeToString((&Multipart{Reply: reply, Type: typ, Body: body}).Encode(xid))
	}
	enc := func(m MeterMod, xid uint32) string {
		b, err := m.Encode(xid)
		return hex.EncodeToString(mustBytes(t)(b, err))
	}
	return []struct{ name, hex, want string }{
		{"add", enc(testMeterAdd, 1),
			"OFPT_METER_MOD (OF1.3) (xid=0x1): ADD meter=1 kbps burst stats bands=|type=drop rate=1000 burst_size=100|type=dscp_remark rate=500 burst_size=50 prec_level=1"},
		{"modify", enc(MeterMod{Command: MeterModify, Meter: flow.MeterSpec{ID: 7, Flags: flow.MeterPktps, Bands: []flow.MeterBand{{Type: flow.BandDrop, Rate: 10}}}}, 2),
			"OFPT_METER_MOD (OF1.3) (xid=0x2): MOD meter=7 pktps bands=|type=drop rate=10"},
		{"delete all", enc(MeterMod{Command: MeterDelete, Meter: flow.MeterSpec{ID: flow.MeterAll}}, 3),
			"OFPT_METER_MOD (OF1.3) (xid=0x3): DEL meter=all bands="},
		{"stats reply", mp(true, MultipartMeter, mustBytes(t)(AppendMeterStats(nil, testMeterStats)), 4),
			"OFPST_METER reply (OF1.3) (xid=0x4):|meter:1 flow_count:2 packet_in_count:30 byte_in_count:4000 duration:5.006s bands:|0: packet_count:7 byte_count:800|1: packet_count:9 byte_count:1000"},
		{"config reply", mp(true, MultipartMeterConfig, mustBytes(t)(AppendMeterConfigs(nil, testMeterConfigs)), 5),
			"OFPST_METER_CONFIG reply (OF1.3) (xid=0x5):|meter=all bands=||meter=2 pktps stats bands=|type=dscp_remark rate=100 prec_level=2"},
		{"features reply", mp(true, MultipartMeterFeatures, testMeterFeatures.Append(nil), 6),
			"OFPST_METER_FEATURES reply (OF1.3) (xid=0x6):|max_meter:65536 max_bands:8 max_color:0|band_types: drop dscp_remark|capabilities: kbps pktps burst stats"},
		{"stats request", mp(false, MultipartMeter, MeterRequest{MeterID: flow.MeterAll}.Append(nil), 7),
			"OFPST_METER request (OF1.3) (xid=0x7): meter=all"},
		{"config request", mp(false, MultipartMeterConfig, MeterRequest{MeterID: 3}.Append(nil), 8),
			"OFPST_METER_CONFIG request (OF1.3) (xid=0x8): meter=3"},
		{"features request", mp(false, MultipartMeterFeatures, nil, 9),
			"OFPST_METER_FEATURES request (OF1.3) (xid=0x9):"},
	}
}

func TestMeterOFPrint(t *testing.T) {
	ofctl, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		t.Skip("no ovs-ofctl")
	}
	for _, tc := range meterPrintCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(ofctl, "ofp-print", tc.hex).CombinedOutput()
			if err != nil {
				t.Fatalf("ovs-ofctl ofp-print %s: %v\n%s", tc.hex, err, out)
			}
			if got := strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "|"); got != tc.want {
				t.Errorf("ovs-ofctl ofp-print:\n-\t%s\n+\t%s", tc.want, got)
			}
		})
	}
}

func TestMeterRoundTrip(t *testing.T) {
	msg, err := testMeterAdd.Encode(1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMessage(msg)
	if err != nil || !reflect.DeepEqual(got, testMeterAdd) {
		t.Errorf("DecodeMessage(meter mod) = %+v, %v; want %+v", got, err, testMeterAdd)
	}
	st, err := DecodeMeterStats(mustBytes(t)(AppendMeterStats(nil, testMeterStats)))
	if err != nil || !reflect.DeepEqual(st, testMeterStats) {
		t.Errorf("meter stats: got %+v, %v", st, err)
	}
	cf, err := DecodeMeterConfigs(mustBytes(t)(AppendMeterConfigs(nil, testMeterConfigs)))
	if err != nil || !reflect.DeepEqual(cf, testMeterConfigs) {
		t.Errorf("meter configs: got %+v, %v", cf, err)
	}
	mf, err := DecodeMeterFeatures(testMeterFeatures.Append(nil))
	if err != nil || mf != testMeterFeatures {
		t.Errorf("meter features: got %+v, %v", mf, err)
	}
	rq, err := DecodeMeterRequest(MeterRequest{MeterID: 9}.Append(nil))
	if err != nil || rq.MeterID != 9 {
		t.Errorf("meter request: got %+v, %v", rq, err)
	}
}

func TestMeterHostile(t *testing.T) {
	add, err := testMeterAdd.Encode(1)
	if err != nil {
		t.Fatal(err)
	}
	band := func(typ, n uint16) []byte { // a meter mod with one band
		b := append([]byte(nil), add[:meterModLen]...)
		b = be16(b, typ, n)
		b = append(b, make([]byte, max(int(n), 4)-4)...)
		return setLen(b, len(b))
	}
	cut := func(n int) []byte { return setLen(add[:n], n) }
	for _, tc := range []struct {
		name      string
		msg       []byte
		typ, code uint16
	}{
		{"short", cut(12), ETBadRequest, BadRequestBadLen},
		{"length mismatch", setLen(add, len(add)+8), ETBadRequest, BadRequestBadLen},
		{"half a band", cut(meterModLen + 8), ETBadRequest, BadRequestBadLen},
		{"band header only", cut(meterModLen + 2), ETBadRequest, BadRequestBadLen},
		{"band length 0", band(1, 0), ETBadRequest, BadRequestBadLen},
		{"band length 8", band(1, 8), ETBadRequest, BadRequestBadLen},
		{"band length 20", band(1, 20), ETBadRequest, BadRequestBadLen},
		{"drop band of 24", band(1, 24), ETBadRequest, BadRequestBadLen},
		{"band past the end", setLen(append(band(1, 16)[:meterModLen+2], 0, 32, 0, 0), meterModLen+4), ETBadRequest, BadRequestBadLen},
		{"experimenter band", band(0xffff, 16), ETMeterModFailed, MeterModFailedBadBand},
		{"band type 3", band(3, 16), ETMeterModFailed, MeterModFailedBadBand},
		{"band type 0", band(0, 16), ETMeterModFailed, MeterModFailedBadBand},
		{"command 3", func() []byte { b := append([]byte(nil), add...); b[9] = 3; return b }(), ETMeterModFailed, MeterModFailedBadCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMeterMod(tc.msg)
			wantError(t, err, tc.typ, tc.code)
		})
	}
	// Multipart bodies.
	stats := mustBytes(t)(AppendMeterStats(nil, testMeterStats))
	configs := mustBytes(t)(AppendMeterConfigs(nil, testMeterConfigs))
	for _, tc := range []struct {
		name   string
		decode func([]byte) error
		body   []byte
	}{
		{"stats cut", func(b []byte) error { _, err := DecodeMeterStats(b); return err }, stats[:len(stats)-1]},
		{"stats short entry", func(b []byte) error { _, err := DecodeMeterStats(b); return err }, stats[:39]},
		{"stats odd length", func(b []byte) error {
			b = append([]byte(nil), b...)
			b[5] = 48
			_, err := DecodeMeterStats(b)
			return err
		}, stats},
		{"configs cut", func(b []byte) error { _, err := DecodeMeterConfigs(b); return err }, configs[:len(configs)-4]},
		{"configs zero length", func(b []byte) error { _, err := DecodeMeterConfigs(b); return err }, make([]byte, 8)},
		{"features short", func(b []byte) error { _, err := DecodeMeterFeatures(b); return err }, make([]byte, 15)},
		{"request long", func(b []byte) error { _, err := DecodeMeterRequest(b); return err }, make([]byte, 9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.decode(tc.body), ETBadRequest, BadRequestBadLen)
		})
	}
}

func FuzzDecodeMeterMod(f *testing.F) {
	for _, tc := range meterPrintCases(f) {
		if b, err := hex.DecodeString(tc.hex); err == nil && b[1] == TypeMeterMod {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeterMod(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		enc, err := m.Encode(1)
		if err != nil {
			t.Fatalf("decoded %+v from %x but cannot encode it: %v", m, b, err)
		}
		m2, err := DecodeMeterMod(enc)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding %x gave %x, which decodes to %+v, %v; want %+v", b, enc, m2, err, m)
		}
	})
}
