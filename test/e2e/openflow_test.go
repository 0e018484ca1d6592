package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// needTool skips (loudly) when a Debian tool the test drives is missing;
// scripts/deps.sh installs them, so CI has them.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("SKIPPED: %s is not installed (scripts/deps.sh installs it)", name)
	}
}

// ofctl runs ovs-ofctl -O OpenFlow13 against the bridge's management
// socket (its target goes right after the command).
func (tp *topo) ofctl(args ...string) string {
	tp.t.Helper()
	out, err := tp.ofctlErr(args...)
	if err != nil {
		tp.t.Fatalf("ovs-ofctl %s: %v\n%s\nagent log:\n%s", strings.Join(args, " "), err, out, tp.logs)
	}
	return out
}

// ovsEnv is the environment for Open vSwitch tools: their control sockets
// go to the test's directory, not /var/run/openvswitch.
func (tp *topo) ovsEnv() []string { return append(os.Environ(), "OVS_RUNDIR="+tp.dir) }

func (tp *topo) mgmt() string { return "unix:" + filepath.Join(tp.state, "br0.mgmt") }

func (tp *topo) ofctlErr(args ...string) (string, error) {
	full := []string{"-O", "OpenFlow13"}
	cmdAt := 0
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			cmdAt = i
			break
		}
	}
	full = append(full, args[:cmdAt+1]...)
	full = append(full, tp.mgmt())
	full = append(full, args[cmdAt+1:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ovs-ofctl", full...)
	cmd.Env = tp.ovsEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var (
	statsRE = regexp.MustCompile(`(duration=[^,]*, |n_packets=\d+, |n_bytes=\d+, |idle_age=\d+, |hard_age=\d+, )`)
	dumpRE  = regexp.MustCompile(`^cookie=(0x[0-9a-f]+), (?:table=(\d+), )?(.*) actions=(.*)$`)
	parseRE = regexp.MustCompile(`^(?:table:(\d+) )?(.*?)(?: cookie:(0x[0-9a-f]+))? actions=(.*)$`)
)

// canonical is one flow as "table=T cookie=C MATCH actions=A".
func canonical(table, cookie, match, actions string) string {
	if table == "" {
		table = "0"
	}
	if cookie == "" {
		cookie = "0x0"
	}
	return fmt.Sprintf("table=%s cookie=%s %s actions=%s", table, cookie, match, actions)
}

// flowLines returns dump-flows' flows without counters, canonical and
// sorted.
func flowLines(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		l = strings.TrimSpace(statsRE.ReplaceAllString(l, ""))
		if m := dumpRE.FindStringSubmatch(l); m != nil {
			out = append(out, canonical(m[2], m[1], m[3], m[4]))
		}
	}
	sort.Strings(out)
	return out
}

// parsedFlows returns the flows of file as ovs-ofctl itself parses and
// prints them (parse-flows), canonical and sorted.
func parsedFlows(t *testing.T, file string) []string {
	t.Helper()
	out := run(t, "ovs-ofctl", "-O", "OpenFlow13", "parse-flows", file)
	var flows []string
	for _, l := range strings.Split(out, "\n") {
		i := strings.Index(l, ": ADD ")
		if i < 0 {
			continue
		}
		if m := parseRE.FindStringSubmatch(strings.TrimSpace(l[i+len(": ADD "):])); m != nil {
			flows = append(flows, canonical(m[1], m[3], m[2], m[4]))
		}
	}
	sort.Strings(flows)
	return flows
}

func TestOvsOfctlDrivesBridge(t *testing.T) {
	needTool(t, "ovs-ofctl")
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	c := tp.host("c", "198.51.100.3/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0", "--fail-mode", "secure")
	for i, p := range []string{a, b, c} {
		tp.dvs("port", "add", "br0", p, "--ofport", fmt.Sprint(i+1))
	}

	show := tp.ofctl("show")
	for _, p := range []string{a, b, c} {
		if !strings.Contains(show, p) {
			t.Fatalf("show does not list port %s:\n%s", p, show)
		}
	}
	if desc := tp.ofctl("dump-ports-desc"); !strings.Contains(desc, "3("+c+")") {
		t.Fatalf("dump-ports-desc:\n%s", desc)
	}

	// Secure mode starts with empty tables: nothing passes.
	tp.mustNotPing("a", "198.51.100.2")

	// Flows from a file: a and b talk; c is cut off. dump-flows reads back
	// exactly what ovs-ofctl parsed.
	flows := strings.Join([]string{
		"priority=10,in_port=1,actions=output:2",
		"priority=10,in_port=2,actions=output:1",
		"cookie=0x5,priority=20,ip,in_port=3,nw_dst=198.51.100.1,actions=drop",
		"table=1,priority=7,tcp,tp_dst=80,actions=set_field:00:00:5e:00:53:01->eth_dst,output:3",
		"cookie=0x6,priority=5,arp,arp_op=1,actions=FLOOD",
	}, "\n")
	file := filepath.Join(tp.dir, "flows.txt")
	if err := os.WriteFile(file, []byte(flows+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.ofctl("add-flows", file)
	got, want := flowLines(tp.ofctl("dump-flows")), parsedFlows(t, file)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dump-flows:\n%s\nwant (ovs-ofctl parse-flows):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	tp.mustPing("a", "198.51.100.2")
	tp.mustNotPing("c", "198.51.100.1")

	// Deletes: strict, by cookie, then all.
	tp.ofctl("--strict", "del-flows", "priority=10,in_port=2")
	if n := len(flowLines(tp.ofctl("dump-flows"))); n != 4 {
		t.Fatalf("after strict delete: %d flows", n)
	}
	tp.mustNotPing("a", "198.51.100.2")
	tp.ofctl("del-flows", "cookie=0x5/-1")
	if d := tp.ofctl("dump-flows"); strings.Contains(d, "cookie=0x5") || !strings.Contains(d, "cookie=0x6") {
		t.Fatalf("after cookie delete:\n%s", d)
	}
	tp.ofctl("del-flows")
	if n := len(flowLines(tp.ofctl("dump-flows"))); n != 0 {
		t.Fatalf("after delete all: %d flows", n)
	}

	// Groups and meters, and traffic through them.
	tp.ofctl("add-group", "group_id=1,type=all,bucket=output:2,bucket=output:3")
	tp.ofctl("add-meter", "meter=1,kbps,stats,band=type=drop,rate=100000")
	tp.ofctl("add-flow", "priority=10,in_port=1,actions=meter:1,group:1")
	tp.ofctl("add-flow", "priority=10,in_port=2,actions=output:1")
	if g := tp.ofctl("dump-groups"); !strings.Contains(g, "group_id=1,type=all,bucket=actions=output:2,bucket=actions=output:3") {
		t.Fatalf("dump-groups:\n%s", g)
	}
	if m := tp.ofctl("dump-meters"); !strings.Contains(m, "meter=1 kbps stats bands=") || !strings.Contains(m, "type=drop rate=100000") {
		t.Fatalf("dump-meters:\n%s", m)
	}
	tp.mustPing("a", "198.51.100.2")
	if gs := tp.ofctl("dump-group-stats"); !regexp.MustCompile(`group_id=1,.*packet_count=[1-9]`).MatchString(gs) {
		t.Fatalf("group stats do not count:\n%s", gs)
	}
	if ms := tp.ofctl("meter-stats"); !regexp.MustCompile(`meter:1 flow_count:1 packet_in_count:[1-9]`).MatchString(ms) {
		t.Fatalf("meter stats do not count:\n%s", ms)
	}
	if ps := tp.ofctl("dump-ports", "1"); !regexp.MustCompile(`rx pkts=[1-9]`).MatchString(ps) {
		t.Fatalf("dump-ports:\n%s", ps)
	}

	// mod-port: port 2 down in OpenFlow terms; traffic stops, then resumes.
	tp.ofctl("mod-port", "2", "down")
	if d := tp.ofctl("dump-ports-desc"); !strings.Contains(d, "PORT_DOWN") {
		t.Fatalf("port 2 not down:\n%s", d)
	}
	tp.mustNotPing("a", "198.51.100.2")
	tp.ofctl("mod-port", "2", "up")
	tp.mustPing("a", "198.51.100.2")

	// packet-out: a frame from the controller reaches host c.
	frame := "ffffffffffff00005e0053ff0806000108000604000100005e0053ffc6336463000000000000c6336403"
	cap := tp.capture("c", "eth0", "arp", func() {
		tp.ofctl("packet-out", "CONTROLLER", "output:3", frame)
	})
	if !strings.Contains(cap, "198.51.100.99") {
		t.Fatalf("packet-out did not reach c:\n%s", cap)
	}
}

func TestOvsOfctlBulkAndBundle(t *testing.T) {
	needTool(t, "ovs-ofctl")
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0", "--fail-mode", "secure")
	tp.dvs("port", "add", "br0", a, "--ofport", "1")
	var sb strings.Builder
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&sb, "priority=100,ip,nw_src=10.%d.%d.1,actions=output:1\n", i/256, i%256)
	}
	file := filepath.Join(tp.dir, "many.txt")
	os.WriteFile(file, []byte(sb.String()), 0o644)
	for _, mode := range [][]string{nil, {"--bundle"}} {
		start := time.Now()
		tp.ofctl(append(mode, "add-flows", file)...)
		t.Logf("add-flows %v of 10000 flows: %v", mode, time.Since(start))
		if n := len(flowLines(tp.ofctl("dump-flows"))); n != 10000 {
			t.Fatalf("%v: dump-flows has %d flows, want 10000", mode, n)
		}
		tp.ofctl("del-flows")
	}
	// A bundle with a bad flow applies nothing.
	bad := filepath.Join(tp.dir, "bad.txt")
	os.WriteFile(bad, []byte("priority=1,actions=output:1\ntable=3,priority=1,actions=goto_table:1\n"), 0o644)
	if out, err := tp.ofctlErr("--bundle", "add-flows", bad); err == nil {
		t.Fatalf("a bundle with a backwards goto succeeded:\n%s", out)
	}
	if n := len(flowLines(tp.ofctl("dump-flows"))); n != 0 {
		t.Fatalf("a failed bundle left %d flows", n)
	}
}

func TestOvsOfctlMonitorAndSnoop(t *testing.T) {
	needTool(t, "ovs-ofctl")
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	b := tp.host("b", "198.51.100.2/24")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0", "--fail-mode", "secure")
	tp.dvs("port", "add", "br0", a, "--ofport", "1")
	tp.dvs("port", "add", "br0", b, "--ofport", "2")
	tp.ofctl("add-flow", "priority=0,actions=CONTROLLER:128")

	// monitor: packet-ins of the table-miss rule show up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mon bytes.Buffer
	cmd := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow13", "monitor", tp.mgmt(), "65534")
	cmd.Stdout, cmd.Stderr = &mon, &mon
	cmd.Env = tp.ovsEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	tp.ping("a", "198.51.100.2")
	time.Sleep(500 * time.Millisecond)
	cancel()
	cmd.Wait()
	if !strings.Contains(mon.String(), "OFPT_PACKET_IN") || !strings.Contains(mon.String(), "(via no_match)") {
		t.Fatalf("monitor saw no packet-in:\n%s", mon.String())
	}

	// snoop: copies of a controller connection's messages. The controller
	// here is a second ovs-ofctl monitor's... simplest: a real
	// controller connection from ovs-testcontroller.
	needTool(t, "ovs-testcontroller")
	ctl := exec.Command("ip", "netns", "exec", tp.sw, "ovs-testcontroller", "ptcp:6653:127.0.0.1")
	ctl.Env = tp.ovsEnv()
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ctl.Process.Kill(); ctl.Wait() }()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	var snoop bytes.Buffer
	sn := exec.CommandContext(ctx2, "ovs-ofctl", "-O", "OpenFlow13", "snoop", "unix:"+filepath.Join(tp.state, "br0.snoop"))
	sn.Stdout, sn.Stderr = &snoop, &snoop
	sn.Env = tp.ovsEnv()
	if err := sn.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	tp.dvs("bridge", "set", "br0", "--controller", "tcp:127.0.0.1:6653")
	time.Sleep(2 * time.Second)
	cancel2()
	sn.Wait()
	if !strings.Contains(snoop.String(), "OFPT_FEATURES_REPLY") {
		t.Fatalf("snoop saw no features reply:\n%s", snoop.String())
	}
}

