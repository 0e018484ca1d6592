package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// bareNS creates a namespace with nothing in it but lo, cleaned up with
// the hosts.
func (tp *topo) bareNS(name string) string {
	tp.t.Helper()
	ns := "dvs-" + name + "-" + tp.id
	run(tp.t, "ip", "netns", "add", ns)
	tp.hosts[name] = ns
	tp.nsx(ns, "ip", "link", "set", "lo", "up")
	return ns
}

// underlay joins namespaces ns1 and ns2 with a veth pair addressed
// 203.0.113.1/24 (ns1) and 203.0.113.2/24 (ns2).
func (tp *topo) underlay(ns1, ns2 string) {
	tp.t.Helper()
	e1, e2 := tp.link(ns1, ns2, "ul")
	tp.nsx(ns1, "ip", "addr", "add", "203.0.113.1/24", "dev", e1)
	tp.nsx(ns2, "ip", "addr", "add", "203.0.113.2/24", "dev", e2)
}

// drops returns the bridge's drop counters.
func (a *agent) drops(br string) map[string]uint64 {
	a.t.Helper()
	var s struct {
		Drops map[string]uint64 `json:"drops"`
	}
	out := a.dvs("stats", br, "--output", "json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		a.t.Fatalf("stats json: %v\n%s", err, out)
	}
	return s.Drops
}

