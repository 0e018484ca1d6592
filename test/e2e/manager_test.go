package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/manager/store/etcdtest"
	"github.com/dvs-project/dvs/internal/resource"
)

// managerProc is a `dvs manager` running in a namespace.
type managerProc struct {
	t     *testing.T
	ns    string
	dir   string
	addr  string
	store string // --store, "" for the embedded one
	cmd   *exec.Cmd
	logs  *bytes.Buffer
}

func (m *managerProc) url() string       { return "http://" + m.addr }
func (m *managerProc) tokenFile() string { return filepath.Join(m.dir, "join-token") }

// start runs the manager and waits until it answers.
func (m *managerProc) start() {
	m.t.Helper()
	m.logs = &bytes.Buffer{}
	args := []string{"netns", "exec", m.ns, dvsBin, "manager", "--listen", m.addr, "--data-dir", m.dir}
	if m.store != "" {
		args = append(args, "--store", m.store)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = m.logs, m.logs
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(m.tokenFile()); err == nil {
			if _, err := m.dvsErr("host", "list"); err == nil {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatalf("manager did not come up:\n%s", m.logs)
}

// kill stops the manager at once (no clean shutdown).
func (m *managerProc) kill() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	m.cmd.Wait()
	m.cmd = nil
}

// dvsErr runs a manager verb from the manager's namespace.
func (m *managerProc) dvsErr(args ...string) (string, error) {
	args = append([]string{"netns", "exec", m.ns, dvsBin}, args...)
	args = append(args, "--manager", m.url(), "--token-file", m.tokenFile())
	return try("ip", args...)
}

func (m *managerProc) dvs(args ...string) string {
	m.t.Helper()
	out, err := m.dvsErr(args...)
	if err != nil {
		m.t.Fatalf("dvs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// hosts returns the registered hosts.
func (m *managerProc) hosts() map[string]*resource.Host {
	m.t.Helper()
	out := m.dvs("host", "list", "-o", "json")
	var hs []*resource.Host
	if err := json.Unmarshal([]byte(out), &hs); err != nil {
		m.t.Fatalf("host list json: %v\n%s", err, out)
	}
	got := map[string]*resource.Host{}
	for _, h := range hs {
		got[h.Metadata.Name] = h
	}
	return got
}

// waitConverged waits until every named host has acked its target.
func (m *managerProc) waitConverged(names ...string) map[string]*resource.Host {
	m.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		hs := m.hosts()
		ok := true
		for _, n := range names {
			h := hs[n]
			ok = ok && h != nil && h.Status.Converged && h.Status.AckedRevision > 0
		}
		if ok {
			return hs
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("hosts did not converge: %s\nmanager log:\n%s", m.dvs("host", "list"), m.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitBridge waits until the agent has bridge br with n ports.
func (a *agent) waitBridge(br string, n int) {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := a.dvsErr("port", "list", br, "-o", "json")
		var ports []json.RawMessage
		if err == nil && json.Unmarshal([]byte(out), &ports) == nil && len(ports) == n {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("bridge %s does not have %d ports: %v\n%s\nagent log:\n%s", br, n, err, out, a.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const managerNetYAML = `apiVersion: dvs/v1
kind: Switch
metadata: {name: ov}
spec: {overlay: vxlan}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: ov, vni: 1100}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: db}
spec: {switch: ov, vni: 1200}
`

const portYAML = `---
apiVersion: dvs/v1
kind: Port
metadata: {name: %s}
spec: {portGroup: %s, mac: "%s", host: %s, interface: %s, interfaceType: veth}
`

// TestManagerOverlay runs a manager and two agents in manager mode: one
// vxlan switch, two port groups with a VM of each on each host. VMs of one
// group reach each other across hosts (ping and iperf3), groups stay
// apart, agents join with the join token and keep a host token, and
// forwarding survives the manager's death and an agent's restart without
// it.
func TestManagerOverlay(t *testing.T) { managerOverlay(t, false) }

// TestManagerOverlayEtcdPair is TestManagerOverlay against two managers
// sharing one etcd (Debian's etcd-server, started by the test): host 1's
// agent is given manager A first, host 2's manager B first; the
// configuration is applied through A and reaches host 2 through B; when A
// dies, host 1's agent moves to B.
func TestManagerOverlayEtcdPair(t *testing.T) { managerOverlay(t, true) }

func managerOverlay(t *testing.T, etcdPair bool) {
	tp := newTopo(t)
	sw2 := tp.switchNS("sw2")
	tp.underlay(tp.sw, sw2.ns)

	mgrs := startManagers(t, tp.sw, etcdPair)
	mgr := mgrs[0]
	// The manager of host 2's agent (the second one of a pair).
	mgr2 := mgrs[len(mgrs)-1]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent 2 log:\n%s", sw2.logs)
		}
	})

	vms := []vmSpec{
		{"a1", "h1", "web", "198.51.100.1", "02:00:00:00:11:01"},
		{"b1", "h1", "db", "198.51.100.3", "02:00:00:00:12:01"},
		{"a2", "h2", "web", "198.51.100.2", "02:00:00:00:11:02"},
		{"b2", "h2", "db", "198.51.100.4", "02:00:00:00:12:02"},
	}
	// The VMs' MTU is the switch's (1450 by default): the encapsulated
	// frame must fit the underlay's 1500.
	file, _ := tp.bindVMs(managerNetYAML, vms, map[string]string{"h1": tp.sw, "h2": sw2.ns}, "1450", false)

	tp.startManagedBy(mgrs, 0, "h1", "203.0.113.1")
	sw2.startManagedBy(mgrs, 1, "h2", "203.0.113.2")
	mgr.dvs("apply", "-f", file)

	// Each host: its two VM ports and a tunnel to the other host.
	tp.waitBridge("ov", 3)
	sw2.waitBridge("ov", 3)
	for _, m := range mgrs {
		hs := m.waitConverged("h1", "h2")
		for _, n := range []string{"h1", "h2"} {
			if hs[n].Status.AckedRevision != hs[n].Status.TargetRevision {
				t.Errorf("manager %s: host %s acked %d, target %d", m.addr, n, hs[n].Status.AckedRevision, hs[n].Status.TargetRevision)
			}
		}
	}
	if !mgr2.hosts()["h2"].Status.Connected {
		t.Errorf("host 2's agent is not connected to its manager %s", mgr2.addr)
	}
	list := mgr.dvs("host", "list")
	if !strings.Contains(list, "h1") || !strings.Contains(list, "h2") {
		t.Errorf("host list does not show both hosts:\n%s", list)
	}
	// Each agent joined and keeps its own host token.
	for _, a := range []*agent{tp.agent, sw2} {
		st, err := os.Stat(filepath.Join(a.state, "host-token"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("agent %s: host token file %v, %v (want mode 0600)", a.ns, st, err)
		}
	}

	mustPingOV(tp, "a1", "198.51.100.2")
	mustPingOV(tp, "b2", "198.51.100.3")
	tp.mustNotPing("a1", "198.51.100.4") // web -> db across hosts
	tp.mustNotPing("a1", "198.51.100.3") // web -> db on one host
	tp.mustNotPing("b2", "198.51.100.2")
	tp.mustIperf("a1", "a2", "198.51.100.2")

	// The (first) manager dies: forwarding goes on; of a pair, the other
	// manager takes host 1's agent.
	mgr.kill()
	mustPingOV(tp, "a1", "198.51.100.2")
	if etcdPair {
		deadline := time.Now().Add(30 * time.Second)
		for {
			h := mgr2.hosts()["h1"]
			if h != nil && h.Status.Connected && h.Status.Converged {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("host 1's agent did not move to manager B:\n%s\nagent log:\n%s", mgr2.dvs("host", "list"), tp.agent.logs)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Agent 2 restarts while its manager is down (of a pair: both are
	// down): its saved share brings the switch back.
	if etcdPair {
		mgr2.kill()
	}
	sw2.stopAgent()
	sw2.startManagedBy(mgrs, 1, "h2", "203.0.113.2")
	sw2.waitBridge("ov", 3)
	mustPingOV(tp, "a2", "198.51.100.1")
	mustPingOV(tp, "b1", "198.51.100.4")
	tp.mustNotPing("a2", "198.51.100.3")

	// The managers come back: both agents reconnect and ack again.
	for _, m := range mgrs {
		m.start()
	}
	for _, m := range mgrs {
		m.waitConverged("h1", "h2")
	}
	mustPingOV(tp, "a1", "198.51.100.2")
}

// vmSpec is a "VM" of a multi-host test: a namespace behind a veth into
// its host's switch namespace, bound to a Port of a port group.
type vmSpec struct{ name, host, group, ip, mac string }

// bindVMs creates the VMs, each on a veth into the switch namespace
// swOf[host] with its address and MAC (and MTU, unless ""; IPv6 off if
// noIPv6), and writes base followed by their Port documents to
// <dir>/net.yaml. It returns the file and what it holds.
func (tp *topo) bindVMs(base string, vms []vmSpec, swOf map[string]string, mtu string, noIPv6 bool) (file, yaml string) {
	tp.t.Helper()
	yaml = base
	for _, vm := range vms {
		ifc := tp.hostOn(swOf[vm.host], vm.name, vm.ip+"/24")
		if noIPv6 {
			tp.nsx(tp.ns(vm.name), "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
		}
		args := []string{"ip", "link", "set", "eth0", "address", vm.mac}
		if mtu != "" {
			args = append(args, "mtu", mtu)
		}
		tp.nsx(tp.ns(vm.name), args...)
		yaml += fmt.Sprintf(portYAML, "vm-"+vm.name, vm.group, vm.mac, vm.host, ifc)
	}
	file = filepath.Join(tp.dir, "net.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		tp.t.Fatal(err)
	}
	return file, yaml
}

// managerSet is one manager, or a pair sharing an etcd.
type managerSet []*managerProc

// startManagers runs the managers in namespace ns (host 1's) on its
// underlay address 203.0.113.1, where the other hosts' agents reach them:
// one on its embedded store, or (pair) two on an etcd started in ns, with
// the same join token. Killing the namespaces' processes (cleanup) ends
// them too.
func startManagers(t *testing.T, ns string, pair bool) managerSet {
	t.Helper()
	dir := t.TempDir()
	ms := managerSet{{t: t, ns: ns, dir: filepath.Join(dir, "manager"), addr: "203.0.113.1:7441"}}
	if pair {
		ms[0].store = "etcd://" + etcdtest.StartIn(t, ns)
		ms = append(ms, &managerProc{t: t, ns: ns, dir: filepath.Join(dir, "manager-b"), addr: "203.0.113.1:7442", store: ms[0].store})
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.kill()
			if t.Failed() {
				t.Logf("manager %s log:\n%s", m.addr, m.logs)
			}
		}
	})
	ms[0].start()
	for _, m := range ms[1:] {
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		tok, err := os.ReadFile(ms[0].tokenFile())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(m.tokenFile(), tok, 0o600); err != nil {
			t.Fatal(err)
		}
		m.start()
	}
	return ms
}

// urls is the --manager list for an agent that should prefer manager i
// (modulo the set's size), the others following.
func (ms managerSet) urls(i int) string {
	var us []string
	for j := range ms {
		us = append(us, ms[(i+j)%len(ms)].url())
	}
	return strings.Join(us, ",")
}

// startManagedBy runs `dvs agent` in manager mode with a manager list.
func (a *agent) startManagedBy(ms managerSet, i int, host, tunnelIP string) {
	a.t.Helper()
	a.startAgent("--manager", ms.urls(i), "--token-file", ms[0].tokenFile(), "--host", host, "--tunnel-ip", tunnelIP)
}

// mustPingOV is mustPing for the manager's switch "ov" on several agents.
func mustPingOV(tp *topo, host, addr string) {
	tp.t.Helper()
	mustPingBr(tp, "ov", host, addr)
}
