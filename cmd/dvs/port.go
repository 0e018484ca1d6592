package main

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
)

func (c *cli) portCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "port",
		Short: "Add, delete, change and show ports",
		Long: `A port connects a bridge to an interface:

  afpacket  an existing interface (a NIC, a veth end, a VM's tap), the default
  tap       a new tap device whose file side the switch holds
  internal  a new interface the host addresses, reaching the switch through it
  vxlan     a VXLAN tunnel (RFC 7348) to --remote-ip; no interface, the name is the port's
  geneve    a Geneve tunnel (RFC 8926) to --remote-ip; likewise
  bond      an active-backup bond of --members (existing interfaces); the name is the port's

VLAN modes: --vlan N (access port of VLAN N), --trunk LIST (trunk of the listed
VLANs, with --native-vlan N for untagged frames), --qinq N (QinQ port pushing
service VLAN N), or none (a trunk of every VLAN).`,
	}
	cmd.AddCommand(c.portAddCmd(), c.portDelCmd(), c.portListCmd(), c.portShowCmd(), c.portSetCmd())
	return cmd
}

// vlanFlags are the VLAN options add and set share.
type vlanFlags struct {
	vlan, native, qinq int
	trunk              string
	noFlood, relay     bool
	macLimit           int
}

func (v *vlanFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&v.vlan, "vlan", 0, "access port of this VLAN (1-4094)")
	f.StringVar(&v.trunk, "trunk", "", `trunk of these VLANs, like "10,20-30" ("all" = every VLAN)`)
	f.IntVar(&v.native, "native-vlan", 0, "a trunk's native VLAN (untagged frames)")
	f.IntVar(&v.qinq, "qinq", 0, "QinQ port of this service VLAN (1-4094)")
	f.BoolVar(&v.noFlood, "no-flood", false, "do not flood unknown and broadcast frames to this port")
	f.BoolVar(&v.relay, "reflective-relay", false, "allow NORMAL to send frames back out the port they came in")
	f.IntVar(&v.macLimit, "mac-limit", 0, "most MACs learned on this port (0 = no limit)")
	cmd.MarkFlagsMutuallyExclusive("vlan", "trunk", "qinq")
	cmd.MarkFlagsMutuallyExclusive("vlan", "native-vlan")
	cmd.MarkFlagsMutuallyExclusive("qinq", "native-vlan")
}

