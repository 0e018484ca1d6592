package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// Entry is a megaflow: every packet whose key agrees with Key on the bits
// of Mask gets Actions. Key, Mask and Actions never change after the entry
// is installed; a changed translation installs a new entry and kills this
// one.
type Entry struct {
	Key     flow.Key // already masked
	Mask    *flow.Mask
	Actions []action.Action
	Drop    action.DropReason

	// l2 is set when Mask examines only what flow.L2Mask does.
	l2 bool

	gen  atomic.Uint64 // pipeline generation the entry was last validated at
	dead atomic.Bool
	// uncached is set (before the entry is shared) when the table was full:
	// such an entry serves one batch and its hits go straight to the rules.
	uncached bool

	packets atomic.Uint64
	bytes   atomic.Uint64
	used    atomic.Int64 // unix nanoseconds of the last hit

	// Owned by the sweeper (under Cache.sweepMu).
	rules                      []*flow.Rule
	counters                   []*pipeline.Counter // groups and buckets
	learned                    []pipeline.Learned
	pushedPackets, pushedBytes uint64
	pushedUsed                 int64
	created                    int64
}

// Gen returns the pipeline generation the entry was last validated at.
func (e *Entry) Gen() uint64 { return e.gen.Load() }

// L2Only reports whether the entry's mask examines only the in port,
// Ethernet addresses and type and VLAN tags (flow.L2Mask).
func (e *Entry) L2Only() bool { return e.l2 }

// Dead reports whether the entry was replaced or removed.
func (e *Entry) Dead() bool { return e.dead.Load() }

// Hit counts packets totalling bytes at now (unix nanoseconds).
func (e *Entry) Hit(packets, bytes uint64, now int64) {
	if e.uncached {
		for _, r := range e.rules {
			r.Stats.Add(packets, bytes, time.Unix(0, now))
		}
		for _, c := range e.counters {
			c.Add(packets, bytes)
		}
		return
	}
	e.packets.Add(packets)
	e.bytes.Add(bytes)
	e.used.Store(now)
}

// Stats returns the entry's packet and byte counts.
func (e *Entry) Stats() (packets, bytes uint64) { return e.packets.Load(), e.bytes.Load() }

// subtable holds the entries of one mask.
type subtable struct {
	h    flow.MaskedHasher // first: lookups touch it and the slots, not the mask
	m    cmap
	mask flow.Mask
}

// megaflows is the megaflow table: a tuple space of masks. Readers never
// lock; writers hold mu.
type megaflows struct {
	mu        sync.Mutex
	subtables atomic.Pointer[[]*subtable]
	count     atomic.Int64
}

func (t *megaflows) init() {
	empty := []*subtable{}
	t.subtables.Store(&empty)
}

// lookup returns the entry k falls in, or nil.
func (t *megaflows) lookup(k *flow.Key) *Entry {
	for _, st := range *t.subtables.Load() {
		h := fixHash(st.h.Hash(k))
		s := *st.m.slots.Load()
		mask := uint64(len(s) - 1)
		for i := h & mask; ; i = (i + 1) & mask {
			sh := s[i].hash.Load()
			if sh == slotEmpty {
				break
			}
			if sh != h {
				continue
			}
			if e := s[i].e.Load(); e != nil && st.h.Equal(k, &e.Key) {
				return e
			}
		}
	}
	return nil
}

// insert adds e, replacing (killing and returning) an entry with the same
// key and mask if there is one.
func (t *megaflows) insert(e *Entry) (replaced *Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	subs := *t.subtables.Load()
	var st *subtable
	for _, s := range subs {
		if s.mask == *e.Mask {
			st = s
			break
		}
	}
	if st == nil {
		st = &subtable{mask: *e.Mask, h: flow.NewMaskedHasher(e.Mask)}
		st.m.init()
		next := append(append(make([]*subtable, 0, len(subs)+1), subs...), st)
		t.subtables.Store(&next)
	}
	e.Mask = &st.mask
	h := st.h.Hash(&e.Key)
	if old := st.m.find(h, func(o *Entry) bool { return o.Key == e.Key }); old != nil {
		replaced = old
		replaced.dead.Store(true)
		st.m.remove(h, replaced)
		t.count.Add(-1)
	}
	st.m.insert(h, e)
	t.count.Add(1)
	return replaced
}

