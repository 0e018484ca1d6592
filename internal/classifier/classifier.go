// Package classifier finds the highest-priority rule of one OpenFlow table
// that matches a flow key, and reports which key bits it examined on the way
// so that the answer can be cached as a megaflow (key + mask).
//
// # Lookup
//
// Rules are grouped by mask into subtables (tuple space search). Each
// subtable is a hash table from masked key to a node holding the rules with
// exactly that match, highest priority first. A lookup:
//
//  1. Loads the published snapshot: a version, and the subtables sorted by
//     the highest priority each holds, each with the slot arrays of its
//     tables.
//  2. Visits the subtables in that order and stops as soon as the best rule
//     found has at least the next subtable's highest priority: nothing later
//     can beat it, so nothing later is examined or added to the mask. A
//     subtable whose rules all name another eth_type or ip_proto than the
//     key's is skipped with only those bits examined (the prerequisite
//     filter, subtable.go). The snapshot indexes the filters by the key's
//     eth_type and ip_proto, so a lookup goes straight to the subtables
//     they admit (prefilter.go).
//  3. In a subtable, hashes the key's masked bits one stage at a time
//     (pipeline state, tunnel and in_port; then L2; L3; L4). After each
//     stage but the last it probes the set of the subtable's node hashes up
//     to that stage; a miss proves that no rule of the subtable matches, and
//     only the mask bits of the stages hashed so far join the examined bits.
//     This keeps megaflows tight: one rule on TCP ports does not make every
//     non-TCP megaflow match ports. (A hash collision that lets a probe hit
//     only means more bits are examined, which is always safe.) Every
//     visit examines its subtable's first stage, so the snapshot keeps the
//     union of the first stages' bits of the subtables up to each one, and
//     the lookup adds the union once when it ends.
//  4. After the last stage all of the subtable's mask bits join the
//     examined bits, and the node table is probed with the full hash; a
//     node found is checked word by word against the key. Its first rule
//     visible at the snapshot's version is the subtable's answer, and
//     replaces the best so far when its priority is higher.
//  5. Checks that no rule its version still needed was unlinked meanwhile
//     (see below), and otherwise starts over.
//
// Any key that agrees with the looked-up key on the examined bits takes the
// same path: the same stage probes miss, the same nodes are found, and the
// same early exit is taken, so it gets the same answer.
//
// # Concurrency and versions
//
// Lookups take no locks. One writer at a time (the Classifier serializes
// them) changes the tables by atomic stores that readers see whole, or
// builds new slot arrays and publishes a new snapshot. A batch becomes
// visible at once through versions, as in Open vSwitch: every rule carries
// the version from which it is visible and the version from which it is
// removed, and a lookup reads at the version of its snapshot. Applying a
// batch inserts the new rules, invisible to current readers, marks the
// removed ones, publishes the next version, and only then unlinks the
// removed rules. A lookup that started before the publication may still
// need them; it notices the unlinking through the reclaimed version and
// retries at the new version. Go's garbage collector frees what is unlinked
// once no reader holds it.
package classifier

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dvs-project/dvs/internal/flow"
)

// ErrRuleExists is returned when a rule (the same *flow.Rule) is inserted
// into a classifier that already holds it, or twice in one batch.
var ErrRuleExists = errors.New("rule already in the classifier")

// ErrNilRule is returned when a nil rule is inserted.
var ErrNilRule = errors.New("nil rule")

// never is the removal version of a rule that is not being removed.
const never = ^uint64(0)

// entry is one rule in a node. The fields a lookup reads come first: in a
// node's first entry they share the node's first cache line (see node).
type entry struct {
	add    uint64        // first version the rule is visible in
	remove atomic.Uint64 // first version it is not; never while it stays
	rule   *flow.Rule
	pri    uint16
	dying  bool // writer-only: being removed by the batch in progress
	// In a node's first entry (unused in others, where they fill
	// padding): tag is hashTag of the node's hash, and heads is set
	// while the entry heads the node's list (see node.setHead).
	tag   uint8
	heads atomic.Bool
	next  atomic.Pointer[entry]

	// Writer-only state.
	node *node
	st   *subtable
}

func (e *entry) visible(v uint64) bool { return e.add <= v && v < e.remove.Load() }

// Classifier is a tuple-space-search classifier for one flow table. Lookup,
// Len and Rules may be called from any number of goroutines at any time;
// Insert, Remove, Apply, Upsert and Find serialize among themselves.
type Classifier struct {
	snap      atomic.Pointer[snapshot]
	reclaimed atomic.Uint64 // the newest version whose removals were unlinked
	seed      uint64

	mu        sync.Mutex
	byMask    map[flow.Mask]*subtable
	subtables []*subtable
	n         int
	dirty     bool // subtables, their highest priorities or their slot arrays changed
}

