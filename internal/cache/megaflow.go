package cache

import (
	"cmp"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
	used    atomic.Int64  // unix nanoseconds of the last hit
	lookups atomic.Uint64 // megaflow lookups that found the entry since the last ranking

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
	// What a lookup reads, side by side: the mask's non-zero words and the
	// slot table.
	nw    int
	words [flow.KeyWords]maskWord // words[:nw] are in use
	m     cmap
	mask  flow.Mask
}

// maskWord is a non-zero word of a subtable's mask, where it is in a key
// and the hash's multiplier for it.
type maskWord struct {
	off uintptr // byte offset in a flow.Key, below its size
	m   uint64
	mul uint64
}

func newSubtable(m *flow.Mask) *subtable {
	st := &subtable{mask: *m}
	for i, w := range m.Words() {
		if w != 0 {
			st.words[st.nw] = maskWord{off: uintptr(i) * 8, m: w, mul: wordMul[st.nw]}
			st.nw++
		}
	}
	st.m.init()
	return st
}

// word returns the key word at byte offset off, which newSubtable made
// from a word index: reading it needs no bounds check.
func word(k *flow.Key, off uintptr) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(k), off))
}

// hash hashes the bits of k the mask selects: a sum of products, one per
// word, that the processor computes side by side. Each word's high half is
// folded into its low half first, so every key bit reaches the product's
// top bits, which index the slot table (see cmap).
func (st *subtable) hash(k *flow.Key) uint64 {
	var h uint64
	for _, w := range st.words[:st.nw] {
		x := word(k, w.off) & w.m
		h += (x ^ x>>32) * w.mul
	}
	return h
}

// equal reports whether a and b agree on every bit the mask selects.
func (st *subtable) equal(a, b *flow.Key) bool {
	for _, w := range st.words[:st.nw] {
		if (word(a, w.off)^word(b, w.off))&w.m != 0 {
			return false
		}
	}
	return true
}

// wordMul holds a multiplier per mask word, odd and drawn at random when
// the process starts: with them the hash is of the multiply-shift family,
// and keys collide only by chance.
var wordMul = func() (m [flow.KeyWords]uint64) {
	for i := range m {
		m[i] = rand.Uint64() | 1
	}
	return m
}()

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
subtables:
	for _, st := range *t.subtables.Load() {
		h := st.hash(k)
		tab := st.m.tab.Load()
		sig := fixHash(h)
		mask := uint64(len(tab.buckets) - 1)
		for i := (h >> (tab.shift & 63)) & mask; ; i = (i + 1) & mask {
			b := &tab.buckets[i]
			// Most buckets hold no slot with the hash, which the
			// processor predicts well; then the last slot alone says
			// whether the probe goes on.
			var j int
			switch sig {
			case b.hash[0].Load():
				j = 0
			case b.hash[1].Load():
				j = 1
			case b.hash[2].Load():
				j = 2
			case b.hash[3].Load():
				j = 3
			default:
				if b.hash[bucketSlots-1].Load() == slotEmpty {
					continue subtables
				}
				continue
			}
			if e := b.e[j].Load(); e != nil && st.equal(k, &e.Key) {
				return e
			}
			// Two keys with one hash: rare enough to search slowly.
			if e := st.m.find(h, func(e *Entry) bool { return st.equal(k, &e.Key) }); e != nil {
				return e
			}
			continue subtables
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
		st = newSubtable(e.Mask)
		next := append(append(make([]*subtable, 0, len(subs)+1), subs...), st)
		t.subtables.Store(&next)
	}
	e.Mask = &st.mask
	h := st.hash(&e.Key)
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
		if st.m.remove(st.hash(&e.Key), e) {
			t.count.Add(-1)
		}
		if st.m.n == 0 {
			next := append(append(make([]*subtable, 0, len(subs)), subs[:i]...), subs[i+1:]...)
			t.subtables.Store(&next)
		}
		return
	}
}

// rank puts the subtables in order of the megaflow lookups that found
// their entries since the last ranking, most first, so that a lookup
// reaches the busy masks early (Open vSwitch's dpcls subtable ranking).
// Subtables without lookups keep their order, after the others. The order
// never changes an answer: entries that overlap and are valid at the
// current generation have the same actions.
func (t *megaflows) rank() {
	t.mu.Lock()
	defer t.mu.Unlock()
	subs := *t.subtables.Load()
	hits := make(map[*subtable]uint64, len(subs))
	for _, st := range subs {
		var n uint64
		st.m.each(func(e *Entry) { n += e.lookups.Swap(0) })
		hits[st] = n
	}
	byHits := func(a, b *subtable) int { return cmp.Compare(hits[b], hits[a]) }
	if slices.IsSortedFunc(subs, byHits) {
		return
	}
	next := slices.Clone(subs)
	slices.SortStableFunc(next, byHits)
	t.subtables.Store(&next)
}

// each calls fn for every entry.
func (t *megaflows) each(fn func(*Entry)) {
	for _, st := range *t.subtables.Load() {
		st.m.each(fn)
	}
}

