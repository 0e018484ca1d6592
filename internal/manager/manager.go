// Package manager is the control plane of the distributed switch: it
// validates and stores the resources (switches, port groups, hosts,
// uplinks, ports), allocates VNIs and OpenFlow port numbers, and streams to
// every agent its share of the desired state (a snapshot, then deltas: see
// Message), tracking the revision each agent acknowledged.
//
// The manager keeps the whole desired state in memory, published as an
// immutable snapshot per revision, and writes every change through to a
// store.Store first. Host liveness (heartbeats, acked revisions) lives in
// memory only: agents report it again after a manager restart.
//
// Several managers may share one store (etcd; see follow.go): each follows
// the others' commits into its own state and watch streams, and commits
// only from a state that is the store's latest, retrying otherwise.
package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dvs-project/dvs/internal/manager/store"
	"github.com/dvs-project/dvs/internal/resource"
)

// TokenFile is the join token's file inside the data dir.
const TokenFile = "join-token"

// Defaults of Options.
const (
	DefaultKeepalive = 15 * time.Second
	// DefaultHeartbeatTimeout is how old a heartbeat may be for a
	// connected host to count as Ready.
	DefaultHeartbeatTimeout = 30 * time.Second
)

// Options configure a manager.
type Options struct {
	DataDir string
	// Store is the --store URL ("" = the embedded file in DataDir).
	Store string
	// Keepalive is the period of keepalive lines on idle watch streams.
	Keepalive        time.Duration
	HeartbeatTimeout time.Duration
	Logger           *slog.Logger
	Version          string
}

// Manager is the control plane. Its methods are safe for concurrent use.
type Manager struct {
	opts  Options
	st    store.Store
	token string
	log   *slog.Logger

	// mu serializes commits and guards cur, ix, rev, advanced and hosts'
	// targets; readers take it shared.
	mu  sync.RWMutex
	cur *state
	ix  *index
	rev int64
	// advanced is closed (and replaced) when rev moves.
	advanced chan struct{}

	// stop ends following a shared store; followed is closed when done.
	stop     context.CancelFunc
	followed chan struct{}

	// hmu guards rt (host runtime: liveness and watchers) and peers
	// (the status other managers published of their hosts).
	hmu   sync.Mutex
	rt    map[string]*hostRuntime
	peers map[string]peerStatus
}

// hostRuntime is what the manager knows about a host's agent beyond its
// spec: in memory only.
type hostRuntime struct {
	lastHeartbeat time.Time
	acked         int64
	// target is the revision of the last change to the share. It is
	// exact once tracked (from the host's first watch on), and the
	// latest revision that may have changed the share before.
	target  int64
	tracked bool
	watcher *Watcher
}

// Open loads (or creates) the store and the join token.
func Open(ctx context.Context, opts Options) (*Manager, error) {
	if opts.DataDir == "" {
		return nil, errors.New("no data dir")
	}
	if opts.Keepalive == 0 {
		opts.Keepalive = DefaultKeepalive
	}
	if opts.HeartbeatTimeout == 0 {
		opts.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	token, err := loadToken(filepath.Join(opts.DataDir, TokenFile))
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, opts.Store, opts.DataDir)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, st: st, token: token, log: opts.Logger, rt: map[string]*hostRuntime{}, peers: map[string]peerStatus{}, advanced: make(chan struct{})}
	if err := m.load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if f, ok := st.(store.Follow); ok {
		fctx, cancel := context.WithCancel(context.Background())
		m.stop, m.followed = cancel, make(chan struct{})
		go func() {
			defer close(m.followed)
			done := make(chan struct{})
			go func() { defer close(done); m.publishStatus(fctx) }()
			m.follow(fctx, f)
			<-done
		}()
	}
	return m, nil
}

