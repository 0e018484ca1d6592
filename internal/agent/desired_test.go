package agent

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/pipeline"
	"github.com/dvs-project/dvs/internal/resource"
)

func meta(name string) resource.Header {
	return resource.Header{Metadata: resource.Meta{Name: name}}
}

func testPort(name, pg, mac, ifc, typ string, no int) *resource.Port {
	return &resource.Port{Header: meta(name),
		Spec:   resource.PortSpec{PortGroup: pg, MAC: mac, Host: "h1", Interface: ifc, InterfaceType: typ},
		Status: resource.PortStatus{OFPort: no, Switch: "ov"}}
}

// testShare is h1's share: an overlay switch with groups web (VNI 100:
// two local ports, one remote host) and db (VNI 200: one local port, two
// remote hosts), and a vlan switch with one port.
func testShare() *manager.Share {
	return &manager.Share{
		Host: "h1", Address: "203.0.113.1",
		Switches: []*resource.Switch{
			{Header: meta("ov"), Spec: resource.SwitchSpec{Overlay: resource.OverlayVXLAN}},
			{Header: meta("vl"), Spec: resource.SwitchSpec{Overlay: resource.OverlayVLAN}},
		},
		PortGroups: []*resource.PortGroup{
			{Header: meta("db"), Spec: resource.PortGroupSpec{Switch: "ov"}, Status: resource.PortGroupStatus{VNI: 200}},
			{Header: meta("prod"), Spec: resource.PortGroupSpec{Switch: "vl", VLAN: 10}},
			{Header: meta("web"), Spec: resource.PortGroupSpec{Switch: "ov"}, Status: resource.PortGroupStatus{VNI: 100}},
		},
		Ports: []*resource.Port{
			testPort("vm1", "web", "02:00:00:00:00:01", "v1", resource.InterfaceVeth, 1),
			testPort("vm2", "web", "02:00:00:00:00:02", "t2", resource.InterfaceTap, 2),
			testPort("vm3", "db", "02:00:00:00:00:03", "v3", resource.InterfaceVeth, 3),
			testPort("vm4", "prod", "02:00:00:00:00:04", "t4", "", 4),
		},
		Remote: []manager.RemoteGroup{
			{PortGroup: "db", Switch: "ov", VNI: 200, Hosts: []manager.RemoteHost{
				{Host: "h2", Address: "203.0.113.2", MACs: []string{"02:00:00:00:00:21"}},
				{Host: "h3", Address: "203.0.113.3", MACs: []string{"02:00:00:00:00:31"}},
			}},
			{PortGroup: "web", Switch: "ov", VNI: 100, Hosts: []manager.RemoteHost{
				{Host: "h2", Address: "203.0.113.2", MACs: []string{"02:00:00:00:00:22", "02:00:00:00:00:23"}},
			}},
		},
	}
}

