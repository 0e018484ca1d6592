package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
)

func (c *cli) ofCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "of",
		Short: "Show a bridge's OpenFlow side",
		Long: `Each bridge is an OpenFlow 1.3 switch. It connects to the controllers set with
"dvs bridge add/set --controller", accepts connections where --listen says, and
always listens on its management socket, STATE_DIR/BR.mgmt (STATE_DIR is
/var/lib/dvs unless "dvs agent --state-dir" says otherwise), so that ovs-ofctl
works with no configuration:

  ovs-ofctl -O OpenFlow13 dump-flows unix:/var/lib/dvs/br0.mgmt
  ovs-ofctl -O OpenFlow13 snoop unix:/var/lib/dvs/br0.snoop`,
	}
	cmd.AddCommand(c.ofShowCmd())
	return cmd
}

func (c *cli) ofShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show BR",
		Short: "Show a bridge's OpenFlow connections and counters",
		Long: `Show a bridge's OpenFlow side: its datapath id, fail mode (and whether it is
switching on its own for lack of a controller: "fail-open active"), its
management and snoop sockets, then one line per connection or controller
target: target, kind (controller, service for connections accepted on a
listener, snoop), state, role, OpenFlow version, age of the state, messages
received and sent, and the commonest message types. Then the packet-ins sent
to controllers and dropped for a full queue, groups, meters and open bundles.`,
		Example:           "  dvs of show br0\n  dvs of show br0 -o json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := c.client().OpenFlow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(info)
			}
			printOpenFlow(c.stdout, args[0], info, time.Now())
			return nil
		},
	}
}

// printOpenFlow prints info as `dvs of show` does; now is the time ages
// are counted from.
func printOpenFlow(w io.Writer, br string, info api.OpenFlowInfo, now time.Time) {
	fm := failModeOf(info.FailMode)
	if info.FailOpen {
		fm += " (fail-open active: switching as NORMAL until a controller connects)"
	}
	// The management socket is shown on its own line, not as a listener.
	var listen []string
	for _, l := range info.Listen {
		if info.MgmtSocket == "" || l != "punix:"+info.MgmtSocket {
			listen = append(listen, l)
		}
	}
	kv := []any{"datapath id", info.DatapathID, "fail mode", fm}
	if info.MgmtSocket != "" {
		kv = append(kv, "management", "unix:"+info.MgmtSocket)
	}
	if info.SnoopSocket != "" {
		kv = append(kv, "snoop", "unix:"+info.SnoopSocket)
	}
	kv = append(kv, "controllers", listOrNone(info.Controllers), "listen", listOrNone(listen))
	if info.Error != "" {
		kv = append(kv, "error", info.Error)
	}
	section(w, "OpenFlow "+br, kv...)

	fmt.Fprintln(w, "\nConnections")
	if len(info.Connections) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		t := newTable(w, "  TARGET", "KIND", "STATE", "ROLE", "VERSION", "AGE", "RX", "TX", "MESSAGES")
		var notes []string
		for _, ci := range info.Connections {
			age := "-"
			if !ci.Since.IsZero() {
				age = now.Sub(ci.Since).Round(time.Second).String()
			}
			t.row("  "+ci.Target, ci.Kind, ci.State, orDash(ci.Role), ofVersion(ci.Version), age,
				total(ci.Rx), total(ci.Tx), topMessages(ci.Rx, ci.Tx))
			if ci.LastError != "" {
				notes = append(notes, fmt.Sprintf("  %s: last error: %s", ci.Target, ci.LastError))
			}
			if ci.ErrorsSent > 0 || ci.AsyncDropped > 0 {
				notes = append(notes, fmt.Sprintf("  %s: %d errors sent, %d asynchronous messages dropped",
					ci.Target, ci.ErrorsSent, ci.AsyncDropped))
			}
		}
		t.flush()
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}

	fmt.Fprintln(w)
	section(w, "Counters", "packet-ins", fmt.Sprintf("%d sent, %d dropped", info.PacketInsSent, info.PacketInsDropped),
		"groups", info.Groups, "meters", info.Meters, "open bundles", info.Bundles)
}

// ofVersion names an OpenFlow wire version.
func ofVersion(v uint8) string {
	if v >= 1 && v <= 6 {
		return fmt.Sprintf("1.%d", v-1)
	}
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("0x%02x", v)
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// topMessages names the three commonest message types each way, like
// "rx FLOW_MOD:120 ECHO_REQUEST:3, tx PACKET_IN:40".
func topMessages(rx, tx map[string]uint64) string {
	top := func(dir string, m map[string]uint64) string {
		type kv struct {
			k string
			v uint64
		}
		var l []kv
		for k, v := range m {
			if v > 0 {
				l = append(l, kv{k, v})
			}
		}
		if len(l) == 0 {
			return ""
		}
		slices.SortFunc(l, func(a, b kv) int {
			if c := cmp.Compare(b.v, a.v); c != 0 {
				return c
			}
			return strings.Compare(a.k, b.k)
		})
		parts := []string{dir}
		for _, e := range l[:min(3, len(l))] {
			parts = append(parts, fmt.Sprintf("%s:%d", strings.TrimPrefix(e.k, "OFPT_"), e.v))
		}
		return strings.Join(parts, " ")
	}
	var out []string
	for _, s := range []string{top("rx", rx), top("tx", tx)} {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}
