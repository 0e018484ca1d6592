package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"

	"github.com/dvs-project/dvs/internal/api"
)

// stats returns the bridge's counters.
func (a *agent) stats(br string) api.Stats {
	a.t.Helper()
	var s api.Stats
	if err := json.Unmarshal([]byte(a.dvs("stats", br, "-o", "json")), &s); err != nil {
		a.t.Fatal(err)
	}
	return s
}

// offloadTopo is two hosts on br0 (ports 1 and 2) with the kernel path on.
func offloadTopo(t *testing.T) (*topo, string, string) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a, "--ofport", "1")
	tp.dvs("port", "add", "br0", b, "--ofport", "2")
	if s := tp.stats("br0"); s.Offload.Mode != "tc" || s.Offload.Ports != 2 {
		t.Fatalf("offload = %+v, want tc on both ports\nagent log:\n%s", s.Offload, tp.logs)
	}
	return tp, a, b
}

func hostMAC(t *testing.T, tp *topo, host string) string {
	t.Helper()
	out := tp.nsx(tp.ns(host), "cat", "/sys/class/net/eth0/address")
	return strings.TrimSpace(out)
}

// TestOffloadForwardsAndCounts: ping and TCP cross the bridge in the
// kernel; the kernel's packets show in stats, in the ports' counters and in
// the counters of the rule that decided them, and nothing is duplicated.
func TestOffloadForwardsAndCounts(t *testing.T) {
	tp, _, _ := offloadTopo(t)
	tp.mustPing("a", "198.51.100.2")
	out, err := try("ip", "netns", "exec", tp.ns("a"), "ping", "-c", "50", "-i", "0.01", "-W", "1", "198.51.100.2")
	if err != nil || strings.Contains(out, "DUP!") || !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping through the kernel path: %v\n%s", err, out)
	}
	trace := tp.dvs("trace", "br0", "in_port=1,dl_src="+hostMAC(t, tp, "a")+",dl_dst="+hostMAC(t, tp, "b")+
		",dl_type=0x0800,nw_src=198.51.100.1,nw_dst=198.51.100.2,nw_proto=1")
	if !strings.Contains(trace, "Offload: tc") {
		t.Errorf("trace does not say the flow is offloaded:\n%s", trace)
	}

	srv := exec.Command("ip", "netns", "exec", tp.ns("b"), "iperf3", "-s", "-1", "-B", "198.51.100.2")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	iperf := tp.nsx(tp.ns("a"), "iperf3", "-c", "198.51.100.2", "-t", "2", "-J")
	if !strings.Contains(iperf, `"sum_received"`) {
		t.Fatalf("iperf3 output has no result:\n%s", iperf)
	}

	s := tp.stats("br0")
	o := s.Offload
	t.Logf("offload: %+v", o)
	if o.Packets < 100 || o.Entries < 2 {
		t.Fatalf("the kernel forwarded %d packets with %d entries, want most of the traffic", o.Packets, o.Entries)
	}
	var rx, tx uint64
	for _, p := range s.Ports {
		rx += p.Stats.RxPackets
		tx += p.Stats.TxPackets
	}
	if rx < o.Packets || tx < o.Packets {
		t.Errorf("port counters rx %d tx %d do not include the %d packets the kernel forwarded", rx, tx, o.Packets)
	}
	// The NORMAL rule decided every packet: its counter includes the
	// kernel's.
	dump := tp.dvs("flow", "dump", "br0")
	m := regexp.MustCompile(`n_packets=(\d+)`).FindStringSubmatch(dump)
	if m == nil {
		t.Fatalf("no counters in the dump:\n%s", dump)
	}
	if n, _ := strconv.ParseUint(m[1], 10, 64); n < o.Packets {
		t.Errorf("NORMAL counted %d packets, fewer than the %d the kernel forwarded:\n%s", n, o.Packets, dump)
	}

	// Switched off at run time: userspace forwards, the kernel entries go.
	tp.dvs("bridge", "set", "br0", "--offload", "none")
	if o := tp.stats("br0").Offload; o.Mode != "none" {
		t.Fatalf("after --offload none: %+v", o)
	}
	tp.mustPing("a", "198.51.100.2")
	tp.dvs("bridge", "set", "br0", "--offload", "tc")
	tp.mustPing("a", "198.51.100.2")
	if o := tp.stats("br0").Offload; o.Mode != "tc" || o.Packets == 0 {
		t.Fatalf("after --offload tc: %+v", o)
	}
}

