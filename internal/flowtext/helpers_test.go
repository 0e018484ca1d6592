package flowtext

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/dvs-project/dvs/internal/flow"
)

// diffRules compares the parts of two rules that text carries and returns a
// "(-want +got)" description of the differences, or "".
func diffRules(want, got *flow.Rule) string {
	var b strings.Builder
	field := func(name string, w, g any) {
		if !reflect.DeepEqual(w, g) {
			fmt.Fprintf(&b, "%s:\n-\t%#v\n+\t%#v\n", name, w, g)
		}
	}
	field("Table", want.Table, got.Table)
	field("Priority", want.Priority, got.Priority)
	field("Cookie", want.Cookie, got.Cookie)
	field("IdleTimeout", want.IdleTimeout, got.IdleTimeout)
	field("HardTimeout", want.HardTimeout, got.HardTimeout)
	field("Flags", want.Flags, got.Flags)
	b.WriteString(diffMatch(&want.Match, &got.Match))
	field("Instructions", want.Instructions, got.Instructions)
	return b.String()
}

func diffMatch(want, got *flow.Match) string {
	if *want == *got {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Match:\n-\t%s\n+\t%s\n", FormatMatch(want), FormatMatch(got))
	wk, gk, wm, gm := want.Key.Words(), got.Key.Words(), want.Mask.Words(), got.Mask.Words()
	for i := range wk {
		if wk[i] != gk[i] || wm[i] != gm[i] {
			fmt.Fprintf(&b, "  word %d:\n-\t%016x/%016x\n+\t%016x/%016x\n", i, wk[i], wm[i], gk[i], gm[i])
		}
	}
	return b.String()
}

func diffKeys(want, got *flow.Key) string {
	if *want == *got {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Key:\n-\t%s\n+\t%s\n", FormatKey(want), FormatKey(got))
	wk, gk := want.Words(), got.Words()
	for i := range wk {
		if wk[i] != gk[i] {
			fmt.Fprintf(&b, "  word %d:\n-\t%016x\n+\t%016x\n", i, wk[i], gk[i])
		}
	}
	return b.String()
}

// roundTrip formats r, parses the text back and reports any difference.
func roundTrip(r *flow.Rule, opts FormatOptions, parseOpts ...Option) (string, error) {
	text := FormatRule(r, opts)
	back, err := ParseRule(text, parseOpts...)
	if err != nil {
		return text, fmt.Errorf("reparsing %q: %w", text, err)
	}
	if d := diffRules(r, back); d != "" {
		return text, fmt.Errorf("reparsing %q changed the rule (-want +got):\n%s", text, d)
	}
	return text, nil
}
