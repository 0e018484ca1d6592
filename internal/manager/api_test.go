package manager_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/manager/client"
	"github.com/dvs-project/dvs/internal/resource"
)

// startManager runs a manager on 127.0.0.1:0 and returns it, its URL and
// its data dir.
func startManager(t testing.TB, dir string) (*manager.Manager, string) {
	t.Helper()
	return startManagerOn(t, dir, "")
}

// startManagerOn is startManager on the store storeURL names.
func startManagerOn(t testing.TB, dir, storeURL string) (*manager.Manager, string) {
	t.Helper()
	m, err := manager.Open(context.Background(), manager.Options{DataDir: dir, Store: storeURL, Keepalive: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { m.Close(); cancel(); <-done })
	return m, "http://" + ln.Addr().String()
}

func do(t *testing.T, method, url, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAPIStatusCodes(t *testing.T) {
	_, url := startManager(t, t.TempDir())
	sw := `{"apiVersion":"dvs/v1","kind":"Switch","metadata":{"name":"prod"},"spec":{"overlay":"vxlan"}}`
	sw2 := `{"apiVersion":"dvs/v1","kind":"Switch","metadata":{"name":"prod"},"spec":{"overlay":"vxlan","mtu":1400}}`
	check := func(what string, resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", what, resp.StatusCode, want)
		}
	}
	check("create", do(t, "POST", url+"/v1/switches", sw), 201)
	check("create again", do(t, "POST", url+"/v1/switches", sw), 409)
	check("bad json", do(t, "POST", url+"/v1/switches", `{"kind":`), 400)
	check("unknown field 2", do(t, "PUT", url+"/v1/switches/prod", `{"apiVersion":"dvs/v1","kind":"Switch","metadata":{"name":"prod"},"spec":{"overlay":"vxlan","speed":1}}`), 400)
	check("wrong kind", do(t, "PUT", url+"/v1/ports/prod", sw), 400)
	check("name mismatch", do(t, "PUT", url+"/v1/switches/other", sw), 400)
	check("unknown collection", do(t, "GET", url+"/v1/routers", ""), 404)
	check("missing", do(t, "GET", url+"/v1/switches/nope", ""), 404)
	get := do(t, "GET", url+"/v1/switches/prod", "")
	check("get", get, 200)
	tag := get.Header.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	check("put same", do(t, "PUT", url+"/v1/switches/prod", sw, "If-Match", tag), 200)
	check("put stale", do(t, "PUT", url+"/v1/switches/prod", sw2, "If-Match", `"999"`), 412)
	up := do(t, "PUT", url+"/v1/switches/prod", sw2, "If-Match", tag)
	check("put fresh", up, 200)
	if up.Header.Get("ETag") == tag {
		t.Error("ETag did not change on update")
	}
	check("put old tag", do(t, "PUT", url+"/v1/switches/prod", sw, "If-Match", tag), 412)
	check("create-only put", do(t, "PUT", url+"/v1/switches/prod", sw, "If-None-Match", "*"), 409)
	check("put new", do(t, "PUT", url+"/v1/switches/lan", strings.ReplaceAll(sw, "prod", "lan")), 201)
	check("delete stale", do(t, "DELETE", url+"/v1/switches/prod", "", "If-Match", tag), 412)
	check("delete", do(t, "DELETE", url+"/v1/switches/prod", ""), 204)
	check("delete again", do(t, "DELETE", url+"/v1/switches/prod", ""), 404)
	check("apply bad", do(t, "POST", url+"/v1/apply", `{"items":[{"apiVersion":"dvs/v1","kind":"Switch","metadata":{"name":"x"},"spec":{"overlay":"vxlan","mtu":1}}]}`), 400)
	check("ack unknown host", do(t, "POST", url+"/v1/hosts/nope/ack", `{"revision":1}`), 404)
	check("watch unknown host", do(t, "GET", url+"/v1/hosts/nope/watch", ""), 404)
}

func TestAuth(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:7441", false},
		{"[::1]:7441", false},
		{"localhost:7441", false},
		{"10.1.2.3:7441", true},
		{"0.0.0.0:7441", true},
		{"[::]:7441", true},
		{"nonsense", true},
	} {
		a := &net.TCPAddr{}
		var addr net.Addr = a
		if host, port, err := net.SplitHostPort(tt.addr); err == nil && net.ParseIP(host) != nil {
			a.IP = net.ParseIP(host)
			_ = port
		} else {
			addr = fakeAddr(tt.addr)
		}
		if got := manager.AuthRequired(addr); got != tt.want {
			t.Errorf("AuthRequired(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}

	dir := t.TempDir()
	m, url := startManager(t, dir)
	st, err := os.Stat(filepath.Join(dir, manager.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("join token mode %v, want 0600", st.Mode().Perm())
	}
	if got := do(t, "GET", url+"/v1/switches", "", "Authorization", "Bearer wrong").StatusCode; got != 401 {
		t.Errorf("wrong token: %d, want 401", got)
	}
	if got := do(t, "GET", url+"/v1/switches", "", "Authorization", "Bearer "+m.Token()).StatusCode; got != 200 {
		t.Errorf("right token: %d, want 200", got)
	}
	if got := do(t, "GET", url+"/v1/switches", "").StatusCode; got != 200 {
		t.Errorf("no token on loopback: %d, want 200", got)
	}
	// A handler that requires the token (as on a non-loopback listener).
	srv := httptest.NewServer(m.Handler(true))
	defer srv.Close()
	if got := do(t, "GET", srv.URL+"/v1/switches", "").StatusCode; got != 401 {
		t.Errorf("no token where required: %d, want 401", got)
	}
	if got := do(t, "GET", srv.URL+"/v1/switches", "", "Authorization", "Bearer "+m.Token()).StatusCode; got != 200 {
		t.Errorf("token where required: %d, want 200", got)
	}
	// The token survives a restart.
	tok := m.Token()
	m.Close()
	m2, err := manager.Open(context.Background(), manager.Options{DataDir: filepath.Join(dir)})
	if err == nil {
		if m2.Token() != tok {
			t.Errorf("token changed across restart")
		}
		m2.Close()
	}
}

// TestHostTokens: the join token joins a host and hands out its own
// token; that token serves the host's agent endpoints only; an unknown
// token is refused with a clear error and stores nothing; a re-join
// replaces the old token; the credential never shows and survives a
// restart.
func TestHostTokens(t *testing.T) {
	dir := t.TempDir()
	m, _ := startManager(t, dir)
	srv := httptest.NewServer(m.Handler(true)) // as on a non-loopback listener
	defer srv.Close()
	ctx := context.Background()
	spec := resource.HostSpec{Address: "203.0.113.1"}

	joiner := client.New(srv.URL, m.Token())
	_, tok1, err := joiner.Register(ctx, "h1", spec)
	if err != nil || tok1 == "" {
		t.Fatalf("join: token %q, err %v", tok1, err)
	}
	if _, _, err := joiner.Register(ctx, "h2", resource.HostSpec{Address: "203.0.113.2"}); err != nil {
		t.Fatal(err)
	}
	h1 := client.New(srv.URL, tok1)
	if _, tok, err := h1.Register(ctx, "h1", spec); err != nil || tok != "" {
		t.Errorf("register with the host token: new token %q, err %v (want none, nil)", tok, err)
	}
	if err := h1.Heartbeat(ctx, "h1"); err != nil {
		t.Errorf("heartbeat with the host token: %v", err)
	}
	if err := h1.Ack(ctx, "h1", 1); err != nil {
		t.Errorf("ack with the host token: %v", err)
	}
	// Not another host's endpoints, not the configuration.
	if err := h1.Heartbeat(ctx, "h2"); !client.IsStatus(err, 403) || !strings.Contains(err.Error(), "host h1's token") {
		t.Errorf("host token on another host: %v, want 403 naming h1", err)
	}
	if _, _, err := h1.List(ctx, resource.KindSwitch); !client.IsStatus(err, 403) {
		t.Errorf("host token listing switches: %v, want 403", err)
	}
	if _, err := h1.Apply(ctx, []resource.Object{&resource.Switch{Header: resource.Header{APIVersion: resource.APIVersion, Kind: resource.KindSwitch, Metadata: resource.Meta{Name: "x"}}, Spec: resource.SwitchSpec{Overlay: "vxlan", MTU: 1450}}}); !client.IsStatus(err, 403) {
		t.Errorf("host token applying: %v, want 403", err)
	}

	// An unknown token: 401 with a clear message, nothing stored.
	rev := m.Revision()
	bogus := client.New(srv.URL, strings.Repeat("ab", 32))
	_, _, err = bogus.Register(ctx, "h9", resource.HostSpec{Address: "203.0.113.9"})
	if !client.IsStatus(err, 401) || !strings.Contains(err.Error(), "unknown token") {
		t.Errorf("unknown token: %v, want 401 unknown token", err)
	}
	if _, err := m.Get(resource.Ref{Kind: resource.KindHost, Name: "h9"}); err == nil || m.Revision() != rev {
		t.Errorf("an unknown token stored something: h9 err %v, revision %d -> %d", err, rev, m.Revision())
	}

	// The credential never shows, and users cannot set it.
	got, err := joiner.Get(ctx, resource.KindHost, "h1")
	if err != nil || got.(*resource.Host).Credential != "" {
		t.Errorf("host h1 shows its credential %q (err %v)", got.(*resource.Host).Credential, err)
	}
	withCred := &resource.Host{Header: resource.Header{APIVersion: resource.APIVersion, Kind: resource.KindHost, Metadata: resource.Meta{Name: "h1"}}, Spec: spec, Credential: "00"}
	if _, err := joiner.Apply(ctx, []resource.Object{withCred}); !client.IsStatus(err, 400) {
		t.Errorf("applying a host with a credential: %v, want 400", err)
	}
	// An update of the host by the administrator keeps its token.
	withCred.Credential = ""
	withCred.Spec.AgentVersion = "v2"
	if _, err := joiner.Apply(ctx, []resource.Object{withCred}); err != nil {
		t.Fatal(err)
	}
	if err := h1.Heartbeat(ctx, "h1"); err != nil {
		t.Errorf("host token after an update of the host: %v", err)
	}

	// The credential survives a restart.
	m.Close()
	srv.Close()
	m2, err := manager.Open(ctx, manager.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	srv2 := httptest.NewServer(m2.Handler(true))
	defer srv2.Close()
	h1 = client.New(srv2.URL, tok1)
	if _, _, err := h1.Register(ctx, "h1", spec); err != nil {
		t.Errorf("host token after a manager restart: %v", err)
	}
	// A re-join replaces the token: the old one is unknown from then on.
	_, tok2, err := client.New(srv2.URL, m2.Token()).Register(ctx, "h1", spec)
	if err != nil || tok2 == "" || tok2 == tok1 {
		t.Fatalf("re-join: token %q (old %q), err %v", tok2, tok1, err)
	}
	if err := h1.Heartbeat(ctx, "h1"); !client.IsStatus(err, 401) {
		t.Errorf("old host token after a re-join: %v, want 401", err)
	}
	if err := client.New(srv2.URL, tok2).Heartbeat(ctx, "h1"); err != nil {
		t.Errorf("new host token: %v", err)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// fakeAgent registers a host, watches its share, records every share it
// gets (snapshot or delta applied) and acks it.
type fakeAgent struct {
	name string
	cl   *client.Client
	mu   sync.Mutex
	snap []*manager.Share
	revs []int64
	got  chan struct{}
}

func startAgent(t *testing.T, ctx context.Context, url, token, name, addr string) *fakeAgent {
	t.Helper()
	a := &fakeAgent{name: name, cl: client.New(url, token), got: make(chan struct{}, 100)}
	if _, _, err := a.cl.Register(ctx, name, resource.HostSpec{Address: addr, Uplinks: []string{"eth1"}, AgentVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	go a.cl.Watch(ctx, name, 0, nil, func(msg manager.Message) error {
		if msg.Share == nil {
			return nil
		}
		a.mu.Lock()
		a.snap = append(a.snap, msg.Share)
		a.revs = append(a.revs, msg.Revision)
		a.mu.Unlock()
		if err := a.cl.Ack(ctx, name, msg.Revision); err != nil {
			return err
		}
		a.got <- struct{}{}
		return nil
	})
	return a
}

func (a *fakeAgent) wait(t *testing.T, n int) *manager.Share {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		a.mu.Lock()
		if len(a.snap) >= n {
			s := a.snap[len(a.snap)-1]
			a.mu.Unlock()
			return s
		}
		a.mu.Unlock()
		select {
		case <-a.got:
		case <-deadline:
			t.Fatalf("agent %s: no snapshot %d", a.name, n)
		}
	}
}

func (a *fakeAgent) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.snap)
}

func TestClientWatchFakeAgents(t *testing.T) {
	m, url := startManager(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h1 := startAgent(t, ctx, url, m.Token(), "h1", "127.0.0.1")
	h2 := startAgent(t, ctx, url, m.Token(), "h2", "127.0.0.2")
	h3 := startAgent(t, ctx, url, m.Token(), "h3", "127.0.0.3")
	for _, a := range []*fakeAgent{h1, h2, h3} {
		if s := a.wait(t, 1); len(s.Ports) != 0 {
			t.Errorf("%s: first snapshot has ports", a.name)
		}
	}
	cl := client.New(url, m.Token())
	objs, err := resource.Decode([]byte(`
apiVersion: dvs/v1
kind: Switch
metadata: {name: prod}
spec: {overlay: vxlan}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: prod}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: db}
spec: {switch: prod}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm1}
spec: {portGroup: web, mac: "02:00:00:00:00:01", host: h1, interface: tap1}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm2}
spec: {portGroup: web, mac: "02:00:00:00:00:02", host: h2, interface: tap2}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm3}
spec: {portGroup: db, mac: "02:00:00:00:00:03", host: h3, interface: tap3}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	s1 := h1.wait(t, 2)
	if len(s1.Ports) != 1 || len(s1.Remote) != 1 || len(s1.Remote[0].Hosts) != 1 ||
		s1.Remote[0].Hosts[0].Address != "127.0.0.2" || s1.Remote[0].Hosts[0].MACs[0] != "02:00:00:00:00:02" {
		t.Errorf("h1's share: %+v", s1)
	}
	h2.wait(t, 2)
	h3.wait(t, 2)

	// Change web: h1 and h2 carry it, h3 does not.
	n3 := h3.count()
	pg, err := cl.Get(ctx, resource.KindPortGroup, "web")
	if err != nil {
		t.Fatal(err)
	}
	pg.(*resource.PortGroup).Spec.VLAN = 42
	pg.ClearStatus()
	updated, err := cl.Put(ctx, pg, pg.Head().Metadata.Revision)
	if err != nil {
		t.Fatal(err)
	}
	rev := updated.Head().Metadata.Revision
	for _, a := range []*fakeAgent{h1, h2} {
		s := a.wait(t, 3)
		if len(s.PortGroups) != 1 || s.PortGroups[0].Spec.VLAN != 42 {
			t.Errorf("%s did not get the change: %+v", a.name, s.PortGroups)
		}
	}
	// Acks reach the host status.
	deadline := time.Now().Add(5 * time.Second)
	for {
		hosts, _, err := cl.List(ctx, resource.KindHost)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for _, o := range hosts {
			h := o.(*resource.Host)
			if h.Metadata.Name != "h3" && (h.Status.AckedRevision != rev || !h.Status.Converged || h.Status.State != resource.HostReady) {
				ok = false
			}
			if h.Metadata.Name == "h3" && (h.Status.AckedRevision >= rev || !h.Status.Converged) {
				t.Errorf("h3's status: %+v", h.Status)
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acks did not reach the status: %+v", hosts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if h3.count() != n3 {
		t.Errorf("h3 got a snapshot for a port group it does not carry")
	}
	// A stale If-Match is refused through the client too.
	if _, err := cl.Put(ctx, pg, pg.Head().Metadata.Revision); !client.IsStatus(err, 412) {
		t.Errorf("stale put: %v, want 412", err)
	}
	// Moving vm3 to h1 tells h1 (new port), h3 (port gone).
	p3, _ := cl.Get(ctx, resource.KindPort, "vm3")
	p3.(*resource.Port).Spec.Host = "h1"
	p3.ClearStatus()
	if _, err := cl.Put(ctx, p3, 0); err != nil {
		t.Fatal(err)
	}
	if s := h1.wait(t, 4); len(s.Ports) != 2 {
		t.Errorf("h1 after the move: %d ports", len(s.Ports))
	}
	if s := h3.wait(t, n3+1); len(s.Ports) != 0 {
		t.Errorf("h3 after the move: %d ports", len(s.Ports))
	}
	if err := cl.Heartbeat(ctx, "h1"); err != nil {
		t.Error(err)
	}
	if err := cl.Heartbeat(ctx, "nope"); !client.IsStatus(err, 404) {
		t.Errorf("heartbeat of an unknown host: %v", err)
	}
}

func TestWatchSinceCurrent(t *testing.T) {
	m, url := startManager(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := client.New(url, "")
	if _, _, err := cl.Register(ctx, "h1", resource.HostSpec{Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	first := func(since int64, have *manager.Share) manager.Message {
		var got manager.Message
		stop := errors.New("stop")
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		err := cl.Watch(wctx, "h1", since, have, func(msg manager.Message) error { got = msg; return stop })
		if !errors.Is(err, stop) {
			t.Fatal(err)
		}
		return got
	}
	msg := first(0, nil)
	if msg.Type != manager.MsgSnapshot || msg.Share == nil || msg.Revision != m.Revision() {
		t.Fatalf("first message %+v", msg)
	}
	if msg2 := first(msg.Revision, msg.Share); msg2.Type != manager.MsgCurrent || msg2.Share == nil {
		t.Errorf("watch with since=%d: %+v, want current", msg.Revision, msg2)
	}
	if msg3 := first(msg.Revision+100, msg.Share); msg3.Type != manager.MsgSnapshot {
		t.Errorf("watch with a since from the future: %+v, want a snapshot", msg3)
	}
}

func TestStoreEtcdUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = manager.Open(context.Background(), manager.Options{DataDir: t.TempDir(), Store: "etcd://" + addr})
	if err == nil || !strings.Contains(err.Error(), "cannot reach etcd") {
		t.Errorf("etcd store at a closed port: %v", err)
	}
}

// TestClientFailover: a client given several managers uses one that
// answers, whichever position it has in the list.
func TestClientFailover(t *testing.T) {
	_, url := startManager(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	ctx := context.Background()
	for _, list := range []string{dead + "," + url, url + "," + dead, dead + ", " + url + "/"} {
		if _, _, err := client.New(list, "").List(ctx, resource.KindSwitch); err != nil {
			t.Errorf("managers %s: %v", list, err)
		}
	}
	_, _, err = client.New(dead+","+dead, "").List(ctx, resource.KindSwitch)
	var ue *client.UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("no manager answering: %v, want an UnreachableError", err)
	}
}
