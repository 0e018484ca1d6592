package agent

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/resource"
)

// In manager mode the agent compiles its share into desired bridges (one
// per switch): their ports, and their flows grouped by owner. Each owner's
// flows carry a cookie derived from its name, so the reconciler replaces
// one owner's flows (del-flows cookie=C/-1, then add) without touching the
// others'.
//
// The flows of an overlay (vxlan, geneve) port group with VNI v:
//
//	table 0  in_port=<local port>        set_field:v->tun_id, goto_table:1
//	table 0  tun_id=v,dl_dst=<local MAC> output:<that port>       (from a tunnel)
//	table 0  tun_id=v                    output:<every local port> (from a tunnel: flood locally, never back out)
//	table 1  tun_id=v,dl_dst=<local MAC> output:<that port>
//	table 1  tun_id=v,dl_dst=<remote MAC> output:<tunnel to its host>
//	table 1  tun_id=v                    output:<local ports>, output:<tunnels> (head-end replication)
//
// A local port's packets have no tunnel id until its in_port rule sets the
// group's VNI, so the tun_id rules of table 0 only see tunnel traffic, and
// a group's rules only ever output to the group's ports and to tunnels
// with its VNI: groups never reach each other. Output to the input port is
// skipped by the pipeline, so floods need no per-port variant.
//
// A vlan switch's ports are access ports of their group's VLAN, switched
// by the switch's one NORMAL rule. The host's Uplink on it is a trunk port
// of the VLANs of the switch's port groups this host carries (it has ports
// in them): VMs of a group reach the group's VMs on other hosts through the
// physical L2 network, tagged with the group's VLAN, and a VLAN no local
// port is in stays off the bridge (no floods of it reach the host). Before
// the host carries any group the uplink is a trunk of every VLAN, which
// reaches no port. One interface is an afpacket port of that name; several
// are one active-backup bond port named after the Uplink (package
// datapath/bond). Adding a group changes only the uplink's trunk list, which
// a running port takes without a flap. An Uplink on an overlay switch is
// ignored with a warning (the manager rejects it): tunnels leave through the
// host's IP stack.

// OpenFlow port numbers on a manager's switch: the manager allocates
// 1..MaxOFPort (0x7fff) to local ports; tunnel ports are numbered from
// tunnelPortBase (0x8000) and the uplink is uplinkPortNo (0xf000), so the
// three never meet.
const (
	tunnelPortBase = manager.MaxOFPort + 1
	uplinkPortNo   = 0xf000
)

// desiredBridge is one switch's bridge as the share wants it.
type desiredBridge struct {
	Name  string
	Ports map[string]bridge.PortSpec // by name; tunnel ports have OFPort 0 (allocated when added)
	Flows map[string][]string        // by owner ("pg/NAME", "switch/NAME"), each rule with the owner's cookie
	// Announce is what to announce when a local port is added, by port
	// name. It is not diffed: it only matters at the moment a port is added.
	Announce map[string]announcement
}

// desiredState is every bridge of a share, by name.
type desiredState map[string]*desiredBridge

// ownerCookie is the cookie of an owner's flows: a 56-bit hash of its
// name under the top byte 0xd5, which marks the manager's flows (and
// keeps them clear of the small cookies users type).
func ownerCookie(owner string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(owner))
	return h.Sum64()&(1<<56-1) | 0xd5<<56
}

// tunnelPortName names the tunnel port of a switch to a remote VTEP: the
// address in hex for IPv4 ("vx-cb007102"), a hash for IPv6. It fits an
// interface name, so the ports list reads well.
func tunnelPortName(overlay resource.Overlay, addr string) string {
	prefix := "vx-"
	if overlay == resource.OverlayGeneve {
		prefix = "gnv-"
	}
	if a, err := netip.ParseAddr(addr); err == nil && a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%s%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3])
	}
	h := fnv.New32a()
	h.Write([]byte(addr))
	return fmt.Sprintf("%s%08x", prefix, h.Sum32())
}

