package openflow

import (
	"encoding/hex"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// ofctlPrint returns what ovs-ofctl ofp-print makes of msg, or skips the
// check when ovs-ofctl is not installed.
func ofctlPrint(t *testing.T, msg []byte) (string, bool) {
	t.Helper()
	ofctl, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		return "", false
	}
	out, err := exec.Command(ofctl, "ofp-print", hex.EncodeToString(msg)).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl ofp-print %x: %v\n%s", msg, err, out)
	}
	return strings.TrimSpace(string(out)), true
}

func checkOfctl(t *testing.T, msg []byte, want string) {
	t.Helper()
	if want == "" {
		return
	}
	if got, ok := ofctlPrint(t, msg); ok && got != want {
		t.Errorf("ovs-ofctl ofp-print:\n-\t%s\n+\t%s", want, got)
	}
}

// encodeConfigMessage encodes v, a value DecodeMessage returns for one of
// the messages in portmod.go and bundle.go.
func encodeConfigMessage(t testing.TB, v any, xid uint32) []byte {
	t.Helper()
	if e, ok := v.(interface{ Encode(uint32) []byte }); ok {
		return e.Encode(xid)
	}
	t.Fatalf("cannot encode %T", v)
	return nil
}

func configCases() []struct {
	name string
	v    any
	hex  string
	want string
} {
	return []struct {
		name string
		v    any
		hex  string
		want string
	}{
		{"port mod", PortMod{PortNo: 3, HWAddr: [6]byte{2, 0, 0, 0, 0, 3}, Config: PortConfigDown, Mask: PortConfigDown | PortConfigNoFwd, Advertise: 1 << 5},
			"04100028000000070000000300000000020000000003000000000001000000210000002000000000",
			"OFPT_PORT_MOD (OF1.3) (xid=0x7): port: 3: addr:02:00:00:00:00:03\n     config: PORT_DOWN\n     mask:   PORT_DOWN NO_FWD\n     advertise: 1GB-FD"},
		{"port mod no advertise", PortMod{PortNo: 1, Mask: PortConfigNoPacketIn, Config: PortConfigNoPacketIn},
			"", "OFPT_PORT_MOD (OF1.3) (xid=0x7): port: 1: addr:00:00:00:00:00:00\n     config: NO_PACKET_IN\n     mask:   NO_PACKET_IN\n     advertise: UNCHANGED"},
		{"table mod", TableMod{TableID: 2, Config: 3},
			"04110010000000070200000000000003",
			"OFPT_TABLE_MOD (OF1.3) (xid=0x7): table_id=2"},
		{"queue get config request", QueueGetConfigRequest{Port: flow.PortAny},
			"0416001000000007ffffffff00000000",
			"OFPT_QUEUE_GET_CONFIG_REQUEST (OF1.3) (xid=0x7): port=ANY"},
		{"queue get config reply empty", QueueGetConfigReply{Port: 5},
			"04170010000000070000000500000000",
			"OFPT_QUEUE_GET_CONFIG_REPLY (OF1.3) (xid=0x7):"},
		{"queue get config reply", QueueGetConfigReply{Port: 5, Queues: []PacketQueue{
			{QueueID: 1, Port: 5, MinRate: 100, MaxRate: QueueRateNone},
			{QueueID: 2, Port: 5, MinRate: QueueRateNone, MaxRate: 500},
			{QueueID: 3, Port: 5, MinRate: 10, MaxRate: 20},
			{QueueID: 4, Port: 5, MinRate: QueueRateNone, MaxRate: QueueRateNone},
		}},
			"",
			"OFPT_QUEUE_GET_CONFIG_REPLY (OF1.3) (xid=0x7): port=5\nqueue 1: min_rate:10.0%\nqueue 2: max_rate:50.0%\nqueue 3: min_rate:1.0% max_rate:2.0%\nqueue 4:"},
	}
}

