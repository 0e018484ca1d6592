package manager

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/dvs-project/dvs/internal/resource"
)

// Errors the API maps to status codes.
var (
	ErrNotFound     = errors.New("not found")           // 404
	ErrConflict     = errors.New("conflict")            // 409
	ErrPrecondition = errors.New("precondition failed") // 412
	ErrUnauthorized = errors.New("unauthorized")        // 401
	ErrForbidden    = errors.New("forbidden")           // 403
)

func conflictf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", resource.ErrInvalid, fmt.Sprintf(format, args...))
}

// Allocation ranges.
const (
	// FirstVNI is where VNI allocation starts, leaving the low numbers to
	// users who pin VNIs in spec.vni.
	FirstVNI = 10000
	// MaxOFPort bounds the OpenFlow port numbers the manager hands to
	// ports (1..MaxOFPort); agents number uplinks and tunnel ports above.
	MaxOFPort = 0x7fff
)

// state is the whole desired state. A state is never changed once
// published: a commit builds the next one from shallow copies of the maps
// and new objects for what changed.
type state struct {
	switches map[string]*resource.Switch
	pgs      map[string]*resource.PortGroup
	hosts    map[string]*resource.Host
	uplinks  map[string]*resource.Uplink
	ports    map[string]*resource.Port
}

func newState() *state {
	return &state{
		switches: map[string]*resource.Switch{},
		pgs:      map[string]*resource.PortGroup{},
		hosts:    map[string]*resource.Host{},
		uplinks:  map[string]*resource.Uplink{},
		ports:    map[string]*resource.Port{},
	}
}

func (s *state) clone() *state {
	return &state{
		switches: maps.Clone(s.switches),
		pgs:      maps.Clone(s.pgs),
		hosts:    maps.Clone(s.hosts),
		uplinks:  maps.Clone(s.uplinks),
		ports:    maps.Clone(s.ports),
	}
}

func (s *state) get(r resource.Ref) resource.Object {
	var o resource.Object
	var ok bool
	switch r.Kind {
	case resource.KindSwitch:
		o, ok = s.switches[r.Name]
	case resource.KindPortGroup:
		o, ok = s.pgs[r.Name]
	case resource.KindHost:
		o, ok = s.hosts[r.Name]
	case resource.KindUplink:
		o, ok = s.uplinks[r.Name]
	case resource.KindPort:
		o, ok = s.ports[r.Name]
	}
	if !ok {
		return nil
	}
	return o
}

func (s *state) put(o resource.Object) {
	name := o.Head().Metadata.Name
	switch o := o.(type) {
	case *resource.Switch:
		s.switches[name] = o
	case *resource.PortGroup:
		s.pgs[name] = o
	case *resource.Host:
		s.hosts[name] = o
	case *resource.Uplink:
		s.uplinks[name] = o
	case *resource.Port:
		s.ports[name] = o
	}
}

func (s *state) del(r resource.Ref) {
	switch r.Kind {
	case resource.KindSwitch:
		delete(s.switches, r.Name)
	case resource.KindPortGroup:
		delete(s.pgs, r.Name)
	case resource.KindHost:
		delete(s.hosts, r.Name)
	case resource.KindUplink:
		delete(s.uplinks, r.Name)
	case resource.KindPort:
		delete(s.ports, r.Name)
	}
}

// list returns the objects of kind k in name order.
func (s *state) list(k resource.Kind) []resource.Object {
	var out []resource.Object
	add := func(o resource.Object) { out = append(out, o) }
	switch k {
	case resource.KindSwitch:
		for _, n := range slices.Sorted(maps.Keys(s.switches)) {
			add(s.switches[n])
		}
	case resource.KindPortGroup:
		for _, n := range slices.Sorted(maps.Keys(s.pgs)) {
			add(s.pgs[n])
		}
	case resource.KindHost:
		for _, n := range slices.Sorted(maps.Keys(s.hosts)) {
			add(s.hosts[n])
		}
	case resource.KindUplink:
		for _, n := range slices.Sorted(maps.Keys(s.uplinks)) {
			add(s.uplinks[n])
		}
	case resource.KindPort:
		for _, n := range slices.Sorted(maps.Keys(s.ports)) {
			add(s.ports[n])
		}
	}
	return out
}

