package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/porttest"
	"github.com/dvs-project/dvs/internal/packet/testframe"
)

// fakeHost stands in for the host's interfaces: ports open as in-memory
// ports, and interfaces listed in gone do not exist.
type fakeHost struct {
	mu    sync.Mutex
	ports map[string]*porttest.Port
	gone  map[string]bool
}

func newFakeHost() *fakeHost {
	return &fakeHost{ports: map[string]*porttest.Port{}, gone: map[string]bool{}}
}

func (h *fakeHost) open(spec bridge.PortSpec) (datapath.Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone[spec.Name] {
		return nil, fmt.Errorf("interface %s does not exist", spec.Name)
	}
	p := porttest.New(spec.Name)
	h.ports[spec.Name] = p
	return p, nil
}

func (h *fakeHost) port(name string) *porttest.Port {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ports[name]
}

func (h *fakeHost) setGone(name string, gone bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gone[name] = gone
}

type testAgent struct {
	a      *Agent
	c      *api.Client
	cancel context.CancelFunc
	done   chan error
}

// startAgent runs an agent on dir (state) with its socket in dir.
func startAgent(t *testing.T, dir string, host *fakeHost) *testAgent {
	t.Helper()
	a, err := Start(Options{StateDir: dir, Socket: filepath.Join(dir, "s.sock"), Workers: 1, Opener: host.open,
		Sweep: 20 * time.Millisecond, Version: "test"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{a: a, c: api.NewClient(filepath.Join(dir, "s.sock")), cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Serve(ctx) }()
	t.Cleanup(ta.stop)
	return ta
}

func (ta *testAgent) stop() {
	ta.cancel()
	<-ta.done
	ta.done <- nil // later stops return at once
	ta.c.Close()
}

func statusOf(err error) int {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestAgentEndToEnd(t *testing.T) {
	dir := t.TempDir()
	host := newFakeHost()
	ta := startAgent(t, dir, host)
	ctx := context.Background()
	c := ta.c

	if v, err := c.Version(ctx); err != nil || v.Version != "test" || v.PID != os.Getpid() {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	must[api.Bridge](t)(c.AddBridge(ctx, api.BridgeSpec{Name: "br0"}))
	p1 := must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "veth1", VLAN: 10}))
	if p1.OFPort != 1 || p1.VLAN != "access vlan 10" || p1.State != api.StateUp || p1.Type != bridge.TypeAFPacket {
		t.Errorf("port veth1 = %+v", p1)
	}
	must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "veth2", VLAN: 10}))
	p3 := must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "up1", Trunks: "10,20-30", Native: 10, OFPort: 7}))
	if p3.OFPort != 7 || p3.VLAN != "trunk 10,20-30 native 10" {
		t.Errorf("port up1 = %+v", p3)
	}
	p3 = must[api.Port](t)(c.SetPort(ctx, "br0", "up1", api.PortPatch{Trunks: ptr("all")}))
	if p3.VLAN != "trunk all" {
		t.Errorf("after set trunks all: %+v", p3)
	}

	n := must[int](t)(c.AddFlows(ctx, "br0", []string{
		"priority=100,in_port=veth1,dl_dst=02:00:00:00:00:99 actions=drop",
		"table=1,priority=5,ip actions=NORMAL",
	}))
	if n != 2 {
		t.Errorf("AddFlows added %d", n)
	}
	flows := must[[]string](t)(c.DumpFlows(ctx, "br0", "", false))
	want := []string{
		"priority=100,in_port=veth1,dl_dst=02:00:00:00:00:99 actions=drop",
		"priority=0 actions=NORMAL",
		"table=1, priority=5,ip actions=NORMAL",
	}
	if strings.Join(flows, "\n") != strings.Join(want, "\n") {
		t.Errorf("DumpFlows:\n%s\nwant:\n%s", strings.Join(flows, "\n"), strings.Join(want, "\n"))
	}
	if got := must[[]string](t)(c.DumpFlows(ctx, "br0", "table=1", true)); len(got) != 1 || !strings.Contains(got[0], "n_packets=0") {
		t.Errorf("DumpFlows(table=1, stats) = %q", got)
	}

	// The dropped destination.
	tr := must[api.Trace](t)(c.Trace(ctx, "br0", "in_port=veth1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:99"))
	if tr.Drop != "rule" || !strings.HasPrefix(tr.Actions, "drop") || !strings.Contains(tr.Text, "Datapath actions: drop") ||
		len(tr.Steps) == 0 || tr.Steps[0].Table != 0 {
		t.Errorf("trace of a dropped packet:\n%s\n%+v", tr.Text, tr)
	}
	// Flooded in VLAN 10: to veth2 and, tagged, to the trunk.
	tr = must[api.Trace](t)(c.Trace(ctx, "br0", "in_port=1,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff"))
	if !strings.Contains(tr.Actions, "output:2") || !strings.Contains(tr.Actions, "output:7") {
		t.Errorf("trace of a broadcast: actions %q\n%s", tr.Actions, tr.Text)
	}

	// Traffic: a frame from veth1 reaches veth2 and its source is learned.
	host.port("veth1").Inject(testframe.UDP4(testframe.MAC(1), testframe.Broadcast, 1000, 2000))
	waitFor(t, "the frame to reach veth2", func() bool {
		ps, _ := c.Port(ctx, "br0", "veth2")
		return ps.Stats.TxPackets == 1
	})
	macs := must[[]api.MAC](t)(c.MACs(ctx, "br0", 10))
	if len(macs) != 1 || macs[0].Port != "veth1" || macs[0].VLAN != 10 {
		t.Errorf("MACs(10) = %+v", macs)
	}
	if m := must[[]api.MAC](t)(c.MACs(ctx, "br0", 20)); len(m) != 0 {
		t.Errorf("MACs(20) = %+v", m)
	}
	st := must[api.Stats](t)(c.Stats(ctx, "br0"))
	if len(st.Ports) != 3 || st.Ports[0].Stats.RxPackets != 1 || st.Cache.Upcalls == 0 || st.MACs.Entries != 1 || len(st.Tables) == 0 {
		t.Errorf("Stats = %+v", st)
	}
	if n := must[int](t)(c.FlushMACs(ctx, "br0")); n != 1 {
		t.Errorf("FlushMACs = %d", n)
	}

	if n := must[int](t)(c.ModFlows(ctx, "br0", api.FlowSelect{Flow: "table=1,ip actions=drop"})); n != 1 {
		t.Errorf("ModFlows = %d", n)
	}
	if n := must[int](t)(c.DelFlows(ctx, "br0", api.FlowSelect{Flow: "table=1"})); n != 1 {
		t.Errorf("DelFlows = %d", n)
	}
	bs := must[[]api.Bridge](t)(c.Bridges(ctx))
	if len(bs) != 1 || bs[0].Name != "br0" || bs[0].Ports != 3 || bs[0].Flows != 2 {
		t.Errorf("Bridges = %+v", bs)
	}
	if err := c.DelPort(ctx, "br0", "veth2"); err != nil {
		t.Fatal(err)
	}
	if ps := must[[]api.Port](t)(c.Ports(ctx, "br0")); len(ps) != 2 {
		t.Errorf("Ports after delete = %+v", ps)
	}
}