// remove kills e and takes it out of the table.
func (t *megaflows) remove(e *Entry) {
	e.dead.Store(true)
	t.mu.Lock()
	defer t.mu.Unlock()
	subs := *t.subtables.Load()
	for i, st := range subs {
		if &st.mask != e.Mask {
			continue
		}
		if st.m.remove(st.h.Hash(&e.Key), e) {
			t.count.Add(-1)
		}
		if st.m.n == 0 {
			next := append(append(make([]*subtable, 0, len(subs)), subs[:i]...), subs[i+1:]...)
			t.subtables.Store(&next)
		}
		return
	}
}

// each calls fn for every entry.
func (t *megaflows) each(fn func(*Entry)) {
	for _, st := range *t.subtables.Load() {
		st.m.each(fn)
	}
}

// cmap is an open-addressing hash table with lock-free readers. Each slot
// holds a hash and an entry, stored with atomics; a reader checks the hash
// in the slot (no pointer chase for a miss) and then the entry's key, which
// is the only proof of a match, so a reader racing a writer can at worst
// miss an entry being moved (and translate the packet again), never take a
// wrong one. Writers are serialized by the caller. Deleted slots become
// tombstones; growth and rehashing publish a new slot array.
type cmap struct {
	slots atomic.Pointer[[]slot]
	n     int // live entries
	used  int // live entries + tombstones
}

type slot struct {
	hash atomic.Uint64 // 0 empty, 1 tombstone, else the entry's hash
	e    atomic.Pointer[Entry]
}

const (
	slotEmpty     = 0
	slotTombstone = 1
)

// fixHash keeps real hashes clear of the empty and tombstone markers.
func fixHash(h uint64) uint64 {
	if h <= slotTombstone {
		h += 2
	}
	return h
}

func (m *cmap) init() {
	s := make([]slot, 16)
	m.slots.Store(&s)
}

// find returns the entry with hash h whose key satisfies match.
func (m *cmap) find(h uint64, match func(*Entry) bool) *Entry {
	h = fixHash(h)
	s := *m.slots.Load()
	mask := uint64(len(s) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sh := s[i].hash.Load()
		if sh == slotEmpty {
			return nil
		}
		if sh == h {
			if e := s[i].e.Load(); e != nil && match(e) {
				return e
			}
		}
	}
}

func (m *cmap) insert(h uint64, e *Entry) {
	s := *m.slots.Load()
	if 4*(m.used+1) > 3*len(s) {
		s = m.rehash(s)
	}
	h = fixHash(h)
	mask := uint64(len(s) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sh := s[i].hash.Load()
		if sh == slotEmpty || sh == slotTombstone {
			if sh == slotEmpty {
				m.used++
			}
			// Entry first, then hash: a reader that sees the hash sees
			// this entry (or a later one, which its key check rejects).
			s[i].e.Store(e)
			s[i].hash.Store(h)
			m.n++
			return
		}
	}
}

// rehash builds a slot array sized for the live entries, without
// tombstones, and publishes it.
func (m *cmap) rehash(old []slot) []slot {
	size := 16
	for 4*(m.n+1) > 2*size {
		size *= 2
	}
	s := make([]slot, size)
	mask := uint64(size - 1)
	for j := range old {
		h := old[j].hash.Load()
		if h <= slotTombstone {
			continue
		}
		for i := h & mask; ; i = (i + 1) & mask {
			if s[i].hash.Load() == slotEmpty {
				s[i].e.Store(old[j].e.Load())
				s[i].hash.Store(h)
				break
			}
		}
	}
	m.used = m.n
	m.slots.Store(&s)
	return s
}

// remove takes e out of the table.
func (m *cmap) remove(h uint64, e *Entry) bool {
	h = fixHash(h)
	s := *m.slots.Load()
	mask := uint64(len(s) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sh := s[i].hash.Load()
		if sh == slotEmpty {
			return false
		}
		if sh == h && s[i].e.Load() == e {
			s[i].hash.Store(slotTombstone)
			s[i].e.Store(nil)
			m.n--
			return true
		}
	}
}

func (m *cmap) each(fn func(*Entry)) {
	s := *m.slots.Load()
	for i := range s {
		if s[i].hash.Load() > slotTombstone {
			if e := s[i].e.Load(); e != nil {
				fn(e)
			}
		}
	}
}
