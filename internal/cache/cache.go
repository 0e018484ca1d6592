// Package cache is the fast path: a per-worker exact-match cache in front of
// a shared megaflow cache in front of the pipeline. A packet whose key hits
// either cache gets the cached datapath actions without translation; a miss
// (an upcall) translates the packet and installs a megaflow built from the
// mask translation recorded.
//
// Staleness: every entry remembers the pipeline generation it was validated
// at. A hit on an entry behind the pipeline's generation retranslates the
// packet first; if the result is unchanged the entry is revalidated in
// place, otherwise it is replaced. No packet is ever forwarded by a
// decision older than the last change that completed before it arrived.
package cache

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// Defaults.
const (
	DefaultMaxEntries = 200000
	DefaultMaxIdle    = 10 * time.Second
)

// Config sizes the cache.
type Config struct {
	MaxEntries int           // megaflows; beyond it misses are translated but not cached
	MaxIdle    time.Duration // an unused megaflow is removed after this long
}

// Cache is one bridge's megaflow cache and the bookkeeping that keeps rule
// counters, idle timeouts and MAC ages moving for cached traffic.
type Cache struct {
	p   *pipeline.Pipeline
	cfg Config
	mf  megaflows

	sweepMu sync.Mutex // serializes Sweep and PushStats

	offload atomic.Pointer[Offload] // a kernel fast path, or nil

	upcalls       atomic.Uint64
	revalidations atomic.Uint64
	replaced      atomic.Uint64
	notCached     atomic.Uint64
}

// Offload is a kernel fast path beneath the cache (package
// datapath/offload) that forwards packets of some megaflows itself and
// counts them.
type Offload interface {
	// Sync credits entries (Entry.Hit) with the traffic the kernel
	// forwarded for them since the last call.
	Sync()
	// Retire removes the kernel's state for e, which was removed or
	// replaced, crediting e with its last counts.
	Retire(e *Entry)
}

// SetOffload sets the kernel fast path (nil: none). Entries the old one
// held must have been retired by it.
func (c *Cache) SetOffload(o Offload) {
	if o == nil {
		c.offload.Store(nil)
		return
	}
	c.offload.Store(&o)
}

func (c *Cache) retireOffload(e *Entry) {
	if o := c.offload.Load(); o != nil {
		(*o).Retire(e)
	}
}

// New returns an empty cache in front of p.
func New(p *pipeline.Pipeline, cfg Config) *Cache {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = DefaultMaxIdle
	}
	c := &Cache{p: p, cfg: cfg}
	c.mf.init()
	return c
}

// Pipeline returns the pipeline behind the cache.
func (c *Cache) Pipeline() *pipeline.Pipeline { return c.p }

// emcSize is the number of exact-match entries per worker (a power of two).
const emcSize = 8192

// emcEntry is one exact-match slot. It keeps the key's hash, so that a slot
// holding another flow is passed over without comparing keys, and only the
// key's packet words: the pipeline-only words are zero for every packet
// entering the switch.
type emcEntry struct {
	hash uint64
	e    *Entry
	key  flow.PacketWords
}

// Worker is one worker goroutine's view of the cache: its own exact-match
// cache and counters. A Worker must not be used by two goroutines at once.
type Worker struct {
	c   *Cache
	emc *[emcSize]emcEntry

	// Counters, plain for the owning goroutine; Publish copies them to the
	// atomics Stats reads (an atomic store per packet would cost a full
	// memory barrier on x86).
	emcHits, mfHits, misses  uint64
	pubEMC, pubMF, pubMisses atomic.Uint64
}

// Publish makes the worker's counters visible to Stats; workers call it
// once per batch.
func (w *Worker) Publish() {
	w.pubEMC.Store(w.emcHits)
	w.pubMF.Store(w.mfHits)
	w.pubMisses.Store(w.misses)
}

// NewWorker returns a worker with an empty exact-match cache.
func (c *Cache) NewWorker() *Worker {
	return &Worker{c: c, emc: new([emcSize]emcEntry)}
}

// Lookup returns the entry whose actions apply to a packet with key k,
// translating it on a miss. The returned entry is valid at the pipeline's
// current generation. The caller counts the packet with Entry.Hit. It is
// a batch of one.
func (w *Worker) Lookup(k *flow.Key) *Entry {
	var e [1]*Entry
	h := [1]uint64{k.Hash()}
	w.LookupBatch(unsafe.Slice(k, 1), h[:], e[:])
	return e[0]
}