// loadToken reads the join token, creating a random one (0600) if the
// file does not exist.
func loadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(data))
		if t == "" {
			return "", fmt.Errorf("join token %s is empty", path)
		}
		return t, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading join token: %w", err)
	}
	var b [32]byte
	rand.Read(b[:])
	t := hex.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating join token: %w", err)
	}
	if _, err := f.WriteString(t + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("writing join token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing join token: %w", err)
	}
	return t, nil
}

func storeKey(r resource.Ref) string { return r.Kind.Plural() + "/" + r.Name }

func parseKey(k string) (resource.Kind, bool) {
	plural, _, ok := strings.Cut(k, "/")
	if !ok {
		return "", false
	}
	for _, kind := range resource.Kinds {
		if kind.Plural() == plural {
			return kind, true
		}
	}
	return "", false
}

func (m *Manager) load(ctx context.Context) error {
	s, rev, err := m.loadState(ctx)
	if err != nil {
		return err
	}
	m.cur, m.ix, m.rev = s, buildIndex(s), rev
	return nil
}

// loadState reads the whole state from the store (and the host status
// other managers published).
func (m *Manager) loadState(ctx context.Context) (*state, int64, error) {
	kvs, rev, err := m.st.Load(ctx)
	if err != nil {
		return nil, 0, err
	}
	s := newState()
	for _, kv := range kvs {
		if isStatusKey(kv.Key) {
			m.takeStatus(kv)
			continue
		}
		o, err := decodeKV(kv)
		if err != nil {
			return nil, 0, err
		}
		s.put(o)
	}
	return s, rev, nil
}

// decodeKV decodes a stored resource.
func decodeKV(kv store.KV) (resource.Object, error) {
	kind, ok := parseKey(kv.Key)
	if !ok {
		return nil, fmt.Errorf("loading the store: unknown key %q", kv.Key)
	}
	o, _ := resource.New(kind)
	if err := json.Unmarshal(kv.Value, o); err != nil {
		return nil, fmt.Errorf("loading %s: %w", kv.Key, err)
	}
	h := o.Head()
	if h.Metadata.Name != strings.SplitN(kv.Key, "/", 2)[1] {
		return nil, fmt.Errorf("loading %s: it holds %q", kv.Key, h.Metadata.Name)
	}
	h.Metadata.Revision = kv.ModRevision
	return o, nil
}

// Close stops the watch streams and closes the store.
func (m *Manager) Close() error {
	if m.stop != nil {
		m.stop()
		<-m.followed
	}
	m.hmu.Lock()
	for _, r := range m.rt {
		if r.watcher != nil {
			r.watcher.close()
		}
	}
	m.hmu.Unlock()
	return m.st.Close()
}

// Token returns the join token.
func (m *Manager) Token() string { return m.token }

// Revision returns the current global revision.
func (m *Manager) Revision() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rev
}

// Action says what an apply did to one resource.
type Action string

// The actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
)

// Result is one resource's outcome of an apply.
type Result struct {
	Kind     resource.Kind `json:"kind"`
	Name     string        `json:"name"`
	Action   Action        `json:"action"`
	Revision int64         `json:"revision"`
}

// Item is one resource to apply, with an optional precondition: Expect is
// store.AnyRevision (none), 0 (must not exist yet), ExpectExists or the
// revision the resource must be at (If-Match).
type Item struct {
	Object resource.Object
	Expect int64
}

// ExpectExists is the Expect of an update that needs the resource to exist
// at any revision (If-Match: *).
const ExpectExists int64 = -2

// Apply creates or updates the items in one transaction: all of them or,
// on any error, none. Items must be decoded with resource.DecodeJSON (so
// normalized and valid on their own).
func (m *Manager) Apply(ctx context.Context, items []Item) ([]Result, int64, error) {
	var results []Result
	var rev int64
	err := m.retry(ctx, func() (err error) {
		results, rev, err = m.apply(ctx, items)
		return err
	})
	return results, rev, err
}