func TestCompileShare(t *testing.T) {
	ds, warns := compileShare(testShare(), "203.0.113.1")
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	tun := func(name, remote string) bridge.PortSpec {
		return bridge.PortSpec{Name: name, Type: "vxlan", RemoteIP: remote, LocalIP: "203.0.113.1", Key: "flow"}
	}
	web := fmt.Sprintf("cookie=%#x,", ownerCookie("pg/web"))
	db := fmt.Sprintf("cookie=%#x,", ownerCookie("pg/db"))
	want := desiredState{
		"ov": {Name: "ov",
			Ports: map[string]bridge.PortSpec{
				"v1":          {Name: "v1", Type: "afpacket", OFPort: 1},
				"t2":          {Name: "t2", Type: "tap", OFPort: 2},
				"v3":          {Name: "v3", Type: "afpacket", OFPort: 3},
				"vx-cb007102": tun("vx-cb007102", "203.0.113.2"),
				"vx-cb007103": tun("vx-cb007103", "203.0.113.3"),
			},
			Flows: map[string][]string{
				"pg/web": {
					web + "table=0,priority=100,in_port=1,actions=set_field:100->tun_id,goto_table:1",
					web + "table=0,priority=100,in_port=2,actions=set_field:100->tun_id,goto_table:1",
					web + "table=0,priority=50,tun_id=100,dl_dst=02:00:00:00:00:01,actions=output:1",
					web + "table=1,priority=50,tun_id=100,dl_dst=02:00:00:00:00:01,actions=output:1",
					web + "table=0,priority=50,tun_id=100,dl_dst=02:00:00:00:00:02,actions=output:2",
					web + "table=1,priority=50,tun_id=100,dl_dst=02:00:00:00:00:02,actions=output:2",
					web + "table=0,priority=40,tun_id=100,actions=output:1,output:2",
					web + "table=1,priority=50,tun_id=100,dl_dst=02:00:00:00:00:22,actions=output:vx-cb007102",
					web + "table=1,priority=50,tun_id=100,dl_dst=02:00:00:00:00:23,actions=output:vx-cb007102",
					web + "table=1,priority=40,tun_id=100,actions=output:1,output:2,output:vx-cb007102",
				},
				"pg/db": {
					db + "table=0,priority=100,in_port=3,actions=set_field:200->tun_id,goto_table:1",
					db + "table=0,priority=50,tun_id=200,dl_dst=02:00:00:00:00:03,actions=output:3",
					db + "table=1,priority=50,tun_id=200,dl_dst=02:00:00:00:00:03,actions=output:3",
					db + "table=0,priority=40,tun_id=200,actions=output:3",
					db + "table=1,priority=50,tun_id=200,dl_dst=02:00:00:00:00:21,actions=output:vx-cb007102",
					db + "table=1,priority=50,tun_id=200,dl_dst=02:00:00:00:00:31,actions=output:vx-cb007103",
					db + "table=1,priority=40,tun_id=200,actions=output:3,output:vx-cb007102,output:vx-cb007103",
				},
			},
			Announce: map[string]announcement{
				"v1": {MAC: "02:00:00:00:00:01"}, "t2": {MAC: "02:00:00:00:00:02"}, "v3": {MAC: "02:00:00:00:00:03"},
			}},
		"vl": {Name: "vl",
			Ports:    map[string]bridge.PortSpec{"t4": {Name: "t4", Type: "tap", OFPort: 4, VLAN: 10}},
			Flows:    map[string][]string{"switch/vl": {fmt.Sprintf("cookie=%#x,table=0,priority=0,actions=NORMAL", ownerCookie("switch/vl"))}},
			Announce: map[string]announcement{"t4": {MAC: "02:00:00:00:00:04"}}},
	}
	if !reflect.DeepEqual(want, ds) {
		t.Errorf("compileShare:\n got %s\nwant %s", js(ds), js(want))
	}
}

func TestCompileShareGeneve(t *testing.T) {
	sh := testShare()
	sh.Switches[0].Spec.Overlay = resource.OverlayGeneve
	ds, _ := compileShare(sh, "203.0.113.1")
	want := bridge.PortSpec{Name: "gnv-cb007102", Type: "geneve", RemoteIP: "203.0.113.2", LocalIP: "203.0.113.1", Key: "flow"}
	if got := ds["ov"].Ports["gnv-cb007102"]; got != want {
		t.Errorf("geneve tunnel port = %+v, want %+v", got, want)
	}
	if n := tunnelPortName(resource.OverlayVXLAN, "2001:db8::2"); len(n) > maxNameLen {
		t.Errorf("IPv6 tunnel port name %q is too long", n)
	}
}

func TestCompileShareWarns(t *testing.T) {
	sh := testShare()
	sh.Ports[0].Status.OFPort = 0
	sh.Remote[0].VNI = 0
	ds, warns := compileShare(sh, "203.0.113.1")
	if len(warns) != 2 {
		t.Errorf("warnings = %q, want 2", warns)
	}
	if _, ok := ds["ov"].Ports["v1"]; ok {
		t.Error("a port without a number was compiled")
	}
	if _, ok := ds["ov"].Flows["pg/db"]; ok {
		t.Error("a group without a VNI got flows")
	}
}