// fastPinger pings every 10 ms with timestamps (-D) until stopped.
type fastPinger struct {
	cmd *exec.Cmd
	out strings.Builder
}

func startFastPing(t *testing.T, tp *topo, host, addr string) *fastPinger {
	p := &fastPinger{cmd: exec.Command("ip", "netns", "exec", tp.ns(host), "ping", "-D", "-i", "0.01", "-W", "1", addr)}
	p.cmd.Stdout = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

// stop ends the ping and returns the times of the replies.
func (p *fastPinger) stop() []time.Time {
	p.cmd.Process.Kill()
	p.cmd.Wait()
	var replies []time.Time
	re := regexp.MustCompile(`^\[(\d+)\.(\d+)\] \d+ bytes from`)
	for _, l := range strings.Split(p.out.String(), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			s, _ := strconv.ParseInt(m[1], 10, 64)
			us, _ := strconv.ParseInt((m[2] + "000000")[:6], 10, 64)
			replies = append(replies, time.Unix(s, us*1000))
		}
	}
	return replies
}

// TestOffloadRuleChangeAtOnce: a drop rule added while a ping is offloaded
// stops the ping at once, and removing it brings it back.
func TestOffloadRuleChangeAtOnce(t *testing.T) {
	tp, _, _ := offloadTopo(t)
	tp.mustPing("a", "198.51.100.2")
	p := startFastPing(t, tp, "a", "198.51.100.2")
	time.Sleep(time.Second)
	if o := tp.stats("br0").Offload; o.Packets < 50 {
		t.Fatalf("the ping is not offloaded: %+v", o)
	}
	tp.dvs("flow", "add", "br0", "priority=100,in_port=1,actions=drop")
	added := time.Now()
	time.Sleep(time.Second)
	replies := p.stop()
	var before, after int
	for _, r := range replies {
		// A reply to a request sent before the rule took effect may
		// still land just after the CLI returned: allow 20 ms.
		if r.After(added.Add(20 * time.Millisecond)) {
			after++
		} else {
			before++
		}
	}
	if before < 50 || after > 0 {
		t.Fatalf("%d replies before the drop rule and %d after it, want many and none", before, after)
	}
	tp.dvs("flow", "del", "br0", "--strict", "priority=100,in_port=1")
	tp.mustPing("a", "198.51.100.2")
}

// TestOffloadMACMoveAndPortDelete: when b's MAC moves to c's port, and when
// b's port is deleted, the traffic follows the new decision at once; no
// kernel entry keeps sending it to the old port.
func TestOffloadMACMoveAndPortDelete(t *testing.T) {
	tp, _, b := offloadTopo(t)
	c := tp.host("c")
	tp.dvs("port", "add", "br0", c, "--ofport", "3")
	tp.mustPing("a", "198.51.100.2")
	p := startFastPing(t, tp, "a", "198.51.100.2")
	time.Sleep(500 * time.Millisecond)
	if o := tp.stats("br0").Offload; o.Packets < 20 {
		t.Fatalf("the ping is not offloaded: %+v", o)
	}
	// b's address and MAC move to c (a VM migrating); b goes quiet.
	mac := hostMAC(t, tp, "b")
	tp.nsx(tp.ns("b"), "ip", "link", "set", "eth0", "down")
	tp.nsx(tp.ns("c"), "ip", "link", "set", "eth0", "down")
	tp.nsx(tp.ns("c"), "ip", "link", "set", "eth0", "address", mac)
	tp.nsx(tp.ns("c"), "ip", "addr", "add", "198.51.100.2/24", "dev", "eth0")
	tp.nsx(tp.ns("c"), "ip", "link", "set", "eth0", "up")
	// c speaks (its ARP for a, from b's MAC): the MAC moves.
	moved := time.Now()
	tp.nsx(tp.ns("c"), "ping", "-c", "1", "-W", "1", "198.51.100.1")
	time.Sleep(time.Second)
	replies := p.stop()
	var after int
	for _, r := range replies {
		if r.After(moved.Add(300 * time.Millisecond)) {
			after++
		}
	}
	if after < 20 {
		t.Fatalf("%d replies from c after the move, want the ping to follow the MAC\nmacs:\n%s", after, tp.dvs("mac", "list", "br0"))
	}

	// b's port goes: no kernel entry may still point at it. b speaks
	// first so that it has entries.
	tp.nsx(tp.ns("b"), "ip", "link", "set", "eth0", "up")
	tp.nsx(tp.ns("b"), "ip", "addr", "flush", "dev", "eth0")
	tp.nsx(tp.ns("b"), "ip", "addr", "add", "198.51.100.3/24", "dev", "eth0")
	tp.mustPing("b", "198.51.100.1")
	before := tp.stats("br0").Offload
	if before.PortEntries[b] == 0 {
		t.Fatalf("b's port has no kernel entries before its deletion: %+v", before)
	}
	tp.dvs("port", "del", "br0", b)
	after2 := tp.stats("br0").Offload
	if after2.Ports != 2 {
		t.Errorf("after deleting b's port the kernel path is on %d ports, want 2", after2.Ports)
	}
	if after2.Orphans != 0 {
		t.Errorf("%d kernel entries still point at a deleted port", after2.Orphans)
	}
	if n := tcxPrograms(t, tp.sw, b); n != 0 {
		t.Errorf("the deleted port %s still has %d tcx programs", b, n)
	}
	tp.mustPing("a", "198.51.100.2")
}

