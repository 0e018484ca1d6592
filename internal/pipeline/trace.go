package pipeline

import (
	"fmt"
	"strings"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
)

// Trace is the report of one translation, filled in by Translate when
// Options.Trace is set. Tests assert on its fields and on its text.
type Trace struct {
	Flow      flow.Key // the packet as it entered
	Steps     []Step
	FinalFlow flow.Key // the flow after all actions
	Mask      flow.Mask
	Actions   []action.Action
	Drop      action.DropReason
	// Offload is the kernel fast path's verdict on the megaflow, filled in
	// by the bridge ("" when nobody asked).
	Offload string
}

// Step is one line of a trace: a table lookup (Table >= 0) or a note about
// an action or a NORMAL decision (Table == -1).
type Step struct {
	Depth int
	Table int
	Rule  *flow.Rule // nil for a miss or a note
	Text  string
}

func (t *Trace) table(id uint8, r *flow.Rule) {
	s := Step{Table: int(id), Rule: r}
	if r == nil {
		s.Text = fmt.Sprintf("%2d. no match", id)
	} else {
		s.Text = fmt.Sprintf("%2d. %s, priority %d, cookie 0x%x", id, matchText(&r.Match), r.Priority, r.Cookie)
		if acts := flowtext.FormatActions(&r.Instructions); acts != "" {
			s.Text += "\n    actions=" + acts
		}
	}
	t.Steps = append(t.Steps, s)
}

func (t *Trace) note(depth int, format string, args ...any) {
	t.Steps = append(t.Steps, Step{Depth: depth, Table: -1, Text: fmt.Sprintf(format, args...)})
}

// drop notes that the packet is dropped and why.
func (t *Trace) drop(depth int, reason action.DropReason, format string, args ...any) {
	t.note(depth, "drop ("+reason.String()+"): "+format, args...)
}

// Megaflow returns the megaflow the translation would cache, as a match.
func (t *Trace) Megaflow() flow.Match {
	return flow.Match{Key: t.Flow.Apply(&t.Mask), Mask: t.Mask}
}

func matchText(m *flow.Match) string {
	if s := flowtext.FormatMatch(m); s != "" {
		return s
	}
	return "(match all)"
}

// String prints the trace in the style of ovs-appctl ofproto/trace.
func (t *Trace) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Flow: %s\n", flowtext.FormatKey(&t.Flow))
	for _, s := range t.Steps {
		indent := strings.Repeat("    ", s.Depth)
		if s.Table >= 0 {
			b.WriteString("\n" + indent + strings.ReplaceAll(s.Text, "\n", "\n"+indent) + "\n")
			continue
		}
		b.WriteString(indent + "    " + s.Text + "\n")
	}
	if t.FinalFlow != t.Flow {
		fmt.Fprintf(&b, "\nFinal flow: %s\n", flowtext.FormatKey(&t.FinalFlow))
	} else {
		b.WriteString("\nFinal flow: unchanged\n")
	}
	mf := t.Megaflow()
	fmt.Fprintf(&b, "Megaflow: %s\n", matchText(&mf))
	fmt.Fprintf(&b, "Datapath actions: %s\n", action.Format(t.Actions))
	if t.Offload != "" {
		fmt.Fprintf(&b, "Offload: %s\n", t.Offload)
	}
	return b.String()
}