// New returns an empty classifier.
func New() *Classifier {
	c := &Classifier{
		seed:   rand.Uint64(),
		byMask: map[flow.Mask]*subtable{},
	}
	c.snap.Store(&snapshot{})
	return c
}

// Len returns the number of rules visible to lookups.
func (c *Classifier) Len() int { return c.snap.Load().n }

// Subtables returns the number of distinct masks (subtables) in use.
func (c *Classifier) Subtables() int { return len(c.snap.Load().subs) }

// Insert adds r, which must not be in the classifier already; it is visible
// to lookups when Insert returns. The classifier keeps r; r.Match (which
// must be normalized) and r.Priority must not change while it is held.
// Insert never replaces a rule: a rule with the same match and priority
// coexists with r, and OpenFlow add and modify semantics are the caller's,
// built on Find.
func (c *Classifier) Insert(r *flow.Rule) error {
	return c.Apply([]*flow.Rule{r}, nil)
}

// Remove removes r (compared by pointer) and reports whether it was present.
func (c *Classifier) Remove(r *flow.Rule) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryOf(r)
	if e == nil || e.dying {
		return false
	}
	e.dying = true
	c.apply(nil, []*entry{e})
	return true
}

// Apply removes the rules in removes (by pointer; absent ones are ignored)
// and then inserts the rules in inserts, so that a lookup sees either the
// classifier before the batch or after it, never a mix. It fails, changing
// nothing, if an insert is nil or is already in the classifier (and not
// removed by the same batch) or appears twice.
func (c *Classifier) Apply(inserts, removes []*flow.Rule) error {
	c.mu.Lock()
	defer c.mu.Unlock()

	var dead []*entry
	for _, r := range removes {
		if e := c.entryOf(r); e != nil && !e.dying {
			e.dying = true
			dead = append(dead, e)
		}
	}
	if err := c.check(inserts); err != nil {
		for _, e := range dead {
			e.dying = false
		}
		return err
	}
	c.apply(inserts, dead)
	return nil
}

// Upsert inserts rules, in order, with add-or-replace semantics: a rule
// whose match and priority are those of a rule in the classifier, or of an
// earlier one of rules, replaces it (the oldest such rule, when Insert made
// several). replaced, if not nil, is called with each replaced rule and its
// replacement before anything becomes visible. As with Apply, lookups see
// the classifier before the batch or after it, never a mix, and Upsert
// fails, changing nothing, if a rule is nil, already in the classifier or
// appears twice (the replacements reported until then are void).
//
// It is Find and Apply in one pass: each rule is hashed and looked up
// once, which is what a large batch (an OpenFlow bundle) spends its time
// on. (The classifier keeps no index by rule for the same reason: Remove
// finds a rule by its match, as a lookup does.)
func (c *Classifier) Upsert(rules []*flow.Rule, replaced func(old, new *flow.Rule)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(rules) == 0 {
		return nil
	}
	for _, r := range rules {
		if r == nil {
			return fmt.Errorf("inserting rule: %w", ErrNilRule)
		}
	}
	v := c.snap.Load().version + 1
	// Two passes: the first finds each rule's subtable and hashes, which
	// reads only the rules, and counts the rules each subtable is about to
	// get, so that its node table grows once, to its final size; the
	// second inserts, loading the table slots of a group of rules first
	// so that their cache misses overlap.
	var planBuf [1]planned
	var subsBuf [1]*subtable
	plan, subs := c.plan(rules, planBuf[:0], subsBuf[:0])
	var dead []*entry
	var sink uint64
	for i, r := range rules {
		if i%upsertGroup == 0 {
			for j := i; j < min(i+upsertGroup, len(rules)); j++ {
				sink += c.touch(subs[plan[j].sub], &plan[j])
			}
		}
		p := &plan[i]
		st := subs[p.sub]
		st.pending--
		old, dup := c.insertPlanned(r, v, true, st, p, true)
		if dup {
			// The rule is in the classifier, or earlier in rules: take the
			// batch back.
			for _, st := range subs {
				st.pending = 0
				if st.n == 0 {
					c.dropSubtable(st)
				}
			}
			c.undo(v, rules[:i], dead)
			return fmt.Errorf("inserting rule at priority %d: %w", p.pri, ErrRuleExists)
		}
		if old != nil {
			old.dying = true
			old.remove.Store(v)
			c.n--
			dead = append(dead, old)
			if replaced != nil {
				replaced(old.rule, r)
			}
		}
	}
	touchSink.Store(sink)
	c.finish(v, dead)
	return nil
}

