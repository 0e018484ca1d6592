package agent

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/manager/client"
	"github.com/dvs-project/dvs/internal/resource"
)

const managedYAML = `apiVersion: dvs/v1
kind: Switch
metadata: {name: ov}
spec: {overlay: vxlan}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: ov, vni: 100}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm1}
spec: {portGroup: web, mac: "02:00:00:00:00:01", host: h1, interface: v1, interfaceType: veth}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm2}
spec: {portGroup: web, mac: "02:00:00:00:00:02", host: h1, interface: v2, interfaceType: veth}
`

// runManagedAgent runs an agent in manager mode on dir until the
// returned stop is called.
func runManagedAgent(t *testing.T, dir, url string, host *fakeHost) (stop func()) {
	t.Helper()
	return runManagedAgentToken(t, dir, url, "", host)
}

// runManagedAgentToken is runManagedAgent with a join token.
func runManagedAgentToken(t *testing.T, dir, url, token string, host *fakeHost) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{StateDir: dir, Socket: filepath.Join(dir, "s.sock"), Workers: 1, Opener: host.open,
			Version: "test", Manager: &ManagerOptions{URL: url, Token: token, Host: "h1", TunnelIP: "127.0.0.1", Heartbeat: 100 * time.Millisecond}})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestManagedAgent runs an agent in manager mode against an in-process