// localPortSpec is the bridge port of a port bound to this host.
func localPortSpec(p *resource.Port, pg *resource.PortGroup, sw *resource.Switch) bridge.PortSpec {
	ps := bridge.PortSpec{Name: p.Spec.Interface, Type: bridge.TypeTap, OFPort: uint32(p.Status.OFPort)}
	if p.Spec.InterfaceType == resource.InterfaceVeth {
		ps.Type = bridge.TypeAFPacket
	}
	if sw.Spec.Overlay == resource.OverlayVLAN && pg != nil {
		if pg.Spec.VLAN != 0 {
			ps.VLAN = pg.Spec.VLAN
		} else if len(pg.Spec.Trunk) > 0 {
			rs := make([]string, len(pg.Spec.Trunk))
			for i, r := range pg.Spec.Trunk {
				rs[i] = r.String()
			}
			ps.Trunks = strings.Join(rs, ",")
		}
	}
	return ps
}

// compileShare turns a share into the bridges it wants. tunnelIP is the
// local end of the tunnels. Problems that concern one object (a port
// without an interface or port number, a group without a VNI) leave that
// object out and are returned as warnings; the rest still compiles.
func compileShare(sh *manager.Share, tunnelIP string) (desiredState, []string) {
	ds := desiredState{}
	var warns []string
	if sh == nil {
		return ds, nil
	}
	switches := map[string]*resource.Switch{}
	for _, sw := range sh.Switches {
		switches[sw.Metadata.Name] = sw
		ds[sw.Metadata.Name] = &desiredBridge{Name: sw.Metadata.Name, Ports: map[string]bridge.PortSpec{}, Flows: map[string][]string{}, Announce: map[string]announcement{}}
		if sw.Spec.Overlay == resource.OverlayVLAN {
			owner := "switch/" + sw.Metadata.Name
			ds[sw.Metadata.Name].Flows[owner] = []string{
				fmt.Sprintf("cookie=%#x,table=0,priority=0,actions=NORMAL", ownerCookie(owner))}
		}
	}
	pgs := map[string]*resource.PortGroup{}
	for _, pg := range sh.PortGroups {
		pgs[pg.Metadata.Name] = pg
	}
	type local struct {
		no  uint32
		mac string
	}
	locals := map[string][]local{} // by port group
	for _, p := range sh.Ports {
		if p.Spec.Host != sh.Host || p.Spec.Interface == "" {
			continue
		}
		pg := pgs[p.Spec.PortGroup]
		var sw *resource.Switch
		if pg != nil {
			sw = switches[pg.Spec.Switch]
		}
		if sw == nil {
			warns = append(warns, fmt.Sprintf("port %s: its port group or switch is not in the share", p.Metadata.Name))
			continue
		}
		if p.Status.OFPort <= 0 {
			warns = append(warns, fmt.Sprintf("port %s: no OpenFlow port number allocated", p.Metadata.Name))
			continue
		}
		db := ds[sw.Metadata.Name]
		if prev, ok := db.Ports[p.Spec.Interface]; ok {
			warns = append(warns, fmt.Sprintf("port %s: interface %s is already port %d", p.Metadata.Name, p.Spec.Interface, prev.OFPort))
			continue
		}
		ps := localPortSpec(p, pg, sw)
		db.Ports[ps.Name] = ps
		if p.Spec.MAC != "" {
			db.Announce[ps.Name] = announcement{MAC: strings.ToLower(p.Spec.MAC), IPs: p.Spec.IPs}
		}
		locals[pg.Metadata.Name] = append(locals[pg.Metadata.Name], local{no: ps.OFPort, mac: strings.ToLower(p.Spec.MAC)})
	}
	warns = append(warns, compileUplinks(sh, ds, switches, pgs)...)
	for _, rg := range sh.Remote {
		pg, sw := pgs[rg.PortGroup], switches[rg.Switch]
		if pg == nil || sw == nil || !sw.Spec.Overlay.Tunneled() {
			continue
		}
		if rg.VNI <= 0 {
			warns = append(warns, fmt.Sprintf("port group %s: no VNI allocated", rg.PortGroup))
			continue
		}
		db := ds[sw.Metadata.Name]
		owner := "pg/" + rg.PortGroup
		c := ownerCookie(owner)
		ls := locals[rg.PortGroup]
		slices.SortFunc(ls, func(a, b local) int { return int(a.no) - int(b.no) })
		var tunnels []string
		remote := map[string]string{} // MAC -> tunnel port
		for _, h := range rg.Hosts {
			if h.Address == "" || h.Address == tunnelIP {
				continue
			}
			tn := tunnelPortName(sw.Spec.Overlay, h.Address)
			if _, ok := db.Ports[tn]; !ok {
				db.Ports[tn] = bridge.PortSpec{Name: tn, Type: string(sw.Spec.Overlay), RemoteIP: h.Address, LocalIP: tunnelIP, Key: "flow"}
			}
			if !slices.Contains(tunnels, tn) {
				tunnels = append(tunnels, tn)
			}
			for _, m := range h.MACs {
				remote[strings.ToLower(m)] = tn
			}
		}
		slices.Sort(tunnels)
		var flows []string
		add := func(format string, args ...any) {
			flows = append(flows, fmt.Sprintf("cookie=%#x,", c)+fmt.Sprintf(format, args...))
		}
		var localOut []string
		for _, l := range ls {
			localOut = append(localOut, "output:"+strconv.Itoa(int(l.no)))
		}
		for _, l := range ls {
			add("table=0,priority=100,in_port=%d,actions=set_field:%d->tun_id,goto_table:1", l.no, rg.VNI)
		}
		for _, l := range ls {
			add("table=0,priority=50,tun_id=%d,dl_dst=%s,actions=output:%d", rg.VNI, l.mac, l.no)
			add("table=1,priority=50,tun_id=%d,dl_dst=%s,actions=output:%d", rg.VNI, l.mac, l.no)
		}
		if len(ls) > 0 {
			add("table=0,priority=40,tun_id=%d,actions=%s", rg.VNI, strings.Join(localOut, ","))
		}
		for _, m := range slices.Sorted(maps.Keys(remote)) {
			add("table=1,priority=50,tun_id=%d,dl_dst=%s,actions=output:%s", rg.VNI, m, remote[m])
		}
		flood := slices.Clone(localOut)
		for _, tn := range tunnels {
			flood = append(flood, "output:"+tn)
		}
		if len(flood) > 0 {
			add("table=1,priority=40,tun_id=%d,actions=%s", rg.VNI, strings.Join(flood, ","))
		}
		if len(flows) > 0 {
			db.Flows[owner] = flows
		}
	}
	return ds, warns
}

