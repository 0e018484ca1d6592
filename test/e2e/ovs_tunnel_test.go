package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ovs is a private Open vSwitch (ovsdb-server and ovs-vswitchd, userspace
// datapath) running in one namespace, with its database, sockets and logs
// in a directory of the test's own.
type ovs struct {
	t   *testing.T
	ns  string
	dir string
	db  *exec.Cmd
	vsd *exec.Cmd
}

// startOVS starts ovsdb-server and ovs-vswitchd in namespace ns, in the
// foreground as children of the test, which stops them (and prints their
// logs if it failed) in its cleanup.
func (tp *topo) startOVS(ns string) *ovs {
	tp.t.Helper()
	for _, c := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"} {
		needTool(tp.t, c)
	}
	schema := "/usr/share/openvswitch/vswitch.ovsschema"
	if _, err := os.Stat(schema); err != nil {
		tp.t.Skipf("SKIPPED: %v (scripts/deps.sh installs openvswitch-switch)", err)
	}
	o := &ovs{t: tp.t, ns: ns, dir: filepath.Join(tp.dir, "ovs")}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		tp.t.Fatal(err)
	}
	tp.t.Cleanup(o.stop)
	o.run("ovsdb-tool", "create", filepath.Join(o.dir, "conf.db"), schema)
	o.db = o.start("ovsdb-server", filepath.Join(o.dir, "conf.db"), "--remote=punix:"+o.sock(),
		"--pidfile="+filepath.Join(o.dir, "ovsdb-server.pid"), "--no-chdir",
		"--log-file="+filepath.Join(o.dir, "ovsdb-server.log"))
	o.waitFor(o.sock())
	o.vsctl("--no-wait", "init")
	o.vsd = o.start("ovs-vswitchd", "unix:"+o.sock(), "--pidfile="+filepath.Join(o.dir, "ovs-vswitchd.pid"),
		"--no-chdir", "--log-file="+o.log())
	o.waitFor(filepath.Join(o.dir, "ovs-vswitchd.pid"))
	return o
}

func (o *ovs) sock() string { return filepath.Join(o.dir, "db.sock") }
func (o *ovs) log() string  { return filepath.Join(o.dir, "ovs-vswitchd.log") }

// env points Open vSwitch's tools at the private instance.
func (o *ovs) env() []string {
	return append(os.Environ(), "OVS_RUNDIR="+o.dir, "OVS_LOGDIR="+o.dir, "OVS_DBDIR="+o.dir, "OVS_SYSCONFDIR="+o.dir)
}

func (o *ovs) start(name string, args ...string) *exec.Cmd {
	o.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", o.ns, name}, args...)...)
	cmd.Env = o.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		o.t.Fatalf("starting %s: %v", name, err)
	}
	return cmd
}

func (o *ovs) waitFor(path string) {
	o.t.Helper()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	o.t.Fatalf("Open vSwitch did not create %s within 10s", path)
}

