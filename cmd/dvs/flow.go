package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
)

// flowChunk is how many flows `flow add -f` sends per request. Each request
// is all or none, so a bad line stops the load there.
const flowChunk = 1000

func (c *cli) flowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flow",
		Short: "Add, change, delete and dump OpenFlow rules",
		Long: `Flows use the syntax of ovs-ofctl: "[table=N,][priority=N,]MATCH actions=ACTIONS".
Ports can be named by number or by name (in_port=veth1, output:veth2). Flows
are saved and restored when the agent restarts.`,
	}
	cmd.AddCommand(c.flowAddCmd(), c.flowModCmd(), c.flowDelCmd(), c.flowDumpCmd())
	return cmd
}

func (c *cli) flowAddCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "add BR FLOW... | add BR -f FILE",
		Short: "Add flows",
		Long: `Add flows given as arguments (all or none), or read from a file (-f FILE, or
-f - for standard input), one flow per line; blank lines and lines starting
with # are skipped.

A file is sent in chunks of 1000 flows, each added all or none. A bad line
stops the load: the error names its line, the chunks before it stay added
and nothing from its chunk on is added, so fix the line and load the file
from the reported point. A progress bar is shown when standard error is a
terminal.`,
		Example: `  dvs flow add br0 "priority=100,in_port=veth1,ip,nw_dst=198.51.100.0/24 actions=output:veth2"
  dvs flow add br0 "table=0,priority=10,dl_vlan=10 actions=goto_table:1" "table=1,actions=NORMAL"
  dvs flow add br0 -f flows.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("give the bridge and the flows (or -f FILE)")
			}
			if file == "" && len(args) < 2 {
				return fmt.Errorf("give at least one flow, or -f FILE")
			}
			if file != "" && len(args) > 1 {
				return fmt.Errorf("give flows as arguments or with -f, not both")
			}
			return nil
		},
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			br := args[0]
			if file == "" {
				n, err := c.client().AddFlows(cmd.Context(), br, args[1:])
				if err != nil {
					return err
				}
				return c.reportAdded(n)
			}
			return c.loadFlows(cmd, br, file)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `read flows from FILE ("-" = standard input)`)
	return cmd
}

func (c *cli) reportAdded(n int) error {
	if c.json() {
		return c.printJSON(api.Count{Count: n})
	}
	fmt.Fprintf(c.stdout, "added %d flows\n", n)
	return nil
}

// flowLine is a flow from a file and its line number.
type flowLine struct {
	no   int
	text string
}

func readFlows(r io.Reader) ([]flowLine, error) {
	var out []flowLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for no := 1; sc.Scan(); no++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		out = append(out, flowLine{no: no, text: s})
	}
	return out, sc.Err()
}

func (c *cli) loadFlows(cmd *cobra.Command, br, file string) error {
	var r io.Reader = c.stdin
	name := "standard input"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r, name = f, file
	}
	lines, err := readFlows(r)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if len(lines) == 0 {
		return fmt.Errorf("%s has no flows", name)
	}
	client := c.client()
	bar := newProgress(c.stderr, c.progress && !c.json(), len(lines))
	added := 0
	for start := 0; start < len(lines); start += flowChunk {
		chunk := lines[start:min(start+flowChunk, len(lines))]
		texts := make([]string, len(chunk))
		for i, l := range chunk {
			texts[i] = l.text
		}
		n, err := client.AddFlows(cmd.Context(), br, texts)
		if err != nil {
			bar.done()
			var e *api.Error
			if errors.As(err, &e) && e.Line >= 1 && e.Line <= len(chunk) {
				bad := chunk[e.Line-1]
				msg := strings.TrimPrefix(e.Message, fmt.Sprintf("line %d: ", e.Line))
				return fmt.Errorf("%s:%d: %s (added %d flows before line %d; nothing from line %d on)",
					name, bad.no, msg, added, chunk[0].no, chunk[0].no)
			}
			if added > 0 {
				return fmt.Errorf("%w (added %d flows before line %d; nothing from line %d on)", err, added, chunk[0].no, chunk[0].no)
			}
			return err
		}
		added += n
		bar.set(added)
	}
	bar.done()
	return c.reportAdded(added)
}

func (c *cli) flowModCmd() *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "mod BR FLOW",
		Short: "Change the actions of flows",
		Long: `Replace the actions of every flow the match of FLOW selects (in every table
unless FLOW gives table=) with FLOW's actions. With --strict only the flow
with exactly that match and priority changes.`,
		Example: `  dvs flow mod br0 "in_port=veth1 actions=drop"
  dvs flow mod br0 --strict "priority=100,in_port=veth1 actions=output:veth3"`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.client().ModFlows(cmd.Context(), args[0], api.FlowSelect{Flow: args[1], Strict: strict})
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(api.Count{Count: n})
			}
			fmt.Fprintf(c.stdout, "modified %d flows\n", n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "match the priority and the match exactly")
	return cmd
}

func (c *cli) flowDelCmd() *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:     "del BR [FLOW]",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete flows",
		Long: `Delete the flows FLOW's match selects, or every flow (the default NORMAL
flow too) without FLOW. With --strict only the flow with exactly that match
and priority goes.`,
		Example: `  dvs flow del br0 "in_port=veth1"
  dvs flow del br0 --strict "priority=0"
  dvs flow del br0`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			sel := api.FlowSelect{Strict: strict}
			if len(args) > 1 {
				sel.Flow = args[1]
			}
			n, err := c.client().DelFlows(cmd.Context(), args[0], sel)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(api.Count{Count: n})
			}
			fmt.Fprintf(c.stdout, "deleted %d flows\n", n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "match the priority and the match exactly")
	return cmd
}

func (c *cli) flowDumpCmd() *cobra.Command {
	var noStats bool
	cmd := &cobra.Command{
		Use:   "dump BR [FILTER]",
		Short: "Print flows as ovs-ofctl dump-flows does",
		Long: `Print the flows FILTER selects (all without it), with their counters as
ovs-ofctl dump-flows prints them; --no-stats prints them as add-flow takes them.`,
		Example: `  dvs flow dump br0
  dvs flow dump br0 "table=1"
  dvs flow dump br0 --no-stats > flows.txt`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := ""
			if len(args) > 1 {
				filter = args[1]
			}
			lines, err := c.client().DumpFlows(cmd.Context(), args[0], filter, !noStats)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(api.Flows{Flows: lines})
			}
			for _, l := range lines {
				fmt.Fprintln(c.stdout, l)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStats, "no-stats", false, "leave out counters and durations")
	return cmd
}