// upsertGroup is how many rules Upsert loads the table slots of before it
// inserts them. The loads of a group overlap; and inserting, whose atomic
// stores wait for every earlier load, waits for them once per group.
const upsertGroup = 16

// touchSink keeps the loads of touch from being optimized away.
var touchSink atomic.Uint64

// planned is a rule of an Upsert batch as the insert needs it, so that
// the insert reads the rule itself only to link it: the index of its
// subtable in the batch's list, its hashes (subtable.hashes), priority and
// prerequisite value, and its key words under the subtable's mask, when
// the mask has at most len(vals) words.
type planned struct {
	hs   [numStages]uint64
	vals [4]uint64
	pv   uint32
	pri  uint16
	sub  int32
}

// plan returns the plan of each rule, and the subtables, each counting in
// pending the rules it is about to get, appended to plan and subs (a
// single rule, a flow_mod's, then needs no allocation). Subtables for new
// masks are made here, empty; the caller drops those still empty if the
// batch fails.
func (c *Classifier) plan(rules []*flow.Rule, plan []planned, subs []*subtable) ([]planned, []*subtable) {
	plan = slices.Grow(plan, len(rules))[:len(rules)]
	var last *subtable
	for i, r := range rules {
		// Rules in bulk mostly share a mask: compare with the last one
		// before hashing a mask for the map.
		st := last
		if st == nil || st.mask != r.Match.Mask {
			st = c.subtableFor(&r.Match.Mask)
			if st.pending == 0 {
				st.batchPos = len(subs)
				subs = append(subs, st)
			}
			last = st
		}
		st.pending++
		p := &plan[i]
		p.sub, p.pri, p.pv = int32(st.batchPos), r.Priority, preValue(&r.Match.Key)
		kw := r.Match.Key.Words()
		st.hashes(c.seed, kw, &p.hs)
		if len(st.all) <= len(p.vals) {
			for j, w := range st.all {
				p.vals[j] = kw[w.idx] & w.m
			}
		}
	}
	return plan, subs
}

// touch loads the node table slot and the last stage set slot that
// inserting the planned rule reads first, so that they are in the cache
// by then, and returns what it loaded.
func (c *Classifier) touch(st *subtable, p *planned) uint64 {
	t := st.table.slots
	var x uint64
	if t[p.hs[numStages-1]>>shiftFor(len(t))].Load() != nil {
		x = 1
	}
	if st.nstages > 1 {
		set := st.sets[st.nstages-2].slots
		x += set[setValue(p.hs[st.nstages-2])>>shiftFor(len(set))].Load()
	}
	return x
}

// subtableFor returns the subtable for mask m, made if there is none.
func (c *Classifier) subtableFor(m *flow.Mask) *subtable {
	st := c.byMask[*m]
	if st == nil {
		st = newSubtable(m, c.seed)
		st.pos = len(c.subtables)
		c.byMask[*m] = st
		c.subtables = append(c.subtables, st)
		c.dirty = true
	}
	return st
}

// undo takes back the part of a batch at version v that inserted rules and
// marked dead the entries they replaced. Nothing of it was visible: the
// batch's entries are unlinked and the replaced ones revived.
func (c *Classifier) undo(v uint64, rules []*flow.Rule, dead []*entry) {
	for _, e := range dead {
		if e.add != v {
			e.dying = false
			e.remove.Store(never)
			c.n++
		}
	}
	for _, r := range rules {
		e := c.entryOf(r)
		if !e.dying {
			e.dying = true
			e.remove.Store(v)
			c.n--
		}
		c.unlink(e)
	}
	c.publish(v)
}

// entryOf returns r's entry (compared by pointer), dying or not, or nil.
func (c *Classifier) entryOf(r *flow.Rule) *entry {
	st := c.byMask[r.Match.Mask]
	if st == nil {
		return nil
	}
	kw := r.Match.Key.Words()
	var hs [numStages]uint64
	n := findNode(st.table.slots, shiftFor(len(st.table.slots)), st.hashes(c.seed, kw, &hs), kw, st.all)
	if n == nil {
		return nil
	}
	for e := n.head.Load(); e != nil; e = e.next.Load() {
		if e.rule == r {
			return e
		}
	}
	return nil
}