// cmap is an open-addressing hash table with lock-free readers, probed a
// bucket of slots (a cache line) at a time. Each slot holds a hash and an
// entry, stored with atomics; a reader compares the hashes in the bucket
// (no pointer chase for a miss) and then the entry's key, which is the only
// proof of a match, so a reader racing a writer can at worst miss an entry
// being moved (and translate the packet again), never take a wrong one.
// Writers are serialized by the caller.
//
// A key's first bucket is picked by the hash's top bits; a probe moves on
// to the next bucket only when the bucket is full. Slots of a bucket are
// filled in order and deleted slots become tombstones, never empty again,
// so a bucket's empty slots are at its end and one look at its last slot
// tells whether the probe is over: a lookup that misses takes one
// predictable branch per bucket instead of one per slot. Growth and
// rehashing publish a new table, which also drops the tombstones.
type cmap struct {
	tab  atomic.Pointer[slotTable]
	n    int // live entries
	used int // live entries + tombstones
}

// bucketSlots is the number of slots in a bucket: 4 slots of 16 bytes fill
// a cache line.
const bucketSlots = 4

// bucket is a cache line of slots: the hashes, then the entries. A hash
// is 0 (empty), 1 (tombstone) or the entry's hash, stored after the entry
// so that a reader that sees the hash sees its entry (or a later one, which
// its key check rejects).
type bucket struct {
	hash [bucketSlots]atomic.Uint64
	e    [bucketSlots]atomic.Pointer[Entry]
}

// slotTable is a cmap's slots, published whole.
type slotTable struct {
	// shift is 64 - log2(len(buckets)): hash >> shift is the first
	// bucket. Probes mask it to 63 and the result to the table (64, for
	// one bucket, becomes 0 and the mask makes any hash bucket 0), which
	// spares the code Go needs for shifts of 64 and more.
	shift   uint8
	buckets []bucket
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

func newSlotTable(buckets int) *slotTable {
	return &slotTable{shift: uint8(64 - bits.TrailingZeros(uint(buckets))), buckets: make([]bucket, buckets)}
}

func (m *cmap) init() { m.tab.Store(newSlotTable(1)) }

// find returns the entry with hash h whose key satisfies match.
func (m *cmap) find(h uint64, match func(*Entry) bool) *Entry {
	tab := m.tab.Load()
	sig := fixHash(h)
	mask := uint64(len(tab.buckets) - 1)
	for i := (h >> (tab.shift & 63)) & mask; ; i = (i + 1) & mask {
		b := &tab.buckets[i]
		for j := range b.hash {
			if b.hash[j].Load() == sig {
				if e := b.e[j].Load(); e != nil && match(e) {
					return e
				}
			}
		}
		if b.hash[bucketSlots-1].Load() == slotEmpty {
			return nil
		}
	}
}

func (m *cmap) insert(h uint64, e *Entry) {
	tab := m.tab.Load()
	if 2*(m.used+1) > bucketSlots*len(tab.buckets) {
		tab = m.rehash(tab)
	}
	if put(tab, h, e) {
		m.used++
	}
	m.n++
}

// put stores e with hash h in the first free slot (empty or tombstone) of
// its probe and reports whether it took an empty one. There must be one.
func put(tab *slotTable, h uint64, e *Entry) (tookEmpty bool) {
	sig := fixHash(h)
	mask := uint64(len(tab.buckets) - 1)
	for i := (h >> (tab.shift & 63)) & mask; ; i = (i + 1) & mask {
		b := &tab.buckets[i]
		for j := range b.hash {
			if sh := b.hash[j].Load(); sh == slotEmpty || sh == slotTombstone {
				b.e[j].Store(e)
				b.hash[j].Store(sig)
				return sh == slotEmpty
			}
		}
	}
}

// rehash builds a table sized for the live entries and one more, without
// tombstones, at most a quarter full, and publishes it.
func (m *cmap) rehash(old *slotTable) *slotTable {
	n := 1
	for bucketSlots*n < 4*(m.n+1) {
		n *= 2
	}
	tab := newSlotTable(n)
	for i := range old.buckets {
		b := &old.buckets[i]
		for j := range b.hash {
			if h := b.hash[j].Load(); h > slotTombstone {
				put(tab, h, b.e[j].Load())
			}
		}
	}
	m.used = m.n
	m.tab.Store(tab)
	return tab
}

// remove takes e out of the table.
func (m *cmap) remove(h uint64, e *Entry) bool {
	tab := m.tab.Load()
	sig := fixHash(h)
	mask := uint64(len(tab.buckets) - 1)
	for i := (h >> (tab.shift & 63)) & mask; ; i = (i + 1) & mask {
		b := &tab.buckets[i]
		for j := range b.hash {
			if b.hash[j].Load() == sig && b.e[j].Load() == e {
				b.hash[j].Store(slotTombstone)
				b.e[j].Store(nil)
				m.n--
				return true
			}
		}
		if b.hash[bucketSlots-1].Load() == slotEmpty {
			return false
		}
	}
}

func (m *cmap) each(fn func(*Entry)) {
	tab := m.tab.Load()
	for i := range tab.buckets {
		b := &tab.buckets[i]
		for j := range b.hash {
			if b.hash[j].Load() > slotTombstone {
				if e := b.e[j].Load(); e != nil {
					fn(e)
				}
			}
		}
	}
}