func (m *Manager) apply(ctx context.Context, items []Item) ([]Result, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.cur.clone()
	results := make([]Result, len(items))
	var touched []resource.Ref
	seen := map[resource.Ref]bool{}
	for i, it := range items {
		o := it.Object
		ref := resource.RefOf(o)
		if seen[ref] {
			return nil, 0, invalidf("%s is given twice", ref)
		}
		seen[ref] = true
		results[i] = Result{Kind: ref.Kind, Name: ref.Name}
		old := m.cur.get(ref)
		var oldRev int64
		if old != nil {
			oldRev = old.Head().Metadata.Revision
		}
		switch {
		case it.Expect == 0 && old != nil:
			return nil, 0, conflictf("%s already exists", ref)
		case it.Expect == ExpectExists && old == nil:
			return nil, 0, fmt.Errorf("%w: %s does not exist", ErrPrecondition, ref)
		case it.Expect > 0 && old == nil:
			return nil, 0, fmt.Errorf("%w: %s does not exist", ErrPrecondition, ref)
		case it.Expect > 0 && oldRev != it.Expect:
			return nil, 0, fmt.Errorf("%w: %s is at revision %d, not %d", ErrPrecondition, ref, oldRev, it.Expect)
		}
		if old != nil && bytes.Equal(old.SpecJSON(), o.SpecJSON()) && sameCredential(old, o) {
			results[i].Action, results[i].Revision = Unchanged, oldRev
			continue
		}
		n := resource.Clone(o)
		n.ClearStatus()
		carryCredential(old, n)
		if old != nil {
			carryStatus(old, n)
			n.Head().Metadata.Created = old.Head().Metadata.Created
			results[i].Action = Updated
		} else {
			results[i].Action = Created
		}
		next.put(n)
		touched = append(touched, ref)
	}
	if len(touched) == 0 {
		return results, m.rev, nil
	}
	if err := next.check(); err != nil {
		return nil, 0, err
	}
	realloc, err := next.allocate()
	if err != nil {
		return nil, 0, err
	}
	isTouched := make(map[resource.Ref]bool, len(touched))
	for _, r := range touched {
		isTouched[r] = true
	}
	for _, r := range realloc {
		if !isTouched[r] {
			touched = append(touched, r)
		}
	}
	rev, err := m.commit(ctx, next, touched, nil)
	if err != nil {
		return nil, 0, err
	}
	for i := range results {
		if results[i].Action != Unchanged {
			results[i].Revision = rev
		}
	}
	return results, rev, nil
}

// Delete deletes one resource; expect is as in Item (store.AnyRevision
// for no precondition). Resources still in use are refused (ErrConflict).
func (m *Manager) Delete(ctx context.Context, ref resource.Ref, expect int64) (int64, error) {
	var rev int64
	err := m.retry(ctx, func() (err error) {
		rev, err = m.delete(ctx, ref, expect)
		return err
	})
	return rev, err
}

