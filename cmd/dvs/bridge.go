package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
)

func (c *cli) bridgeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bridge",
		Short: "Add, delete and show bridges",
		Long: `A bridge is one switch. A new bridge is a VLAN-aware learning switch: its
table 0 holds a priority-0 NORMAL flow.`,
	}
	cmd.AddCommand(c.bridgeAddCmd(), c.bridgeDelCmd(), c.bridgeListCmd(), c.bridgeShowCmd())
	return cmd
}

func (c *cli) bridgeAddCmd() *cobra.Command {
	var spec api.BridgeSpec
	var aging time.Duration
	cmd := &cobra.Command{
		Use:   "add BR",
		Short: "Add a bridge",
		Long: `Add a bridge. Its name has 1 to 15 letters, digits, '_', '.' or '-'.
It starts as a learning switch (a NORMAL flow in table 0) with no ports.`,
		Example: `  dvs bridge add br0
  dvs bridge add br1 --workers 2 --mac-aging 60s --mac-limit 4096`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			if aging < 0 || aging%time.Second != 0 {
				return usagef("--mac-aging must be a whole number of seconds, like 300s")
			}
			spec.MACAgingSeconds = int(aging / time.Second)
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
	return cmd
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
			t := newTable(c.stdout, "NAME", "PORTS", "FLOWS", "MACS", "WORKERS")
			for _, b := range bs {
				w := "default"
				if b.Workers > 0 {
					w = fmt.Sprint(b.Workers)
				}
				t.row(b.Name, b.Ports, b.Flows, b.MACs, w)
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
			section(c.stdout, "Bridge "+b.Name, "ports", b.Ports, "flows", b.Flows, "learned MACs", b.MACs,
				"workers", workers, "MAC aging", aging, "MAC limit", limit)
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
