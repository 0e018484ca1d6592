package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/manager/store"
	"github.com/dvs-project/dvs/internal/resource"
)

func open(t testing.TB, dir string) *Manager {
	t.Helper()
	m, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// apply decodes YAML and applies it.
func apply(m *Manager, y string) ([]Result, error) {
	objs, err := resource.Decode([]byte(y))
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(objs))
	for i, o := range objs {
		items[i] = Item{Object: o, Expect: store.AnyRevision}
	}
	res, _, err := m.Apply(context.Background(), items)
	return res, err
}

func mustApply(t testing.TB, m *Manager, y string) []Result {
	t.Helper()
	res, err := apply(m, y)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func obj(kind, name, spec string) string {
	return fmt.Sprintf("---\napiVersion: dvs/v1\nkind: %s\nmetadata: {name: %s}\nspec: %s\n", kind, name, spec)
}

const base = `
apiVersion: dvs/v1
kind: Switch
metadata: {name: prod}
spec: {overlay: vxlan}
---
apiVersion: dvs/v1
kind: Switch
metadata: {name: lan}
spec: {overlay: vlan}
---
apiVersion: dvs/v1
kind: Host
metadata: {name: h1}
spec: {address: 127.0.0.1}
---
apiVersion: dvs/v1
kind: Host
metadata: {name: h2}
spec: {address: 127.0.0.2}
---
apiVersion: dvs/v1
kind: Host
metadata: {name: h3}
spec: {address: 127.0.0.3}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: prod, vlan: 10}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: db}
spec: {switch: prod, vni: 500}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: mgmt}
spec: {switch: lan, vlan: 20}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm1}
spec: {portGroup: web, mac: "02:00:00:00:00:01", host: h1, interface: tap-vm1}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm2}
spec: {portGroup: web, mac: "02:00:00:00:00:02", host: h2, interface: tap-vm2}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm3}
spec: {portGroup: db, mac: "02:00:00:00:00:03", host: h2, interface: tap-vm3}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm4}
spec: {portGroup: mgmt, mac: "02:00:00:00:00:01", host: h3, interface: tap-vm4}
---
apiVersion: dvs/v1
kind: Uplink
metadata: {name: lan-h3}
spec: {switch: lan, host: h3, interface: eth1}
`

func TestApplyConflicts(t *testing.T) {
	tests := []struct {
		name, in string
		is       error
		want     string
	}{
		{"port on unknown host", obj("Port", "vm9", `{portGroup: web, mac: "02:00:00:00:00:09", host: nohost, interface: tap9}`),
			resource.ErrInvalid, `port vm9: host "nohost" does not exist`},
		{"port in unknown group", obj("Port", "vm9", `{portGroup: nopg, mac: "02:00:00:00:00:09"}`),
			resource.ErrInvalid, `port vm9: port group "nopg" does not exist`},
		{"group of unknown switch", obj("PortGroup", "pg9", `{switch: nosw, vlan: 9}`),
			resource.ErrInvalid, `port group pg9: switch "nosw" does not exist`},
		{"same MAC in group", obj("Port", "vm9", `{portGroup: web, mac: "02:00:00:00:00:02"}`),
			ErrConflict, "MAC 02:00:00:00:00:02 is already used by port vm2 on switch prod"},
		{"same MAC in switch", obj("Port", "vm9", `{portGroup: db, mac: "02:00:00:00:00:01"}`),
			ErrConflict, "MAC 02:00:00:00:00:01 is already used by port vm1 on switch prod"},
		{"same MAC in one file", obj("Port", "vm8", `{portGroup: db, mac: "02:00:00:00:00:88"}`) + obj("Port", "vm9", `{portGroup: web, mac: "02:00:00:00:00:88"}`),
			ErrConflict, "MAC 02:00:00:00:00:88 is already used"},
		{"duplicate VNI", obj("PortGroup", "pg9", `{switch: prod, vni: 500}`),
			ErrConflict, "VNI 500 is already used by port group db on switch prod"},
		{"VNI on a vlan switch", obj("PortGroup", "pg9", `{switch: lan, vni: 77}`),
			resource.ErrInvalid, "spec.vni needs a vxlan or geneve switch"},
		{"interface bound twice", obj("Port", "vm9", `{portGroup: web, mac: "02:00:00:00:00:09", host: h1, interface: tap-vm1}`),
			ErrConflict, "interface tap-vm1 on host h1 is already bound to port vm1"},
		{"second uplink", obj("Uplink", "lan-h3b", `{switch: lan, host: h3, interface: eth2}`),
			ErrConflict, "switch lan already has uplink lan-h3 on host h3"},
		{"uplink on an overlay switch", obj("Uplink", "u9", `{switch: prod, host: h1, interface: eth2}`),
			resource.ErrInvalid, "uplink u9: switch prod is a vxlan switch, whose tunnels leave through the host's IP stack; uplinks are for vlan switches"},
		{"uplink on unknown host", obj("Uplink", "u9", `{switch: lan, host: nohost, interface: eth2}`),
			resource.ErrInvalid, `host "nohost" does not exist`},
		{"given twice", obj("Switch", "s9", `{overlay: vlan}`) + obj("Switch", "s9", `{overlay: vxlan}`),
			resource.ErrInvalid, "Switch/s9 is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := open(t, t.TempDir())
			defer m.Close()
			mustApply(t, m, base)
			rev := m.Revision()
			// A good object in the same batch must not be stored either.
			_, err := apply(m, obj("Switch", "extra", `{overlay: vxlan}`)+tt.in)
			if err == nil {
				t.Fatalf("apply succeeded, want %q", tt.want)
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %v containing %q", err, tt.is, tt.want)
			}
			if m.Revision() != rev {
				t.Errorf("revision moved from %d to %d", rev, m.Revision())
			}
			if _, err := m.Get(resource.Ref{Kind: resource.KindSwitch, Name: "extra"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("the good object of the failed batch was stored")
			}
		})
	}
}

func TestDeleteInUse(t *testing.T) {
	m := open(t, t.TempDir())
	defer m.Close()
	mustApply(t, m, base)
	ctx := context.Background()
	for _, r := range []resource.Ref{{Kind: resource.KindSwitch, Name: "prod"}, {Kind: resource.KindPortGroup, Name: "web"}, {Kind: resource.KindHost, Name: "h1"}} {
		if _, err := m.Delete(ctx, r, store.AnyRevision); !errors.Is(err, ErrConflict) {
			t.Errorf("deleting %s: %v, want a conflict", r, err)
		}
	}
	if _, err := m.Delete(ctx, resource.Ref{Kind: resource.KindPort, Name: "vm1"}, store.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Delete(ctx, resource.Ref{Kind: resource.KindPort, Name: "vm1"}, store.AnyRevision); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want not found", err)
	}
}

func vni(t *testing.T, m *Manager, pg string) int {
	t.Helper()
	o, err := m.Get(resource.Ref{Kind: resource.KindPortGroup, Name: pg})
	if err != nil {
		t.Fatal(err)
	}
	return o.(*resource.PortGroup).Status.VNI
}

func ofport(t *testing.T, m *Manager, p string) int {
	t.Helper()
	o, err := m.Get(resource.Ref{Kind: resource.KindPort, Name: p})
	if err != nil {
		t.Fatal(err)
	}
	return o.(*resource.Port).Status.OFPort
}

func TestAllocationAndPersistence(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir)
	mustApply(t, m, base)
	var more string
	for i := range 5 {
		more += obj("PortGroup", fmt.Sprintf("pg%d", i), `{switch: prod}`)
	}
	more += obj("Switch", "other", `{overlay: geneve}`) + obj("PortGroup", "o1", `{switch: other}`)
	more += obj("Port", "vm5", `{portGroup: web, mac: "02:00:00:00:00:05", host: h1, interface: tap-vm5}`)
	mustApply(t, m, more)
	vnis := map[int]string{}
	for _, pg := range []string{"web", "db", "pg0", "pg1", "pg2", "pg3", "pg4"} {
		v := vni(t, m, pg)
		if v == 0 {
			t.Errorf("port group %s has no VNI", pg)
		}
		if other, dup := vnis[v]; dup {
			t.Errorf("VNI %d given to %s and %s", v, pg, other)
		}
		vnis[v] = pg
	}
	if got := vni(t, m, "db"); got != 500 {
		t.Errorf("db has VNI %d, want the pinned 500", got)
	}
	if got := vni(t, m, "mgmt"); got != 0 {
		t.Errorf("mgmt on a vlan switch has VNI %d", got)
	}
	if got := vni(t, m, "o1"); got != FirstVNI {
		t.Errorf("o1 has VNI %d, want %d (VNIs are per switch)", got, FirstVNI)
	}
	if a, b := ofport(t, m, "vm1"), ofport(t, m, "vm5"); a == 0 || b == 0 || a == b {
		t.Errorf("ofports on h1: vm1 %d, vm5 %d", a, b)
	}
	before := map[string]int{}
	for v, pg := range vnis {
		before[pg] = v
	}
	vm5 := ofport(t, m, "vm5")
	rev := m.Revision()
	// An update that keeps the switch keeps the VNI.
	mustApply(t, m, obj("PortGroup", "pg2", `{switch: prod, vlan: 99}`))
	if vni(t, m, "pg2") != before["pg2"] {
		t.Errorf("pg2's VNI changed on update")
	}
	m.Close()

	m = open(t, dir)
	defer m.Close()
	if m.Revision() != rev+1 {
		t.Errorf("revision after restart %d, want %d", m.Revision(), rev+1)
	}
	for pg, v := range before {
		if got := vni(t, m, pg); got != v {
			t.Errorf("after restart %s has VNI %d, want %d", pg, got, v)
		}
	}
	if ofport(t, m, "vm5") != vm5 {
		t.Errorf("vm5's ofport changed across restart")
	}
	// A new group after the restart does not reuse a VNI.
	mustApply(t, m, obj("PortGroup", "pg5", `{switch: prod}`))
	if _, dup := vnis[vni(t, m, "pg5")]; dup {
		t.Errorf("pg5 got VNI %d, already in use", vni(t, m, "pg5"))
	}
	// Applying the same again changes nothing.
	res := mustApply(t, m, base)
	for _, r := range res {
		if r.Action != Unchanged {
			t.Errorf("%s/%s: %s, want unchanged", r.Kind, r.Name, r.Action)
		}
	}
	// Everything is still there.
	if got := len(m.List(resource.KindPort)); got != 5 {
		t.Errorf("%d ports after restart, want 5", got)
	}
}