// manager: it builds the switch's bridge, acks the revision, and after a
// restart with the manager gone brings the bridge back from its saved
// share.
func TestManagedAgent(t *testing.T) {
	mdir, adir := t.TempDir(), t.TempDir()
	m, err := manager.Open(context.Background(), manager.Options{DataDir: mdir, Keepalive: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(context.Background())
	mdone := make(chan struct{})
	go func() { m.Serve(mctx, ln); close(mdone) }()
	stopManager := func() { m.Close(); mcancel(); <-mdone }
	defer func() {
		if mctx.Err() == nil {
			stopManager()
		}
	}()
	url := "http://" + ln.Addr().String()
	cl := client.New(url, "")
	defer cl.Close()
	ctx := context.Background()

	host := newFakeHost()
	stop := runManagedAgent(t, adir, url, host)
	waitFor(t, "the host to register", func() bool {
		_, err := cl.Get(ctx, resource.KindHost, "h1")
		return err == nil
	})
	objs, err := resource.Decode([]byte(managedYAML))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	ac := api.NewClient(filepath.Join(adir, "s.sock"))
	defer ac.Close()
	portsOf := func() int {
		ps, err := ac.Ports(ctx, "ov")
		if err != nil {
			return -1
		}
		return len(ps)
	}
	waitFor(t, "bridge ov with two ports", func() bool { return portsOf() == 2 })
	var h *resource.Host
	waitFor(t, "the host to ack", func() bool {
		o, err := cl.Get(ctx, resource.KindHost, "h1")
		if err != nil {
			return false
		}
		h = o.(*resource.Host)
		return h.Status.Converged && h.Status.AckedRevision > 0
	})
	flows, err := ac.DumpFlows(ctx, "ov", "", false)
	if err != nil || len(flows) != 8 {
		t.Errorf("ov has %d flows (%v), want 8:\n%q", len(flows), err, flows)
	}

	// Each arriving port announced its VM's MAC (a RARP injected as if
	// from the VM), which the group's flood carried to the other port.
	for _, c := range []struct{ port, mac string }{{"v2", "\x02\x00\x00\x00\x00\x01"}, {"v1", "\x02\x00\x00\x00\x00\x02"}} {
		waitFor(t, c.port+" to receive the other VM's RARP", func() bool {
			for _, f := range host.port(c.port).Sent() {
				if len(f) >= 14 && string(f[6:12]) == c.mac && f[12] == 0x80 && f[13] == 0x35 {
					return true
				}
			}
			return false
		})
	}

	// Unbinding vm2 removes its port and leaves vm1's open.
	v1 := host.port("v1")
	o, err := cl.Get(ctx, resource.KindPort, "vm2")
	if err != nil {
		t.Fatal(err)
	}
	p := o.(*resource.Port)
	p.Spec.Host, p.Spec.Interface, p.Spec.InterfaceType = "", "", ""
	if _, err := cl.Put(ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "vm2's port to go", func() bool { return portsOf() == 1 })
	if host.port("v1") != v1 {
		t.Error("v1 was reopened by a change to vm2")
	}

	// The agent restarts while the manager is down: the saved share
	// brings the bridge back.
	stop()
	stopManager()
	runManagedAgent(t, adir, url, host)
	ac2 := api.NewClient(filepath.Join(adir, "s.sock"))
	defer ac2.Close()
	waitFor(t, "bridge ov back from the saved share", func() bool {
		ps, err := ac2.Ports(ctx, "ov")
		return err == nil && len(ps) == 1 && ps[0].Name == "v1"
	})
}

// TestAgentHostToken: an agent joins with the join token, keeps the host
// token it got (mode 0600) and uses it from then on; a host token the
// manager does not know makes it join again; a wrong join token leaves
// nothing registered.
func TestAgentHostToken(t *testing.T) {
	m, err := manager.Open(context.Background(), manager.Options{DataDir: t.TempDir(), Keepalive: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups, not defers: they run after the agents' (registered
	// later), so a failing test does not wait forever for the server to
	// end an agent's open watch.
	t.Cleanup(func() { m.Close() })
	srv := httptest.NewServer(m.Handler(true))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	adir := t.TempDir()
	tokFile := filepath.Join(adir, hostTokenFile)
	readTok := func() string {
		data, _ := os.ReadFile(tokFile)
		return strings.TrimSpace(string(data))
	}
	// seen reports whether the agent's registration or heartbeats have
	// reached the manager since the last restart.
	var since time.Time
	seen := func() bool {
		o, err := m.Get(resource.Ref{Kind: resource.KindHost, Name: "h1"})
		if err != nil {
			return false
		}
		hb := o.(*resource.Host).Status.LastHeartbeat
		return hb != nil && hb.After(since)
	}
	restart := func(token string) func() {
		since = time.Now()
		return runManagedAgentToken(t, adir, srv.URL, token, newFakeHost())
	}

	// A wrong join token: nothing registered.
	stop := runManagedAgentToken(t, adir, srv.URL, "wrong", newFakeHost())
	time.Sleep(500 * time.Millisecond)
	if _, err := m.Get(resource.Ref{Kind: resource.KindHost, Name: "h1"}); err == nil {
		t.Error("an agent with a wrong join token registered its host")
	}
	stop()

	stop = restart(m.Token())
	// The manager sees the join before the agent has written the token.
	waitFor(t, "the agent to join and keep its token", func() bool { return seen() && readTok() != "" })
	tok := readTok()
	if st, err := os.Stat(tokFile); err != nil || st.Mode().Perm() != 0o600 || tok == "" {
		t.Fatalf("host token file: %v, %v", st, err)
	}
	if err := client.New(srv.URL, tok).Heartbeat(ctx, "h1"); err != nil {
		t.Errorf("the saved host token does not serve h1: %v", err)
	}
	stop()

	// Restarted with the host token and no join token: it needs no
	// join, so the token stays.
	stop = restart("")
	waitFor(t, "the agent to come back with its host token", seen)
	if readTok() != tok {
		t.Error("the agent joined again although its host token is valid")
	}
	stop()

	// The host joins again elsewhere while the agent runs: its token is
	// refused (heartbeats), and it joins again itself.
	stop = restart(m.Token())
	waitFor(t, "the agent to come back", seen)
	if _, _, err := client.New(srv.URL, m.Token()).Register(ctx, "h1", resource.HostSpec{Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	since = time.Now()
	waitFor(t, "the running agent to join again", func() bool {
		t2 := readTok()
		return t2 != tok && seen() && client.New(srv.URL, t2).Heartbeat(ctx, "h1") == nil
	})
	stop()
	tok = readTok()

	// A host token the manager does not know: it joins again.
	if err := os.WriteFile(tokFile, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	stop = restart(m.Token())
	waitFor(t, "the agent to join again", func() bool { t2 := readTok(); return t2 != "" && t2 != tok && t2 != strings.Repeat("ab", 32) })
	waitFor(t, "the agent to register again", seen)
	stop()
}
