// Package store keeps an agent's configuration on local disk (bridges,
// their ports and the flows users added) so that a restarted agent comes
// back with the same switches. It is a bbolt file owned by one agent.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/ofswitch"
)

// Version is the layout version this package writes. A file with a newer
// version is refused rather than half-understood.
const Version = 1

// OpenTimeout bounds the wait for bbolt's file lock, so that a second
// process on the same file fails instead of hanging.
const OpenTimeout = 2 * time.Second

// Layout:
//
//	meta/version            "1"
//	bridges/<name>/config   BridgeConfig as JSON
//	bridges/<name>/ports    []bridge.PortSpec as JSON, in port-number order
//	bridges/<name>/flows    the flow table, one add-flow line per line
var (
	bucketMeta    = []byte("meta")
	bucketBridges = []byte("bridges")
	keyVersion    = []byte("version")
	keyConfig     = []byte("config")
	keyPorts      = []byte("ports")
	keyFlows      = []byte("flows")
)

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("locked by another process")

// BridgeConfig is a bridge's own settings.
type BridgeConfig struct {
	Name            string `json:"name"`
	Workers         int    `json:"workers,omitempty"`           // 0 = one per CPU
	MACAgingSeconds int    `json:"mac_aging_seconds,omitempty"` // 0 = the default
	MACLimit        int    `json:"mac_limit,omitempty"`         // 0 = the default
	// DatapathID is the configured OpenFlow datapath id as 16 hex digits;
	// "" = derived from the name.
	DatapathID string `json:"datapath_id,omitempty"`
	// OpenFlow is the user's OpenFlow configuration (the agent adds the
	// management sockets itself).
	OpenFlow ofswitch.Config `json:"openflow,omitzero"`
	// Offload is the kernel fast path asked for ("" = the agent's default).
	Offload string `json:"offload,omitempty"`
}

// Bridge is everything saved about one bridge.
type Bridge struct {
	Config BridgeConfig
	Ports  []bridge.PortSpec
	// Flows is the whole flow table (including the default NORMAL rule if
	// the user kept it) as add-flow lines, in the order to add them.
	Flows []string
}

// Store is an open state file. Its methods are safe for concurrent use.
type Store struct {
	db *bolt.DB
}

// Open opens or creates the state file at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: OpenTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening state file %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("bad layout version %q", v)
			}
			if n > Version {
				return fmt.Errorf("written by a newer dvs (layout version %d, this one reads up to %d)", n, Version)
			}
		} else if err := meta.Put(keyVersion, []byte(strconv.Itoa(Version))); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketBridges)
		return err
	})
}

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// SaveBridge replaces everything saved about b.Config.Name in one
// transaction.
func (s *Store) SaveBridge(b Bridge) error {
	if b.Config.Name == "" {
		return errors.New("saving bridge: empty name")
	}
	cfg, err := json.Marshal(b.Config)
	if err != nil {
		return fmt.Errorf("saving bridge %s: %w", b.Config.Name, err)
	}
	ports := b.Ports
	if ports == nil {
		ports = []bridge.PortSpec{}
	}
	pj, err := json.Marshal(ports)
	if err != nil {
		return fmt.Errorf("saving bridge %s: %w", b.Config.Name, err)
	}
	for _, f := range b.Flows {
		if strings.ContainsAny(f, "\r\n") {
			return fmt.Errorf("saving bridge %s: flow %q spans lines", b.Config.Name, f)
		}
	}
	flows := []byte(strings.Join(b.Flows, "\n"))
	err = s.db.Update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketBridges)
		name := []byte(b.Config.Name)
		if all.Bucket(name) != nil {
			if err := all.DeleteBucket(name); err != nil {
				return err
			}
		}
		bk, err := all.CreateBucket(name)
		if err != nil {
			return err
		}
		if err := bk.Put(keyConfig, cfg); err != nil {
			return err
		}
		if err := bk.Put(keyPorts, pj); err != nil {
			return err
		}
		return bk.Put(keyFlows, flows)
	})
	if err != nil {
		return fmt.Errorf("saving bridge %s: %w", b.Config.Name, err)
	}
	return nil
}

// DeleteBridge forgets a bridge; forgetting an unknown bridge is not an
// error.
func (s *Store) DeleteBridge(name string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketBridges)
		if all.Bucket([]byte(name)) == nil {
			return nil
		}
		return all.DeleteBucket([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("deleting bridge %s: %w", name, err)
	}
	return nil
}

// Bridges returns every saved bridge, sorted by name.
func (s *Store) Bridges() ([]Bridge, error) {
	var out []Bridge
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBridges).ForEachBucket(func(name []byte) error {
			b, err := decodeBridge(tx.Bucket(bucketBridges).Bucket(name))
			if err != nil {
				return fmt.Errorf("reading bridge %s: %w", name, err)
			}
			if b.Config.Name != string(name) {
				return fmt.Errorf("reading bridge %s: config names %q", name, b.Config.Name)
			}
			out = append(out, b)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeBridge(bk *bolt.Bucket) (Bridge, error) {
	var b Bridge
	if err := decodeStrict(bk.Get(keyConfig), &b.Config); err != nil {
		return b, fmt.Errorf("config: %w", err)
	}
	if err := decodeStrict(bk.Get(keyPorts), &b.Ports); err != nil {
		return b, fmt.Errorf("ports: %w", err)
	}
	if flows := bk.Get(keyFlows); len(flows) > 0 {
		b.Flows = strings.Split(string(flows), "\n")
	}
	return b, nil
}

// decodeStrict decodes JSON, rejecting fields this version does not know.
func decodeStrict(data []byte, v any) error {
	if data == nil {
		return errors.New("missing")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