func TestConfigMessages(t *testing.T) {
	for _, tc := range configCases() {
		t.Run(tc.name, func(t *testing.T) {
			msg := encodeConfigMessage(t, tc.v, 7)
			if got := hex.EncodeToString(msg); tc.hex != "" && got != strings.ReplaceAll(tc.hex, " ", "") {
				t.Errorf("encoding:\n-\t%s\n+\t%s", tc.hex, got)
			}
			v, err := DecodeMessage(msg)
			if err != nil {
				t.Fatalf("DecodeMessage(%x): %v", msg, err)
			}
			if !reflect.DeepEqual(v, tc.v) {
				t.Errorf("DecodeMessage(%x):\n-\t%+v\n+\t%+v", msg, tc.v, v)
			}
			checkOfctl(t, msg, tc.want)
			// Every cut fails with an *Error, whether or not the header's
			// length is fixed up, and never panics.
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

func TestConfigMessageErrors(t *testing.T) {
	pm := PortMod{PortNo: 1}.Encode(1)
	badConfig := append([]byte(nil), pm...)
	badConfig[27] = 0x02 // bit 1 is not an ofp_port_config bit in 1.3
	badMask := append([]byte(nil), pm...)
	badMask[28] = 0x80
	qr := QueueGetConfigReply{Port: 5, Queues: []PacketQueue{{QueueID: 1, Port: 5, MinRate: 100, MaxRate: QueueRateNone}}}.Encode(1)
	queueLong := append([]byte(nil), qr...)
	queueLong[16+9] += 8 // the queue claims 8 more bytes than there are
	queueShort := append([]byte(nil), qr...)
	queueShort[16+9] = 8
	propLong := append([]byte(nil), qr...)
	propLong[32+3] = 24 // the property overruns its queue
	propZero := append([]byte(nil), qr...)
	propZero[32+3] = 0
	propType := append([]byte(nil), qr...)
	propType[32+1] = 7
	propRateLen := setLen(append(append([]byte(nil), qr[:32]...), hx(t, "0001 0008 00000000")...), 40)
	propRateLen[16+9] = 24
	for _, tc := range []struct {
		name      string
		msg       []byte
		typ, code uint16
	}{
		{"port mod short", setLen(pm[:36], 36), ETBadRequest, BadRequestBadLen},
		{"port mod long", setLen(append(pm, 0), 41), ETBadRequest, BadRequestBadLen},
		{"port mod bad config", badConfig, ETPortModFailed, PortModFailedBadConfig},
		{"port mod bad mask", badMask, ETPortModFailed, PortModFailedBadConfig},
		{"table mod long", setLen(append(TableMod{}.Encode(1), 0, 0, 0, 0), 20), ETBadRequest, BadRequestBadLen},
		{"queue request long", setLen(append(QueueGetConfigRequest{}.Encode(1), 0), 17), ETBadRequest, BadRequestBadLen},
		{"queue reply truncated queue", setLen(qr[:24], 24), ETBadRequest, BadRequestBadLen},
		{"queue length overruns", queueLong, ETBadRequest, BadRequestBadLen},
		{"queue length below header", queueShort, ETBadRequest, BadRequestBadLen},
		{"queue property overruns", propLong, ETBadRequest, BadRequestBadLen},
		{"queue property length 0", propZero, ETBadRequest, BadRequestBadLen},
		{"queue property unknown", propType, ETBadRequest, BadRequestBadType},
		{"queue rate property short", propRateLen, ETBadRequest, BadRequestBadLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage(tc.msg)
			wantError(t, err, tc.typ, tc.code)
		})
	}
}

func FuzzDecodeConfig(f *testing.F) {
	for _, tc := range configCases() {
		f.Add(encodeConfigMessage(f, tc.v, 1))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 2 {
			// Aim the fuzzer at this file's messages.
			b[1] = []uint8{TypePortMod, TypeTableMod, TypeQueueGetConfigRequest, TypeQueueGetConfigReply}[b[1]%4]
		}
		v, err := DecodeMessage(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		h, _ := ParseHeader(b)
		enc := encodeConfigMessage(t, v, h.Xid)
		v2, err := DecodeMessage(enc)
		if err != nil {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which does not decode: %v", b, v, enc, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("%x decodes to %+v, which encodes to %x, which decodes to %+v", b, v, enc, v2)
		}
	})
}