func TestDiffStates(t *testing.T) {
	base, _ := compileShare(testShare(), "203.0.113.1")
	tests := []struct {
		name   string
		change func(*manager.Share)
		want   func(desiredState) changes
	}{
		{"nothing", func(*manager.Share) {}, func(desiredState) changes { return changes{} }},
		{"remote MAC of db", func(sh *manager.Share) {
			sh.Remote[0].Hosts[0].MACs = append(sh.Remote[0].Hosts[0].MACs, "02:00:00:00:00:29")
		}, func(w desiredState) changes {
			return changes{Bridges: []bridgeChanges{{Name: "ov", SetFlows: map[string][]string{"pg/db": w["ov"].Flows["pg/db"]}}}}
		}},
		{"db's last remote on h3 leaves", func(sh *manager.Share) {
			sh.Remote[0].Hosts = sh.Remote[0].Hosts[:1]
		}, func(w desiredState) changes {
			return changes{Bridges: []bridgeChanges{{Name: "ov", DelPorts: []string{"vx-cb007103"},
				SetFlows: map[string][]string{"pg/db": w["ov"].Flows["pg/db"]}}}}
		}},
		{"vm3 unbound: db has no local port", func(sh *manager.Share) {
			sh.Ports = slices.Delete(sh.Ports, 2, 3)
		}, func(w desiredState) changes {
			return changes{Bridges: []bridgeChanges{{Name: "ov", DelPorts: []string{"v3"},
				SetFlows: map[string][]string{"pg/db": w["ov"].Flows["pg/db"]}}}}
		}},
		{"prod VLAN changes", func(sh *manager.Share) {
			sh.PortGroups[1].Spec.VLAN = 20
		}, func(desiredState) changes {
			return changes{Bridges: []bridgeChanges{{Name: "vl", SetFlows: map[string][]string{},
				SetPorts: []bridge.PortSpec{{Name: "t4", Type: "tap", OFPort: 4, VLAN: 20}}}}}
		}},
		{"vm2 moves to a veth", func(sh *manager.Share) {
			sh.Ports[1].Spec.InterfaceType = resource.InterfaceVeth
		}, func(desiredState) changes {
			return changes{Bridges: []bridgeChanges{{Name: "ov", SetFlows: map[string][]string{}, DelPorts: []string{"t2"},
				AddPorts: []bridge.PortSpec{{Name: "t2", Type: "afpacket", OFPort: 2}}}}}
		}},
		{"vlan switch leaves", func(sh *manager.Share) {
			sh.Switches = sh.Switches[:1]
			sh.PortGroups = slices.Delete(sh.PortGroups, 1, 2)
			sh.Ports = sh.Ports[:3]
		}, func(desiredState) changes { return changes{DelBridges: []string{"vl"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := testShare()
			tt.change(sh)
			w, _ := compileShare(sh, "203.0.113.1")
			want := tt.want(w)
			for i := range want.Bridges {
				if want.Bridges[i].SetFlows == nil {
					want.Bridges[i].SetFlows = map[string][]string{}
				}
			}
			if got := diffStates(base, w); !reflect.DeepEqual(want, got) {
				t.Errorf("diffStates:\n got %s\nwant %s", js(got), js(want))
			}
		})
	}
	t.Run("from nothing", func(t *testing.T) {
		ch := diffStates(desiredState{}, base)
		if !slices.Equal(ch.AddBridges, []string{"ov", "vl"}) || len(ch.Bridges) != 2 ||
			len(ch.Bridges[0].AddPorts) != 5 || len(ch.Bridges[0].SetFlows) != 2 {
			t.Errorf("diff from nothing = %+v", ch)
		}
	})
}

// localShare is testShare without remote hosts, so that it applies
// without tunnel sockets.
func localShare() *manager.Share {
	sh := testShare()
	for i := range sh.Remote {
		sh.Remote[i].Hosts = nil
	}
	return sh
}

// TestApplyShare applies shares to a running agent with in-memory ports
// and checks that a change to one port group leaves the other's ports and
// rules alone.
func TestApplyShare(t *testing.T) {
	host := newFakeHost()
	ta := startAgent(t, t.TempDir(), host)
	m := &managed{a: ta.a, opt: ManagerOptions{TunnelIP: "203.0.113.1"}, applied: desiredState{}, tunnelNos: map[string]uint32{}}
	ta.a.log = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	m.want, m.wantRev = localShare(), 5
	if !m.apply() || m.appliedRev != 5 {
		t.Fatal("first apply failed")
	}
	rules := func(owner string) []*flow.Rule {
		ta.a.mu.RLock()
		defer ta.a.mu.RUnlock()
		c := ownerCookie(owner)
		return ta.a.bridges["ov"].br.Pipeline().Rules(pipeline.Filter{Table: flow.TableAll, Cookie: c, CookieMask: ^uint64(0), OutPort: flow.PortAny, OutGroup: flow.GroupAny})
	}
	webBefore, dbBefore := rules("pg/web"), rules("pg/db")
	if len(webBefore) != 8 || len(dbBefore) != 5 {
		t.Fatalf("rules: web %d, db %d; want 8 and 5", len(webBefore), len(dbBefore))
	}
	v1 := host.port("v1")
	ports, err := ta.a.Ports("ov")
	if err != nil || len(ports) != 3 {
		t.Fatalf("ports of ov: %v %v", ports, err)
	}

	// db gains a local port: only db's rules are replaced.
	sh := localShare()
	sh.Ports = append(sh.Ports, testPort("vm5", "db", "02:00:00:00:00:05", "v5", resource.InterfaceVeth, 5))
	m.want, m.wantRev = sh, 6
	if !m.apply() {
		t.Fatal("second apply failed")
	}
	if webAfter := rules("pg/web"); !slices.Equal(webAfter, webBefore) {
		t.Error("web's rules were replaced by a change to db")
	}
	if dbAfter := rules("pg/db"); len(dbAfter) != 8 {
		t.Errorf("db has %d rules, want 8", len(dbAfter))
	}
	if host.port("v1") != v1 {
		t.Error("port v1 was reopened")
	}

	// db loses that port again: its stale rules go, web's stay.
	m.want, m.wantRev = localShare(), 7
	if !m.apply() {
		t.Fatal("third apply failed")
	}
	if dbAfter := rules("pg/db"); len(dbAfter) != 5 {
		t.Errorf("db has %d rules, want 5", len(dbAfter))
	}
	if webAfter := rules("pg/web"); !slices.Equal(webAfter, webBefore) {
		t.Error("web's rules were replaced by a change to db")
	}
	if host.port("v5") == nil {
		t.Fatal("port v5 was never opened")
	}
	if _, err := ta.a.Port("ov", "v5"); err == nil {
		t.Error("port v5 is still on the bridge")
	}

	// A missing interface leaves the revision unapplied until it appears.
	host.setGone("v6", true)
	sh = localShare()
	sh.Ports = append(sh.Ports, testPort("vm6", "web", "02:00:00:00:00:06", "v6", resource.InterfaceVeth, 6))
	m.want, m.wantRev = sh, 8
	if m.apply() || m.appliedRev != 7 {
		t.Fatalf("apply with a missing interface: appliedRev %d, want 7 and a failure", m.appliedRev)
	}
	host.setGone("v6", false)
	if !m.apply() || m.appliedRev != 8 {
		t.Fatal("retry failed")
	}

	// The manager's bridges are not in the state store, nor deletable by hand.
	if err := ta.a.DelBridge("ov"); err == nil {
		t.Error("a managed bridge was deleted by hand")
	}
	saved, err := ta.a.st.Bridges()
	if err != nil || len(saved) != 0 {
		t.Errorf("state store has %d bridges (%v), want none", len(saved), err)
	}
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// tWriter sends logs to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

func TestCompileShareUplinks(t *testing.T) {
	uplink := func(name, sw string, ifs ...string) *resource.Uplink {
		u := &resource.Uplink{Header: meta(name), Spec: resource.UplinkSpec{Switch: sw, Host: "h1"}}
		if len(ifs) == 1 {
			u.Spec.Interface = ifs[0]
		} else {
			u.Spec.Interfaces, u.Spec.Policy = ifs, resource.PolicyActiveBackup
		}
		return u
	}
	for _, tt := range []struct {
		name    string
		edit    func(sh *manager.Share)
		want    bridge.PortSpec // the uplink port of vl; zero: none
		ovPorts int             // ports of ov (the overlay switch), which takes no uplink
		warn    string
	}{
		{"one interface", func(sh *manager.Share) { sh.Uplinks = append(sh.Uplinks, uplink("vl-h1", "vl", "eth1")) },
			bridge.PortSpec{Name: "eth1", Type: "afpacket", OFPort: uplinkPortNo, Trunks: "10"}, 5, ""},
		{"bond of the groups' VLANs", func(sh *manager.Share) {
			sh.Uplinks = append(sh.Uplinks, uplink("vl-h1", "vl", "eth1", "eth2"))
			sh.PortGroups = append(sh.PortGroups,
				&resource.PortGroup{Header: meta("stage"), Spec: resource.PortGroupSpec{Switch: "vl", VLAN: 20}},
				&resource.PortGroup{Header: meta("lab"), Spec: resource.PortGroupSpec{Switch: "vl", Trunk: []resource.VLANRange{{From: 30, To: 32}, {From: 10, To: 10}}}})
		}, bridge.PortSpec{Name: "vl-h1", Type: "bond", OFPort: uplinkPortNo, Trunks: "10,20,30-32", Members: "eth1,eth2", BondMode: "active-backup"}, 5, ""},
		{"no group yet: every VLAN", func(sh *manager.Share) {
			sh.Uplinks = append(sh.Uplinks, uplink("vl-h1", "vl", "eth1"))
			sh.PortGroups = slices.DeleteFunc(sh.PortGroups, func(pg *resource.PortGroup) bool { return pg.Spec.Switch == "vl" })
			sh.Ports = sh.Ports[:3]
		}, bridge.PortSpec{Name: "eth1", Type: "afpacket", OFPort: uplinkPortNo}, 5, ""},
		{"overlay switch: ignored", func(sh *manager.Share) { sh.Uplinks = append(sh.Uplinks, uplink("ov-h1", "ov", "eth1")) },
			bridge.PortSpec{}, 5, "uplink ov-h1: ignored: switch ov is a vxlan switch"},
		{"interface is a VM's port", func(sh *manager.Share) { sh.Uplinks = append(sh.Uplinks, uplink("vl-h1", "vl", "eth1", "t4")) },
			bridge.PortSpec{}, 5, "uplink vl-h1: t4 already a port of switch vl"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sh := testShare()
			tt.edit(sh)
			ds, warns := compileShare(sh, "203.0.113.1")
			if tt.warn == "" && len(warns) > 0 || tt.warn != "" && (len(warns) != 1 || !strings.HasPrefix(warns[0], tt.warn)) {
				t.Errorf("warnings %q, want %q", warns, tt.warn)
			}
			var got bridge.PortSpec
			for _, p := range ds["vl"].Ports {
				if p.OFPort == uplinkPortNo {
					got = p
				}
			}
			if got != tt.want {
				t.Errorf("uplink port:\n got %+v\nwant %+v", got, tt.want)
			}
			if n := len(ds["ov"].Ports); n != tt.ovPorts {
				t.Errorf("switch ov has %d ports, want %d", n, tt.ovPorts)
			}
		})
	}

	// A new port group changes only the uplink's VLANs: the running port is
	// changed, not replaced.
	sh := testShare()
	sh.Uplinks = append(sh.Uplinks, uplink("vl-h1", "vl", "eth1", "eth2"))
	have, _ := compileShare(sh, "203.0.113.1")
	sh.PortGroups = append(sh.PortGroups, &resource.PortGroup{Header: meta("stage"), Spec: resource.PortGroupSpec{Switch: "vl", VLAN: 20}})
	sh.Ports = append(sh.Ports, testPort("vm5", "stage", "02:00:00:00:00:05", "t5", "", 5))
	want, _ := compileShare(sh, "203.0.113.1")
	ch := diffStates(have, want)
	if len(ch.Bridges) != 1 || ch.Bridges[0].Name != "vl" {
		t.Fatalf("changes %s, want changes of vl only", js(ch))
	}
	bc := ch.Bridges[0]
	if len(bc.DelPorts) != 0 || len(bc.AddPorts) != 1 || bc.AddPorts[0].Name != "t5" ||
		len(bc.SetPorts) != 1 || bc.SetPorts[0].Name != "vl-h1" || bc.SetPorts[0].Trunks != "10,20" {
		t.Errorf("changes of vl %s, want t5 added and the uplink's trunks set to 10,20", js(bc))
	}
}
