package manager

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dvs-project/dvs/internal/manager/store"
	"github.com/dvs-project/dvs/internal/resource"
)

// Several managers on one store. Each keeps its whole state in memory as
// a single manager does, and:
//
//   - follows the store (store.Follow): every commit after its revision,
//     its own included, is applied to its state and fanned out to the
//     agents watching it, exactly as its own commits are; commits at or
//     below its revision are ones it made itself and are skipped;
//   - commits with its revision as the base, so a commit validated and
//     allocated (VNIs, ofports) against a state that is not the store's
//     latest fails as stale; retry then waits for the follower to catch
//     up (or reloads) and runs the whole apply again on the new state.
//
// Commits are thus serialized across managers by optimistic concurrency
// on the store's revision, which is what keeps the global checks (names,
// MACs, VNIs, bindings) and allocation safe.

// Retry bounds.
const (
	maxAttempts = 50
	// catchUpWait is how long a stale commit waits for the follower
	// before loading the whole store instead.
	catchUpWait = 2 * time.Second
	// followBackoff is the pause before following again after an error.
	followBackoff = time.Second
)

// retry runs fn, once per attempt while it fails with a stale base,
// catching up with the store in between.
func (m *Manager) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		var stale *store.StaleError
		if !errors.As(err, &stale) {
			return err
		}
		if attempt == maxAttempts {
			return conflictf("the store keeps changing under this manager: gave up after %d attempts (%v)", attempt, err)
		}
		if err := m.catchUp(ctx, stale.Revision); err != nil {
			return err
		}
	}
}

// catchUp waits until the manager's state is at least at rev, loading the
// whole store if the follower does not get there in time.
func (m *Manager) catchUp(ctx context.Context, rev int64) error {
	t := time.NewTimer(catchUpWait)
	defer t.Stop()
	for {
		m.mu.RLock()
		cur, ch := m.rev, m.advanced
		m.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			m.log.Warn("store follower lags, loading the whole store", "revision", cur, "want", rev)
			return m.resync(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// follow applies the store's commits until ctx ends.
func (m *Manager) follow(ctx context.Context, f store.Follow) {
	for {
		err := f.Follow(ctx, m.Revision(), m.applyChange)
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("following the store", "err", err)
		if errors.Is(err, store.ErrCompacted) {
			if err := m.resync(ctx); err != nil {
				m.log.Warn("loading the store", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(followBackoff):
		}
	}
}

// applyChange applies one commit of the store, unless the manager already
// has it.
func (m *Manager) applyChange(c store.Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Revision <= m.rev {
		return nil
	}
	next := m.cur.clone()
	refs := make([]resource.Ref, 0, len(c.KVs))
	for _, kv := range c.KVs {
		if isStatusKey(kv.Key) {
			m.takeStatus(kv)
			continue
		}
		kind, ok := parseKey(kv.Key)
		if !ok {
			m.log.Warn("store: ignoring an unknown key", "key", kv.Key, "revision", c.Revision)
			continue
		}
		_, name, _ := strings.Cut(kv.Key, "/")
		ref := resource.Ref{Kind: kind, Name: name}
		if kv.Value == nil {
			next.del(ref)
			refs = append(refs, ref)
			continue
		}
		o, err := decodeKV(kv)
		if err != nil {
			// One bad value must not stop the manager following the
			// rest; it keeps its old copy.
			m.log.Warn("store: ignoring a value", "key", kv.Key, "revision", c.Revision, "err", err)
			continue
		}
		next.put(o)
		refs = append(refs, ref)
	}
	m.publish(next, refs, c.Revision)
	return nil
}

// resync loads the whole store and publishes what differs from the
// manager's state.
func (m *Manager) resync(ctx context.Context) error {
	s, rev, err := m.loadState(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev <= m.rev {
		return nil
	}
	m.publish(s, diffRefs(m.cur, s), rev)
	return nil
}

// diffRefs returns the resources that differ (by revision) between a and b.
func diffRefs(a, b *state) []resource.Ref {
	var out []resource.Ref
	for _, k := range resource.Kinds {
		names := map[string]bool{}
		for _, s := range []*state{a, b} {
			for _, o := range s.list(k) {
				names[o.Head().Metadata.Name] = true
			}
		}
		for _, n := range slices.Sorted(maps.Keys(names)) {
			ref := resource.Ref{Kind: k, Name: n}
			oa, ob := a.get(ref), b.get(ref)
			if oa == nil || ob == nil || oa.Head().Metadata.Revision != ob.Head().Metadata.Revision {
				out = append(out, ref)
			}
		}
	}
	return out
}
