package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// switchNS creates another switch namespace (agent not started), cleaned
// up with the topology.
func (tp *topo) switchNS(name string) *agent {
	tp.t.Helper()
	a := &agent{t: tp.t, ns: "dvs-" + name + "-" + tp.id, socket: filepath.Join(tp.dir, name+".sock"), state: filepath.Join(tp.dir, name+"-state")}
	run(tp.t, "ip", "netns", "add", a.ns)
	tp.others = append(tp.others, a)
	tp.nsx(a.ns, "ip", "link", "set", "lo", "up")
	tp.nsx(a.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	return a
}

// underlayLAN joins the namespaces on one Linux bridge (in a namespace
// of its own): namespace i gets 203.0.113.<i+1>/24 on an interface it
// returns.
func (tp *topo) underlayLAN(nss ...string) []string {
	tp.t.Helper()
	lan := tp.bareNS("lan")
	tp.nsx(lan, "ip", "link", "add", "br0", "type", "bridge")
	tp.nsx(lan, "ip", "link", "set", "br0", "up")
	var ifs []string
	for i, ns := range nss {
		e1, e2 := tp.link(ns, lan, fmt.Sprintf("u%d", i+1))
		tp.nsx(lan, "ip", "link", "set", e2, "master", "br0")
		tp.nsx(lan, "ip", "link", "set", e2, "up")
		tp.nsx(ns, "ip", "addr", "add", fmt.Sprintf("203.0.113.%d/24", i+1), "dev", e1)
		ifs = append(ifs, e1)
	}
	return ifs
}

// pinger is a ping left running, its replies timestamped (-D).
type pinger struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startPing(t *testing.T, ns, addr string) *pinger {
	t.Helper()
	p := &pinger{}
	p.cmd = exec.Command("ip", "netns", "exec", ns, "ping", "-D", "-n", "-i", "0.05", addr)
	p.cmd.Stdout = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

func (p *pinger) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	p.cmd.Wait()
	p.cmd = nil
}

var replyRE = regexp.MustCompile(`^\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=(\d+)`)

// gap returns the longest time between two consecutive replies, the
// number of replies and the number of requests sent before the last one.
func (p *pinger) gap() (time.Duration, int, int) {
	var ts []float64
	maxSeq := 0
	for _, l := range strings.Split(p.out.String(), "\n") {
		if m := replyRE.FindStringSubmatch(l); m != nil {
			f, _ := strconv.ParseFloat(m[1], 64)
			ts = append(ts, f)
			seq, _ := strconv.Atoi(m[2])
			maxSeq = max(maxSeq, seq)
		}
	}
	sort.Float64s(ts)
	var g float64
	for i := 1; i < len(ts); i++ {
		g = max(g, ts[i]-ts[i-1])
	}
	return time.Duration(g * float64(time.Second)), len(ts), maxSeq
}

// TestMigrateVM runs three hosts under one manager: group web on hosts 1
// and 3 (VM m on h1, VM p on h3), group db on hosts 1 and 2 only. A
// broadcast in db reaches host 2's underlay and not host 3's. Then m
// migrates to h2 while p pings it: its veth moves (same MAC and address)
// and `dvs apply` rebinds its port; h2 announces m's MAC (a RARP p sees),
// h3 points m's MAC at h2 within a second, and the ping resumes.
func TestMigrateVM(t *testing.T) { migrateVM(t, false) }

// TestMigrateVMEtcdPair is TestMigrateVM against two managers sharing one
// etcd: hosts 1 and 3 prefer manager A, host 2 manager B; the network is
// applied through A and the migration through B.
func TestMigrateVMEtcdPair(t *testing.T) { migrateVM(t, true) }

func migrateVM(t *testing.T, etcdPair bool) {
	tp := newTopo(t)
	sw2 := tp.switchNS("sw2")
	sw3 := tp.switchNS("sw3")
	ul := tp.underlayLAN(tp.sw, sw2.ns, sw3.ns)

	mgrs := startManagers(t, tp.sw, etcdPair)
	mgr, mgrB := mgrs[0], mgrs[len(mgrs)-1]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent 2 log:\n%s", sw2.logs)
			t.Logf("agent 3 log:\n%s", sw3.logs)
		}
	})
	waitConverged := func(hosts ...string) {
		for _, m := range mgrs {
			m.waitConverged(hosts...)
		}
	}

	swOf := map[string]string{"h1": tp.sw, "h2": sw2.ns, "h3": sw3.ns}
	vms := []vmSpec{
		{"m", "h1", "web", "198.51.100.1", "02:00:00:00:21:01"},
		{"p", "h3", "web", "198.51.100.3", "02:00:00:00:21:03"},
		{"x1", "h1", "db", "198.51.100.11", "02:00:00:00:22:01"},
		{"x2", "h2", "db", "198.51.100.12", "02:00:00:00:22:02"},
	}
	file, yaml := tp.bindVMs(managerNetYAML, vms, swOf, "", true)
	tp.startManagedBy(mgrs, 0, "h1", "203.0.113.1")
	sw2.startManagedBy(mgrs, 1, "h2", "203.0.113.2")
	sw3.startManagedBy(mgrs, 0, "h3", "203.0.113.3")
	mgr.dvs("apply", "-f", file)
	tp.waitBridge("ov", 4) // m, x1, tunnels to h2 (db) and h3 (web)
	sw2.waitBridge("ov", 2)
	sw3.waitBridge("ov", 2)
	waitConverged("h1", "h2", "h3")
	mustPingOV(tp, "p", "198.51.100.1")
	mustPingOV(tp, "x1", "198.51.100.12")

	// A broadcast in db (ARP requests for an address nobody has) is
	// replicated to h2 only: count db's VNI on each underlay.
	vni := func(v int) string { return fmt.Sprintf("udp port 4789 and udp[12:4]>>8 = %d", v) }
	var at2 string
	at3 := tp.captureNS(sw3.ns, ul[2], vni(1200), func() {
		at2 = tp.captureNS(sw2.ns, ul[1], vni(1200), func() {
			try("ip", "netns", "exec", tp.ns("x1"), "ping", "-c", "2", "-W", "2", "198.51.100.99")
		})
	})
	n2, n3 := countLines(at2), countLines(at3)
	t.Logf("db broadcast (ARP who-has 198.51.100.99 from x1 on h1): %d VXLAN packets on h2's underlay, %d on h3's", n2, n3)
	if n2 == 0 || n3 != 0 {
		t.Errorf("db broadcast: %d packets reached h2, %d reached h3; want some and none\nh2:\n%s\nh3:\n%s", n2, n3, at2, at3)
	}

	// Migrate m from h1 to h2 while p pings it.
	pg := startPing(t, tp.ns("p"), "198.51.100.1")
	time.Sleep(time.Second)
	oldIf := "m" + tp.id
	if len(oldIf) > 15 {
		oldIf = oldIf[:15]
	}
	newIf := "mv" + tp.id
	mns := tp.ns("m")
	start := time.Now()
	run(t, "ip", "-n", tp.sw, "link", "del", oldIf)
	run(t, "ip", "-n", sw2.ns, "link", "add", newIf, "type", "veth", "peer", "name", "eth0", "netns", mns)
	tp.nsx(mns, "ip", "link", "set", "eth0", "address", vms[0].mac)
	tp.nsx(mns, "ip", "addr", "add", vms[0].ip+"/24", "dev", "eth0")
	tp.nsx(mns, "ip", "link", "set", "eth0", "up")
	tp.nsx(sw2.ns, "ip", "link", "set", newIf, "up")
	moved := strings.Replace(yaml, fmt.Sprintf("host: h1, interface: %s,", oldIf), fmt.Sprintf("host: h2, interface: %s,", newIf), 1)
	if moved == yaml {
		t.Fatal("the migration did not change the YAML")
	}
	if err := os.WriteFile(file, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	// On h3, m's MAC must point at h2's tunnel within a second of the apply.
	wantFlow := "dl_dst=" + vms[0].mac + ` actions=output:"vx-cb007102"`
	var located time.Duration
	rarp := tp.captureNS(tp.ns("p"), "eth0", "rarp", func() {
		applied := time.Now()
		mgrB.dvs("apply", "-f", file)
		for time.Since(applied) < 10*time.Second {
			out, _ := sw3.dvsErr("flow", "dump", "ov")
			if strings.Contains(out, wantFlow) {
				located = time.Since(applied)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	if located == 0 {
		out, _ := sw3.dvsErr("flow", "dump", "ov")
		t.Fatalf("h3 never pointed m's MAC at h2:\n%s", out)
	}
	t.Logf("h3 updated m's location %v after `dvs apply` was started (CLI start-up included)", located.Round(time.Millisecond))
	if located > time.Second {
		t.Errorf("location update took %v, want within 1s", located)
	}
	if !strings.Contains(rarp, vms[0].mac) {
		t.Errorf("p did not see the RARP announcing m's MAC from h2:\n%s", rarp)
	}
	tp.waitBridge("ov", 2) // x1 and the tunnel to h2 (db); web left h1
	sw2.waitBridge("ov", 4)
	var resumed time.Time
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := try("ip", "netns", "exec", tp.ns("p"), "ping", "-c", "1", "-W", "1", "198.51.100.1")
		if err == nil {
			resumed = time.Now()
			break
		}
		if time.Now().After(deadline) {
			mustPingOV(tp, "p", "198.51.100.1")
			t.Fatalf("ping did not resume: %s", out)
		}
	}
	time.Sleep(500 * time.Millisecond)
	pg.stop()
	gap, n, sent := pg.gap()
	t.Logf("ping p -> m every 50ms: %d of %d answered, longest gap between replies %v (from deleting the old veth to the ping back: %v)",
		n, sent, gap.Round(time.Millisecond), resumed.Sub(start).Round(time.Millisecond))
	if gap > 5*time.Second {
		t.Errorf("ping resumed after %v, want within a few seconds; ping output:\n%s", gap, pg.out.String())
	}
	waitConverged("h1", "h2", "h3")
	mustPingOV(tp, "x1", "198.51.100.12")
	mustPingOV(tp, "x2", "198.51.100.11")
	tp.mustNotPing("m", "198.51.100.12")
}

func countLines(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}