// run runs an Open vSwitch tool in the namespace against the private
// instance and fails the test if it fails.
func (o *ovs) run(name string, args ...string) string {
	o.t.Helper()
	out, err := o.try(name, args...)
	if err != nil {
		o.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (o *ovs) try(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", o.ns, name}, args...)...)
	cmd.Env = o.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (o *ovs) vsctl(args ...string) string {
	o.t.Helper()
	return o.run("ovs-vsctl", append([]string{"--db=unix:" + o.sock(), "--timeout=20"}, args...)...)
}

// diag is what OVS knows about its tunnels, for a failure message.
func (o *ovs) diag() string {
	var b strings.Builder
	for _, c := range [][]string{
		{"ovs-appctl", "ovs/route/show"},
		{"ovs-appctl", "tnl/arp/show"},
		{"ovs-appctl", "tnl/ports/show"},
		{"ovs-appctl", "dpctl/dump-flows"},
		{"ovs-vsctl", "--db=unix:" + o.sock(), "show"},
	} {
		out, err := o.try(c[0], c[1:]...)
		fmt.Fprintf(&b, "$ %s (err %v)\n%s\n", strings.Join(c, " "), err, out)
	}
	if log, err := os.ReadFile(o.log()); err == nil {
		if len(log) > 8000 {
			log = log[len(log)-8000:]
		}
		fmt.Fprintf(&b, "ovs-vswitchd.log (tail):\n%s", log)
	}
	return b.String()
}

// stop stops ovs-vswitchd, then ovsdb-server; on failure it logs what
// OVS knew first.
func (o *ovs) stop() {
	if o.t.Failed() && o.vsd != nil {
		o.t.Logf("Open vSwitch state:\n%s", o.diag())
	}
	for _, c := range []*exec.Cmd{o.vsd, o.db} {
		if c == nil {
			continue
		}
		c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}

// ovsTunnel builds the interop topology: namespace S runs dvs (br0:
// host a, a tunnel port of kind to 203.0.113.2, VNI 5000), namespace O
// runs Open vSwitch's userspace datapath (br-int: host b and a tunnel
// port to 203.0.113.1, VNI 5000; br-phy: the underlay veth, with
// 203.0.113.2 on br-phy itself, as OVS's userspace tunnelling wants).
// The hosts get the tunnel's inner MTU, 1450. It returns the topology
// and the underlay interface on S's side.
func ovsTunnel(t *testing.T, kind string) (*topo, *ovs, string) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	on := tp.bareNS("ovs")
	tp.nsx(on, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	tp.nsx(on, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	o := tp.startOVS(on)
	b := tp.hostOn(on, "b", "198.51.100.2/24")
	ulS, ulO := tp.link(tp.sw, on, "ul")
	tp.nsx(tp.sw, "ip", "addr", "add", "203.0.113.1/24", "dev", ulS)
	for _, h := range []string{"a", "b"} {
		tp.nsx(tp.ns(h), "ip", "link", "set", "eth0", "mtu", "1450")
	}
	// OVS's userspace datapath reads frames with AF_PACKET and leaves
	// checksums the sender left to offload as they are (no
	// userspace-tso-enable here): make b's veth fill them in.
	tp.nsx(tp.ns("b"), "ethtool", "-K", "eth0", "tx", "off")

	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a)
	tp.dvs("port", "add", "br0", "tun0", "--type", kind, "--remote-ip", "203.0.113.2", "--local-ip", "203.0.113.1", "--key", "5000")

	o.vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev")
	o.vsctl("add-port", "br-int", b)
	o.vsctl("add-port", "br-int", "tun0", "--", "set", "interface", "tun0", "type="+kind,
		"options:remote_ip=203.0.113.1", "options:key=5000")
	o.vsctl("add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev")
	o.vsctl("add-port", "br-phy", ulO)
	tp.nsx(on, "ip", "addr", "add", "203.0.113.2/24", "dev", "br-phy")
	tp.nsx(on, "ip", "link", "set", "br-phy", "up")
	for _, p := range []string{"br-int", "tun0", "br-phy", b, ulO} {
		if e := strings.TrimSpace(o.vsctl("get", "interface", p, "error")); e != "[]" {
			t.Fatalf("OVS interface %s: %s", p, e)
		}
	}
	// OVS learns the underlay route from the kernel: wait for it.
	for i := 0; ; i++ {
		out, _ := o.try("ovs-appctl", "ovs/route/show")
		if strings.Contains(out, "203.0.113.0/24 dev br-phy") {
			break
		}
		if i == 100 {
			t.Fatalf("OVS has no route to the underlay via br-phy")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return tp, o, ulS
}

// checkOVSTunnel pings both ways through dvs and OVS, checks the
// underlay carries the encapsulation (as tcpdump decodes it, with VNI
// 5000) both ways, and runs TCP both ways. It returns the topology, OVS
// and the underlay interface on dvs's side.
func checkOVSTunnel(t *testing.T, kind string, udpPort int, want *regexp.Regexp) (*topo, *ovs, string) {
	tp, o, ul := ovsTunnel(t, kind)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\ndvs stats:\n%s", append(args, tp.dvs("stats", "br0"))...)
	}
	if !tp.pingRetry("a", "198.51.100.2") {
		fail("a (dvs) cannot ping b (OVS) over %s", kind)
	}
	if !tp.pingRetry("b", "198.51.100.1") {
		fail("b (OVS) cannot ping a (dvs) over %s", kind)
	}
	got := tp.captureNS(tp.sw, ul, fmt.Sprintf("udp port %d", udpPort), func() { tp.mustPing("a", "198.51.100.2") })
	for _, dir := range []string{`203\.0\.113\.1\.\d+ > 203\.0\.113\.2\.` + fmt.Sprint(udpPort), `203\.0\.113\.2\.\d+ > 203\.0\.113\.1\.` + fmt.Sprint(udpPort)} {
		// tcpdump prints the inner frame after the Geneve header on the
		// same line, after the VXLAN header on the next.
		re := regexp.MustCompile(dir + `: ` + want.String() + `(: |\n)` +
			`[0-9a-f:]{17} > [0-9a-f:]{17}, ethertype IPv4 \(0x0800\), length \d+: 198\.51\.100\.\d > 198\.51\.100\.\d: ICMP echo`)
		if !re.MatchString(got) {
			t.Errorf("underlay capture has no %s line matching %q:\n%s", kind, re, got)
		}
	}
	t.Logf("underlay capture:\n%s", got)
	for _, d := range []struct{ from, to, addr string }{{"a", "b", "198.51.100.2"}, {"b", "a", "198.51.100.1"}} {
		bps := tp.iperf(d.from, d.to, d.addr, 3)
		t.Logf("iperf3 TCP %s -> %s (%s, dvs <-> OVS userspace): %.3f Gbit/s", d.from, d.to, kind, bps/1e9)
		if bps < 10e6 {
			t.Errorf("TCP throughput %s -> %s %.0f bit/s, want at least 10 Mbit/s", d.from, d.to, bps)
		}
	}
	if d := tp.drops("br0"); d["tunnel-header"] != 0 || d["tunnel-vni"] != 0 || d["tunnel-unknown-source"] != 0 {
		t.Errorf("dvs dropped tunnel packets from OVS: %v", d)
	}
	return tp, o, ul
}

// pingRetry is mustPing without failing: the first pings wait for ARP on
// both sides of the underlay and in the overlay.
func (tp *topo) pingRetry(host, addr string) bool {
	for i := 0; i < 10; i++ {
		if tp.ping(host, addr) {
			return true
		}
	}
	return false
}

// TestGeneveWithOVS: a dvs Geneve port (VNI 5000) and Open vSwitch's
// userspace Geneve (datapath_type=netdev, userspace tunnelling through
// br-phy) carry pings and TCP between a host on each. OVS with UDP
// checksums on still reaches dvs. Then OVS adds a
// Geneve option to what b sends: dvs skips a non-critical one, and drops
// (as tunnel-header) packets with a critical one, as RFC 8926 asks of an
// endpoint that does not know the option, and control (O bit) packets.
func TestGeneveWithOVS(t *testing.T) {
	tp, o, ul := checkOVSTunnel(t, "geneve", 6081, regexp.MustCompile(`Geneve, Flags \[none\], vni 0x1388, proto TEB \(0x6558\)`))
	b := tp.ns("b")
	bPort := "b" + tp.id
	// OVS with UDP checksums on (dvs sends none, as OVS does by default):
	// dvs's socket checks them and takes the packets.
	o.vsctl("set", "interface", "tun0", "options:csum=true")
	// -vv (in the filter, after the interface) makes tcpdump check the sums.
	got := tp.captureNS(tp.sw, ul, "-vv udp port 6081", func() {
		if !tp.pingRetry("b", "198.51.100.1") {
			t.Errorf("b cannot ping a when OVS sends Geneve with UDP checksums\ndvs stats:\n%s", tp.dvs("stats", "br0"))
		}
	})
	if !regexp.MustCompile(`203\.0\.113\.2\.\d+ > 203\.0\.113\.1\.6081: \[udp sum ok\] Geneve`).MatchString(got) {
		t.Errorf("underlay capture shows no checksummed Geneve from OVS:\n%s", got)
	}
	o.vsctl("remove", "interface", "tun0", "options", "csum")
	// Option class 0xffff (experimental), type 0x01 (non-critical) and
	// 0x81 (critical: the type's high bit).
	o.run("ovs-ofctl", "add-tlv-map", "br-int", "{class=0xffff,type=0x01,len=4}->tun_metadata0,{class=0xffff,type=0x81,len=4}->tun_metadata1")
	o.run("ovs-ofctl", "add-flow", "br-int", "priority=100,in_port="+bPort+",actions=set_field:0x1234->tun_metadata0,output:tun0")
	got = tp.captureNS(tp.sw, ul, "udp port 6081", func() {
		if !tp.pingRetry("b", "198.51.100.1") {
			t.Errorf("b cannot ping a when OVS adds a non-critical Geneve option\ndvs stats:\n%s", tp.dvs("stats", "br0"))
		}
	})
	if !regexp.MustCompile(`203\.0\.113\.2\.\d+ > 203\.0\.113\.1\.6081: Geneve, Flags \[none\], vni 0x1388, proto TEB \(0x6558\), options \[8 bytes\]: `).MatchString(got) {
		t.Errorf("underlay capture shows no non-critical option from OVS:\n%s", got)
	}
	before := tp.drops("br0")["tunnel-header"]
	o.run("ovs-ofctl", "add-flow", "br-int", "priority=100,in_port="+bPort+",actions=set_field:0x1234->tun_metadata1,output:tun0")
	got = tp.captureNS(tp.sw, ul, "udp port 6081", func() {
		if _, err := try("ip", "netns", "exec", b, "ping", "-c", "3", "-i", "0.2", "-W", "1", "198.51.100.1"); err == nil {
			t.Errorf("b pings a through Geneve packets with a critical option dvs does not know")
		}
	})
	if !regexp.MustCompile(`203\.0\.113\.2\.\d+ > 203\.0\.113\.1\.6081: Geneve, Flags \[C\], vni 0x1388, proto TEB \(0x6558\), options \[8 bytes\]: `).MatchString(got) {
		t.Errorf("underlay capture shows no critical option from OVS:\n%s", got)
	}
	if after := tp.drops("br0")["tunnel-header"]; after < before+3 {
		t.Errorf("tunnel-header drops went from %d to %d, want at least +3 (the critical-option pings)", before, after)
	}
	// A control packet (O bit): its payload is not to be forwarded.
	before = tp.drops("br0")["tunnel-header"]
	o.run("ovs-ofctl", "add-flow", "br-int", "priority=100,in_port="+bPort+",actions=set_field:+oam->tun_flags,output:tun0")
	got = tp.captureNS(tp.sw, ul, "udp port 6081", func() {
		if _, err := try("ip", "netns", "exec", b, "ping", "-c", "3", "-i", "0.2", "-W", "1", "198.51.100.1"); err == nil {
			t.Errorf("b pings a through Geneve control (O bit) packets")
		}
	})
	if !regexp.MustCompile(`203\.0\.113\.2\.\d+ > 203\.0\.113\.1\.6081: Geneve, Flags \[O\], vni 0x1388, proto TEB \(0x6558\): `).MatchString(got) {
		t.Errorf("underlay capture shows no control packet from OVS:\n%s", got)
	}
	if after := tp.drops("br0")["tunnel-header"]; after < before+3 {
		t.Errorf("tunnel-header drops went from %d to %d, want at least +3 (the control-packet pings)", before, after)
	}
}

// TestVXLANWithOVS is TestGeneveWithOVS over VXLAN.
func TestVXLANWithOVS(t *testing.T) {
	checkOVSTunnel(t, "vxlan", 4789, regexp.MustCompile(`VXLAN, flags \[I\] \(0x08\), vni 5000`))
}
