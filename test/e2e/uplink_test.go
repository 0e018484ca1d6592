package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bondState is what the tests read of a bond port (`dvs port show -o json`).
type bondState struct {
	State string `json:"state"`
	Bond  *struct {
		Active    string `json:"active"`
		Failovers int    `json:"failovers"`
		Members   []struct {
			Name   string `json:"name"`
			State  string `json:"state"`
			Active bool   `json:"active"`
			Stats  struct {
				RxPackets uint64 `json:"rx_packets"`
				TxPackets uint64 `json:"tx_packets"`
			} `json:"stats"`
			RxInactiveDropped uint64 `json:"rx_inactive_dropped"`
		} `json:"members"`
	} `json:"bond"`
}

func (a *agent) bond(br, port string) bondState {
	a.t.Helper()
	out := a.dvs("port", "show", br, port, "-o", "json")
	var s bondState
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Bond == nil || len(s.Bond.Members) != 2 {
		a.t.Fatalf("port show %s %s: no bond of two members (%v):\n%s", br, port, err, out)
	}
	return s
}

// mustPingBr is mustPing for bridge br of several agents; failing, it
// shows each agent's ports, flows, MACs and log.
func mustPingBr(tp *topo, br, host, addr string) {
	tp.t.Helper()
	for i := 0; i < 5; i++ {
		if tp.ping(host, addr) {
			return
		}
	}
	var dump strings.Builder
	for _, a := range append([]*agent{tp.agent}, tp.others...) {
		ports, _ := a.dvsErr("port", "list", br)
		flows, _ := a.dvsErr("flow", "dump", br, "--stats")
		macs, _ := a.dvsErr("mac", "show", br)
		fmt.Fprintf(&dump, "agent %s:\n%s\n%s\n%s\nlog:\n%s\n", a.ns, ports, flows, macs, a.logs)
	}
	tp.t.Fatalf("%s cannot ping %s\n%s", host, addr, dump.String())
}

const uplinkNetYAML = `apiVersion: dvs/v1
kind: Switch
metadata: {name: lan}
spec: {overlay: vlan}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: lan, vlan: 10}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: db}
spec: {switch: lan, vlan: 20}
---
apiVersion: dvs/v1
kind: Uplink
metadata: {name: up-h1}
spec: {switch: lan, host: h1, interfaces: [%s, %s], policy: active-backup}
---
apiVersion: dvs/v1
kind: Uplink
metadata: {name: up-h2}
spec: {switch: lan, host: h2, interfaces: [%s, %s]}
`