// LookupBatch does what Lookup does for each of keys[i] whose ents[i] is
// nil, setting ents[i] to the entry (the caller marks packets it does not
// want looked up with a non-nil entry). hashes[i] is keys[i].Hash(), which
// a parser can compute as it fills the key (packet.ParseHash); hashes and
// ents are at least as long as keys. The entries are valid at the
// generation current when LookupBatch was called: the batch's packets
// arrived before it, so none is forwarded by a decision older than a
// change that completed before it arrived.
//
// An exact-match hit costs no call but the key compare. Of a key's two
// slots the probe takes the first that holds the key's hash: two keys with
// one 64-bit hash are left to slowLookup.
func (w *Worker) LookupBatch(keys []flow.Key, hashes []uint64, ents []*Entry) {
	gen := w.c.p.Gen()
	ents, hashes = ents[:len(keys)], hashes[:len(keys)]
	emc := w.emc
	// First the common hit, a key without rare words (whose other words
	// are zero in both), in a loop without calls, so that it keeps its
	// values in registers; then, if any key is left, the rest.
	hits, left := uint64(0), false
	for i, hash := range hashes {
		if ents[i] != nil {
			continue
		}
		s := &emc[hash&(emcSize-1)]
		if s.hash != hash {
			s = &emc[(hash>>32)&(emcSize-1)]
		}
		if e := s.e; s.hash == hash && hash&flow.HashRare == 0 && e != nil && s.key.EqualCommon(keys[i].Packet()) &&
			!e.dead.Load() && e.gen.Load() == gen {
			hits++
			ents[i] = e
			continue
		}
		left = true
	}
	w.emcHits += hits
	if !left {
		return
	}
	for i, hash := range hashes {
		if ents[i] != nil {
			continue
		}
		k := &keys[i]
		s := &emc[hash&(emcSize-1)]
		if s.hash != hash {
			s = &emc[(hash>>32)&(emcSize-1)]
		}
		if e := s.e; s.hash == hash && e != nil && s.key.Equal(k.Packet()) && !e.dead.Load() && e.gen.Load() == gen {
			w.emcHits++
			ents[i] = e
			continue
		}
		ents[i] = w.slowLookup(k, hash, gen)
	}
}

func (w *Worker) slowLookup(k *flow.Key, hash, gen uint64) *Entry {
	i1 := hash & (emcSize - 1)
	i2 := (hash >> 32) & (emcSize - 1)
	e := w.c.mf.lookup(k)
	if e != nil {
		e.lookups.Add(1)
	}
	if e != nil && e.gen.Load() != gen {
		e = w.c.revalidate(e, k)
	} else if e != nil {
		w.mfHits++
	}
	if e == nil {
		w.misses++
		e = w.c.upcall(k)
	}
	if e.dead.Load() {
		return e // not cached (table full or raced); valid for this packet
	}
	// Replace the slot whose entry is dead, else the first.
	s := &w.emc[i1]
	if s.e != nil && !s.e.dead.Load() {
		if t := &w.emc[i2]; t.e == nil || t.e.dead.Load() {
			s = t
		}
	}
	s.hash, s.key, s.e = hash, *k.Packet(), e
	return e
}

// upcall translates k and installs the result.
func (c *Cache) upcall(k *flow.Key) *Entry {
	c.upcalls.Add(1)
	res := c.p.Translate(k, pipeline.Options{})
	return c.install(k, res)
}

func (c *Cache) install(k *flow.Key, res *pipeline.Result) *Entry {
	mask := res.Mask
	e := &Entry{Key: k.Apply(&mask), Mask: &mask, Actions: res.Actions, Drop: res.Drop,
		rules: res.Rules, counters: res.Counters, learned: res.Learned, created: time.Now().UnixNano(),
		l2: flow.L2Mask.Covers(&mask)}
	e.gen.Store(res.Gen)
	if c.mf.count.Load() >= int64(c.cfg.MaxEntries) {
		c.notCached.Add(1)
		e.dead.Store(true)
		e.uncached = true // Hit credits the rules directly: no sweep sees it
		return e
	}
	// An entry with the same key and mask (installed by another worker
	// meanwhile, or an older translation that overlapping megaflows hid
	// from the lookup) is replaced: this translation is the newer one.
	if old := c.mf.insert(e); old != nil {
		c.retireOffload(old)
		c.sweepMu.Lock()
		c.pushLocked(old)
		c.sweepMu.Unlock()
	}
	return e
}

