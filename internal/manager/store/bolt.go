package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the embedded store's file inside the data dir.
const FileName = "manager.db"

// Layout version of the bbolt file; a newer file is refused.
const boltVersion = 1

// Layout:
//
//	meta/version    "1"
//	meta/revision   the global revision, 8 bytes big-endian
//	objects/<key>   8 bytes big-endian ModRevision, then the value
var (
	bucketMeta    = []byte("meta")
	bucketObjects = []byte("objects")
	keyVersion    = []byte("version")
	keyRevision   = []byte("revision")
)

// Bolt is the embedded store: one bbolt file owned by one manager.
type Bolt struct {
	db *bolt.DB
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens or creates dataDir/manager.db.
func OpenBolt(dataDir string) (*Bolt, error) {
	path := filepath.Join(dataDir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening %s: locked by another manager", path)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil || n > boltVersion {
				return fmt.Errorf("layout version %q is newer than this dvs reads (%d)", v, boltVersion)
			}
		} else if err := meta.Put(keyVersion, []byte(strconv.Itoa(boltVersion))); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketObjects)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() }

func revisionOf(meta *bolt.Bucket) int64 {
	v := meta.Get(keyRevision)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// Load implements Store.
func (b *Bolt) Load(context.Context) ([]KV, int64, error) {
	var out []KV
	var rev int64
	err := b.db.View(func(tx *bolt.Tx) error {
		rev = revisionOf(tx.Bucket(bucketMeta))
		return tx.Bucket(bucketObjects).ForEach(func(k, v []byte) error {
			if len(v) < 8 {
				return fmt.Errorf("key %q: truncated value", k)
			}
			out = append(out, KV{
				Key:         string(k),
				Value:       append([]byte(nil), v[8:]...),
				ModRevision: int64(binary.BigEndian.Uint64(v)),
			})
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("loading the store: %w", err)
	}
	return out, rev, nil
}

// Commit implements Store.
func (b *Bolt) Commit(_ context.Context, base int64, ops []Op) (int64, error) {
	var rev int64
	err := b.db.Update(func(tx *bolt.Tx) error {
		meta, objs := tx.Bucket(bucketMeta), tx.Bucket(bucketObjects)
		rev = revisionOf(meta)
		if len(ops) == 0 {
			return nil
		}
		if base != AnyRevision && rev != base {
			return &StaleError{Base: base, Revision: rev}
		}
		for _, op := range ops {
			if op.Expect == AnyRevision {
				continue
			}
			var cur int64
			if v := objs.Get([]byte(op.Key)); len(v) >= 8 {
				cur = int64(binary.BigEndian.Uint64(v))
			}
			if cur != op.Expect {
				return fmt.Errorf("%s: at revision %d, not %d: %w", op.Key, cur, op.Expect, ErrPrecondition)
			}
		}
		rev++
		var rb [8]byte
		binary.BigEndian.PutUint64(rb[:], uint64(rev))
		if err := meta.Put(keyRevision, rb[:]); err != nil {
			return err
		}
		for _, op := range ops {
			if op.Value == nil {
				if err := objs.Delete([]byte(op.Key)); err != nil {
					return err
				}
				continue
			}
			v := make([]byte, 8+len(op.Value))
			copy(v, rb[:])
			copy(v[8:], op.Value)
			if err := objs.Put([]byte(op.Key), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrPrecondition) || errors.Is(err, ErrStale) {
			return 0, err
		}
		return 0, fmt.Errorf("committing to the store: %w", err)
	}
	return rev, nil
}