// check validates a batch's inserts.
func (c *Classifier) check(inserts []*flow.Rule) error {
	var seen map[*flow.Rule]bool
	if len(inserts) > 1 {
		seen = make(map[*flow.Rule]bool, len(inserts))
	}
	for _, r := range inserts {
		if r == nil {
			return fmt.Errorf("inserting rule: %w", ErrNilRule)
		}
		if e := c.entryOf(r); (e != nil && !e.dying) || seen[r] {
			return fmt.Errorf("inserting rule at priority %d: %w", r.Priority, ErrRuleExists)
		}
		if seen != nil {
			seen[r] = true
		}
	}
	return nil
}

// apply runs a validated batch; dead are the entries to remove, already
// marked dying.
func (c *Classifier) apply(inserts []*flow.Rule, dead []*entry) {
	if len(inserts) == 0 && len(dead) == 0 {
		return
	}
	v := c.snap.Load().version + 1
	for _, e := range dead {
		e.remove.Store(v)
		c.n--
	}
	for _, r := range inserts {
		c.insert(r, v, false)
	}
	c.finish(v, dead)
}

// finish publishes version v of a batch and then unlinks its dead
// entries, already marked removed from v.
func (c *Classifier) finish(v uint64, dead []*entry) {
	c.publish(v)
	if len(dead) == 0 {
		return
	}
	// Readers that loaded an older version may still need the dead entries;
	// from here on they retry.
	c.reclaimed.Store(v)
	for _, e := range dead {
		c.unlink(e)
	}
	if c.dirty {
		c.publish(v)
	}
}

// publish makes version v and the current subtable order visible.
func (c *Classifier) publish(v uint64) {
	subs, pre := c.snap.Load().subs, c.snap.Load().pre
	if c.dirty {
		// Sorting the subtables rather than their views moves pointers,
		// not structs of hundreds of bytes; and they are mostly in order
		// already from the last time.
		slices.SortStableFunc(c.subtables, func(a, b *subtable) int { return int(b.prios.max()) - int(a.prios.max()) })
		subs = make([]subRef, len(c.subtables))
		for i, st := range c.subtables {
			st.pos = i
			subs[i] = st.ref()
		}
		setUpto(subs)
		pre = newPreIndex(subs)
		c.dirty = false
	}
	c.snap.Store(&snapshot{version: v, subs: subs, n: c.n, pre: pre})
}

// setUpto sets the upto list of each subtable of a snapshot.
func setUpto(subs []subRef) {
	var acc [flow.KeyWords]uint64
	var used uint64 // the words of acc that are not zero (the key has fewer than 64)
	ws := make([]wordMask, 0, flow.KeyWords)
	buf := make([]bitPair, 0, flow.KeyWords)
	var upto []bitPair
	for i := range subs {
		grew := false
		for _, w := range subs[i].st.first {
			if acc[w.idx]|w.m != acc[w.idx] {
				acc[w.idx] |= w.m
				used |= 1 << w.idx
				grew = true
			}
		}
		if grew {
			ws = ws[:0]
			for u := used; u != 0; u &= u - 1 {
				j := bits.TrailingZeros64(u)
				ws = append(ws, wordMask{idx: uint32(j), m: acc[j]})
			}
			start := len(buf)
			buf = appendPairs(buf, ws)
			// Earlier lists keep the array they were cut from if buf grows.
			upto = buf[start:len(buf):len(buf)]
		}
		subs[i].upto = upto
	}
}

// insert adds r, visible from version v. With replace, it returns the
// entry r replaces: the first live one of the same match and priority,
// left for the caller to mark; or, inserting nothing, dup when r itself
// is already in the classifier (dying or not).
func (c *Classifier) insert(r *flow.Rule, v uint64, replace bool) (replaced *entry, dup bool) {
	st := c.subtableFor(&r.Match.Mask)
	p := planned{pri: r.Priority, pv: preValue(&r.Match.Key)}
	st.hashes(c.seed, r.Match.Key.Words(), &p.hs)
	return c.insertPlanned(r, v, replace, st, &p, false)
}