func (c *cli) portAddCmd() *cobra.Command {
	var v vlanFlags
	var typ string
	var ofport uint32
	var remoteIP, localIP, key string
	var dstPort int
	var members, bondMode string
	cmd := &cobra.Command{
		Use:   "add BR IFACE",
		Short: "Add a port to a bridge",
		Long: `Add a port to a bridge. For the default type, afpacket, the interface must
exist; tap and internal ports create it (and remove it when the port goes).
The OpenFlow port number is the lowest free one unless --ofport gives it.

A vxlan or geneve port is a tunnel to --remote-ip over UDP (4789 and 6081,
or --dst-port), bound to --local-ip if given. Its VNI is --key N (default 0),
or --key flow: the VNI is the packet's tun_id, which flows set with
set_field:N->tun_id and match on receive. Tunnels carry inner frames up to the
underlay MTU less 36 bytes (an inner IP MTU of 1450 on a 1500-byte underlay);
longer ones are dropped and counted as "tunnel-mtu" in dvs stats.

A bond port joins --members (existing interfaces, in failover order) into one
port, in --bond-mode active-backup (the only mode): it transmits on the active
member only and drops (and counts) what the backups receive, so members on one
L2 network make no loop. The active member is the first one whose link is up;
when it goes down the next up member takes over at once and the switch sends a
RARP for each MAC it learned on its other ports out of it, so the physical
switches relearn. There is no fail-back while the active member stays up.
` + "`dvs port show BR NAME`" + ` shows the active member and per-member counters.`,
		Example: `  dvs port add br0 veth1 --vlan 10
  dvs port add br0 eth1 --trunk 10,20-30 --native-vlan 10
  dvs port add br0 vm1 --type tap --vlan 20 --ofport 20
  dvs port add br0 br0-int --type internal
  dvs port add br0 eth2 --qinq 100
  dvs port add br0 vx1 --type vxlan --remote-ip 203.0.113.2 --key 100
  dvs port add br0 gnv1 --type geneve --remote-ip 203.0.113.2 --local-ip 203.0.113.1 --key flow
  dvs port add br0 bond0 --type bond --members eth1,eth2 --trunk 10,20`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeBridgeIface,
		RunE: func(cmd *cobra.Command, args []string) error {
			if typ != "bond" && (members != "" || bondMode != "") {
				return usagef("--members and --bond-mode are for --type bond")
			}
			switch typ {
			case "afpacket", "tap", "internal", "bond":
				if remoteIP != "" || localIP != "" || key != "" || dstPort != 0 {
					return usagef("--remote-ip, --local-ip, --key and --dst-port are for --type vxlan or geneve")
				}
				if typ == "bond" && members == "" {
					return usagef("a bond port needs --members, like --members eth1,eth2")
				}
			case "vxlan", "geneve":
				if remoteIP == "" {
					return usagef("a %s port needs --remote-ip", typ)
				}
				if len(args[1]) > 15 {
					return usagef("port name %q: at most 15 characters", args[1])
				}
			default:
				return usagef("--type must be afpacket, tap, internal, vxlan, geneve or bond, not %q", typ)
			}
			spec := api.PortSpec{Name: args[1], Type: typ, OFPort: ofport, VLAN: v.vlan, Trunks: v.trunk,
				Native: v.native, QinQ: v.qinq, NoFlood: v.noFlood, ReflectiveRelay: v.relay, MACLimit: v.macLimit,
				RemoteIP: remoteIP, LocalIP: localIP, Key: key, DstPort: dstPort, Members: members, BondMode: bondMode}
			if err := v.checkZero(cmd); err != nil {
				return err
			}
			p, err := c.client().AddPort(cmd.Context(), args[0], spec)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(p)
			}
			fmt.Fprintf(c.stdout, "added port %s to %s as OpenFlow port %d (%s)\n", p.Name, args[0], p.OFPort, p.VLAN)
			return nil
		},
	}
	v.register(cmd)
	cmd.Flags().StringVar(&typ, "type", "afpacket", "port type: afpacket, tap, internal, vxlan, geneve or bond")
	cmd.Flags().Uint32Var(&ofport, "ofport", 0, "OpenFlow port number (0 = the lowest free)")
	cmd.Flags().StringVar(&remoteIP, "remote-ip", "", "vxlan/geneve: the remote tunnel endpoint (IPv4)")
	cmd.Flags().StringVar(&localIP, "local-ip", "", "vxlan/geneve: the local address to bind (default: any)")
	cmd.Flags().StringVar(&key, "key", "", `vxlan/geneve: the VNI (0-16777215, default 0) or "flow" (from tun_id)`)
	cmd.Flags().IntVar(&dstPort, "dst-port", 0, "vxlan/geneve: the UDP port (default 4789 for vxlan, 6081 for geneve)")
	cmd.Flags().StringVar(&members, "members", "", "bond: the member interfaces in failover order, like eth1,eth2")
	cmd.Flags().StringVar(&bondMode, "bond-mode", "", "bond: active-backup (the default and only mode)")
	cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"afpacket", "tap", "internal", "vxlan", "geneve", "bond"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (c *cli) portSetCmd() *cobra.Command {
	var v vlanFlags
	cmd := &cobra.Command{
		Use:   "set BR IFACE",
		Short: "Change a port's VLAN and switching options",
		Long: `Change a port's VLAN mode and switching options; options not given keep
their value. Any VLAN option replaces the whole VLAN mode: --vlan 20 makes a
trunk an access port, --trunk all makes any port a trunk of every VLAN. The
type and the OpenFlow port number cannot change (delete and add the port).`,
		Example: `  dvs port set br0 veth1 --vlan 20
  dvs port set br0 eth1 --trunk 10-20 --native-vlan 10
  dvs port set br0 eth1 --trunk all
  dvs port set br0 veth1 --no-flood --mac-limit 10`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeBridgePort,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := v.checkZero(cmd); err != nil {
				return err
			}
			var patch api.PortPatch
			f := cmd.Flags()
			if f.Changed("vlan") {
				patch.VLAN = &v.vlan
			}
			if f.Changed("trunk") {
				patch.Trunks = &v.trunk
			}
			if f.Changed("native-vlan") {
				patch.Native = &v.native
			}
			if f.Changed("qinq") {
				patch.QinQ = &v.qinq
			}
			if f.Changed("no-flood") {
				patch.NoFlood = &v.noFlood
			}
			if f.Changed("reflective-relay") {
				patch.ReflectiveRelay = &v.relay
			}
			if f.Changed("mac-limit") {
				patch.MACLimit = &v.macLimit
			}
			if patch == (api.PortPatch{}) {
				return usagef("nothing to change: give --vlan, --trunk, --native-vlan, --qinq, --no-flood, --reflective-relay or --mac-limit")
			}
			p, err := c.client().SetPort(cmd.Context(), args[0], args[1], patch)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(p)
			}
			fmt.Fprintf(c.stdout, "port %s on %s: %s\n", p.Name, args[0], p.VLAN)
			return nil
		},
	}
	v.register(cmd)
	return cmd
}

// checkZero rejects a VLAN flag given as 0, which the API reads as "not
// set"; the agent checks every other value.
func (v *vlanFlags) checkZero(cmd *cobra.Command) error {
	for _, name := range []string{"vlan", "native-vlan", "qinq"} {
		if f := cmd.Flags().Lookup(name); f.Changed && f.Value.String() == "0" {
			return fmt.Errorf("--%s 0: VLAN ID must be 1..4094", name)
		}
	}
	return nil
}