func TestShare(t *testing.T) {
	m := open(t, t.TempDir())
	defer m.Close()
	mustApply(t, m, base)
	names := func(objs any) []string {
		var out []string
		switch objs := objs.(type) {
		case []*resource.Switch:
			for _, o := range objs {
				out = append(out, o.Metadata.Name)
			}
		case []*resource.PortGroup:
			for _, o := range objs {
				out = append(out, o.Metadata.Name)
			}
		case []*resource.Port:
			for _, o := range objs {
				out = append(out, o.Metadata.Name)
			}
		case []*resource.Uplink:
			for _, o := range objs {
				out = append(out, o.Metadata.Name)
			}
		case []RemoteGroup:
			for _, g := range objs {
				var hs []string
				for _, h := range g.Hosts {
					hs = append(hs, fmt.Sprintf("%s@%s=%s", h.Host, h.Address, strings.Join(h.MACs, "+")))
				}
				out = append(out, fmt.Sprintf("%s/%d:%s", g.PortGroup, g.VNI, strings.Join(hs, ",")))
			}
		}
		return out
	}
	webVNI := vni(t, m, "web")
	tests := []struct {
		host                          string
		switches, pgs, ports, uplinks []string
		remote                        []string
	}{
		{"h1", []string{"prod"}, []string{"web"}, []string{"vm1"}, nil,
			[]string{fmt.Sprintf("web/%d:h2@127.0.0.2=02:00:00:00:00:02", webVNI)}},
		{"h2", []string{"prod"}, []string{"db", "web"}, []string{"vm2", "vm3"}, nil,
			[]string{"db/500:", fmt.Sprintf("web/%d:h1@127.0.0.1=02:00:00:00:00:01", webVNI)}},
		{"h3", []string{"lan"}, []string{"mgmt"}, []string{"vm4"}, []string{"lan-h3"}, nil},
		{"nohost", nil, nil, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			sh, _ := m.ShareOf(tt.host)
			check := func(what string, got, want []string) {
				if !slices.Equal(got, want) {
					t.Errorf("%s: got %q, want %q", what, got, want)
				}
			}
			check("switches", names(sh.Switches), tt.switches)
			check("port groups", names(sh.PortGroups), tt.pgs)
			check("ports", names(sh.Ports), tt.ports)
			check("uplinks", names(sh.Uplinks), tt.uplinks)
			check("remote", names(sh.Remote), tt.remote)
			for _, p := range sh.Ports {
				if p.Status.OFPort == 0 || p.Status.Switch == "" {
					t.Errorf("port %s in the share lacks ofport or switch: %+v", p.Metadata.Name, p.Status)
				}
			}
		})
	}
}