// carryStatus copies into n the allocations of old that n keeps: a port
// group's VNI while it stays on its switch, a port's ofport while it stays
// on its host.
func carryStatus(old, n resource.Object) {
	switch n := n.(type) {
	case *resource.PortGroup:
		if o, ok := old.(*resource.PortGroup); ok && o.Spec.Switch == n.Spec.Switch {
			n.Status.VNI = o.Status.VNI
		}
	case *resource.Port:
		if o, ok := old.(*resource.Port); ok && o.Spec.Host == n.Spec.Host && n.Spec.Host != "" {
			n.Status.OFPort = o.Status.OFPort
		}
	}
}

// check validates the references and uniqueness rules of the whole state:
// every name a resource uses exists, MACs are unique per switch, VNIs per
// switch, bindings per host interface, uplinks per switch and host.
func (s *state) check() error {
	for _, n := range slices.Sorted(maps.Keys(s.pgs)) {
		pg := s.pgs[n]
		sw, ok := s.switches[pg.Spec.Switch]
		if !ok {
			return invalidf("port group %s: switch %q does not exist", n, pg.Spec.Switch)
		}
		if pg.Spec.VNI != 0 && !sw.Spec.Overlay.Tunneled() {
			return invalidf("port group %s: spec.vni needs a vxlan or geneve switch; switch %s is %s", n, sw.Metadata.Name, sw.Spec.Overlay)
		}
	}
	type swHost struct{ sw, host string }
	seenUplink := map[swHost]string{}
	for _, n := range slices.Sorted(maps.Keys(s.uplinks)) {
		u := s.uplinks[n]
		sw, ok := s.switches[u.Spec.Switch]
		if !ok {
			return invalidf("uplink %s: switch %q does not exist", n, u.Spec.Switch)
		}
		if sw.Spec.Overlay.Tunneled() {
			return invalidf("uplink %s: switch %s is a %s switch, whose tunnels leave through the host's IP stack; uplinks are for vlan switches", n, sw.Metadata.Name, sw.Spec.Overlay)
		}
		if _, ok := s.hosts[u.Spec.Host]; !ok {
			return invalidf("uplink %s: host %q does not exist (its agent registers it)", n, u.Spec.Host)
		}
		k := swHost{u.Spec.Switch, u.Spec.Host}
		if other, dup := seenUplink[k]; dup {
			return conflictf("uplink %s: switch %s already has uplink %s on host %s", n, u.Spec.Switch, other, u.Spec.Host)
		}
		seenUplink[k] = n
	}
	type swMAC struct{ sw, mac string }
	type hostIf struct{ host, ifname string }
	macs := map[swMAC]string{}
	bindings := map[hostIf]string{}
	for _, n := range slices.Sorted(maps.Keys(s.ports)) {
		p := s.ports[n]
		pg, ok := s.pgs[p.Spec.PortGroup]
		if !ok {
			return invalidf("port %s: port group %q does not exist", n, p.Spec.PortGroup)
		}
		if p.Spec.Host != "" {
			if _, ok := s.hosts[p.Spec.Host]; !ok {
				return invalidf("port %s: host %q does not exist (its agent registers it)", n, p.Spec.Host)
			}
			k := hostIf{p.Spec.Host, p.Spec.Interface}
			if other, dup := bindings[k]; dup {
				return conflictf("port %s: interface %s on host %s is already bound to port %s", n, p.Spec.Interface, p.Spec.Host, other)
			}
			bindings[k] = n
		}
		k := swMAC{pg.Spec.Switch, p.Spec.MAC}
		if other, dup := macs[k]; dup {
			return conflictf("port %s: MAC %s is already used by port %s on switch %s", n, p.Spec.MAC, other, pg.Spec.Switch)
		}
		macs[k] = n
	}
	return nil
}