func (m *Manager) delete(ctx context.Context, ref resource.Ref, expect int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.cur.get(ref)
	if old == nil {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if rev := old.Head().Metadata.Revision; expect > 0 && rev != expect {
		return 0, fmt.Errorf("%w: %s is at revision %d, not %d", ErrPrecondition, ref, rev, expect)
	}
	if users := m.cur.referrers(ref); len(users) > 0 {
		more := ""
		if len(users) > 5 {
			more = fmt.Sprintf(" and %d more", len(users)-5)
			users = users[:5]
		}
		return 0, conflictf("%s is in use by %s%s", ref, strings.Join(users, ", "), more)
	}
	next := m.cur.clone()
	next.del(ref)
	return m.commit(ctx, next, nil, []resource.Ref{ref})
}

// commit writes the touched objects of next and the deletions to the
// store, publishes next and pushes the new shares. Callers hold m.mu.
func (m *Manager) commit(ctx context.Context, next *state, touched, deleted []resource.Ref) (int64, error) {
	var ops []store.Op
	for _, r := range touched {
		o := next.get(r)
		h := o.Head()
		saved := h.Metadata.Revision
		if h.Metadata.Created == 0 {
			h.Metadata.Created = m.rev + 1 // the store's next revision
		}
		h.Metadata.Revision = 0 // the store keeps it as ModRevision
		data, err := json.Marshal(o)
		h.Metadata.Revision = saved
		if err != nil {
			return 0, fmt.Errorf("encoding %s: %w", r, err)
		}
		ops = append(ops, store.Op{Key: storeKey(r), Value: data, Expect: store.AnyRevision})
	}
	for _, r := range deleted {
		ops = append(ops, store.Op{Key: storeKey(r), Expect: store.AnyRevision})
	}
	// The base makes the commit fail if another manager committed
	// something this one has not seen: next was checked and allocated
	// against m.cur only.
	rev, err := m.st.Commit(ctx, m.rev, ops)
	if err != nil {
		return 0, err
	}
	for _, r := range touched {
		h := next.get(r).Head()
		h.Metadata.Revision = rev
		if h.Metadata.Created > rev {
			h.Metadata.Created = rev
		}
	}
	m.publish(next, append(touched, deleted...), rev)
	return rev, nil
}

// publish makes next, changed in refs, the state at rev and pushes the new
// shares. Callers hold m.mu.
func (m *Manager) publish(next *state, refs []resource.Ref, rev int64) {
	oldIx := m.ix
	m.cur, m.ix = next, buildIndex(next)
	if rev > m.rev {
		m.rev = rev
		close(m.advanced)
		m.advanced = make(chan struct{})
	}
	m.fanout(oldIx, m.ix, refs, rev)
}

// fanout sends each watching host whose share changed its delta, and
// moves the target revision of those whose share changed. Callers hold
// m.mu.
func (m *Manager) fanout(oldIx, newIx *index, refs []resource.Ref, rev int64) {
	hosts := affected(oldIx, newIx, refs)
	if len(hosts) == 0 {
		return
	}
	type job struct {
		host string
		rt   *hostRuntime
		w    *Watcher
		base int64
	}
	var jobs []job
	m.hmu.Lock()
	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		r := m.runtime(h)
		if !r.tracked {
			r.target = rev
			continue
		}
		jobs = append(jobs, job{h, r, r.watcher, r.target})
	}
	m.hmu.Unlock()
	if len(jobs) == 0 {
		return
	}
	ch := newChanges(oldIx, newIx, refs)
	msgs := make([][]byte, len(jobs))
	for i, j := range jobs {
		msgs[i] = ch.delta(j.host, j.base, rev)
	}
	m.hmu.Lock()
	defer m.hmu.Unlock()
	for i, j := range jobs {
		if msgs[i] == nil {
			continue
		}
		j.rt.target = rev
		if j.w != nil && j.rt.watcher == j.w {
			j.w.send(msgs[i])
		}
	}
}

// runtime returns h's runtime record, creating it. Callers hold m.hmu.
func (m *Manager) runtime(h string) *hostRuntime {
	r := m.rt[h]
	if r == nil {
		r = &hostRuntime{}
		m.rt[h] = r
	}
	return r
}

// Get returns one resource, with its status filled in.
func (m *Manager) Get(ref resource.Ref) (resource.Object, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	o := m.cur.get(ref)
	if o == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return m.decorate(o), nil
}

// List returns the resources of kind k in name order, with their status.
func (m *Manager) List(k resource.Kind) []resource.Object {
	m.mu.RLock()
	defer m.mu.RUnlock()
	objs := m.cur.list(k)
	out := make([]resource.Object, len(objs))
	for i, o := range objs {
		out[i] = m.decorate(o)
	}
	return out
}