func TestAffected(t *testing.T) {
	m := open(t, t.TempDir())
	defer m.Close()
	mustApply(t, m, base)
	old := m.ix
	tests := []struct {
		change string
		want   []string
	}{
		{obj("PortGroup", "web", `{switch: prod, vlan: 11}`), []string{"h1", "h2"}},
		{obj("PortGroup", "mgmt", `{switch: lan, vlan: 21}`), []string{"h3"}},
		{obj("Switch", "lan", `{overlay: vlan, mtu: 1500}`), []string{"h3"}},
		{obj("Host", "h1", `{address: 127.0.0.11}`), []string{"h1", "h2"}},
		{obj("Port", "vm1", `{portGroup: web, mac: "02:00:00:00:00:01", host: h3, interface: tap-vm1}`), []string{"h1", "h2", "h3"}},
		{obj("Uplink", "lan-h3", `{switch: lan, host: h3, interface: eth2}`), []string{"h3"}},
	}
	for _, tt := range tests {
		objs, err := resource.Decode([]byte(tt.change))
		if err != nil {
			t.Fatal(err)
		}
		next := m.cur.clone()
		next.put(objs[0])
		got := slices.Sorted(func(yield func(string) bool) {
			for h := range affected(old, buildIndex(next), []resource.Ref{resource.RefOf(objs[0])}) {
				if !yield(h) {
					return
				}
			}
		})
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: affected %q, want %q", resource.RefOf(objs[0]), got, tt.want)
		}
	}
}

