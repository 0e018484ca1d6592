package manager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dvs-project/dvs/internal/manager/store"
	"github.com/dvs-project/dvs/internal/resource"
)

// Watch stream messages, one JSON object per line:
//
//	{"type":"snapshot","revision":R,"share":{...}}        the host's whole share at R
//	{"type":"delta","revision":R,"base":B,"delta":{...}}  what changed in the share at R
//	{"type":"current","revision":R}                       the share the agent has (since=) is still current; R is when it last changed
//	{"type":"keepalive","revision":R}                     nothing new; R is the manager's revision
//
// The first message is a snapshot, or "current" when the watch asked
// since=S and the share has not changed since S. After that, every change
// of the share is a delta (see Delta), in revision order and none skipped:
// a delta applies to the share as the previous message left it (B is when
// the share last changed before R, so the agent's revision is at least B
// and below R). The manager sends a fresh snapshot instead if the agent
// falls too far behind (maxQueued). Keepalives come on an idle stream.
// Replica applies these messages; the client hands its callers complete
// shares.
//
// A delta is made of the same pieces as a share: switches, port groups,
// uplinks and ports, by name, and remote-list entries by port group and
// host. Each changed piece is encoded once per change, whatever the number
// of hosts receiving it, so a change to a port group spanning every host
// costs one small line per host, not every host's whole share.
const (
	MsgSnapshot  = "snapshot"
	MsgDelta     = "delta"
	MsgCurrent   = "current"
	MsgKeepalive = "keepalive"
)

// Message is one line of a watch stream.
type Message struct {
	Type     string `json:"type"`
	Revision int64  `json:"revision"`
	Base     int64  `json:"base,omitempty"`  // deltas
	Share    *Share `json:"share,omitempty"` // snapshots
	Delta    *Delta `json:"delta,omitempty"` // deltas
}

// maxQueued bounds the bytes of messages waiting for one agent (about ten
// whole shares of a host in 1,000-host port group); past it, they are
// dropped and the agent gets a fresh snapshot instead.
var maxQueued = 1 << 20

