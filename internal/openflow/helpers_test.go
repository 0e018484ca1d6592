package openflow

import (
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
)

// encodeFlowMod builds an OFPT_FLOW_MOD (command ADD) carrying r, so that
// encodings can be checked with ovs-ofctl ofp-print.
func encodeFlowMod(t testing.TB, r *flow.Rule, xid uint32) []byte {
	t.Helper()
	fm := NewFlowMod(r)
	b, err := fm.Encode(xid)
	if err != nil {
		t.Fatalf("encoding flow mod: %v", err)
	}
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
