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
//	{"type":"snapshot","revision":R,"share":{...}}  the host's whole share at R
//	{"type":"current","revision":R}                 the share the agent has (since=) is still current; R is when it last changed
//	{"type":"keepalive","revision":R}               nothing new; R is the manager's revision
//
// The first message is a snapshot or "current"; after that, a snapshot
// whenever the share changes (intermediate ones may be skipped: each is
// complete) and keepalives on an idle stream.
const (
	MsgSnapshot  = "snapshot"
	MsgCurrent   = "current"
	MsgKeepalive = "keepalive"
)

// Message is one line of a watch stream.
type Message struct {
	Type     string `json:"type"`
	Revision int64  `json:"revision"`
	Share    *Share `json:"share,omitempty"`
}

// Watcher is one agent's open watch stream. Only the newest pending
// snapshot is kept: a slow agent skips intermediate ones.
type Watcher struct {
	host   string
	mu     sync.Mutex
	msg    []byte
	msgRev int64
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newWatcher(host string) *Watcher {
	return &Watcher{host: host, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

func (w *Watcher) send(rev int64, msg []byte) {
	w.mu.Lock()
	if rev >= w.msgRev {
		w.msg, w.msgRev = msg, rev
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

// Next waits for the next message line to send. It returns nil, nil when
// keepalive passes with nothing to send (the caller sends a keepalive).
func (w *Watcher) Next(ctx context.Context, keepalive time.Duration) ([]byte, error) {
	t := time.NewTimer(keepalive)
	defer t.Stop()
	for {
		w.mu.Lock()
		msg := w.msg
		w.msg = nil
		w.mu.Unlock()
		if msg != nil {
			return msg, nil
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
	hash, msg := encodeSnapshot(m.ix.shareOf(host), rev)
	w := newWatcher(host)
	m.hmu.Lock()
	defer m.hmu.Unlock()
	r := m.runtime(host)
	if r.watcher != nil {
		r.watcher.close()
	}
	r.watcher = w
	if hash == r.lastHash && r.sentRev != 0 {
		r.target = r.sentRev
	} else {
		r.target = rev
	}
	r.lastHash, r.sentRev = hash, r.target
	if since > 0 && since >= r.target && since <= rev {
		w.send(r.target, fmt.Appendf(nil, `{"type":%q,"revision":%d}`+"\n", MsgCurrent, r.target))
	} else {
		w.send(rev, msg)
	}
	r.lastHeartbeat = time.Now()
	return w, nil
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
// as a heartbeat. It returns the host and whether it was created.
func (m *Manager) Register(ctx context.Context, h *resource.Host) (*resource.Host, bool, error) {
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