func TestUplinkWarnings(t *testing.T) {
	host := func(uplinks ...string) *resource.Host {
		h := &resource.Host{Spec: resource.HostSpec{Address: "203.0.113.3", Uplinks: uplinks}}
		h.Metadata.Name = "h3"
		return h
	}
	bond := &resource.Uplink{Spec: resource.UplinkSpec{Switch: "lan", Host: "h3", Interfaces: []string{"eth1", "eth2"}}}
	one := &resource.Uplink{Spec: resource.UplinkSpec{Switch: "lan", Host: "h3", Interface: "eth1"}}
	for _, tt := range []struct {
		name string
		u    *resource.Uplink
		h    *resource.Host
		want []string
	}{
		{"host reports none", bond, host(), nil},
		{"unknown host", bond, nil, nil},
		{"all offered", bond, host("eth2", "eth1"), nil},
		{"one offered", one, host("eth1"), nil},
		{"member not offered", bond, host("eth1", "eth3"), []string{"interface eth2 is not among host h3's uplinks (eth1, eth3)"}},
		{"interface not offered", one, host("eth3"), []string{"interface eth1 is not among host h3's uplinks (eth3)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := uplinkWarnings(tt.u, tt.h); !slices.Equal(got, tt.want) {
				t.Errorf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUplinkStatusWarns(t *testing.T) {
	m := open(t, t.TempDir())
	mustApply(t, m, base)
	mustApply(t, m, obj("Host", "h3", `{address: 127.0.0.3, uplinks: [eth2]}`))
	o, err := m.Get(resource.Ref{Kind: resource.KindUplink, Name: "lan-h3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"interface eth1 is not among host h3's uplinks (eth2)"}
	if got := o.(*resource.Uplink).Status.Warnings; !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	// The warning is read-time status: the host's share carries the spec.
	sh, _ := m.ShareOf("h3")
	for _, u := range sh.Uplinks {
		if len(u.Status.Warnings) != 0 {
			t.Errorf("share of h3 carries uplink status %+v", u.Status)
		}
	}
	// The host offers eth1 too: no warning.
	mustApply(t, m, obj("Host", "h3", `{address: 127.0.0.3, uplinks: [eth2, eth1]}`))
	o, _ = m.Get(resource.Ref{Kind: resource.KindUplink, Name: "lan-h3"})
	if got := o.(*resource.Uplink).Status.Warnings; len(got) != 0 {
		t.Errorf("warnings %q, want none", got)
	}
}