// TestUplinkBond runs a manager and two hosts on a vlan switch with port
// groups web (VLAN 10) and db (VLAN 20). Each host's uplink is an
// active-backup bond of two veths into a "physical" Linux bridge. VMs of
// one group reach each other across hosts with the group's tag on the
// wire, groups stay apart, the backup members send nothing; when h1's
// active member goes down its backup takes over, announces h1's MACs
// (RARPs in their VLANs) and the ping resumes; no fail-back follows.
func TestUplinkBond(t *testing.T) {
	tp := newTopo(t)
	sw2 := tp.switchNS("sw2")
	// The management network: the manager listens on h1's 203.0.113.1.
	tp.underlay(tp.sw, sw2.ns)
	// The physical L2 network: a Linux bridge that forwards tagged frames
	// as they are (no VLAN filtering).
	phy := tp.bareNS("phy")
	for _, ns := range []string{phy, tp.sw, sw2.ns} {
		tp.nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	tp.nsx(phy, "ip", "link", "add", "br0", "type", "bridge")
	tp.nsx(phy, "ip", "link", "set", "br0", "up")
	// Member i of host 1 is u<i>a<id> in h1 with peer u<i>b<id> in phy;
	// members 3 and 4 are host 2's.
	var member, wire []string
	for i, ns := range []string{tp.sw, tp.sw, sw2.ns, sw2.ns} {
		e1, e2 := tp.link(ns, phy, fmt.Sprintf("u%d", i+1))
		tp.nsx(phy, "ip", "link", "set", e2, "master", "br0")
		member, wire = append(member, e1), append(wire, e2)
	}

	mgr := &managerProc{t: t, ns: tp.sw, dir: filepath.Join(tp.dir, "manager"), addr: "203.0.113.1:7441"}
	t.Cleanup(func() {
		mgr.kill()
		if t.Failed() {
			t.Logf("manager log:\n%s", mgr.logs)
			t.Logf("agent 2 log:\n%s", sw2.logs)
		}
	})
	mgr.start()
	tp.startAgent("--manager", mgr.url(), "--token-file", mgr.tokenFile(), "--host", "h1", "--tunnel-ip", "203.0.113.1",
		"--uplink", member[0]+","+member[1])
	sw2.startAgent("--manager", mgr.url(), "--token-file", mgr.tokenFile(), "--host", "h2", "--tunnel-ip", "203.0.113.2",
		"--uplink", member[2]+","+member[3])

	swOf := map[string]string{"h1": tp.sw, "h2": sw2.ns}
	vms := []vmSpec{
		{"a1", "h1", "web", "198.51.100.1", "02:00:00:00:31:01"},
		{"b1", "h1", "db", "198.51.100.3", "02:00:00:00:32:01"},
		{"a2", "h2", "web", "198.51.100.2", "02:00:00:00:31:02"},
		{"b2", "h2", "db", "198.51.100.4", "02:00:00:00:32:02"},
	}
	file, yaml := tp.bindVMs(fmt.Sprintf(uplinkNetYAML, member[0], member[1], member[2], member[3]), vms, swOf, "", true)
	mgr.dvs("apply", "-f", file)
	tp.waitBridge("lan", 3) // two VMs and the uplink bond
	sw2.waitBridge("lan", 3)
	mgr.waitConverged("h1", "h2")
	if out := mgr.dvs("get", "uplink", "up-h1", "-o", "json"); strings.Contains(out, "warnings") {
		t.Errorf("uplink up-h1 has warnings, but h1 offers both interfaces:\n%s", out)
	}

	mustPingBr(tp, "lan", "a1", "198.51.100.2")
	mustPingBr(tp, "lan", "b2", "198.51.100.3")
	tp.mustNotPing("a1", "198.51.100.4") // web -> db across hosts
	tp.mustNotPing("a1", "198.51.100.3") // web -> db on one host
	tp.mustNotPing("b2", "198.51.100.2")

	// On the wire: web's pings tagged 10, db's tagged 20; nothing leaves
	// the backup members.
	var backup1, backup2 string
	got := tp.captureNS(phy, wire[0], "vlan and icmp", func() {
		backup1 = tp.captureNS(phy, wire[1], "-Q in", func() {
			backup2 = tp.captureNS(phy, wire[3], "-Q in", func() { mustPingBr(tp, "lan", "a1", "198.51.100.2") })
		})
	})
	if !strings.Contains(got, "vlan 10") || strings.Contains(got, "vlan 20") || !strings.Contains(got, "ICMP echo request") {
		t.Errorf("h1's active member should carry web's pings tagged VLAN 10 only:\n%s", got)
	}
	if countLines(backup1)+countLines(backup2) != 0 {
		t.Errorf("backup members sent frames:\nh1:\n%s\nh2:\n%s", backup1, backup2)
	}
	got = tp.captureNS(phy, wire[0], "vlan and icmp", func() { mustPingBr(tp, "lan", "b1", "198.51.100.4") })
	if !strings.Contains(got, "vlan 20") || strings.Contains(got, "vlan 10") {
		t.Errorf("db's pings should be tagged VLAN 20 only:\n%s", got)
	}
	before := tp.bond("lan", "up-h1")
	t.Logf("h1 bond before failover: %+v", *before.Bond)
	if b := before.Bond; b.Active != member[0] || !b.Members[0].Active || b.Members[0].Stats.TxPackets == 0 ||
		b.Members[1].Stats.TxPackets != 0 || b.Failovers != 0 {
		t.Errorf("h1 bond before failover: %+v; want %s active and sending, %s silent", *b, member[0], member[1])
	}
	if b := before.Bond; b.Members[1].RxInactiveDropped == 0 {
		t.Errorf("h1's backup member dropped nothing, though the physical bridge floods to it: %+v", *b)
	}

	// Failover: h1's active member goes down while a1 pings a2.
	pg := startPing(t, tp.ns("a1"), "198.51.100.2")
	time.Sleep(time.Second)
	var down time.Time
	rarps := tp.captureNS(phy, wire[1], "-Q in rarp", func() {
		down = time.Now()
		tp.nsx(tp.sw, "ip", "link", "set", member[0], "down")
		time.Sleep(2 * time.Second)
	})
	stopped := time.Now()
	pg.stop()
	gap, n, sent := pg.gap()
	last := lastReply(pg)
	t.Logf("ping a1 -> a2 every 50ms across the failover: %d of %d answered, longest gap %v, last reply %v before the end",
		n, sent, gap.Round(time.Millisecond), stopped.Sub(last).Round(time.Millisecond))
	if n == 0 || gap > 3*time.Second || stopped.Sub(last) > time.Second {
		t.Errorf("ping did not resume within 3s of the failover (longest gap %v, %d replies, the last %v before the end):\n%s",
			gap, n, stopped.Sub(last), pg.out.String())
	}
	for _, want := range []string{vms[0].mac + " > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 64: vlan 10",
		vms[1].mac + " > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 64: vlan 20"} {
		if !strings.Contains(rarps, want) {
			t.Errorf("no RARP %q out of the new active member after the failover:\n%s", want, rarps)
		}
	}
	after := tp.bond("lan", "up-h1")
	t.Logf("h1 bond after failover (%v after the link went down): %+v", time.Since(down).Round(time.Millisecond), *after.Bond)
	if b := after.Bond; b.Active != member[1] || b.Failovers != 1 || b.Members[0].State != "down" || after.State != "up" {
		t.Errorf("h1 bond after failover: state %s, %+v; want %s active, one failover, %s down", after.State, *b, member[1], member[0])
	}
	mustPingBr(tp, "lan", "b1", "198.51.100.4")
	tp.mustNotPing("a1", "198.51.100.4")

	// The first member comes back: no fail-back.
	tp.nsx(tp.sw, "ip", "link", "set", member[0], "up")
	deadline := time.Now().Add(5 * time.Second)
	for tp.bond("lan", "up-h1").Bond.Members[0].State != "up" {
		if time.Now().After(deadline) {
			t.Fatalf("member %s not up 5s after its link came back", member[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustPingBr(tp, "lan", "a1", "198.51.100.2")
	if b := tp.bond("lan", "up-h1").Bond; b.Active != member[1] || b.Failovers != 1 {
		t.Errorf("after the first member came back: %+v; want %s still active (no fail-back)", *b, member[1])
	}

	// A third group (VLAN 30) with a VM on each host: the uplinks start
	// carrying VLAN 30 in place, without disturbing web's traffic.
	yaml += "---\napiVersion: dvs/v1\nkind: PortGroup\nmetadata: {name: ops}\nspec: {switch: lan, vlan: 30}\n"
	for _, vm := range []struct{ name, host, ip, mac string }{
		{"c1", "h1", "198.51.100.5", "02:00:00:00:33:01"},
		{"c2", "h2", "198.51.100.6", "02:00:00:00:33:02"},
	} {
		ifc := tp.hostOn(swOf[vm.host], vm.name, vm.ip+"/24")
		tp.nsx(tp.ns(vm.name), "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
		tp.nsx(tp.ns(vm.name), "ip", "link", "set", "eth0", "address", vm.mac)
		yaml += fmt.Sprintf(portYAML, "vm-"+vm.name, "ops", vm.mac, vm.host, ifc)
	}
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	pg = startPing(t, tp.ns("a1"), "198.51.100.2")
	time.Sleep(500 * time.Millisecond)
	mgr.dvs("apply", "-f", file)
	tp.waitBridge("lan", 4)
	sw2.waitBridge("lan", 4)
	mgr.waitConverged("h1", "h2")
	mustPingBr(tp, "lan", "c1", "198.51.100.6")
	tp.mustNotPing("c1", "198.51.100.2")
	stopped = time.Now()
	pg.stop()
	gap, n, sent = pg.gap()
	t.Logf("ping a1 -> a2 every 50ms while group ops was added: %d of %d answered, longest gap %v", n, sent, gap.Round(time.Millisecond))
	if gap > 500*time.Millisecond || stopped.Sub(lastReply(pg)) > time.Second {
		t.Errorf("adding a group disturbed web's traffic: longest gap %v, last reply %v before the end", gap, stopped.Sub(lastReply(pg)))
	}
	if b := tp.bond("lan", "up-h1"); b.Bond.Failovers != 1 {
		t.Errorf("the uplink was replaced or failed over when a group was added: %+v", *b.Bond)
	}
	ports := tp.dvs("port", "list", "lan")
	if !strings.Contains(ports, "trunk 10,20,30") {
		t.Errorf("h1's uplink does not carry VLANs 10, 20 and 30:\n%s", ports)
	}
}

// lastReply returns the time of p's last reply (zero if none).
func lastReply(p *pinger) time.Time {
	var last time.Time
	for _, l := range strings.Split(p.out.String(), "\n") {
		if m := replyRE.FindStringSubmatch(l); m != nil {
			f, _ := strconv.ParseFloat(m[1], 64)
			if ts := time.Unix(0, int64(f*1e9)); ts.After(last) {
				last = ts
			}
		}
	}
	return last
}

// bondTopo is host a on bridge br0 of a running agent, and two links
// (their switch sides returned, with a's) into a Linux bridge in namespace phy that host z
// (198.51.100.9) hangs off: the members of a bond the test adds. noIPv6
// keeps IPv6 chatter off phy.
func bondTopo(t *testing.T, noIPv6 bool) (tp *topo, member []string, a string) {
	tp = newTopo(t)
	a = tp.host("a", "198.51.100.1/24")
	phy := tp.bareNS("phy")
	if noIPv6 {
		tp.nsx(phy, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	tp.nsx(phy, "ip", "link", "add", "br0", "type", "bridge")
	tp.nsx(phy, "ip", "link", "set", "br0", "up")
	for i := range 2 {
		e1, e2 := tp.link(tp.sw, phy, fmt.Sprintf("m%d", i+1))
		tp.nsx(phy, "ip", "link", "set", e2, "master", "br0")
		member = append(member, e1)
	}
	z := tp.hostOn(phy, "z", "198.51.100.9/24")
	tp.nsx(phy, "ip", "link", "set", z, "master", "br0")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a)
	return tp, member, a
}

// TestBondPort adds a bond by hand (`dvs port add --type bond`) between
// host a and a Linux bridge that host z hangs off: a reaches z, the port
// shows its members, and the bond survives an agent restart.
func TestBondPort(t *testing.T) {
	tp, member, a := bondTopo(t, true)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"port", "add", "br0", "bond0", "--type", "bond"}, "--members"},
		{[]string{"port", "add", "br0", "bond0", "--members", member[0]}, "--type bond"},
		{[]string{"port", "add", "br0", "bond0", "--type", "bond", "--members", member[0] + "," + a}, "already a port"},
		{[]string{"port", "add", "br0", "bond0", "--type", "bond", "--members", member[0] + ",nosuch0"}, "nosuch0"},
		{[]string{"port", "add", "br0", "bond0", "--type", "bond", "--members", member[0], "--bond-mode", "balance-slb"}, "only active-backup"},
	} {
		if out, err := tp.dvsErr(c.args...); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("dvs %v: err %v, %q; want an error mentioning %q", c.args, err, out, c.want)
		}
	}
	tp.dvs("port", "add", "br0", "bond0", "--type", "bond", "--members", member[0]+","+member[1], "--bond-mode", "active-backup")
	mustPingBr(tp, "br0", "a", "198.51.100.9")
	show := tp.dvs("port", "show", "br0", "bond0")
	for _, want := range []string{"active member:", member[0], member[1], "RX_INACTIVE_DROPPED", "backup"} {
		if !strings.Contains(show, want) {
			t.Errorf("port show lacks %q:\n%s", want, show)
		}
	}
	if out, err := tp.dvsErr("port", "add", "br0", member[1]); err == nil || !strings.Contains(out, "bond0") {
		t.Errorf("adding a bond member as a port: err %v, %q; want an error naming bond0", err, out)
	}

	tp.stopAgent()
	tp.startAgent()
	if b := tp.bond("br0", "bond0").Bond; b.Active != member[0] || b.Members[1].Name != member[1] {
		t.Errorf("bond after a restart: %+v", *b)
	}
	mustPingBr(tp, "br0", "a", "198.51.100.9")
}

// TestBondThroughput measures TCP through a bond port against the same
// member as a plain afpacket port (logged; it fails only below 10 Mbit/s).
// Run: go test ./test/e2e -run TestBondThroughput -v
func TestBondThroughput(t *testing.T) {
	tp, member, _ := bondTopo(t, false)
	tp.dvs("port", "add", "br0", "bond0", "--type", "bond", "--members", member[0]+","+member[1])
	mustPingBr(tp, "br0", "a", "198.51.100.9")
	bond := tp.iperf("a", "z", "198.51.100.9", 3)
	tp.dvs("port", "del", "br0", "bond0")
	tp.dvs("port", "add", "br0", member[0])
	mustPingBr(tp, "br0", "a", "198.51.100.9")
	plain := tp.iperf("a", "z", "198.51.100.9", 3)
	t.Logf("iperf3 TCP a -> z, 3 s: through a bond %.2f Gbit/s, through its member as a plain port %.2f Gbit/s", bond/1e9, plain/1e9)
	if bond < 10e6 {
		t.Errorf("TCP through the bond at %.0f bit/s, want at least 10 Mbit/s", bond)
	}
}
