// Package e2e runs the real dvs binary on network namespaces: hosts are
// namespaces with a veth each, the switch side of every veth lives in a
// switch namespace of its own, and a dvs agent runs there. Needs root; the
// tests skip (loudly) without it.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var dvsBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "!!! test/e2e: SKIPPED: the namespace tests need root (run ./scripts/test.sh as root)")
		os.Exit(m.Run())
	}
	dvsBin = os.Getenv("DVS_BIN")
	if dvsBin == "" {
		dir, err := os.MkdirTemp("", "dvs-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		dvsBin = filepath.Join(dir, "dvs")
		out, err := exec.Command("go", "build", "-o", dvsBin, "../../cmd/dvs").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building dvs: %v\n%s", err, out)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root for network namespaces")
	}
}

// run runs a command and fails the test if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// try runs a command and returns its output and error.
func try(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// topo is one test's namespaces: switch namespaces, each with a dvs agent,
// and host namespaces.
type topo struct {
	t      *testing.T
	id     string
	sw     string // the first switch's namespace
	hosts  map[string]string
	dir    string
	*agent // the first switch's agent
	others []*agent
}

// agent is one dvs agent and the namespace it runs in.
type agent struct {
	t      *testing.T
	ns     string
	cmd    *exec.Cmd
	socket string
	state  string
	logs   *bytes.Buffer
}

var seq int

// newTopo creates the switch namespace and registers cleanup of
// everything the test creates.
func newTopo(t *testing.T) *topo {
	t.Helper()
	needRoot(t)
	seq++
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, seq)
	tp := &topo{t: t, id: id, sw: "dvs-sw-" + id, hosts: map[string]string{}, dir: t.TempDir()}
	tp.agent = &agent{t: t, ns: tp.sw, socket: filepath.Join(tp.dir, "dvs.sock"), state: filepath.Join(tp.dir, "state")}
	run(t, "ip", "netns", "add", tp.sw)
	t.Cleanup(func() {
		tp.stopAgent()
		for _, a := range tp.others {
			a.stopAgent()
			killNS(a.ns)
			exec.Command("ip", "netns", "del", a.ns).Run()
		}
		for _, ns := range tp.hosts {
			killNS(ns)
			exec.Command("ip", "netns", "del", ns).Run()
		}
		killNS(tp.sw)
		exec.Command("ip", "netns", "del", tp.sw).Run()
		if t.Failed() && tp.logs != nil {
			t.Logf("agent log:\n%s", tp.logs.String())
		}
	})
	tp.nsx(tp.sw, "ip", "link", "set", "lo", "up")
	tp.nsx(tp.sw, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	return tp
}

// addSwitch creates another switch namespace with its own agent (started).
func (tp *topo) addSwitch(name string) *agent {
	tp.t.Helper()
	a := &agent{t: tp.t, ns: "dvs-" + name + "-" + tp.id, socket: filepath.Join(tp.dir, name+".sock"), state: filepath.Join(tp.dir, name+"-state")}
	run(tp.t, "ip", "netns", "add", a.ns)
	tp.others = append(tp.others, a)
	tp.nsx(a.ns, "ip", "link", "set", "lo", "up")
	tp.nsx(a.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	a.startAgent()
	return a
}

// link joins two switch namespaces with a veth pair and returns the names
// of its two ends (in ns1 and ns2).
func (tp *topo) link(ns1, ns2, name string) (string, string) {
	tp.t.Helper()
	e1, e2 := name+"a"+tp.id, name+"b"+tp.id
	run(tp.t, "ip", "-n", ns1, "link", "add", e1, "type", "veth", "peer", "name", e2, "netns", ns2)
	tp.nsx(ns1, "ip", "link", "set", e1, "up")
	tp.nsx(ns2, "ip", "link", "set", e2, "up")
	return e1, e2
}

func killNS(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		fmt.Sscan(f, &pid)
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (tp *topo) nsx(ns string, args ...string) string {
	tp.t.Helper()
	return run(tp.t, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// host creates host namespace name with a veth "eth0" (addresses given)
// whose peer, named like the host, sits in the switch namespace without
// addresses. It returns the switch-side interface name.
func (tp *topo) host(name string, addrs ...string) string {
	tp.t.Helper()
	return tp.hostOn(tp.sw, name, addrs...)
}

// hostOn is host attached to the switch in namespace sw.
func (tp *topo) hostOn(sw, name string, addrs ...string) string {
	tp.t.Helper()
	ns := "dvs-" + name + "-" + tp.id
	swIf := name + tp.id
	if len(swIf) > 15 {
		swIf = swIf[:15]
	}
	run(tp.t, "ip", "netns", "add", ns)
	tp.hosts[name] = ns
	tp.nsx(ns, "ip", "link", "set", "lo", "up")
	run(tp.t, "ip", "-n", sw, "link", "add", swIf, "type", "veth", "peer", "name", "eth0", "netns", ns)
	for _, a := range addrs {
		args := []string{"addr", "add", a, "dev", "eth0"}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		tp.nsx(ns, append([]string{"ip"}, args...)...)
	}
	tp.nsx(ns, "ip", "link", "set", "eth0", "up")
	tp.nsx(sw, "ip", "link", "set", swIf, "up")
	return swIf
}

func (tp *topo) ns(host string) string { return tp.hosts[host] }

// startAgent runs `dvs agent` in the agent's namespace, with extra flags
// after the common ones, and waits until it answers.
func (a *agent) startAgent(extra ...string) {
	a.t.Helper()
	a.logs = &bytes.Buffer{}
	args := append([]string{"netns", "exec", a.ns, dvsBin, "agent", "--state-dir", a.state, "--socket", a.socket, "--workers", "2"}, extra...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := a.dvsErr("bridge", "list"); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("agent did not come up:\n%s", a.logs)
}

// stopAgent sends SIGTERM and waits for a clean exit.
func (a *agent) stopAgent() {
	if a.cmd == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			a.t.Errorf("agent exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		a.t.Errorf("agent did not stop within 10s of SIGTERM")
	}
	a.cmd = nil
}

// dvs runs the CLI against the agent and fails on error.
func (a *agent) dvs(args ...string) string {
	a.t.Helper()
	out, err := a.dvsErr(args...)
	if err != nil {
		a.t.Fatalf("dvs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (a *agent) dvsErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dvsBin, append([]string{"--socket", a.socket}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ping pings addr from host and reports success.
func (tp *topo) ping(host, addr string) bool {
	_, err := try("ip", "netns", "exec", tp.ns(host), "ping", "-c", "2", "-i", "0.2", "-W", "1", addr)
	return err == nil
}

func (tp *topo) mustPing(host, addr string) {
	tp.t.Helper()
	// The first packets may flood while MACs are learned; retry briefly.
	for i := 0; i < 5; i++ {
		if tp.ping(host, addr) {
			return
		}
	}
	tp.t.Fatalf("%s cannot ping %s\nstats:\n%s\nagent log:\n%s", host, addr, tp.dvs("stats", "br0"), tp.logs)
}

func (tp *topo) mustNotPing(host, addr string) {
	tp.t.Helper()
	if tp.ping(host, addr) {
		tp.t.Fatalf("%s can ping %s, want isolation", host, addr)
	}
}

// capture runs tcpdump in host's namespace on dev while fn runs, and
// returns its text output (with link-level headers).
func (tp *topo) capture(host, dev, filter string, fn func()) string {
	tp.t.Helper()
	return tp.captureNS(tp.ns(host), dev, filter, fn)
}

// captureNS is capture in namespace ns.
func (tp *topo) captureNS(ns, dev, filter string, fn func()) string {
	tp.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	args := []string{"netns", "exec", ns, "tcpdump", "-l", "-n", "-e", "-i", dev}
	args = append(args, strings.Fields(filter)...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout = &out
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		tp.t.Fatal(err)
	}
	// Wait for tcpdump to be listening.
	for i := 0; i < 100 && !strings.Contains(errb.String(), "listening"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	fn()
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	return out.String()
}

func TestTwoHostsPingAndTCP(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24", "2001:db8::1/64")
	b := tp.host("b", "198.51.100.2/24", "2001:db8::2/64")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a)
	tp.dvs("port", "add", "br0", b)
	tp.mustPing("a", "198.51.100.2")
	tp.mustPing("b", "198.51.100.1")
	tp.mustPing("a", "2001:db8::2")

	// A TCP stream: iperf3 for 3 seconds.
	tp.mustIperf("a", "b", "198.51.100.2")
}

// mustIperf runs a 3-second iperf3 TCP stream from host client to host
// server (listening on addr) and fails below 10 Mbit/s.
func (tp *topo) mustIperf(client, server, addr string) {
	tp.t.Helper()
	bps := tp.iperf(client, server, addr, 3)
	tp.t.Logf("iperf3 TCP %s -> %s through dvs: %.2f Gbit/s", client, addr, bps/1e9)
	if bps < 10e6 {
		tp.t.Errorf("TCP throughput %.0f bit/s, want at least 10 Mbit/s", bps)
	}
}

func TestThreeHostsLearningStopsFlooding(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	c := tp.host("c", "198.51.100.3/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	for _, p := range []string{a, b, c} {
		tp.dvs("port", "add", "br0", p)
	}
	tp.mustPing("a", "198.51.100.2")
	tp.mustPing("a", "198.51.100.3")
	tp.mustPing("b", "198.51.100.3")
	// Both a and b are learned now: c must see none of their unicast.
	got := tp.capture("c", "eth0", "icmp", func() {
		tp.mustPing("a", "198.51.100.2")
	})
	if strings.Contains(got, "ICMP") {
		t.Errorf("host c saw unicast ICMP between a and b after learning:\n%s", got)
	}
	macs := tp.dvs("mac", "show", "br0")
	if n := strings.Count(macs, ":"); n < 3*5 {
		t.Errorf("mac show lists fewer than 3 MACs:\n%s", macs)
	}
}

func TestVLANIsolationAndTrunk(t *testing.T) {
	tp := newTopo(t)
	// Switch 1: a and b in VLAN 10, c in VLAN 20, a trunk (10,20) to
	// switch 2, which has d in VLAN 10 and e in VLAN 20. This kernel has no
	// 802.1Q module, so a second dvs terminates the trunk; tcpdump on the
	// trunk link checks the tags on the wire.
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	c := tp.host("c", "198.51.100.3/24")
	tp.startAgent()
	sw2 := tp.addSwitch("sw2")
	d := tp.hostOn(sw2.ns, "d", "198.51.100.4/24")
	e := tp.hostOn(sw2.ns, "e", "198.51.100.5/24")
	t1, t2 := tp.link(tp.sw, sw2.ns, "tr")
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a, "--vlan", "10")
	tp.dvs("port", "add", "br0", b, "--vlan", "10")
	tp.dvs("port", "add", "br0", c, "--vlan", "20")
	tp.dvs("port", "add", "br0", t1, "--trunk", "10,20")
	sw2.dvs("bridge", "add", "br0")
	sw2.dvs("port", "add", "br0", d, "--vlan", "10")
	sw2.dvs("port", "add", "br0", e, "--vlan", "20")
	sw2.dvs("port", "add", "br0", t2, "--trunk", "10,20")

	tp.mustPing("a", "198.51.100.2")
	tp.mustNotPing("a", "198.51.100.3") // VLAN 10 cannot reach VLAN 20
	tp.mustNotPing("a", "198.51.100.5")
	tp.mustPing("c", "198.51.100.5") // VLAN 20 across the trunk
	got := tp.captureNS(sw2.ns, t2, "vlan and icmp", func() { tp.mustPing("a", "198.51.100.4") })
	if !strings.Contains(got, "vlan 10") || strings.Contains(got, "vlan 20") {
		t.Errorf("trunk capture of a's ping to d should show VLAN 10 tags only:\n%s", got)
	}
	got = tp.captureNS(sw2.ns, t2, "vlan and icmp", func() { tp.mustPing("c", "198.51.100.5") })
	if !strings.Contains(got, "vlan 20") || strings.Contains(got, "vlan 10") {
		t.Errorf("trunk capture of c's ping to e should show VLAN 20 tags only:\n%s", got)
	}
	// Access ports carry no tags.
	got = tp.capture("a", "eth0", "", func() { tp.mustPing("a", "198.51.100.4") })
	if !strings.Contains(got, "ICMP echo reply") {
		t.Errorf("capture on a's access port saw no ICMP:\n%s", got)
	}
	if strings.Contains(got, "vlan") {
		t.Errorf("access port saw tagged frames:\n%s", got)
	}
}

func TestDropFlowAndCounters(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a, "--ofport", "1")
	tp.dvs("port", "add", "br0", b, "--ofport", "2")
	tp.mustPing("a", "198.51.100.2")
	tp.dvs("flow", "add", "br0", "priority=100,in_port=1,actions=drop")
	tp.mustNotPing("a", "198.51.100.2")
	dump := tp.dvs("flow", "dump", "br0")
	var line string
	for _, l := range strings.Split(dump, "\n") {
		if strings.Contains(l, "priority=100") {
			line = l
		}
	}
	if line == "" || strings.Contains(line, "n_packets=0,") {
		t.Fatalf("drop rule did not count packets:\n%s", dump)
	}
	tp.dvs("flow", "del", "br0", "--strict", "priority=100,in_port=1")
	tp.mustPing("a", "198.51.100.2")
}

func TestAgentRestartKeepsConfig(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a, "--vlan", "10")
	tp.dvs("port", "add", "br0", b, "--vlan", "10")
	tp.dvs("flow", "add", "br0", "priority=100,tcp,tp_dst=9,actions=drop")
	tp.mustPing("a", "198.51.100.2")
	tp.stopAgent()
	tp.startAgent()
	ports := tp.dvs("port", "list", "br0")
	if !strings.Contains(ports, a) || !strings.Contains(ports, b) {
		t.Fatalf("ports lost over a restart:\n%s", ports)
	}
	dump := tp.dvs("flow", "dump", "br0")
	if !strings.Contains(dump, "tp_dst=9") || !strings.Contains(dump, "NORMAL") {
		t.Fatalf("flows lost over a restart:\n%s", dump)
	}
	tp.mustPing("a", "198.51.100.2")
	// A second agent on the same state refuses to start.
	out, err := try("ip", "netns", "exec", tp.sw, dvsBin, "agent", "--state-dir", tp.state, "--socket", tp.socket+"2")
	if err == nil {
		t.Fatalf("a second agent on the same state dir started:\n%s", out)
	}
}

func TestTapPort(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a)
	tap := "tap" + tp.id
	if len(tap) > 15 {
		tap = tap[:15]
	}
	tp.dvs("port", "add", "br0", tap, "--type", "tap")
	// The tap's netdev is the far end: move it into a host namespace, as a
	// VM's interface would be, and address it there.
	run(t, "ip", "netns", "add", "dvs-t-"+tp.id)
	tp.hosts["t"] = "dvs-t-" + tp.id
	run(t, "ip", "-n", tp.sw, "link", "set", tap, "netns", tp.ns("t"))
	tp.nsx(tp.ns("t"), "ip", "addr", "add", "198.51.100.9/24", "dev", tap)
	tp.nsx(tp.ns("t"), "ip", "link", "set", tap, "up")
	tp.mustPing("a", "198.51.100.9")
}

func TestBadInput(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	// The agent is down: a clear error and a non-zero exit.
	out, err := tp.dvsErr("bridge", "list")
	if err == nil || !strings.Contains(out, "agent") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Errorf("with no agent: err=%v output %q, want one line about the agent", err, out)
	}
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"port", "add", "br0", "nosuchif0"}, "nosuchif0"},
		{[]string{"port", "add", "br0", a}, "exists"},
		{[]string{"port", "add", "br0", a + "x", "--vlan", "4095"}, "4094"},
		{[]string{"flow", "add", "br0", "priority=1,tp_dst=80,actions=drop"}, "tp_dst"},
		{[]string{"flow", "add", "br0", "in_port=1,actions=frobnicate"}, "frobnicate"},
		{[]string{"bridge", "add", "br0"}, "exists"},
		{[]string{"port", "list", "nobr"}, "nobr"},
	} {
		out, err := tp.dvsErr(c.args...)
		if err == nil {
			t.Errorf("dvs %v succeeded, want an error", c.args)
			continue
		}
		if !strings.Contains(out, c.want) || strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Errorf("dvs %v: %q, want one line mentioning %q", c.args, out, c.want)
		}
	}
	// Nothing changed: one port, the default flow.
	if out := tp.dvs("port", "list", "br0"); strings.Count(out, a) != 1 {
		t.Errorf("port list after errors:\n%s", out)
	}
	if out := tp.dvs("flow", "dump", "br0"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("flow table after errors:\n%s", out)
	}
}

