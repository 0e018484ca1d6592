package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
)

func (c *cli) macCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mac",
		Short: "Show and flush learned MAC addresses",
	}
	cmd.AddCommand(c.macShowCmd(), c.macFlushCmd())
	return cmd
}

func (c *cli) macShowCmd() *cobra.Command {
	var vid int
	cmd := &cobra.Command{
		Use:               "show BR",
		Short:             "Show the MACs a bridge has learned",
		Long:              `Show where each (VLAN, MAC) was last seen and how many seconds ago.`,
		Example:           "  dvs mac show br0\n  dvs mac show br0 --vlan 10",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("vlan") && vid == 0 {
				return fmt.Errorf("--vlan 0: VLAN ID must be 1..4094")
			}
			macs, err := c.client().MACs(cmd.Context(), args[0], vid)
			if err != nil {
				return err
			}
			if c.json() {
				if macs == nil {
					macs = []api.MAC{}
				}
				return c.printJSON(macs)
			}
			t := newTable(c.stdout, "PORT", "VLAN", "MAC", "AGE")
			for _, m := range macs {
				t.row(m.Port, m.VLAN, m.MAC, m.AgeSeconds)
			}
			t.flush()
			return nil
		},
	}
	cmd.Flags().IntVar(&vid, "vlan", 0, "only this VLAN")
	return cmd
}

func (c *cli) macFlushCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "flush BR",
		Short:             "Forget every MAC a bridge has learned",
		Example:           "  dvs mac flush br0",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := c.client().FlushMACs(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(api.Count{Count: n})
			}
			fmt.Fprintf(c.stdout, "flushed %d MACs\n", n)
			return nil
		},
	}
}
