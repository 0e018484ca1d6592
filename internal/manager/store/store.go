// Package store keeps the manager's resources: a small key-value interface
// with a global revision, so that the embedded bbolt file and an etcd
// cluster can serve the same manager, and several managers share one etcd.
//
// Every commit bumps one global, monotonic revision and stamps it on the
// keys it writes, as etcd does; the manager exposes that revision as each
// resource's metadata.revision and ETag.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// KV is one stored key with its value and the revision of its last write.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// Op is one write of a commit. A nil Value deletes the key.
type Op struct {
	Key   string
	Value []byte
	// Expect is a precondition on the key's ModRevision: AnyRevision for
	// none, 0 for "must not exist", otherwise the exact revision.
	Expect int64
}

// AnyRevision disables an Op's precondition.
const AnyRevision int64 = -1

// ErrPrecondition is returned by Commit when an Op's Expect does not hold;
// nothing is written.
var ErrPrecondition = errors.New("precondition failed")

// ErrStale is what a StaleError is: the store was written after the
// caller's base revision.
var ErrStale = errors.New("the store changed since the base revision")

// StaleError is returned by Commit when the store was written after base
// (by another manager); nothing is written. The caller catches up to
// Revision and tries again.
type StaleError struct {
	Base, Revision int64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("the store is at revision %d, not %d: %v", e.Revision, e.Base, ErrStale)
}

// Is makes errors.Is(err, ErrStale) hold.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// ErrCompacted is returned by Follow when the revisions after the given
// one are gone from the store's history; the caller loads again.
var ErrCompacted = errors.New("revision compacted")

// Store is the manager's persistent state. Implementations are safe for
// concurrent use.
type Store interface {
	// Load returns every key (in key order) and the current revision.
	Load(ctx context.Context) ([]KV, int64, error)
	// Commit applies ops atomically, all or none, and returns the new
	// revision. base is the revision the caller's view of the store is
	// at: if anything was written after it, Commit fails with a
	// StaleError (AnyRevision skips the check). An empty ops list writes
	// nothing, checks nothing and returns the current revision.
	Commit(ctx context.Context, base int64, ops []Op) (int64, error)
	Close() error
}

// Change is one commit as Follow reports it: the keys it wrote, a nil
// Value for a deleted key, each with ModRevision == Revision.
type Change struct {
	Revision int64
	KVs      []KV
}

// Follow is the capability of a store several managers share: reporting
// the commits made by anyone.
type Follow interface {
	// Follow calls fn with every commit after revision after, in
	// revision order, until ctx ends (it returns ctx's error), fn fails
	// (it returns that error) or the history is gone (ErrCompacted).
	Follow(ctx context.Context, after int64, fn func(Change) error) error
}

// Open opens the store a --store URL names: "" for the embedded file in
// dataDir, etcd://host:port,...[/root] for an etcd cluster (keys under
// /dvs/v1/ by default).
func Open(ctx context.Context, url, dataDir string) (Store, error) {
	switch {
	case url == "" || url == "embedded" || strings.HasPrefix(url, "bolt://"):
		return OpenBolt(dataDir)
	case strings.HasPrefix(url, "etcd://"):
		return OpenEtcd(ctx, url)
	}
	return nil, fmt.Errorf("store %q: want etcd://host:port,... or nothing for the embedded store", url)
}