// Watcher is one agent's open watch stream: the messages waiting to be
// written, in order.
type Watcher struct {
	m      *Manager
	host   string
	mu     sync.Mutex
	queue  [][]byte
	queued int  // bytes in queue
	resync bool // queue overflowed: send a snapshot next
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newWatcher(m *Manager, host string) *Watcher {
	return &Watcher{m: m, host: host, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// send queues msg, which the watcher owns from now on.
func (w *Watcher) send(msg []byte) {
	w.mu.Lock()
	switch {
	case w.resync:
	case w.queued > 0 && w.queued+len(msg) > maxQueued:
		w.queue, w.queued, w.resync = nil, 0, true
	default:
		w.queue = append(w.queue, msg)
		w.queued += len(msg)
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *Watcher) close() { w.once.Do(func() { close(w.done) }) }

// ErrWatchClosed is returned by Next when the manager closed the stream:
// it is shutting down, or the same host opened another stream.
var ErrWatchClosed = errors.New("watch stream replaced or manager shutting down")

// Next waits for the next message lines to send, in order; the caller
// owns them. It returns nil, nil when keepalive passes with nothing to
// send (the caller sends a keepalive).
func (w *Watcher) Next(ctx context.Context, keepalive time.Duration) ([][]byte, error) {
	t := time.NewTimer(keepalive)
	defer t.Stop()
	for {
		w.mu.Lock()
		msgs, resync := w.queue, w.resync
		w.queue, w.queued = nil, 0
		w.mu.Unlock()
		if resync {
			return w.m.resnapshot(w)
		}
		if msgs != nil {
			return msgs, nil
		}
		select {
		case <-w.notify:
		case <-t.C:
			return nil, nil
		case <-w.done:
			return nil, ErrWatchClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Watch opens host's watch stream. since is the revision of the share the
// agent already has (0 for none). The watcher is primed with the first
// message; Unwatch must be called when the stream ends.
func (m *Manager) Watch(host string, since int64) (*Watcher, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.cur.hosts[host]; !ok {
		return nil, fmt.Errorf("%w: host %s (register it first)", ErrNotFound, host)
	}
	rev := m.rev
	w := newWatcher(m, host)
	m.hmu.Lock()
	r := m.runtime(host)
	if r.watcher != nil {
		r.watcher.close()
	}
	r.watcher = w
	if !r.tracked {
		// The share may have changed at any revision so far.
		r.target, r.tracked = rev, true
	}
	target := r.target
	r.lastHeartbeat = time.Now()
	m.hmu.Unlock()
	if since > 0 && since >= target && since <= rev {
		w.send(fmt.Appendf(nil, `{"type":%q,"revision":%d}`+"\n", MsgCurrent, target))
	} else {
		w.send(encodeSnapshot(m.ix.shareOf(host), rev))
	}
	return w, nil
}

// resnapshot replaces what w has queued with a snapshot of the current
// share, for an agent that fell behind.
func (m *Manager) resnapshot(w *Watcher) ([][]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	msg := encodeSnapshot(m.ix.shareOf(w.host), m.rev)
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if r := m.rt[w.host]; r == nil || r.watcher != w {
		return nil, ErrWatchClosed
	}
	// Commits wait for m.mu, so nothing newer than msg was queued.
	w.mu.Lock()
	w.queue, w.queued, w.resync = nil, 0, false
	w.mu.Unlock()
	return [][]byte{msg}, nil
}

// Unwatch forgets w when its stream ends.
func (m *Manager) Unwatch(w *Watcher) {
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if r := m.rt[w.host]; r != nil && r.watcher == w {
		r.watcher = nil
	}
	w.close()
}

// Register creates or updates a host as its agent reports it, and counts
// as a heartbeat. It returns the host and whether it was created. The
// host's credential stays as it was.
func (m *Manager) Register(ctx context.Context, h *resource.Host) (*resource.Host, bool, error) {
	return m.register(ctx, h)
}

// Join is Register for an agent that presented the join token: the host
// gets a new token (returned; the manager keeps only its hash), which
// replaces any earlier one. From then on the agent uses it, and it serves
// only that host's agent endpoints.
func (m *Manager) Join(ctx context.Context, h *resource.Host) (*resource.Host, bool, string, error) {
	tok, err := randomToken()
	if err != nil {
		return nil, false, "", err
	}
	h = resource.Clone(h).(*resource.Host)
	h.Credential = credentialOf(tok)
	got, created, err := m.register(ctx, h)
	if err != nil {
		return nil, false, "", err
	}
	return got, created, tok, nil
}

func (m *Manager) register(ctx context.Context, h *resource.Host) (*resource.Host, bool, error) {
	res, _, err := m.Apply(ctx, []Item{{Object: h, Expect: store.AnyRevision}})
	if err != nil {
		return nil, false, err
	}
	name := h.Metadata.Name
	m.hmu.Lock()
	m.runtime(name).lastHeartbeat = time.Now()
	m.hmu.Unlock()
	o, err := m.Get(resource.Ref{Kind: resource.KindHost, Name: name})
	if err != nil {
		return nil, false, err
	}
	return o.(*resource.Host), res[0].Action == Created, nil
}

// Ack records that host's agent reached rev; it counts as a heartbeat.
func (m *Manager) Ack(host string, rev int64) error {
	m.mu.RLock()
	_, ok := m.cur.hosts[host]
	cur := m.rev
	m.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: host %s", ErrNotFound, host)
	}
	if rev < 0 || rev > cur {
		return invalidf("revision %d is not one the manager has sent (the current one is %d)", rev, cur)
	}
	m.hmu.Lock()
	defer m.hmu.Unlock()
	r := m.runtime(host)
	r.acked = max(r.acked, rev)
	r.lastHeartbeat = time.Now()
	return nil
}

// Heartbeat records that host's agent is alive.
func (m *Manager) Heartbeat(host string) error {
	m.mu.RLock()
	_, ok := m.cur.hosts[host]
	m.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: host %s", ErrNotFound, host)
	}
	m.hmu.Lock()
	m.runtime(host).lastHeartbeat = time.Now()
	m.hmu.Unlock()
	return nil
}

// ShareOf returns host's current share and the revision it is at.
func (m *Manager) ShareOf(host string) (*Share, int64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.ix.shareOf(host), m.rev
}
