package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func (c *cli) statsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats BR",
		Short: "Show a bridge's counters",
		Long: `Show a bridge's counters: per port (packets, bytes, drops, errors), per flow
table (rules, slow-path lookups, matches), the flow caches (entries, masks,
exact-match and megaflow hits, misses, upcalls, revalidations), drops by reason,
the kernel fast path (mode, entries, packets it forwarded) and the MAC table.
Port counters include the traffic the kernel fast path forwarded.`,
		Example:           "  dvs stats br0\n  dvs stats br0 -o json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.client().Stats(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(s)
			}
			w := c.stdout
			fmt.Fprintln(w, "Ports")
			t := newTable(w, "  NAME", "OFPORT", "STATE", "RX_PKTS", "RX_BYTES", "RX_DROP", "RX_ERR",
				"TX_PKTS", "TX_BYTES", "TX_DROP", "TX_ERR")
			for _, p := range s.Ports {
				st := p.Stats
				t.row("  "+p.Name, p.OFPort, p.State, st.RxPackets, st.RxBytes, st.RxDropped, st.RxErrors,
					st.TxPackets, st.TxBytes, st.TxDropped+p.SwitchTxDropped, st.TxErrors)
			}
			t.flush()

			fmt.Fprintln(w, "\nTables")
			t = newTable(w, "  ID", "RULES", "LOOKUPS", "MATCHED")
			for _, tb := range s.Tables {
				t.row(fmt.Sprintf("  %d", tb.ID), tb.Rules, tb.Lookups, tb.Matched)
			}
			t.flush()

			fmt.Fprintln(w)
			cs := s.Cache
			section(w, "Cache", "entries", cs.Entries, "masks", cs.Masks, "emc hits", cs.EMCHits,
				"megaflow hits", cs.MegaflowHits, "misses", cs.Misses, "upcalls", cs.Upcalls,
				"translations", cs.Translations, "revalidations", cs.Revalidations, "replaced", cs.Replaced,
				"not cached", cs.NotCached)

			fmt.Fprintln(w)
			var kv []any
			reasons := make([]string, 0, len(s.Drops))
			for r := range s.Drops {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			for _, r := range reasons {
				kv = append(kv, r, s.Drops[r])
			}
			if len(kv) == 0 {
				kv = []any{"total", 0}
			}
			section(w, "Drops", kv...)

			fmt.Fprintln(w)
			o := s.Offload
			if o.Mode == "none" {
				section(w, "Offload", "mode", "none ("+o.Reason+")")
			} else {
				section(w, "Offload", "mode", o.Mode, "entries", o.Entries, "to veth peers", o.Peer, "ports", o.Ports, "packets", o.Packets,
					"bytes", o.Bytes, "installs", o.Installs, "failed", o.Failed)
			}

			fmt.Fprintln(w)
			m := s.MACs
			section(w, "MACs", "entries", m.Entries, "learned", m.Learned, "moved", m.Moved, "expired", m.Expired,
				"refused", m.Refused, "flushed", m.Flushed)
			return nil
		},
	}
}