// insertPlanned is insert with r's subtable st and its plan p, whose vals
// are set when haveVals (and the mask has at most len(p.vals) words).
func (c *Classifier) insertPlanned(r *flow.Rule, v uint64, replace bool, st *subtable, p *planned, haveVals bool) (replaced *entry, dup bool) {
	h := p.hs[numStages-1]
	var n *node
	fromPlan := haveVals && len(st.all) <= len(p.vals)
	if fromPlan {
		n = findNodeVals(st.table.slots, shiftFor(len(st.table.slots)), h, p.vals[:len(st.all)])
	} else {
		n = findNode(st.table.slots, shiftFor(len(st.table.slots)), h, r.Match.Key.Words(), st.all)
	}
	var e *entry
	if n == nil {
		n = newNode(h, len(st.all))
		if fromPlan {
			copy(n.vals, p.vals[:])
		} else {
			kw := r.Match.Key.Words()
			for i, w := range st.all {
				n.vals[i] = kw[w.idx] & w.m
			}
		}
		st.addNode(n, &p.hs, p.pv)
		c.dirty = c.dirty || st.stale
		e = &n.first
	} else {
		if replace {
			for cur := n.head.Load(); cur != nil; cur = cur.next.Load() {
				if cur.rule == r {
					return nil, true
				}
			}
		}
		// A node's first entry is never reused: a lookup may still stand
		// on it after its rule was removed.
		e = new(entry)
	}
	e.rule, e.pri, e.add, e.node, e.st = r, p.pri, v, n, st
	e.remove.Store(never)
	// Ties go after the rules already there, so Find and lookups keep
	// answering with the older rule.
	var pred *entry
	cur := n.head.Load()
	for cur != nil && cur.pri >= e.pri {
		if replace && replaced == nil && cur.pri == e.pri && !cur.dying {
			replaced = cur
		}
		pred, cur = cur, cur.next.Load()
	}
	e.next.Store(cur)
	if pred == nil {
		n.setHead(e)
	} else {
		pred.next.Store(e)
	}

	if old := st.prios.max(); st.n == 0 || e.pri > old {
		c.dirty = true
	}
	st.prios.add(e.pri)
	st.n++
	c.n++
	return replaced, false
}

// unlink physically removes a dead entry, its node when it was the node's
// last entry, and its subtable when it was the subtable's last.
func (c *Classifier) unlink(e *entry) {
	n, st := e.node, e.st
	var pred *entry
	for cur := n.head.Load(); cur != e; cur = cur.next.Load() {
		pred = cur
	}
	// e keeps its next pointer, so a reader standing on e walks on.
	if pred == nil {
		n.setHead(e.next.Load())
	} else {
		pred.next.Store(e.next.Load())
	}
	if n.head.Load() == nil {
		st.delNode(n, c.seed)
		c.dirty = c.dirty || st.stale
	}

	oldMax := st.prios.max()
	st.prios.remove(e.pri)
	st.n--
	if st.n == 0 {
		c.dropSubtable(st)
	} else if st.prios.max() != oldMax {
		c.dirty = true
	}
}

// dropSubtable removes st, which holds no entries.
func (c *Classifier) dropSubtable(st *subtable) {
	last := c.subtables[len(c.subtables)-1]
	last.pos = st.pos
	c.subtables[st.pos] = last
	c.subtables[len(c.subtables)-1] = nil
	c.subtables = c.subtables[:len(c.subtables)-1]
	delete(c.byMask, st.mask)
	c.dirty = true
}

// Find returns the rule whose match is exactly m and whose priority is
// priority, or nil. When several such rules were inserted it returns the
// one inserted first.
func (c *Classifier) Find(m *flow.Match, priority uint16) *flow.Rule {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.byMask[m.Mask]
	if st == nil {
		return nil
	}
	kw := m.Key.Words()
	var hs [numStages]uint64
	n := findNode(st.table.slots, shiftFor(len(st.table.slots)), st.hashes(c.seed, kw, &hs), kw, st.all)
	if n == nil {
		return nil
	}
	for e := n.head.Load(); e != nil && e.pri >= priority; e = e.next.Load() {
		if e.pri == priority {
			return e.rule
		}
	}
	return nil
}

// Rules calls fn for every rule visible to lookups when Rules is called, in
// no particular order, until fn returns false. It takes no locks: fn may
// change the classifier, and a rule removed meanwhile may or may not be
// reported.
func (c *Classifier) Rules(fn func(*flow.Rule) bool) {
	s := c.snap.Load()
	each := func(n *node) bool {
		for e := n.head.Load(); e != nil; e = e.next.Load() {
			if e.visible(s.version) && !fn(e.rule) {
				return false
			}
		}
		return true
	}
	for i := range s.subs {
		ref := &s.subs[i]
		if ref.one != nil {
			if !each(ref.one) {
				return
			}
		} else if !eachNode(ref.nodes, each) {
			return
		}
	}
}

// setUpto's bitmap of key words has room for every word.
const _ = uint(64 - flow.KeyWords)