// TestOffloadKill9LeavesNothing: the tc programs go with the agent, even
// when it is killed.
func TestOffloadKill9LeavesNothing(t *testing.T) {
	tp, a, b := offloadTopo(t)
	tp.mustPing("a", "198.51.100.2")
	for _, ifc := range []string{a, b} {
		if n := tcxPrograms(t, tp.sw, ifc); n != 1 {
			t.Fatalf("%s has %d tcx ingress programs with the agent running, want 1", ifc, n)
		}
	}
	tp.agent.cmd.Process.Kill()
	tp.agent.cmd.Wait()
	tp.agent.cmd = nil
	deadline := time.Now().Add(5 * time.Second)
	for _, ifc := range []string{a, b} {
		for tcxPrograms(t, tp.sw, ifc) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still has a tcx program after kill -9 of the agent", ifc)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if tp.ping("a", "198.51.100.2") {
		t.Error("a still reaches b with the agent dead: something forwards behind its back")
	}
}

// tcxPrograms counts the programs on the tcx ingress of ifc in ns.
func tcxPrograms(t *testing.T, ns, ifc string) int {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	ifi, err := net.InterfaceByName(ifc)
	if err != nil {
		t.Fatal(err)
	}
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifi.Index, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Programs)
}

// TestOffloadPeerOnlyForItsMAC: the kernel hands a packet straight to a
// veth's other end only when the packet is addressed to that end's MAC; a
// packet for another MAC still reaches it the ordinary way, and its host
// ignores it as it would behind a plain switch.
func TestOffloadPeerOnlyForItsMAC(t *testing.T) {
	tp, _, _ := offloadTopo(t)
	tp.dvs("flow", "add", "br0", "priority=100,in_port=1,actions=output:2")
	tp.dvs("flow", "add", "br0", "priority=100,in_port=2,actions=output:1")
	tp.nsx(tp.ns("a"), "ip", "neigh", "replace", "198.51.100.2", "lladdr", hostMAC(t, tp, "b"), "dev", "eth0", "nud", "permanent")
	tp.nsx(tp.ns("b"), "ip", "neigh", "replace", "198.51.100.1", "lladdr", hostMAC(t, tp, "a"), "dev", "eth0", "nud", "permanent")
	tp.mustPing("a", "198.51.100.2")
	if o := tp.stats("br0").Offload; o.Peer < 2 || o.Packets == 0 {
		t.Fatalf("packets for the peers' own MACs do not go straight to them: %+v", o)
	}
	// a now sends b's address to a MAC nobody has: output:2 still
	// delivers the frames to b, whose stack must drop them.
	tp.nsx(tp.ns("a"), "ip", "neigh", "replace", "198.51.100.2", "lladdr", "02:00:00:00:99:99", "dev", "eth0", "nud", "permanent")
	before := tp.stats("br0").Offload
	out, err := try("ip", "netns", "exec", tp.ns("a"), "ping", "-c", "10", "-i", "0.05", "-W", "1", "198.51.100.2")
	if err == nil {
		t.Fatalf("b answered frames addressed to another MAC:\n%s", out)
	}
	after := tp.stats("br0").Offload
	if after.Packets < before.Packets+5 || after.Peer != before.Peer {
		t.Fatalf("the frames for the other MAC were not forwarded by the kernel without the peer shortcut: before %+v, after %+v", before, after)
	}
}