// revalidate retranslates k, which hit e at an older generation. If the
// translation is unchanged e is valid again; otherwise e is replaced.
func (c *Cache) revalidate(e *Entry, k *flow.Key) *Entry {
	c.revalidations.Add(1)
	res := c.p.Translate(k, pipeline.Options{})
	if res.Mask == *e.Mask && slices.Equal(res.Actions, e.Actions) {
		e.gen.Store(res.Gen)
		// The rules may be new objects with the same behaviour (a modify):
		// credit the ones the packet now hits from now on.
		c.sweepMu.Lock()
		if !slices.Equal(e.rules, res.Rules) || !slices.Equal(e.counters, res.Counters) {
			c.pushLocked(e)
			e.rules, e.counters = res.Rules, res.Counters
		}
		e.learned = res.Learned
		c.sweepMu.Unlock()
		return e
	}
	c.replaced.Add(1)
	c.retire(e)
	return c.install(k, res)
}

// retire removes e and pushes its last counts.
func (c *Cache) retire(e *Entry) {
	c.mf.remove(e)
	c.retireOffload(e)
	c.sweepMu.Lock()
	c.pushLocked(e)
	c.sweepMu.Unlock()
}

// pushLocked credits e's rules with the packets e counted since the last
// push and refreshes the MACs its traffic keeps alive.
func (c *Cache) pushLocked(e *Entry) {
	pk, by := e.packets.Load(), e.bytes.Load()
	dp, db := pk-e.pushedPackets, by-e.pushedBytes
	used := e.used.Load()
	if dp == 0 {
		return
	}
	e.pushedPackets, e.pushedBytes = pk, by
	t := time.Unix(0, used)
	for _, r := range e.rules {
		r.Stats.Add(dp, db, t)
	}
	for _, gc := range e.counters {
		gc.Add(dp, db)
	}
	if used != e.pushedUsed {
		e.pushedUsed = used
		for _, l := range e.learned {
			c.p.MACs().Refresh(l.VLAN, l.MAC, l.Port, t)
		}
	}
}

// PushStats credits rules with the traffic their cached entries carried,
// so that dumps and idle timeouts see it.
func (c *Cache) PushStats() {
	if o := c.offload.Load(); o != nil {
		(*o).Sync()
	}
	c.sweepMu.Lock()
	defer c.sweepMu.Unlock()
	c.mf.each(c.pushLocked)
}

// Sweep is the periodic housekeeping: it pushes statistics, removes
// megaflows idle for longer than MaxIdle and entries behind the current
// generation that nobody revalidated, puts the masks with the most
// megaflow hits first, ages out MACs and expires rules. It returns the
// rules that expired.
func (c *Cache) Sweep(now time.Time) []pipeline.Expired {
	c.PushStats()
	idle := now.Add(-c.cfg.MaxIdle).UnixNano()
	var victims []*Entry
	c.mf.each(func(e *Entry) {
		last := e.used.Load()
		if last == 0 {
			last = e.created
		}
		if last < idle {
			victims = append(victims, e)
		}
	})
	for _, e := range victims {
		c.retire(e)
	}
	c.mf.rank()
	if c.p.MACs().Expire(c.p.Now()) > 0 {
		c.p.Invalidate()
	}
	return c.p.Expire(c.p.Now())
}

// Flush removes every megaflow (their counts are pushed first).
func (c *Cache) Flush() {
	var all []*Entry
	c.mf.each(func(e *Entry) { all = append(all, e) })
	for _, e := range all {
		c.retire(e)
	}
}

// Stats are the cache's counters.
type Stats struct {
	Entries       int
	Masks         int
	Upcalls       uint64
	Revalidations uint64
	Replaced      uint64
	NotCached     uint64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Entries: int(c.mf.count.Load()), Masks: len(*c.mf.subtables.Load()),
		Upcalls: c.upcalls.Load(), Revalidations: c.revalidations.Load(), Replaced: c.replaced.Load(),
		NotCached: c.notCached.Load(),
	}
	return s
}

// WorkerStats are one worker's lookup counters.
type WorkerStats struct {
	EMCHits, MegaflowHits, Misses uint64
}

// Stats returns the worker's counters as of its last Publish.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{EMCHits: w.pubEMC.Load(), MegaflowHits: w.pubMF.Load(), Misses: w.pubMisses.Load()}
}
