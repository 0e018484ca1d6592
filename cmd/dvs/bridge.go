package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
)

func (c *cli) bridgeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bridge",
		Short: "Add, delete and show bridges",
		Long: `A bridge is one switch. A new bridge is a VLAN-aware learning switch: its
table 0 holds a priority-0 NORMAL flow.

Each bridge is also an OpenFlow 1.3 switch: it connects to the controllers
given with --controller, listens where --listen says, and always listens on
its management socket, STATE_DIR/BR.mgmt, for ovs-ofctl ("dvs of show BR"
prints the path and the connections).`,
	}
	cmd.AddCommand(c.bridgeAddCmd(), c.bridgeDelCmd(), c.bridgeListCmd(), c.bridgeShowCmd(), c.bridgeSetCmd())
	return cmd
}

func (c *cli) bridgeAddCmd() *cobra.Command {
	var spec api.BridgeSpec
	var aging time.Duration
	cmd := &cobra.Command{
		Use:   "add BR",
		Short: "Add a bridge",
		Long: `Add a bridge. Its name has 1 to 15 letters, digits, '_', '.' or '-'.
It starts as a learning switch (a NORMAL flow in table 0) with no ports; in
fail mode secure it starts with empty flow tables, for its controller to fill.

OpenFlow: --controller makes the bridge connect to a controller (repeat it
for several), --listen makes it accept connections (ovs-ofctl, a controller
that connects in). The datapath id is derived from the name unless
--datapath-id gives it. See "dvs bridge set" for the fail modes.`,
		Example: `  dvs bridge add br0
  dvs bridge add br1 --workers 2 --mac-aging 60s --mac-limit 4096
  dvs bridge add br2 --controller tcp:127.0.0.1:6653 --fail-mode secure
  dvs bridge add br3 --datapath-id 0000000000000a03 --listen ptcp:6634`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			if aging < 0 || aging%time.Second != 0 {
				return usagef("--mac-aging must be a whole number of seconds, like 300s")
			}
			spec.MACAgingSeconds = int(aging / time.Second)
			if err := checkFailMode(spec.OpenFlow.FailMode); err != nil {
				return err
			}
			if err := checkOffload(spec.Offload); err != nil {
				return err
			}
			b, err := c.client().AddBridge(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(b)
			}
			fmt.Fprintf(c.stdout, "added bridge %s\n", b.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&spec.Workers, "workers", 0, "packet workers (0 = the agent's default)")
	f.DurationVar(&aging, "mac-aging", 0, "how long a learned MAC lives without traffic (0 = 300s)")
	f.IntVar(&spec.MACLimit, "mac-limit", 0, "most learned MACs (0 = 2048)")
	f.StringVar(&spec.DatapathID, "datapath-id", "", "OpenFlow datapath id, up to 16 hex digits, like 0000000000000a01 (default: derived from the name)")
	f.StringArrayVar(&spec.OpenFlow.Controllers, "controller", nil, "connect to this OpenFlow controller: tcp:HOST[:PORT] or ssl:HOST[:PORT] (repeatable)")
	f.StringArrayVar(&spec.OpenFlow.Listen, "listen", nil, "accept OpenFlow connections: ptcp:[PORT][:IP], pssl:[PORT][:IP] or punix:PATH (repeatable)")
	f.StringVar(&spec.OpenFlow.FailMode, "fail-mode", "", "what to do without a controller: standalone (the default) or secure")
	f.StringVar(&spec.Offload, "offload", "", "kernel fast path: tc or none (default: the agent's, tc)")
	cmd.RegisterFlagCompletionFunc("fail-mode", completeFailMode)
	cmd.RegisterFlagCompletionFunc("offload", completeOffload)
	return cmd
}

// checkOffload rejects an unknown kernel fast path mode before asking the
// agent.
func checkOffload(m string) error {
	switch m {
	case "", "tc", "none":
		return nil
	}
	return usagef("--offload must be tc or none, not %q", m)
}

var completeOffload = cobra.FixedCompletions([]string{"tc", "none"}, cobra.ShellCompDirectiveNoFileComp)

// checkFailMode rejects an unknown fail mode before asking the agent.
func checkFailMode(m string) error {
	switch m {
	case "", "standalone", "secure":
		return nil
	}
	return usagef("--fail-mode must be standalone or secure, not %q", m)
}

var completeFailMode = cobra.FixedCompletions([]string{"standalone", "secure"}, cobra.ShellCompDirectiveNoFileComp)

func (c *cli) bridgeSetCmd() *cobra.Command {
	var (
		controllers, listen    []string
		noController, noListen bool
		failMode               string
		probe                  time.Duration
		sslKey, sslCert, sslCA string
		offloadMode            string
	)
	cmd := &cobra.Command{
		Use:   "set BR",
		Short: "Change a bridge's OpenFlow and offload settings",
		Long: `Change a bridge's OpenFlow settings and its kernel fast path (--offload tc
or none); settings not given keep their value.
--controller and --listen replace the whole list (repeat them for several);
connections to targets that stay are kept.

Fail modes, as in Open vSwitch:
  standalone  when controllers are configured but none has answered for three
              inactivity probes, the bridge switches on its own (NORMAL) until
              one connects again ("fail-open" in "dvs of show")
  secure      the bridge only does what its flow tables say, connected or not

The bridge's management socket (STATE_DIR/BR.mgmt) is always there, whatever
--listen says.`,
		Example: `  dvs bridge set br0 --controller tcp:127.0.0.1:6653
  dvs bridge set br0 --controller tcp:10.0.0.1 --controller tcp:10.0.0.2:6633
  dvs bridge set br0 --no-controller
  dvs bridge set br0 --fail-mode secure --inactivity-probe 10s
  dvs bridge set br0 --listen ptcp:6634:127.0.0.1
  dvs bridge set br0 --controller ssl:10.0.0.1:6653 \
      --ssl-key /etc/dvs/key.pem --ssl-cert /etc/dvs/cert.pem --ssl-ca /etc/dvs/ca.pem`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			var patch api.BridgePatch
			f := cmd.Flags()
			switch {
			case noController:
				patch.Controllers = &[]string{}
			case f.Changed("controller"):
				patch.Controllers = &controllers
			}
			switch {
			case noListen:
				patch.Listen = &[]string{}
			case f.Changed("listen"):
				patch.Listen = &listen
			}
			if f.Changed("fail-mode") {
				if failMode == "" {
					return usagef("--fail-mode must be standalone or secure")
				}
				if err := checkFailMode(failMode); err != nil {
					return err
				}
				patch.FailMode = &failMode
			}
			if f.Changed("inactivity-probe") {
				if probe < 0 {
					return usagef("--inactivity-probe must not be negative")
				}
				patch.InactivityProbe = &probe
			}
			if f.Changed("ssl-key") {
				patch.PrivateKey = &sslKey
			}
			if f.Changed("ssl-cert") {
				patch.Certificate = &sslCert
			}
			if f.Changed("ssl-ca") {
				patch.CACert = &sslCA
			}
			if f.Changed("offload") {
				if err := checkOffload(offloadMode); err != nil {
					return err
				}
				patch.Offload = &offloadMode
			}
			if patch.IsZero() {
				return usagef("nothing to change: give --controller, --no-controller, --listen, --no-listen, --fail-mode, --inactivity-probe, --ssl-key/--ssl-cert/--ssl-ca or --offload")
			}
			b, err := c.client().SetBridge(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(b)
			}
			of := b.OpenFlow
			fmt.Fprintf(c.stdout, "bridge %s: controllers %s, fail mode %s\n", b.Name,
				listOrNone(of.Controllers), failModeOf(of.FailMode))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&controllers, "controller", nil, "connect to these controllers (replaces the list): tcp:HOST[:PORT] or ssl:HOST[:PORT], repeatable")
	f.BoolVar(&noController, "no-controller", false, "remove every controller")
	f.StringArrayVar(&listen, "listen", nil, "accept OpenFlow connections here (replaces the list): ptcp:[PORT][:IP], pssl:[PORT][:IP] or punix:PATH, repeatable")
	f.BoolVar(&noListen, "no-listen", false, "remove every listener (the management socket stays)")
	f.StringVar(&failMode, "fail-mode", "", "standalone or secure")
	f.DurationVar(&probe, "inactivity-probe", 0, "echo a silent controller connection after this long, like 5s (0 = the default, 5s; tools on listeners: at least 1m)")
	f.StringVar(&sslKey, "ssl-key", "", "private key (PEM) for ssl and pssl targets")
	f.StringVar(&sslCert, "ssl-cert", "", "certificate (PEM) for ssl and pssl targets")
	f.StringVar(&sslCA, "ssl-ca", "", "CA certificate (PEM) that peers' certificates must chain to")
	f.StringVar(&offloadMode, "offload", "", "kernel fast path: tc or none (\"\" = the agent's default)")
	cmd.MarkFlagsMutuallyExclusive("controller", "no-controller")
	cmd.MarkFlagsMutuallyExclusive("listen", "no-listen")
	cmd.RegisterFlagCompletionFunc("fail-mode", completeFailMode)
	return cmd
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func failModeOf(m string) string {
	if m == "" {
		return "standalone"
	}
	return m
}

func (c *cli) bridgeDelCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "del BR",
		Aliases:           []string{"delete", "rm"},
		Short:             "Delete a bridge and its ports",
		Long:              `Delete a bridge: its ports are closed (tap and internal ports disappear) and its configuration is forgotten.`,
		Example:           `  dvs bridge del br0`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.client().DelBridge(cmd.Context(), args[0]); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"bridge": args[0], "deleted": true})
			}
			fmt.Fprintf(c.stdout, "deleted bridge %s\n", args[0])
			return nil
		},
	}
}

