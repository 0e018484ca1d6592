package openflow

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// hx decodes hex written with spaces between groups.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantError(t *testing.T, err error, typ, code uint16) {
	t.Helper()
	var oe *Error
	if !errors.As(err, &oe) {
		t.Fatalf("got error %v, want *Error type %d code %d", err, typ, code)
	}
	if oe.Type != typ || oe.Code != code {
		t.Errorf("got %v, want type %d code %d", oe, typ, code)
	}
}

func TestDecodeMatchErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string
		code uint16
	}{
		{"short header", "0001", BadMatchBadLen},
		{"standard match", "0000 0004 00000000", BadMatchBadType},
		{"length below header", "0001 0003 00000000", BadMatchBadLen},
		{"length beyond buffer", "0001 0010 80000004 00000001", BadMatchBadLen},
		{"padding beyond buffer", "0001 000c 80000004 00000001", BadMatchBadLen},
		{"truncated TLV header", "0001 0006 8000 0000", BadMatchBadLen},
		{"TLV overruns match", "0001 000a 80000004 0001 000000000000", BadMatchBadLen},
		{"TLV claims 255 bytes", "0001 0008 800000ff", BadMatchBadLen},
		{"wrong field length", "0001 000a 80000002 0001 000000000000", BadMatchBadLen},
		{"masked wrong length", "0001 0010 80001306 000000000000", BadMatchBadLen},
		{"duplicate field", "0001 0014 80000004 00000001 80000004 00000002 00000000", BadMatchDupField},
		{"vlan_tci overlaps vlan_vid", "0001 0010 80000c02 1005 00000802 1005", BadMatchDupField},
		{"mask on in_port", "0001 0010 80000108 00000001 ffffffff", BadMatchBadMask},
		{"value outside mask", "0001 0010 00010108 00000003 00000001", BadMatchBadWildcards},
		{"unknown OFB field", "0001 0008 80007800", BadMatchBadField},
		{"experimenter class", "0001 000c ffff0004 00002320 00000000", BadMatchBadField},
		{"unknown NXM field", "0001 000c 0001fe04 00000000 00000000", BadMatchBadField},
		{"missing eth_type for tcp_src", "0001 000a 80001a02 0050 000000000000", BadMatchBadPrereq},
		{"vlan_pcp without a tag", "0001 0009 80000e01 03 00000000000000", BadMatchBadPrereq},
		{"arp_op above 255", "0001 0010 80000a02 0806 80002a02 0100", BadMatchBadValue},
		{"vlan_pcp above 7", "0001 000f 80000c02 1005 80000e01 08 00", BadMatchBadValue},
		{"ipv6_label above 20 bits", "0001 0012 80000a02 86dd 80003804 00100000 000000000000", BadMatchBadValue},
		{"vlan_vid mask above 13 bits", "0001 000c 80000d04 1005 ffff 00000000", BadMatchBadMask},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, n, err := DecodeMatch(hx(t, tc.hex))
			if err == nil {
				t.Fatalf("decoded %+v (%d bytes), want an error", m, n)
			}
			wantError(t, err, ETBadMatch, tc.code)
		})
	}
}

func TestDecodeInstructionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hex       string
		typ, code uint16
	}{
		{"short header", "0001", ETBadInstruction, BadInstBadLen},
		{"zero length", "0001 0000 00000000", ETBadInstruction, BadInstBadLen},
		{"length beyond buffer", "0004 0010 00000000", ETBadInstruction, BadInstBadLen},
		{"length not a multiple of 8", "0004 000c 00000000 00000000", ETBadInstruction, BadInstBadLen},
		{"goto_table too long", "0001 0010 02000000 00000000 00000000", ETBadInstruction, BadInstBadLen},
		{"unknown instruction", "0007 0008 00000000", ETBadInstruction, BadInstUnknownInst},
		{"experimenter instruction", "ffff 0008 00002320", ETBadInstruction, BadInstUnknownInst},
		{"duplicate apply", "0004 0008 00000000 0004 0008 00000000", ETBadInstruction, BadInstUnsupInst},
		{"goto table 254", "0001 0008 fe000000", ETBadInstruction, BadInstBadTableID},
		{"meter 0", "0006 0008 00000000", ETBadInstruction, BadInstUnsupInst},
		{"action overruns instruction", "0004 0010 00000000 0000 0010 00000001", ETBadAction, BadActionBadLen},
		{"action of length 0", "0004 0010 00000000 0000 0000 00000000", ETBadAction, BadActionBadLen},
		{"truncated action header", "0004 000c 00000000 0000 0000", ETBadInstruction, BadInstBadLen},
		{"output too short", "0004 0010 00000000 0000 0008 00000001", ETBadAction, BadActionBadLen},
		{"output to port 0", "0004 0018 00000000 0000 0010 00000000 ffff 000000000000", ETBadAction, BadActionBadOutPort},
		{"output to OFPP_ANY", "0004 0018 00000000 0000 0010 ffffffff ffff 000000000000", ETBadAction, BadActionBadOutPort},
		{"copy_ttl_out", "0004 0010 00000000 000b 0008 00000000", ETBadAction, BadActionBadType},
		{"push_mpls of IPv4", "0004 0010 00000000 0013 0008 08000000", ETBadAction, BadActionBadArgument},
		{"push_pbb", "0004 0010 00000000 001a 0008 88e70000", ETBadAction, BadActionBadType},
		{"push_vlan of IPv4", "0004 0010 00000000 0011 0008 08000000", ETBadAction, BadActionBadArgument},
		{"other experimenter", "0004 0018 00000000 ffff 0010 00001234 0012 000000000000", ETBadAction, BadActionBadExperimenter},
		{"other Nicira action", "0004 0018 00000000 ffff 0010 00002320 0007 000000000000", ETBadAction, BadActionBadExpType},
		{"short Nicira action", "0004 0010 00000000 ffff 0008 00002320", ETBadAction, BadActionBadLen},
		{"set_field OXM overruns", "0004 0018 00000000 0019 0010 800000ff 00000001 00000000", ETBadAction, BadActionBadSetLen},
		{"set_field extra padding", "0004 0020 00000000 0019 0018 80001804 0a000001 000000000000000000000000", ETBadAction, BadActionBadSetLen},
		{"set_field of in_port", "0004 0018 00000000 0019 0010 80000004 00000001 00000000", ETBadAction, BadActionBadSetType},
		{"set_field unknown field", "0004 0018 00000000 0019 0010 80007804 00000001 00000000", ETBadAction, BadActionBadSetType},
		{"set_field wrong length", "0004 0018 00000000 0019 0010 80001802 0a00 000000000000", ETBadAction, BadActionBadSetLen},
		{"set_field masked eth_type", "0004 0018 00000000 0019 0010 80000b04 0800ffff 00000000", ETBadAction, BadActionBadSetType},
		{"set_field vlan_pcp 8", "0004 0018 00000000 0019 0010 80000e01 08 00000000000000", ETBadAction, BadActionBadSetArgument},
		{"masked OpenFlow 1.3 set_field", "0004 0018 00000000 0019 0010 00010108 00000005 0000000f", ETBadAction, BadActionBadSetArgument},
		{"reg_load2 mask on ip_ecn", "0004 0018 00000000 ffff 0010 00002320 0021 80001302 0103", ETBadAction, BadActionBadSetArgument},
		{"reg_load2 OXM overruns", "0004 0018 00000000 ffff 0010 00002320 0021 00010108 0000", ETBadAction, BadActionBadSetLen},
		{"set_field mask on ip_ecn", "0004 0018 00000000 0019 0010 80001302 0103 000000000000", ETBadAction, BadActionBadSetArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := DecodeInstructions(hx(t, tc.hex))
			if err == nil {
				t.Fatalf("decoded %+v, want an error", in)
			}
			wantError(t, err, tc.typ, tc.code)
		})
	}
}
