package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func (c *cli) traceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "trace BR PACKET",
		Short: "Trace a packet through a bridge's pipeline",
		Long: `Walk a described packet through the bridge's real translation, as
ovs-appctl ofproto/trace does, and print every table, rule and NORMAL decision,
the flow the datapath would cache (the megaflow) and its actions. Tracing
learns nothing and sends nothing.

PACKET gives the packet's fields as a flow match does, each exact:
in_port, dl_src, dl_dst, dl_vlan, dl_type (or ip, tcp, udp, arp, ...), nw_src,
nw_dst, tp_src, tp_dst, ...`,
		Example: `  dvs trace br0 "in_port=veth1,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff"
  dvs trace br0 "in_port=1,dl_vlan=10,tcp,nw_src=198.51.100.1,nw_dst=198.51.100.2,tp_dst=80"`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			tr, err := c.client().Trace(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(tr)
			}
			fmt.Fprint(c.stdout, tr.Text)
			if !strings.HasSuffix(tr.Text, "\n") {
				fmt.Fprintln(c.stdout)
			}
			return nil
		},
	}
}