// iperf runs a TCP iperf3 client in host from towards addr (served in host
// to) for secs seconds and returns the received rate in bit/s.
func (tp *topo) iperf(from, to, addr string, secs int) float64 {
	tp.t.Helper()
	srv := exec.Command("ip", "netns", "exec", tp.ns(to), "iperf3", "-s", "-1", "-B", addr)
	if err := srv.Start(); err != nil {
		tp.t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	o, err := exec.CommandContext(ctx, "ip", "netns", "exec", tp.ns(from), "iperf3", "-c", addr, "-t", fmt.Sprint(secs), "-J").CombinedOutput()
	out := string(o)
	if err != nil {
		tp.t.Errorf("iperf3 -c %s: %v\n%s", addr, err, out)
		return 0
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		tp.t.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	return r.End.SumReceived.BitsPerSecond
}

// TestVXLANWithKernel: a dvs bridge with a VXLAN port (VNI 100) talks to a
// Linux vxlan device in another namespace over an underlay veth.
func TestVXLANWithKernel(t *testing.T) {
	tp := newTopo(t)
	vtep := tp.bareNS("vtep")
	tp.underlay(vtep, tp.sw)
	// A veth hands the other namespace the kernel's tunnel packets with
	// the inner checksum still to be filled in (checksum offload), which a
	// UDP socket cannot tell; a NIC fills it in on the wire. Make the veth
	// behave like the wire.
	tp.nsx(vtep, "ethtool", "-K", "ula"+tp.id, "tx", "off")
	tp.nsx(vtep, "ip", "link", "add", "vx0", "type", "vxlan", "id", "100", "remote", "203.0.113.2",
		"local", "203.0.113.1", "dstport", "4789")
	tp.nsx(vtep, "ip", "addr", "add", "198.51.100.1/24", "dev", "vx0")
	tp.nsx(vtep, "ip", "link", "set", "vx0", "up")
	b := tp.host("b", "198.51.100.2/24")
	// As the kernel gives vx0: the tunnel's inner MTU.
	tp.nsx(tp.ns("b"), "ip", "link", "set", "eth0", "mtu", "1450")
	tp.startAgent()
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", b)
	tp.dvs("port", "add", "br0", "vxk", "--type", "vxlan", "--remote-ip", "203.0.113.1", "--key", "100")

	tp.mustPing("b", "198.51.100.1")
	tp.mustPing("vtep", "198.51.100.2")
	bps := tp.iperf("vtep", "b", "198.51.100.2", 3)
	t.Logf("iperf3 TCP kernel vxlan -> dvs: %.2f Gbit/s", bps/1e9)
	if bps < 10e6 {
		t.Errorf("TCP throughput %.0f bit/s, want at least 10 Mbit/s", bps)
	}
	bps = tp.iperf("b", "vtep", "198.51.100.1", 3)
	t.Logf("iperf3 TCP dvs -> kernel vxlan: %.2f Gbit/s", bps/1e9)
	if bps < 10e6 {
		t.Errorf("TCP throughput %.0f bit/s, want at least 10 Mbit/s", bps)
	}

	show := tp.dvs("port", "show", "br0", "vxk")
	for _, want := range []string{"vxlan", "203.0.113.1", "4789", "100"} {
		if !strings.Contains(show, want) {
			t.Errorf("port show lacks %q:\n%s", want, show)
		}
	}
	var ps []struct {
		Name  string `json:"name"`
		Stats struct {
			RxPackets uint64 `json:"rx_packets"`
			TxPackets uint64 `json:"tx_packets"`
		} `json:"stats"`
	}
	out := tp.dvs("port", "list", "br0", "--output", "json")
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("port list: %v\n%s", err, out)
	}
	for _, p := range ps {
		if p.Name == "vxk" && (p.Stats.RxPackets == 0 || p.Stats.TxPackets == 0) {
			t.Errorf("tunnel port counters did not move: %+v", p)
		}
	}
	tr := tp.dvs("trace", "br0", "in_port=vxk,tun_id=100,tun_src=203.0.113.1,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff")
	if !strings.Contains(tr, "tun_id=0x64") {
		t.Errorf("trace does not show the tunnel metadata:\n%s", tr)
	}
	// A fixed-key port drops other VNIs: make the kernel use VNI 101.
	tp.nsx(vtep, "ip", "link", "del", "vx0")
	tp.nsx(vtep, "ip", "link", "add", "vx0", "type", "vxlan", "id", "101", "remote", "203.0.113.2",
		"local", "203.0.113.1", "dstport", "4789")
	tp.nsx(vtep, "ip", "addr", "add", "198.51.100.1/24", "dev", "vx0")
	tp.nsx(vtep, "ip", "link", "set", "vx0", "up")
	tp.mustNotPing("vtep", "198.51.100.2")
	if d := tp.drops("br0"); d["tunnel-vni"] == 0 {
		t.Errorf("no tunnel-vni drops after VNI 101 traffic: %v", d)
	}
}

// genevePair is two dvs agents joined by an underlay veth (203.0.113.1
// and .2), each with a host (a: 198.51.100.1, b: 198.51.100.2) and a
// Geneve port to the other.
func genevePair(t *testing.T) (*topo, *agent) {
	tp := newTopo(t)
	a := tp.host("a", "198.51.100.1/24")
	tp.startAgent()
	sw2 := tp.addSwitch("sw2")
	b := tp.hostOn(sw2.ns, "b", "198.51.100.2/24")
	tp.underlay(tp.sw, sw2.ns)
	tp.dvs("bridge", "add", "br0")
	tp.dvs("port", "add", "br0", a)
	tp.dvs("port", "add", "br0", "gnv0", "--type", "geneve", "--remote-ip", "203.0.113.2", "--local-ip", "203.0.113.1", "--key", "5000")
	sw2.dvs("bridge", "add", "br0")
	sw2.dvs("port", "add", "br0", b)
	sw2.dvs("port", "add", "br0", "gnv0", "--type", "geneve", "--remote-ip", "203.0.113.1", "--key", "5000")
	return tp, sw2
}

func TestGeneveBetweenAgents(t *testing.T) {
	tp, sw2 := genevePair(t)
	tp.mustPing("a", "198.51.100.2")
	tp.mustPing("b", "198.51.100.1")
	got := tp.captureNS(sw2.ns, "ulb"+tp.id, "udp port 6081", func() { tp.mustPing("a", "198.51.100.2") })
	if !strings.Contains(got, "Geneve") && !strings.Contains(got, "6081") {
		t.Errorf("underlay capture shows no Geneve:\n%s", got)
	}
	if !strings.Contains(got, "vni 0x1388") && !strings.Contains(got, "vni 5000") {
		t.Errorf("underlay capture does not show VNI 5000:\n%s", got)
	}
}

// TestTunnelMTU: a frame too big for the underlay once encapsulated is
// dropped and counted as tunnel-mtu; one that fits passes.
func TestTunnelMTU(t *testing.T) {
	tp, _ := genevePair(t)
	tp.mustPing("a", "198.51.100.2")
	before := tp.drops("br0")["tunnel-mtu"]
	// 1422 bytes of ICMP data: a 1450-byte IP packet, the largest that fits.
	if _, err := try("ip", "netns", "exec", tp.ns("a"), "ping", "-c", "2", "-W", "1", "-M", "do", "-s", "1422", "198.51.100.2"); err != nil {
		t.Errorf("a 1450-byte DF ping does not pass the tunnel: %v", err)
	}
	// 1472: a 1500-byte IP packet, which the host's MTU allows.
	if _, err := try("ip", "netns", "exec", tp.ns("a"), "ping", "-c", "2", "-W", "1", "-M", "do", "-s", "1472", "198.51.100.2"); err == nil {
		t.Errorf("a 1500-byte DF ping passed a tunnel on a 1500-byte underlay")
	}
	if after := tp.drops("br0")["tunnel-mtu"]; after < before+2 {
		t.Errorf("tunnel-mtu drops went from %d to %d, want +2", before, after)
	}
}

// TestTunnelKeyFlow: one VXLAN port pair carries two VNIs, chosen by flows
// from the input port and matched on receive; VNI 100 cannot reach VNI 200.
func TestTunnelKeyFlow(t *testing.T) {
	tp := newTopo(t)
	a1 := tp.host("a1", "198.51.100.1/24")
	a2 := tp.host("a2", "198.51.100.2/24")
	tp.startAgent()
	sw2 := tp.addSwitch("sw2")
	b1 := tp.hostOn(sw2.ns, "b1", "198.51.100.3/24")
	b2 := tp.hostOn(sw2.ns, "b2", "198.51.100.4/24")
	tp.underlay(tp.sw, sw2.ns)
	for _, s := range []struct {
		a          *agent
		p1, p2, ip string
	}{{tp.agent, a1, a2, "203.0.113.2"}, {sw2, b1, b2, "203.0.113.1"}} {
		s.a.dvs("bridge", "add", "br0")
		s.a.dvs("port", "add", "br0", s.p1, "--ofport", "1")
		s.a.dvs("port", "add", "br0", s.p2, "--ofport", "2")
		s.a.dvs("port", "add", "br0", "vxf", "--ofport", "3", "--type", "vxlan", "--remote-ip", s.ip, "--key", "flow")
		s.a.dvs("flow", "del", "br0")
		for _, f := range []string{
			"in_port=1,actions=set_field:100->tun_id,output:3",
			"in_port=2,actions=set_field:200->tun_id,output:3",
			"in_port=3,tun_id=100,actions=output:1",
			"in_port=3,tun_id=200,actions=output:2",
		} {
			s.a.dvs("flow", "add", "br0", f)
		}
	}
	tp.mustPing("a1", "198.51.100.3")
	tp.mustPing("a2", "198.51.100.4")
	tp.mustNotPing("a1", "198.51.100.4")
	tp.mustNotPing("a2", "198.51.100.3")
	got := tp.captureNS(sw2.ns, "ulb"+tp.id, "udp port 4789", func() { tp.mustPing("a2", "198.51.100.4") })
	if !strings.Contains(got, "vni 200") {
		t.Errorf("underlay capture does not show VNI 200:\n%s", got)
	}
	tr := sw2.dvs("trace", "br0", "in_port=3,tun_id=200,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff")
	if !strings.Contains(tr, "tun_id=0xc8") || !strings.Contains(tr, "output:2") {
		t.Errorf("trace of VNI 200 from the tunnel:\n%s", tr)
	}
	tr = tp.dvs("trace", "br0", "in_port=1,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff")
	if !strings.Contains(tr, "set_tunnel(tun_id=0x64)") {
		t.Errorf("trace of VNI 100 into the tunnel has no set_tunnel:\n%s", tr)
	}
}