// decorate returns a copy of o with the read-time status fields. Callers
// hold m.mu shared.
func (m *Manager) decorate(o resource.Object) resource.Object {
	ix := m.ix
	switch o := o.(type) {
	case *resource.Switch:
		c := *o
		c.Status.Hosts = ix.hostsBySwitch[o.Metadata.Name]
		for _, pg := range m.cur.pgs {
			if pg.Spec.Switch == o.Metadata.Name {
				c.Status.PortGroups++
				c.Status.Ports += len(ix.portsByPG[pg.Metadata.Name])
			}
		}
		return &c
	case *resource.PortGroup:
		c := *o
		c.Status.Ports = len(ix.portsByPG[o.Metadata.Name])
		c.Status.Hosts = ix.hostsByPG[o.Metadata.Name]
		return &c
	case *resource.Port:
		c := *o
		if pg := m.cur.pgs[o.Spec.PortGroup]; pg != nil {
			c.Status.Switch = pg.Spec.Switch
		}
		return &c
	case *resource.Host:
		c := *o
		c.Status = m.hostStatus(o.Metadata.Name)
		c.Credential = ""
		return &c
	case *resource.Uplink:
		c := *o
		c.Status.Warnings = uplinkWarnings(o, m.cur.hosts[o.Spec.Host])
		return &c
	}
	return o
}

// uplinkWarnings names the interfaces of u that its host does not offer as
// uplinks (Host.spec.uplinks, from `dvs agent --uplink`). A host that
// reports no uplinks gets no warning. Hosts register after uplinks may be
// written and may change their list, so this is a warning, not a
// rejection.
func uplinkWarnings(u *resource.Uplink, h *resource.Host) []string {
	if h == nil || len(h.Spec.Uplinks) == 0 {
		return nil
	}
	var out []string
	for _, ifc := range append([]string{u.Spec.Interface}, u.Spec.Interfaces...) {
		if ifc != "" && !slices.Contains(h.Spec.Uplinks, ifc) {
			out = append(out, fmt.Sprintf("interface %s is not among host %s's uplinks (%s)", ifc, h.Metadata.Name, strings.Join(h.Spec.Uplinks, ", ")))
		}
	}
	return out
}

// hostStatus reports h's liveness.
func (m *Manager) hostStatus(h string) resource.HostStatus {
	m.hmu.Lock()
	defer m.hmu.Unlock()
	r := m.rt[h]
	if ps, ok := m.peers[h]; ok && (r == nil || r.watcher == nil && ps.Heartbeat.After(r.lastHeartbeat)) {
		// Another manager has (or had) the host's agent.
		var target int64
		if r != nil {
			target = r.target
		}
		hb := ps.Heartbeat
		age := time.Since(hb).Round(time.Millisecond).Seconds()
		st := resource.HostStatus{
			State:          resource.HostNotReady,
			Connected:      ps.Connected,
			LastHeartbeat:  &hb,
			HeartbeatAge:   &age,
			TargetRevision: target,
			AckedRevision:  ps.Acked,
			Converged:      ps.Acked >= target,
		}
		if st.Connected && time.Since(hb) < m.opts.HeartbeatTimeout {
			st.State = resource.HostReady
		}
		return st
	}
	if r == nil || r.lastHeartbeat.IsZero() {
		st := resource.HostStatus{State: resource.HostUnknown}
		if r != nil {
			st.TargetRevision = r.target
		}
		return st
	}
	hb := r.lastHeartbeat
	age := time.Since(hb).Round(time.Millisecond).Seconds()
	st := resource.HostStatus{
		State:          resource.HostNotReady,
		Connected:      r.watcher != nil,
		LastHeartbeat:  &hb,
		HeartbeatAge:   &age,
		TargetRevision: r.target,
		AckedRevision:  r.acked,
		Converged:      r.acked >= r.target,
	}
	if st.Connected && time.Since(hb) < m.opts.HeartbeatTimeout {
		st.State = resource.HostReady
	}
	return st
}