func (c *cli) portDelCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "del BR IFACE",
		Aliases:           []string{"delete", "rm"},
		Short:             "Delete a port from a bridge",
		Long:              `Delete a port. A tap or internal port's interface disappears with it; an afpacket port's interface stays.`,
		Example:           `  dvs port del br0 veth1`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeBridgePort,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.client().DelPort(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"bridge": args[0], "port": args[1], "deleted": true})
			}
			fmt.Fprintf(c.stdout, "deleted port %s from %s\n", args[1], args[0])
			return nil
		},
	}
}

func (c *cli) portListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list BR",
		Aliases: []string{"ls"},
		Short:   "List a bridge's ports",
		Long: `List a bridge's ports with their OpenFlow number, type, VLAN mode, link
state and packet counters. A port in state "missing" is in the saved
configuration but its interface did not exist when the agent started; it comes
back when the agent restarts with the interface present, or when added again.`,
		Example:           `  dvs port list br0`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeBridge,
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := c.client().Ports(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(ps)
			}
			c.portTable(ps)
			return nil
		},
	}
}

func (c *cli) portTable(ps []api.Port) {
	t := newTable(c.stdout, "NAME", "OFPORT", "TYPE", "VLAN", "STATE", "RX_PKTS", "TX_PKTS")
	for _, p := range ps {
		t.row(p.Name, p.OFPort, p.Type, p.VLAN, p.State, p.Stats.RxPackets, p.Stats.TxPackets)
	}
	t.flush()
}

func (c *cli) portShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "show BR IFACE",
		Short:             "Show one port",
		Example:           `  dvs port show br0 veth1`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: c.completeBridgePort,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := c.client().Port(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(p)
			}
			limit := "none"
			if p.Spec.MACLimit > 0 {
				limit = fmt.Sprint(p.Spec.MACLimit)
			}
			kv := []any{"bridge", args[0], "ofport", p.OFPort, "type", p.Type, "vlan", p.VLAN, "state", p.State}
			if p.Error != "" {
				kv = append(kv, "error", p.Error)
			}
			kv = append(kv, "flood", yesNo(!p.Spec.NoFlood), "reflective relay", yesNo(p.Spec.ReflectiveRelay),
				"MAC limit", limit)
			if p.Type == "vxlan" || p.Type == "geneve" {
				local, k, port := p.Spec.LocalIP, p.Spec.Key, p.Spec.DstPort
				if local == "" {
					local = "any"
				}
				if k == "" {
					k = "0"
				}
				if port == 0 {
					port = map[string]int{"vxlan": 4789, "geneve": 6081}[p.Type]
				}
				kv = append(kv, "remote IP", p.Spec.RemoteIP, "local IP", local, "key", k, "UDP port", port)
			}
			if b := p.Bond; b != nil {
				active := b.Active
				if active == "" {
					active = "none (every member is down)"
				}
				kv = append(kv, "bond mode", b.Mode, "active member", active, "failovers", b.Failovers)
			}
			section(c.stdout, "Port "+p.Name, kv...)
			s := p.Stats
			section(c.stdout, "Counters",
				"rx", fmt.Sprintf("%d packets, %d bytes, %d dropped, %d errors", s.RxPackets, s.RxBytes, s.RxDropped, s.RxErrors),
				"tx", fmt.Sprintf("%d packets, %d bytes, %d dropped, %d errors", s.TxPackets, s.TxBytes, s.TxDropped, s.TxErrors),
				"switch tx dropped", p.SwitchTxDropped)
			if b := p.Bond; b != nil {
				fmt.Fprintln(c.stdout)
				t := newTable(c.stdout, "MEMBER", "STATE", "ROLE", "RX_PKTS", "TX_PKTS", "RX_DROPPED", "RX_INACTIVE_DROPPED")
				for _, m := range b.Members {
					role := "backup"
					if m.Active {
						role = "active"
					}
					t.row(m.Name, m.State, role, m.Stats.RxPackets, m.Stats.TxPackets, m.Stats.RxDropped, m.RxInactiveDropped)
				}
				t.flush()
			}
			return nil
		},
	}
}

// completeBridgeIface completes a bridge, then a local interface.
func (c *cli) completeBridgeIface(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return c.bridgeNames(ctxOf(cmd)), cobra.ShellCompDirectiveNoFileComp
	case 1:
		ifs, err := net.Interfaces()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				names = append(names, i.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeBridgePort completes a bridge, then one of its ports.
func (c *cli) completeBridgePort(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return c.bridgeNames(ctxOf(cmd)), cobra.ShellCompDirectiveNoFileComp
	case 1:
		ctx, cancel := contextTimeout(cmd, 2*time.Second)
		defer cancel()
		ps, err := c.client().Ports(ctx, args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}
