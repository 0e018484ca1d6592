package cache

import (
	"sync"
	"sync/atomic"

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

	gen  atomic.Uint64 // pipeline generation the entry was last validated at
	dead atomic.Bool

	packets atomic.Uint64
	bytes   atomic.Uint64
	used    atomic.Int64 // unix nanoseconds of the last hit

	// Owned by the sweeper (under Cache.sweepMu).
	rules                      []*flow.Rule
	learned                    []pipeline.Learned
	pushedPackets, pushedBytes uint64
	pushedUsed                 int64
	created                    int64
}

// Dead reports whether the entry was replaced or removed.
func (e *Entry) Dead() bool { return e.dead.Load() }

// Hit counts a packet of n bytes at now (unix nanoseconds).
func (e *Entry) Hit(packets, bytes uint64, now int64) {
	e.packets.Add(packets)
	e.bytes.Add(bytes)
	e.used.Store(now)
}

// Stats returns the entry's packet and byte counts.
func (e *Entry) Stats() (packets, bytes uint64) { return e.packets.Load(), e.bytes.Load() }

// subtable holds the entries of one mask.
type subtable struct {
	mask flow.Mask
	idx  []uint8 // words of mask with bits set
	m    cmap
	hits atomic.Uint64
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

// lookup returns the live entry k falls in, or nil.
func (t *megaflows) lookup(k *flow.Key) *Entry {
	kw := k.Words()
	for _, st := range *t.subtables.Load() {
		h := k.HashMasked(&st.mask, st.idx)
		mw := st.mask.Words()
	chain:
		for n := st.m.head(h); n != nil; n = n.next {
			if n.hash != h {
				continue
			}
			// Only the words the mask examines can differ.
			ew := n.e.Key.Words()
			for _, i := range st.idx {
				if (kw[i]^ew[i])&mw[i] != 0 {
					continue chain
				}
			}
			return n.e
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
		st = &subtable{mask: *e.Mask, idx: e.Mask.NonZeroWords()}
		st.m.init()
		next := append(append(make([]*subtable, 0, len(subs)+1), subs...), st)
		t.subtables.Store(&next)
	}
	e.Mask = &st.mask
	h := e.Key.HashMasked(&st.mask, st.idx)
	for n := st.m.head(h); n != nil; n = n.next {
		if n.hash == h && n.e.Key == e.Key {
			replaced = n.e
			replaced.dead.Store(true)
			st.m.remove(h, replaced)
			t.count.Add(-1)
			break
		}
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
		if st.m.remove(e.Key.HashMasked(&st.mask, st.idx), e) {
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

// cmap is a hash table with lock-free readers: bucket chains are immutable
// lists swapped in with atomic stores, and growth publishes a new bucket
// array. Writers are serialized by the caller. Go's garbage collector
// reclaims what readers may still be walking.
type cmap struct {
	buckets atomic.Pointer[[]atomic.Pointer[node]]
	n       int
}

type node struct {
	hash uint64
	e    *Entry
	next *node
}

func (m *cmap) init() {
	b := make([]atomic.Pointer[node], 8)
	m.buckets.Store(&b)
}

func (m *cmap) head(h uint64) *node {
	b := *m.buckets.Load()
	return b[h&uint64(len(b)-1)].Load()
}

func (m *cmap) insert(h uint64, e *Entry) {
	b := *m.buckets.Load()
	if m.n+1 > len(b) {
		b = m.grow(b)
	}
	slot := &b[h&uint64(len(b)-1)]
	slot.Store(&node{hash: h, e: e, next: slot.Load()})
	m.n++
}

func (m *cmap) grow(old []atomic.Pointer[node]) []atomic.Pointer[node] {
	b := make([]atomic.Pointer[node], 2*len(old))
	for i := range old {
		for n := old[i].Load(); n != nil; n = n.next {
			slot := &b[n.hash&uint64(len(b)-1)]
			slot.Store(&node{hash: n.hash, e: n.e, next: slot.Load()})
		}
	}
	m.buckets.Store(&b)
	return b
}

// remove takes e out of its chain by rebuilding the nodes in front of it.
func (m *cmap) remove(h uint64, e *Entry) bool {
	b := *m.buckets.Load()
	slot := &b[h&uint64(len(b)-1)]
	var front []*node
	for n := slot.Load(); n != nil; n = n.next {
		if n.e != e {
			front = append(front, n)
			continue
		}
		rest := n.next
		for i := len(front) - 1; i >= 0; i-- {
			rest = &node{hash: front[i].hash, e: front[i].e, next: rest}
		}
		slot.Store(rest)
		m.n--
		return true
	}
	return false
}

func (m *cmap) each(fn func(*Entry)) {
	b := *m.buckets.Load()
	for i := range b {
		for n := b[i].Load(); n != nil; n = n.next {
			fn(n.e)
		}
	}
}