// TestOffloadSettingPersists: a bridge's offload setting survives an agent
// restart, and the agent's --offload is the default for bridges without one.
func TestOffloadSettingPersists(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0", "--offload", "none")
	tp.dvs("bridge", "add", "br1")
	tp.dvs("port", "add", "br1", a)
	if o := tp.stats("br0").Offload; o.Mode != "none" || o.Reason != "switched off" {
		t.Fatalf("br0 offload %+v, want none (switched off)", o)
	}
	tp.stopAgent()
	tp.startAgent("--offload", "none")
	if o := tp.stats("br0").Offload; o.Mode != "none" {
		t.Fatalf("after a restart br0 offload %+v, want none", o)
	}
	if o := tp.stats("br1").Offload; o.Mode != "none" {
		t.Fatalf("br1 (no setting) under --offload none: %+v", o)
	}
	tp.dvs("bridge", "set", "br1", "--offload", "tc")
	if o := tp.stats("br1").Offload; o.Mode != "tc" || o.Ports != 1 {
		t.Fatalf("br1 after --offload tc: %+v", o)
	}
	tp.stopAgent()
	tp.startAgent("--offload", "none")
	if o := tp.stats("br1").Offload; o.Mode != "tc" || o.Ports != 1 {
		t.Fatalf("br1 after a restart: %+v, want its own tc over the agent's none", o)
	}
}

// TestOffloadVLANTrunk: tagged traffic between trunk ports is forwarded in
// the kernel (the tag travels as skb metadata) with the tag as part of the
// key: a drop rule for one VLAN stops that VLAN at once and leaves the
// other alone. This kernel has no 802.1Q module, so two more dvs agents
// tag and untag at the edges (a1/a2 and b1/b2 in VLANs 10/20); the
// bridge under test has only the two trunks.
func TestOffloadVLANTrunk(t *testing.T) {
	tp := newTopo(t)
	tp.startAgent()
	edges := []*agent{tp.addSwitch("e1"), tp.addSwitch("e2")}
	tp.dvs("bridge", "add", "br0")
	hosts := [][2]string{{"a1", "b1"}, {"a2", "b2"}}
	for i, e := range edges {
		e.dvs("bridge", "add", "br0")
		x, y := tp.link(tp.sw, e.ns, fmt.Sprintf("t%d", i+1))
		tp.dvs("port", "add", "br0", x, "--trunk", "10,20", "--ofport", fmt.Sprint(i+1))
		e.dvs("port", "add", "br0", y, "--trunk", "10,20")
		for j, vid := range []string{"10", "20"} {
			h := tp.hostOn(e.ns, hosts[j][i], fmt.Sprintf("198.51.100.%d/24", 1+i+2*j))
			e.dvs("port", "add", "br0", h, "--vlan", vid)
		}
	}
	// VLAN 10: a1 (.1) <-> b1 (.2); VLAN 20: a2 (.3) <-> b2 (.4).
	tp.mustPing("a1", "198.51.100.2")
	tp.mustPing("a2", "198.51.100.4")
	p10 := startFastPing(t, tp, "a1", "198.51.100.2")
	p20 := startFastPing(t, tp, "a2", "198.51.100.4")
	time.Sleep(time.Second)
	if o := tp.stats("br0").Offload; o.Packets < 100 {
		t.Fatalf("tagged traffic is not offloaded: %+v", o)
	}
	tp.dvs("flow", "add", "br0", "priority=100,dl_vlan=10,actions=drop")
	added := time.Now()
	time.Sleep(time.Second)
	count := func(rs []time.Time) (before, after int) {
		for _, r := range rs {
			if r.After(added.Add(20 * time.Millisecond)) {
				after++
			} else {
				before++
			}
		}
		return
	}
	b10, a10 := count(p10.stop())
	b20, a20 := count(p20.stop())
	if b10 < 50 || a10 != 0 {
		t.Errorf("VLAN 10: %d replies before the drop rule, %d after; want many and none", b10, a10)
	}
	if b20 < 50 || a20 < 50 {
		t.Errorf("VLAN 20: %d replies before, %d after the VLAN 10 rule; want it unaffected", b20, a20)
	}
}