// compileUplinks adds the host's uplinks to their switches' bridges (see
// the top of this file).
func compileUplinks(sh *manager.Share, ds desiredState, switches map[string]*resource.Switch, pgs map[string]*resource.PortGroup) []string {
	var warns []string
	for _, u := range sh.Uplinks {
		if u.Spec.Host != sh.Host {
			continue
		}
		sw := switches[u.Spec.Switch]
		switch {
		case sw == nil:
			warns = append(warns, fmt.Sprintf("uplink %s: switch %s is not in the share", u.Metadata.Name, u.Spec.Switch))
			continue
		case sw.Spec.Overlay != resource.OverlayVLAN:
			warns = append(warns, fmt.Sprintf("uplink %s: ignored: switch %s is a %s switch, whose tunnels leave through the host's IP stack", u.Metadata.Name, sw.Metadata.Name, sw.Spec.Overlay))
			continue
		}
		db := ds[sw.Metadata.Name]
		ps := bridge.PortSpec{Name: u.Spec.Interface, Type: bridge.TypeAFPacket, OFPort: uplinkPortNo}
		ifs := []string{u.Spec.Interface}
		if len(u.Spec.Interfaces) > 0 {
			ifs = u.Spec.Interfaces
			ps = bridge.PortSpec{Name: u.Metadata.Name, Type: bridge.TypeBond, OFPort: uplinkPortNo,
				Members: strings.Join(ifs, ","), BondMode: u.Spec.Policy}
		}
		var clash []string
		for _, n := range append([]string{ps.Name}, ifs...) {
			if _, ok := db.Ports[n]; ok && !slices.Contains(clash, n) {
				clash = append(clash, n)
			}
		}
		if len(clash) > 0 {
			warns = append(warns, fmt.Sprintf("uplink %s: %s already a port of switch %s", u.Metadata.Name, strings.Join(clash, ", "), sw.Metadata.Name))
			continue
		}
		var set vlan.Set
		for _, pg := range pgs {
			if pg.Spec.Switch != sw.Metadata.Name {
				continue
			}
			if pg.Spec.VLAN != 0 {
				set.Add(uint16(pg.Spec.VLAN))
			}
			for _, r := range pg.Spec.Trunk {
				for v := r.From; v <= r.To; v++ {
					set.Add(uint16(v))
				}
			}
		}
		ps.Trunks = set.String()
		db.Ports[ps.Name] = ps
	}
	return warns
}

