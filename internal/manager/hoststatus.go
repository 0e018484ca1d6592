package manager

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dvs-project/dvs/internal/manager/store"
)

// Host status across managers. A host's liveness and the revision its
// agent acknowledged live in the memory of the manager the agent is
// connected to. Managers that share a store publish them there, under
// hoststatus/NAME, so that every manager reports every host: a manager
// writes, once a second and in one commit (or a few), the hosts connected
// to it whose ack or connection changed or whose published heartbeat is
// older than statusRefresh. The other managers read them as they follow
// the store. A manager that dies stops refreshing its hosts' heartbeats,
// so they age into NotReady (or Ready again through another manager).
// A single manager on its embedded store publishes nothing.

const (
	statusPrefix   = "hoststatus/"
	statusInterval = time.Second
	statusRefresh  = 5 * time.Second
	// statusOpsPerCommit stays under etcd's default --max-txn-ops (128).
	statusOpsPerCommit = 100
)

// peerStatus is a host's status as a manager published it.
type peerStatus struct {
	Acked     int64     `json:"acked"`
	Heartbeat time.Time `json:"heartbeat"`
	Connected bool      `json:"connected"`
}

// isStatusKey reports whether a store key is a published host status.
func isStatusKey(k string) bool { return strings.HasPrefix(k, statusPrefix) }

// takeStatus records a published host status read from the store (a nil
// value: the key was deleted).
func (m *Manager) takeStatus(kv store.KV) {
	name := strings.TrimPrefix(kv.Key, statusPrefix)
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if kv.Value == nil {
		delete(m.peers, name)
		return
	}
	var ps peerStatus
	if err := json.Unmarshal(kv.Value, &ps); err != nil {
		m.log.Warn("store: ignoring a host status", "key", kv.Key, "err", err)
		return
	}
	if old, ok := m.peers[name]; ok && ps.Heartbeat.Before(old.Heartbeat) {
		return // a manager the host left saying so after another took it
	}
	m.peers[name] = ps
}

// publishStatus writes the status of the hosts connected to this manager
// that changed, every statusInterval until ctx ends.
func (m *Manager) publishStatus(ctx context.Context) {
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	last := map[string]peerStatus{} // what this manager last wrote of each host
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ops []store.Op
		next := map[string]peerStatus{}
		m.hmu.Lock()
		for _, name := range slices.Sorted(maps.Keys(m.rt)) {
			r := m.rt[name]
			if r.lastHeartbeat.IsZero() {
				continue
			}
			p := peerStatus{Acked: r.acked, Heartbeat: r.lastHeartbeat, Connected: r.watcher != nil}
			old, had := last[name]
			if had && old.Acked == p.Acked && old.Connected == p.Connected && p.Heartbeat.Sub(old.Heartbeat) < statusRefresh {
				continue
			}
			if !had && !p.Connected {
				continue // not ours (or gone before we published it)
			}
			data, _ := json.Marshal(p)
			ops = append(ops, store.Op{Key: statusPrefix + name, Value: data, Expect: store.AnyRevision})
			next[name] = p
		}
		m.hmu.Unlock()
		for len(ops) > 0 {
			n := min(len(ops), statusOpsPerCommit)
			if _, err := m.st.Commit(ctx, store.AnyRevision, ops[:n]); err != nil {
				if ctx.Err() == nil {
					m.log.Warn("publishing host status", "err", err)
				}
				break // what was not written is written next time
			}
			for _, op := range ops[:n] {
				name := strings.TrimPrefix(op.Key, statusPrefix)
				last[name] = next[name]
			}
			ops = ops[n:]
		}
	}
}
