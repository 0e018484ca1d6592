package openflow

import (
	"encoding/binary"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
)

// encodeFlowMod builds an OFPT_FLOW_MOD (command ADD) carrying r, so that
// encodings can be checked with ovs-ofctl ofp-print.
func encodeFlowMod(t testing.TB, r *flow.Rule, xid uint32) []byte {
	t.Helper()
	b := Header{Version: Version, Type: TypeFlowMod, Xid: xid}.Append(nil)
	b = binary.BigEndian.AppendUint64(b, r.Cookie)
	b = binary.BigEndian.AppendUint64(b, 0) // cookie_mask
	b = append(b, r.Table, 0)               // table_id, command = OFPFC_ADD
	b = binary.BigEndian.AppendUint16(b, r.IdleTimeout)
	b = binary.BigEndian.AppendUint16(b, r.HardTimeout)
	b = binary.BigEndian.AppendUint16(b, r.Priority)
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // buffer_id: OFP_NO_BUFFER
	b = binary.BigEndian.AppendUint32(b, flow.PortAny)
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // out_group: OFPG_ANY
	b = binary.BigEndian.AppendUint16(b, uint16(r.Flags))
	b = append(b, 0, 0)
	b = AppendMatch(b, &r.Match)
	b, err := AppendInstructions(b, &r.Instructions)
	if err != nil {
		t.Fatalf("encoding instructions: %v", err)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func mustRule(t testing.TB, s string) *flow.Rule {
	t.Helper()
	r, err := flowtext.ParseRule(s)
	if err != nil {
		t.Fatalf("ParseRule(%q): %v", s, err)
	}
	return r
}

func flowtextParse(s string) (*flow.Rule, error) { return flowtext.ParseRule(s) }