func ptr[T any](v T) *T { return &v }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestAgentBadInput(t *testing.T) {
	dir := t.TempDir()
	host := newFakeHost()
	host.setGone("eth9", true)
	ta := startAgent(t, dir, host)
	ctx := context.Background()
	c := ta.c
	must[api.Bridge](t)(c.AddBridge(ctx, api.BridgeSpec{Name: "br0"}))
	must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "veth1", VLAN: 10}))
	must[int](t)(c.AddFlows(ctx, "br0", []string{"priority=10,in_port=1 actions=output:2"}))
	before := must[[]string](t)(c.DumpFlows(ctx, "br0", "", false))

	tests := []struct {
		name   string
		do     func() error
		status int
		msg    string // the error contains this
	}{
		{"duplicate bridge", func() error { _, err := c.AddBridge(ctx, api.BridgeSpec{Name: "br0"}); return err },
			http.StatusConflict, "bridge br0 already exists"},
		{"bad bridge name", func() error { _, err := c.AddBridge(ctx, api.BridgeSpec{Name: "a/b"}); return err },
			http.StatusBadRequest, "bridge name"},
		{"long bridge name", func() error {
			_, err := c.AddBridge(ctx, api.BridgeSpec{Name: "abcdefghijklmnop"})
			return err
		}, http.StatusBadRequest, "1 to 15 characters"},
		{"unknown bridge", func() error { _, err := c.AddPort(ctx, "br9", api.PortSpec{Name: "veth2"}); return err },
			http.StatusNotFound, "bridge br9 does not exist"},
		{"duplicate port", func() error { _, err := c.AddPort(ctx, "br0", api.PortSpec{Name: "veth1"}); return err },
			http.StatusConflict, "port veth1: port already exists on bridge br0"},
		{"missing interface", func() error { _, err := c.AddPort(ctx, "br0", api.PortSpec{Name: "eth9"}); return err },
			http.StatusBadRequest, "port eth9: interface eth9 does not exist"},
		{"VLAN 4095", func() error { _, err := c.AddPort(ctx, "br0", api.PortSpec{Name: "veth2", VLAN: 4095}); return err },
			http.StatusBadRequest, "4095"},
		{"VLAN 0 in a trunk", func() error {
			_, err := c.AddPort(ctx, "br0", api.PortSpec{Name: "veth2", Trunks: "0-10"})
			return err
		}, http.StatusBadRequest, "0"},
		{"two VLAN modes", func() error {
			_, err := c.AddPort(ctx, "br0", api.PortSpec{Name: "veth2", VLAN: 10, QinQ: 20})
			return err
		}, http.StatusBadRequest, "choose one"},
		{"set VLAN 4095", func() error {
			_, err := c.SetPort(ctx, "br0", "veth1", api.PortPatch{VLAN: ptr(4095)})
			return err
		}, http.StatusBadRequest, "4095"},
		{"unknown port", func() error { return c.DelPort(ctx, "br0", "nope") }, http.StatusNotFound, "no such port"},
		{"malformed flow", func() error {
			_, err := c.AddFlows(ctx, "br0", []string{"priority=10,tp_dts=80 actions=drop"})
			return err
		}, http.StatusBadRequest, "tp_dts"},
		{"malformed flow in a batch", func() error {
			_, err := c.AddFlows(ctx, "br0", []string{"priority=11 actions=drop", "priority=12,in_port=1 actions=outptu:2"})
			return err
		}, http.StatusBadRequest, "line 2:"},
		{"unknown port name in a flow", func() error {
			_, err := c.AddFlows(ctx, "br0", []string{"in_port=vethX actions=drop"})
			return err
		}, http.StatusBadRequest, "vethX"},
		{"no flows", func() error { _, err := c.AddFlows(ctx, "br0", nil); return err }, http.StatusBadRequest, "no flows"},
		{"mod without actions", func() error {
			_, err := c.ModFlows(ctx, "br0", api.FlowSelect{Flow: "in_port=1"})
			return err
		}, http.StatusBadRequest, "actions"},
		{"bad trace", func() error { _, err := c.Trace(ctx, "br0", "in_port=1,nw_srx=1"); return err },
			http.StatusBadRequest, "nw_srx"},
		{"bad MAC VLAN", func() error { _, err := c.MACs(ctx, "br0", 5000); return err }, http.StatusBadRequest, "5000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatal("no error")
			}
			if got := statusOf(err); got != tc.status {
				t.Errorf("status %d, want %d (%v)", got, tc.status, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	var e *api.Error
	_, err := c.AddFlows(ctx, "br0", []string{"priority=11 actions=drop", "bad=1 actions=drop"})
	if !errors.As(err, &e) || e.Line != 2 {
		t.Errorf("batch error %v: want Line 2", err)
	}

	// Nothing changed, and the agent still answers.
	if after := must[[]string](t)(c.DumpFlows(ctx, "br0", "", false)); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("flows changed by failed requests:\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	ports := must[[]api.Port](t)(c.Ports(ctx, "br0"))
	if len(ports) != 1 || ports[0].VLAN != "access vlan 10" {
		t.Errorf("ports changed by failed requests: %+v", ports)
	}
	if bs := must[[]api.Bridge](t)(c.Bridges(ctx)); len(bs) != 1 {
		t.Errorf("bridges changed by failed requests: %+v", bs)
	}
}

func TestAgentRestart(t *testing.T) {
	dir := t.TempDir()
	host := newFakeHost()
	ctx := context.Background()

	ta := startAgent(t, dir, host)
	c := ta.c
	must[api.Bridge](t)(c.AddBridge(ctx, api.BridgeSpec{Name: "br0", MACAgingSeconds: 60}))
	must[api.Bridge](t)(c.AddBridge(ctx, api.BridgeSpec{Name: "br1"}))
	must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "veth1", VLAN: 10}))
	must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "veth2", QinQ: 100, OFPort: 5}))
	must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "up1", Trunks: "10,20", Native: 20, MACLimit: 50}))
	must[api.Port](t)(c.AddPort(ctx, "br1", api.PortSpec{Name: "tap1", Type: "tap"}))
	must[int](t)(c.AddFlows(ctx, "br0", []string{
		"cookie=0x5,priority=200,in_port=veth2,tcp,tp_dst=80 actions=output:up1",
		"table=3,idle_timeout=600,priority=1 actions=drop",
	}))
	// The user removes the default NORMAL rule of br1; it must stay removed.
	if n := must[int](t)(c.DelFlows(ctx, "br1", api.FlowSelect{Flow: "priority=0", Strict: true})); n != 1 {
		t.Fatalf("deleting NORMAL: %d flows", n)
	}
	must[int](t)(c.AddFlows(ctx, "br1", []string{"priority=10,in_port=1 actions=drop"}))
	wantFlows := map[string][]string{}
	wantPorts := map[string][]api.Port{}
	for _, br := range []string{"br0", "br1"} {
		wantFlows[br] = must[[]string](t)(c.DumpFlows(ctx, br, "", false))
		wantPorts[br] = must[[]api.Port](t)(c.Ports(ctx, br))
	}
	ta.stop()
	if _, err := os.Stat(filepath.Join(dir, "s.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left behind after shutdown: %v", err)
	}

	// Restart: everything comes back.
	ta = startAgent(t, dir, host)
	c = ta.c
	bs := must[[]api.Bridge](t)(c.Bridges(ctx))
	if len(bs) != 2 || bs[0].Name != "br0" || bs[0].MACAgingSeconds != 60 || bs[1].Name != "br1" {
		t.Fatalf("bridges after restart: %+v", bs)
	}
	for _, br := range []string{"br0", "br1"} {
		got := must[[]string](t)(c.DumpFlows(ctx, br, "", false))
		if strings.Join(got, "\n") != strings.Join(wantFlows[br], "\n") {
			t.Errorf("%s flows after restart:\n%s\nwant\n%s", br, strings.Join(got, "\n"), strings.Join(wantFlows[br], "\n"))
		}
		ports := must[[]api.Port](t)(c.Ports(ctx, br))
		if len(ports) != len(wantPorts[br]) {
			t.Fatalf("%s ports after restart: %+v", br, ports)
		}
		for i := range ports {
			g, w := ports[i], wantPorts[br][i]
			if g.Name != w.Name || g.OFPort != w.OFPort || g.VLAN != w.VLAN || g.Type != w.Type || g.Spec != w.Spec {
				t.Errorf("%s port %d after restart: %+v, want %+v", br, i, g, w)
			}
		}
	}

	// A port whose interface is gone at start is kept as missing, with its
	// number; adding another port does not take that number.
	ta.stop()
	host.setGone("veth1", true)
	ta = startAgent(t, dir, host)
	c = ta.c
	p := must[api.Port](t)(c.Port(ctx, "br0", "veth1"))
	if p.State != api.StateMissing || p.OFPort != 1 || !strings.Contains(p.Error, "does not exist") {
		t.Errorf("missing port = %+v", p)
	}
	if got := must[[]string](t)(c.DumpFlows(ctx, "br0", "", false)); len(got) != len(wantFlows["br0"]) {
		t.Errorf("flows with a missing port: %q", got)
	}
	if np := must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "veth3"})); np.OFPort == 1 {
		t.Errorf("new port took the missing port's number: %+v", np)
	}
	if _, err := c.AddPort(ctx, "br1", api.PortSpec{Name: "veth1"}); statusOf(err) != http.StatusConflict {
		t.Errorf("adding a missing port to another bridge: %v", err)
	}
	// The interface is back: adding the port again brings it up.
	host.setGone("veth1", false)
	p = must[api.Port](t)(c.AddPort(ctx, "br0", api.PortSpec{Name: "veth1", VLAN: 10}))
	if p.State != api.StateUp || p.OFPort != 1 {
		t.Errorf("re-added port = %+v", p)
	}

	// Deleting a bridge forgets it.
	if err := c.DelBridge(ctx, "br1"); err != nil {
		t.Fatal(err)
	}
	ta.stop()
	ta = startAgent(t, dir, host)
	if bs := must[[]api.Bridge](t)(ta.c.Bridges(ctx)); len(bs) != 1 || bs[0].Name != "br0" {
		t.Errorf("bridges after delete and restart: %+v", bs)
	}
}

