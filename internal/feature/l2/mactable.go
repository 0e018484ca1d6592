// Package l2 is the MAC learning table of NORMAL switching: where each
// (VLAN, MAC) was last seen, with aging and per-bridge and per-port limits.
package l2

import (
	"sort"
	"sync"
	"time"
)

// Defaults follow Open vSwitch: 300 s aging, 2048 entries per bridge.
const (
	DefaultAging      = 300 * time.Second
	DefaultMaxEntries = 2048
)

// Config sets the table's limits.
type Config struct {
	Aging      time.Duration // how long an entry lives without traffic
	MaxEntries int           // per bridge; 0 = DefaultMaxEntries
}

// Change says what Learn did.
type Change uint8

const (
	Refreshed Change = iota // known entry, same port: age reset
	Learned                 // new entry
	Moved                   // known MAC seen on another port
	Refused                 // not learned: a limit is reached
)

func (c Change) String() string {
	return [...]string{"refreshed", "learned", "moved", "refused (limit reached)"}[c]
}

// Key is a MAC in a VLAN.
type Key struct {
	VLAN uint16
	MAC  [6]byte
}

// Entry is one learned location.
type Entry struct {
	Key
	Port uint32
	Seen time.Time
}

// Counters count table events since creation.
type Counters struct {
	Learned, Moved, Expired, Refused, Flushed uint64
}

// Table is safe for concurrent use. Only the slow path calls it: the fast
// path relies on cached translations, which the owner revalidates when
// Learn reports Learned or Moved or when Expire removes entries.
type Table struct {
	mu       sync.Mutex
	cfg      Config
	entries  map[Key]*Entry
	perPort  map[uint32]int
	portMax  map[uint32]int // per-port limits; absent = none
	counters Counters
}

// New returns an empty table.
func New(cfg Config) *Table {
	if cfg.Aging <= 0 {
		cfg.Aging = DefaultAging
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	return &Table{cfg: cfg, entries: make(map[Key]*Entry), perPort: make(map[uint32]int), portMax: make(map[uint32]int)}
}

// SetPortLimit limits how many MACs port may own; 0 removes the limit.
func (t *Table) SetPortLimit(port uint32, max int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if max <= 0 {
		delete(t.portMax, port)
	} else {
		t.portMax[port] = max
	}
}

// Learn records that mac in vlan was seen on port at now.
func (t *Table) Learn(vlan uint16, mac [6]byte, port uint32, now time.Time) Change {
	k := Key{vlan, mac}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[k]
	if e != nil && e.Port == port {
		e.Seen = now
		return Refreshed
	}
	if max, ok := t.portMax[port]; ok && t.perPort[port] >= max {
		t.counters.Refused++
		return Refused
	}
	if e != nil {
		t.perPort[e.Port]--
		e.Port, e.Seen = port, now
		t.perPort[port]++
		t.counters.Moved++
		return Moved
	}
	if len(t.entries) >= t.cfg.MaxEntries {
		t.counters.Refused++
		return Refused
	}
	t.entries[k] = &Entry{Key: k, Port: port, Seen: now}
	t.perPort[port]++
	t.counters.Learned++
	return Learned
}

// Refresh resets the age of mac in vlan if it is still on port; it is how
// traffic handled by the fast path keeps its entries alive.
func (t *Table) Refresh(vlan uint16, mac [6]byte, port uint32, seen time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[Key{vlan, mac}]; e != nil && e.Port == port && seen.After(e.Seen) {
		e.Seen = seen
	}
}

// Lookup returns the port mac in vlan was learned on.
func (t *Table) Lookup(vlan uint16, mac [6]byte) (port uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[Key{vlan, mac}]; e != nil {
		return e.Port, true
	}
	return 0, false
}

// Expire removes entries not seen for the aging time and returns how many.
func (t *Table) Expire(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, e := range t.entries {
		if now.Sub(e.Seen) >= t.cfg.Aging {
			t.remove(k, e)
			n++
		}
	}
	t.counters.Expired += uint64(n)
	return n
}

// Flush removes every entry (port == 0) or those on one port, and returns
// how many it removed.
func (t *Table) Flush(port uint32) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, e := range t.entries {
		if port == 0 || e.Port == port {
			t.remove(k, e)
			n++
		}
	}
	t.counters.Flushed += uint64(n)
	return n
}

func (t *Table) remove(k Key, e *Entry) {
	delete(t.entries, k)
	if t.perPort[e.Port]--; t.perPort[e.Port] <= 0 {
		delete(t.perPort, e.Port)
	}
}

// Len returns the number of entries.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// Counters returns the event counters.
func (t *Table) Counters() Counters {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counters
}

// Entries returns copies of the entries in vlan (all VLANs if vlan is 0),
// sorted by VLAN then MAC.
func (t *Table) Entries(vlan uint16) []Entry {
	t.mu.Lock()
	out := make([]Entry, 0, len(t.entries))
	for _, e := range t.entries {
		if vlan == 0 || e.VLAN == vlan {
			out = append(out, *e)
		}
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].VLAN != out[j].VLAN {
			return out[i].VLAN < out[j].VLAN
		}
		return string(out[i].MAC[:]) < string(out[j].MAC[:])
	})
	return out
}
