package manager

import (
	"maps"
	"slices"

	"github.com/dvs-project/dvs/internal/resource"
)

// Share is what one host's agent needs: the switches it takes part in (it
// has a port or an uplink on them), the port groups it carries (it has a
// port in them), its uplinks and ports, and for overlay port groups where
// the group's ports on other hosts are.
//
// Objects carry the status fields agents need (a port group's VNI, a
// port's ofport and switch) and nothing else of the status, so that a
// share changes only when the host has something to do.
type Share struct {
	Host       string                `json:"host"`
	Address    string                `json:"address,omitempty"` // the host's own VTEP
	Switches   []*resource.Switch    `json:"switches"`
	PortGroups []*resource.PortGroup `json:"portGroups"`
	Uplinks    []*resource.Uplink    `json:"uplinks"`
	Ports      []*resource.Port      `json:"ports"`
	// Remote lists, per overlay port group the host carries, the other
	// hosts carrying it (the head-end replication list) and the MACs of
	// the group's ports on each of them.
	Remote []RemoteGroup `json:"remote"`
}

// RemoteGroup is one overlay port group seen from one host.
type RemoteGroup struct {
	PortGroup string       `json:"portGroup"`
	Switch    string       `json:"switch"`
	VNI       int          `json:"vni"`
	Hosts     []RemoteHost `json:"hosts"`
}

// RemoteHost is another host carrying a port group: its VTEP and the MACs
// behind it (MAC -> VTEP, grouped by VTEP).
type RemoteHost struct {
	Host    string   `json:"host"`
	Address string   `json:"address"`
	MACs    []string `json:"macs"`
}

// index is the lookups share computation needs, built once per state.
type index struct {
	st            *state
	portsByHost   map[string][]*resource.Port // bound ports, name order
	portsByPG     map[string][]*resource.Port // bound ports, name order
	uplinksByHost map[string][]*resource.Uplink
	hostsByPG     map[string][]string // hosts with a port in the group, sorted
	hostsBySwitch map[string][]string // hosts with a port or an uplink, sorted
	pgsByHost     map[string][]string // groups the host carries, sorted
}

func buildIndex(s *state) *index {
	ix := &index{
		st:            s,
		portsByHost:   map[string][]*resource.Port{},
		portsByPG:     map[string][]*resource.Port{},
		uplinksByHost: map[string][]*resource.Uplink{},
		hostsByPG:     map[string][]string{},
		hostsBySwitch: map[string][]string{},
		pgsByHost:     map[string][]string{},
	}
	pgHosts := map[string]map[string]bool{}
	swHosts := map[string]map[string]bool{}
	hostPGs := map[string]map[string]bool{}
	add := func(m map[string]map[string]bool, k, v string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][v] = true
	}
	for _, n := range slices.Sorted(maps.Keys(s.ports)) {
		p := s.ports[n]
		if p.Spec.Host == "" {
			continue
		}
		ix.portsByHost[p.Spec.Host] = append(ix.portsByHost[p.Spec.Host], p)
		ix.portsByPG[p.Spec.PortGroup] = append(ix.portsByPG[p.Spec.PortGroup], p)
		add(pgHosts, p.Spec.PortGroup, p.Spec.Host)
		add(hostPGs, p.Spec.Host, p.Spec.PortGroup)
		if pg := s.pgs[p.Spec.PortGroup]; pg != nil {
			add(swHosts, pg.Spec.Switch, p.Spec.Host)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.uplinks)) {
		u := s.uplinks[n]
		ix.uplinksByHost[u.Spec.Host] = append(ix.uplinksByHost[u.Spec.Host], u)
		add(swHosts, u.Spec.Switch, u.Spec.Host)
	}
	for k, v := range pgHosts {
		ix.hostsByPG[k] = slices.Sorted(maps.Keys(v))
	}
	for k, v := range swHosts {
		ix.hostsBySwitch[k] = slices.Sorted(maps.Keys(v))
	}
	for k, v := range hostPGs {
		ix.pgsByHost[k] = slices.Sorted(maps.Keys(v))
	}
	return ix
}

// shareOf computes host h's share.
func (ix *index) shareOf(h string) *Share {
	s := ix.st
	sh := &Share{
		Host:       h,
		Switches:   []*resource.Switch{},
		PortGroups: []*resource.PortGroup{},
		Uplinks:    []*resource.Uplink{},
		Ports:      []*resource.Port{},
		Remote:     []RemoteGroup{},
	}
	sh.Address = ix.address(h)
	for _, n := range ix.switchesOf(h) {
		sh.Switches = append(sh.Switches, sharedSwitch(s.switches[n]))
	}
	sh.Uplinks = append(sh.Uplinks, ix.uplinksByHost[h]...)
	for _, p := range ix.portsByHost[h] {
		sh.Ports = append(sh.Ports, ix.sharedPort(p))
	}
	for _, n := range ix.pgsOf(h) {
		pg := s.pgs[n]
		sh.PortGroups = append(sh.PortGroups, sharedPortGroup(pg))
		if !ix.tunneled(n) {
			continue
		}
		rg := RemoteGroup{PortGroup: n, Switch: pg.Spec.Switch, VNI: pg.Status.VNI, Hosts: []RemoteHost{}}
		for _, other := range ix.hostsByPG[n] {
			if other == h {
				continue
			}
			if e, ok := ix.remoteEntry(n, other); ok {
				rg.Hosts = append(rg.Hosts, e)
			}
		}
		sh.Remote = append(sh.Remote, rg)
	}
	return sh
}