func TestSecondAgentRefused(t *testing.T) {
	dir := t.TempDir()
	host := newFakeHost()
	ta := startAgent(t, dir, host)

	_, err := Start(Options{StateDir: dir, Socket: filepath.Join(dir, "other.sock"), Opener: host.open})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second agent on the same state dir: %v", err)
	}
	want := fmt.Sprintf("another dvs agent is using state dir %s (pid %d)", dir, os.Getpid())
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	// Another state dir but the same socket: refused too, and the first
	// agent keeps its socket.
	_, err = Start(Options{StateDir: t.TempDir(), Socket: filepath.Join(dir, "s.sock"), Opener: host.open})
	if err == nil || !strings.Contains(err.Error(), "another dvs agent is listening") {
		t.Errorf("second agent on the same socket: %v", err)
	}
	if _, err := ta.c.Version(context.Background()); err != nil {
		t.Errorf("first agent after the refusals: %v", err)
	}
}

func TestSocketModeAndStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	// A stale socket file from a crashed agent.
	ln, err := listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ta := startAgent(t, dir, newFakeHost())
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if _, err := ta.c.Version(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	c := api.NewClient(sock)
	_, err := c.Bridges(context.Background())
	var ue *api.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T), want UnreachableError", err, err)
	}
	want := "cannot reach the dvs agent at " + sock + ": is `dvs agent` running?"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestPanicIsAnswered(t *testing.T) {
	dir := t.TempDir()
	ta := startAgent(t, dir, newFakeHost())
	h := ta.a.wrap(func(*http.Request) (any, error) { panic("boom") })
	w := &recorder{header: http.Header{}}
	h.ServeHTTP(w, mustRequest(t))
	if w.status != http.StatusInternalServerError || !strings.Contains(w.body.String(), "boom") {
		t.Errorf("panic answered %d %q", w.status, w.body.String())
	}
	if _, err := ta.c.Version(context.Background()); err != nil {
		t.Errorf("agent after a panic: %v", err)
	}
}

type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func mustRequest(t *testing.T) *http.Request {
	r, err := http.NewRequest(http.MethodGet, "http://dvs/v1/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