// allocate fills in missing VNIs and ofports, keeping the ones already
// given, and fails on duplicate VNIs. It replaces (never mutates) the
// objects whose allocation changes, and returns their refs.
func (s *state) allocate() ([]resource.Ref, error) {
	var changed []resource.Ref
	// VNIs: claims first (pinned in the spec, or kept from before), in
	// name order so that errors are stable, then allocation.
	used := map[string]map[int]string{} // switch -> vni -> port group
	var need []string
	for _, n := range slices.Sorted(maps.Keys(s.pgs)) {
		pg := s.pgs[n]
		sw := s.switches[pg.Spec.Switch]
		want := pg.Status.VNI
		switch {
		case sw == nil || !sw.Spec.Overlay.Tunneled():
			want = 0
		case pg.Spec.VNI != 0:
			want = pg.Spec.VNI
		}
		if want != pg.Status.VNI {
			c := *pg
			c.Status.VNI = want
			s.pgs[n] = &c
			changed = append(changed, resource.Ref{Kind: resource.KindPortGroup, Name: n})
		}
		if sw == nil || !sw.Spec.Overlay.Tunneled() {
			continue
		}
		if want == 0 {
			need = append(need, n)
			continue
		}
		u := used[pg.Spec.Switch]
		if u == nil {
			u = map[int]string{}
			used[pg.Spec.Switch] = u
		}
		if other, dup := u[want]; dup {
			return nil, conflictf("port group %s: VNI %d is already used by port group %s on switch %s", n, want, other, pg.Spec.Switch)
		}
		u[want] = n
	}
	for _, n := range need {
		pg := s.pgs[n]
		u := used[pg.Spec.Switch]
		if u == nil {
			u = map[int]string{}
			used[pg.Spec.Switch] = u
		}
		vni := 0
		for v := FirstVNI; v <= resource.MaxVNI && vni == 0; v++ {
			if _, taken := u[v]; !taken {
				vni = v
			}
		}
		for v := resource.MinVNI; v < FirstVNI && vni == 0; v++ {
			if _, taken := u[v]; !taken {
				vni = v
			}
		}
		if vni == 0 {
			return nil, conflictf("port group %s: switch %s has no free VNI", n, pg.Spec.Switch)
		}
		u[vni] = n
		c := *pg
		c.Status.VNI = vni
		s.pgs[n] = &c
		changed = append(changed, resource.Ref{Kind: resource.KindPortGroup, Name: n})
	}

	// ofports: per host, lowest free number.
	var needPort []string
	ofUsed := map[string]map[int]bool{}
	for _, n := range slices.Sorted(maps.Keys(s.ports)) {
		p := s.ports[n]
		if p.Spec.Host == "" {
			if p.Status.OFPort != 0 {
				c := *p
				c.Status.OFPort = 0
				s.ports[n] = &c
				changed = append(changed, resource.Ref{Kind: resource.KindPort, Name: n})
			}
			continue
		}
		if p.Status.OFPort == 0 {
			needPort = append(needPort, n)
			continue
		}
		u := ofUsed[p.Spec.Host]
		if u == nil {
			u = map[int]bool{}
			ofUsed[p.Spec.Host] = u
		}
		u[p.Status.OFPort] = true
	}
	next := map[string]int{} // host -> where to look next
	for _, n := range needPort {
		p := s.ports[n]
		u := ofUsed[p.Spec.Host]
		if u == nil {
			u = map[int]bool{}
			ofUsed[p.Spec.Host] = u
		}
		of := max(next[p.Spec.Host], 1)
		for u[of] {
			of++
		}
		if of > MaxOFPort {
			return nil, conflictf("port %s: host %s has no free OpenFlow port number", n, p.Spec.Host)
		}
		u[of] = true
		next[p.Spec.Host] = of + 1
		c := *p
		c.Status.OFPort = of
		s.ports[n] = &c
		changed = append(changed, resource.Ref{Kind: resource.KindPort, Name: n})
	}
	return changed, nil
}

// referrers returns what uses r (for delete: 409 while anything does).
func (s *state) referrers(r resource.Ref) []string {
	var out []string
	switch r.Kind {
	case resource.KindSwitch:
		for n, pg := range s.pgs {
			if pg.Spec.Switch == r.Name {
				out = append(out, "port group "+n)
			}
		}
		for n, u := range s.uplinks {
			if u.Spec.Switch == r.Name {
				out = append(out, "uplink "+n)
			}
		}
	case resource.KindPortGroup:
		for n, p := range s.ports {
			if p.Spec.PortGroup == r.Name {
				out = append(out, "port "+n)
			}
		}
	case resource.KindHost:
		for n, u := range s.uplinks {
			if u.Spec.Host == r.Name {
				out = append(out, "uplink "+n)
			}
		}
		for n, p := range s.ports {
			if p.Spec.Host == r.Name {
				out = append(out, "port "+n)
			}
		}
	}
	sort.Strings(out)
	return out
}