// The pieces of a share. Deltas are made of the same pieces, so that a
// replica built from deltas is the share built at once.

// address is host h's own VTEP ("" if h is unknown).
func (ix *index) address(h string) string {
	if host := ix.st.hosts[h]; host != nil {
		return host.Spec.Address
	}
	return ""
}

// switchesOf returns the switches h takes part in, sorted.
func (ix *index) switchesOf(h string) []string {
	s := ix.st
	var out []string
	add := func(n string) {
		if s.switches[n] != nil && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, u := range ix.uplinksByHost[h] {
		add(u.Spec.Switch)
	}
	for _, n := range ix.pgsOf(h) {
		add(s.pgs[n].Spec.Switch)
	}
	slices.Sort(out)
	return out
}

// pgsOf returns the port groups h carries, sorted.
func (ix *index) pgsOf(h string) []string {
	var out []string
	for _, n := range ix.pgsByHost[h] {
		if ix.st.pgs[n] != nil {
			out = append(out, n)
		}
	}
	return out
}

// groupsOf returns the port groups h carries that have a remote list
// (overlay ones), sorted.
func (ix *index) groupsOf(h string) []string {
	var out []string
	for _, n := range ix.pgsOf(h) {
		if ix.tunneled(n) {
			out = append(out, n)
		}
	}
	return out
}

// tunneled reports whether port group pg exists on an overlay switch.
func (ix *index) tunneled(pg string) bool {
	p := ix.st.pgs[pg]
	if p == nil {
		return false
	}
	sw := ix.st.switches[p.Spec.Switch]
	return sw != nil && sw.Spec.Overlay.Tunneled()
}

// remoteEntry returns host h's entry in port group pg's remote list: its
// VTEP and the MACs of its ports in the group, in port name order. ok is
// false when h has no port in pg.
func (ix *index) remoteEntry(pg, h string) (e RemoteHost, ok bool) {
	for _, p := range ix.portsByHost[h] {
		if p.Spec.PortGroup == pg {
			e.MACs = append(e.MACs, p.Spec.MAC)
		}
	}
	if e.MACs == nil {
		return RemoteHost{}, false
	}
	e.Host, e.Address = h, ix.address(h)
	return e, true
}

func sharedSwitch(sw *resource.Switch) *resource.Switch {
	c := *sw
	c.Status = resource.SwitchStatus{}
	return &c
}

func sharedPortGroup(pg *resource.PortGroup) *resource.PortGroup {
	c := *pg
	c.Status = resource.PortGroupStatus{VNI: pg.Status.VNI}
	return &c
}

func (ix *index) sharedPort(p *resource.Port) *resource.Port {
	c := *p
	c.Status = resource.PortStatus{OFPort: p.Status.OFPort}
	if pg := ix.st.pgs[p.Spec.PortGroup]; pg != nil {
		c.Status.Switch = pg.Spec.Switch
	}
	return &c
}

// affected returns the hosts whose share may differ between the old and
// the new state because of the changes to refs. It may say too much (the
// caller compares shares), never too little.
func affected(oldIx, newIx *index, refs []resource.Ref) map[string]bool {
	out := map[string]bool{}
	addAll := func(hs []string) {
		for _, h := range hs {
			out[h] = true
		}
	}
	for _, ix := range []*index{oldIx, newIx} {
		s := ix.st
		for _, r := range refs {
			switch r.Kind {
			case resource.KindSwitch:
				addAll(ix.hostsBySwitch[r.Name])
			case resource.KindPortGroup:
				addAll(ix.hostsByPG[r.Name])
			case resource.KindHost:
				out[r.Name] = true
				for _, pg := range ix.pgsByHost[r.Name] {
					addAll(ix.hostsByPG[pg])
				}
			case resource.KindUplink:
				if u := s.uplinks[r.Name]; u != nil {
					out[u.Spec.Host] = true
				}
			case resource.KindPort:
				if p := s.ports[r.Name]; p != nil && p.Spec.Host != "" {
					out[p.Spec.Host] = true
					addAll(ix.hostsByPG[p.Spec.PortGroup])
				}
			}
		}
	}
	return out
}