func TestQinQAcrossTrunk(t *testing.T) {
	tp := newTopo(t)
	// Customer hosts a and b sit on QinQ ports in service VLAN 100 of two
	// switches joined by a trunk: their traffic crosses the trunk inside
	// an 802.1ad service tag and arrives untagged.
	a := tp.host("a", "198.51.100.1/24")
	tp.startAgent()
	sw2 := tp.addSwitch("sw2")
	b := tp.hostOn(sw2.ns, "b", "198.51.100.2/24")
	t1, t2 := tp.link(tp.sw, sw2.ns, "tr")
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a, "--qinq", "100")
	tp.dvs("port", "add", "br0", t1, "--trunk", "100")
	sw2.dvs("bridge", "add", "br0")
	sw2.dvs("port", "add", "br0", b, "--qinq", "100")
	sw2.dvs("port", "add", "br0", t2, "--trunk", "100")
	tp.mustPing("a", "198.51.100.2")
	got := tp.captureNS(sw2.ns, t2, "", func() { tp.mustPing("a", "198.51.100.2") })
	if !strings.Contains(got, "0x88a8") || !strings.Contains(got, "vlan 100") || !strings.Contains(got, "ICMP echo request") {
		t.Errorf("trunk capture should show 802.1ad (0x88a8) tags with VLAN 100 around the ICMP:\n%s", got)
	}
	got = tp.capture("a", "eth0", "icmp", func() { tp.mustPing("a", "198.51.100.2") })
	if strings.Contains(got, "vlan") || !strings.Contains(got, "ICMP echo reply") {
		t.Errorf("the customer port should see untagged replies:\n%s", got)
	}
}

func TestLinkDownPortLeavesFlooding(t *testing.T) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	c := tp.host("c", "198.51.100.3/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	for _, p := range []string{a, b, c} {
		tp.dvs("port", "add", "br0", p)
	}
	tp.mustPing("a", "198.51.100.3")
	// c's link goes down: dvs marks the port down and stops sending to it.
	tp.nsx(tp.ns("c"), "ip", "link", "set", "eth0", "down")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := tp.dvs("port", "show", "br0", c)
		if strings.Contains(out, "down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s still up 5s after its link went down:\n%s", c, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tp.mustPing("a", "198.51.100.2")
	// With the MAC table empty, a's pings to b flood; none may go to c.
	tx1 := tp.dvs("port", "show", "br0", c)
	tp.dvs("mac", "flush", "br0")
	tp.mustPing("a", "198.51.100.2")
	if tx2 := tp.dvs("port", "show", "br0", c); tx2 != tx1 {
		t.Errorf("the down port's counters moved (frames were flooded to it):\n%s\n%s", tx1, tx2)
	}
	// Back up: flooding reaches it again and c answers.
	tp.nsx(tp.ns("c"), "ip", "link", "set", "eth0", "up")
	tp.mustPing("a", "198.51.100.3")
}