func TestOvsTestcontrollerLearningSwitch(t *testing.T) {
	needTool(t, "ovs-testcontroller")
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24", "2001:db8::1/64")
	b := tp.host("b", "198.51.100.2/24", "2001:db8::2/64")
	tp.startAgent()
	ctl := exec.Command("ip", "netns", "exec", tp.sw, "ovs-testcontroller", "ptcp:6653:127.0.0.1")
	var logs bytes.Buffer
	ctl.Stdout, ctl.Stderr = &logs, &logs
	ctl.Env = tp.ovsEnv()
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ctl.Process.Kill(); ctl.Wait() }()
	tp.dvs("bridge", "add", "br0", "--fail-mode", "secure", "--controller", "tcp:127.0.0.1:6653")
	tp.dvs("port", "add", "br0", a)
	tp.dvs("port", "add", "br0", b)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tp.dvs("of", "show", "br0"), "connected") {
		if time.Now().After(deadline) {
			t.Fatalf("no controller connection:\n%s\ncontroller log:\n%s", tp.dvs("of", "show", "br0"), logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	tp.mustPing("a", "198.51.100.2")
	tp.mustPing("b", "2001:db8::1")
	// The controller installed flows reactively from packet-ins.
	if d := tp.dvs("flow", "dump", "br0"); !strings.Contains(d, "dl_dst=") {
		t.Fatalf("no reactive flows:\n%s", d)
	}
}