// bridgeChanges is what turns one applied bridge into the desired one.
type bridgeChanges struct {
	Name string
	// DelPorts are removed (or replaced: removed, then added again).
	DelPorts []string
	AddPorts []bridge.PortSpec
	// SetPorts change only VLAN settings.
	SetPorts []bridge.PortSpec
	// SetFlows replaces each owner's flows; DelFlows removes owners.
	SetFlows map[string][]string
	DelFlows []string
}

func (c *bridgeChanges) empty() bool {
	return len(c.DelPorts) == 0 && len(c.AddPorts) == 0 && len(c.SetPorts) == 0 && len(c.SetFlows) == 0 && len(c.DelFlows) == 0
}

// changes is the difference between two desired states.
type changes struct {
	AddBridges []string // created before their bridgeChanges apply
	DelBridges []string
	Bridges    []bridgeChanges // by name; includes the added bridges
}

// onlyVLANDiffers reports whether two port specs differ only in their
// VLAN settings (which a running port can change).
func onlyVLANDiffers(a, b bridge.PortSpec) bool {
	a.VLAN, a.Trunks, a.Native, a.QinQ = b.VLAN, b.Trunks, b.Native, b.QinQ
	return a == b
}

// diffStates returns what applying want over have changes. Unchanged
// ports and owners are not mentioned.
func diffStates(have, want desiredState) changes {
	var ch changes
	for _, n := range slices.Sorted(maps.Keys(have)) {
		if want[n] == nil {
			ch.DelBridges = append(ch.DelBridges, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(want)) {
		w, h := want[n], have[n]
		if h == nil {
			ch.AddBridges = append(ch.AddBridges, n)
			h = &desiredBridge{Name: n}
		}
		bc := bridgeChanges{Name: n, SetFlows: map[string][]string{}}
		for _, pn := range slices.Sorted(maps.Keys(h.Ports)) {
			wp, ok := w.Ports[pn]
			if !ok || (wp != h.Ports[pn] && !onlyVLANDiffers(wp, h.Ports[pn])) {
				bc.DelPorts = append(bc.DelPorts, pn)
			}
		}
		for _, pn := range slices.Sorted(maps.Keys(w.Ports)) {
			wp := w.Ports[pn]
			hp, ok := h.Ports[pn]
			switch {
			case !ok || (wp != hp && !onlyVLANDiffers(wp, hp)):
				bc.AddPorts = append(bc.AddPorts, wp)
			case wp != hp:
				bc.SetPorts = append(bc.SetPorts, wp)
			}
		}
		for _, o := range slices.Sorted(maps.Keys(h.Flows)) {
			if _, ok := w.Flows[o]; !ok {
				bc.DelFlows = append(bc.DelFlows, o)
			}
		}
		for o, fl := range w.Flows {
			if !slices.Equal(fl, h.Flows[o]) {
				bc.SetFlows[o] = fl
			}
		}
		if !bc.empty() {
			ch.Bridges = append(ch.Bridges, bc)
		}
	}
	return ch
}
