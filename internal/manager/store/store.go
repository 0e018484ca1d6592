// Package store keeps the manager's resources: a small key-value interface
// with a global revision, so that the embedded bbolt file and (later) an
// etcd cluster can serve the same manager.
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

// ErrNotImplemented is returned by Open for store kinds not written yet.
var ErrNotImplemented = errors.New("not implemented yet")

// Store is the manager's persistent state. Implementations are safe for
// concurrent use.
type Store interface {
	// Load returns every key (in key order) and the current revision.
	Load(ctx context.Context) ([]KV, int64, error)
	// Commit applies ops atomically, all or none, and returns the new
	// revision. An empty ops list writes nothing and returns the current
	// revision.
	Commit(ctx context.Context, ops []Op) (int64, error)
	Close() error
}

// Open opens the store a --store URL names: "" for the embedded file in
// dataDir, etcd://host:port,... for an etcd cluster.
func Open(url, dataDir string) (Store, error) {
	switch {
	case url == "" || url == "embedded" || strings.HasPrefix(url, "bolt://"):
		return OpenBolt(dataDir)
	case strings.HasPrefix(url, "etcd://"):
		return nil, fmt.Errorf("store %s: etcd: %w (use the embedded store: leave out --store)", url, ErrNotImplemented)
	}
	return nil, fmt.Errorf("store %q: want etcd://host:port,... or nothing for the embedded store", url)
}