func (c *cli) bridgeListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the bridges",
		Example: `  dvs bridge list
  dvs bridge list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := c.client().Bridges(cmd.Context())
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(bs)
			}
			t := newTable(c.stdout, "NAME", "PORTS", "FLOWS", "MACS", "WORKERS", "DATAPATH_ID", "CONTROLLERS")
			for _, b := range bs {
				w := "default"
				if b.Workers > 0 {
					w = fmt.Sprint(b.Workers)
				}
				ctl := "-"
				if len(b.OpenFlow.Controllers) > 0 {
					ctl = strings.Join(b.OpenFlow.Controllers, ",")
				}
				t.row(b.Name, b.Ports, b.Flows, b.MACs, w, b.DatapathID, ctl)
			}
			t.flush()
			return nil
		},
	}
}

func (c *cli) bridgeShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "show BR",
		Short:             "Show a bridge and its ports",
		Example:           `  dvs bridge show br0`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := c.client().Bridge(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(b)
			}
			workers, aging, limit := "default", "300s", "2048"
			if b.Workers > 0 {
				workers = fmt.Sprint(b.Workers)
			}
			if b.MACAgingSeconds > 0 {
				aging = fmt.Sprintf("%ds", b.MACAgingSeconds)
			}
			if b.MACLimit > 0 {
				limit = fmt.Sprint(b.MACLimit)
			}
			of := b.OpenFlow
			kv := []any{"ports", b.Ports, "flows", b.Flows, "learned MACs", b.MACs,
				"workers", workers, "MAC aging", aging, "MAC limit", limit,
				"datapath id", b.DatapathID, "controllers", listOrNone(of.Controllers),
				"fail mode", failModeOf(of.FailMode)}
			if len(of.Listen) > 0 {
				kv = append(kv, "listen", strings.Join(of.Listen, ", "))
			}
			if b.MgmtSocket != "" {
				kv = append(kv, "management", "unix:"+b.MgmtSocket)
			}
			section(c.stdout, "Bridge "+b.Name, kv...)
			if len(b.PortList) > 0 {
				fmt.Fprintln(c.stdout)
				c.portTable(b.PortList)
			}
			return nil
		},
	}
}

// completeBridge completes the first argument with the agent's bridges.
func (c *cli) completeBridge(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return c.bridgeNames(ctxOf(cmd)), cobra.ShellCompDirectiveNoFileComp
}

func (c *cli) bridgeNames(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	bs, err := c.client().Bridges(ctx)
	if err != nil {
		return nil
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names
}

// ctxOf returns the command's context; completion may run without one.
func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
