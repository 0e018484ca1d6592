package classifier

import (
	"math/bits"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/dvs-project/dvs/internal/flow"
)

// mix adds key word x (already masked) to hash h, with w's multiplier.
// A word's high half is folded into its low half first, so that every bit
// of it reaches the product's top bits, which index the tables (see
// shiftFor). The products of a key's words do not depend on one another,
// so the processor computes them side by side; only the additions chain.
// With the multipliers drawn at random for each classifier this is the
// multiply-shift hash family: keys collide only by chance.
func mix(h uint64, w *wordMask, x uint64) uint64 {
	return h + (x^x>>32)*w.mul
}

// shiftFor returns the shift that takes a hash to the first slot of its
// probe in a table of n slots, a power of two: the slot is the hash's top
// bits. Snapshots carry it precomputed. Tables have at least minSlots
// slots, so the shift is below 64, and lookups say so (shift & 63): the
// compiler then leaves out the code for larger shifts, which Go defines.
func shiftFor(n int) uint8 { return uint8(bits.LeadingZeros64(uint64(n - 1))) }

// wordMask is one word of a mask: the index of the key word (always below
// flow.KeyWords, which lookups rely on: see keyWord) and its bits, and in
// the lists a subtable hashes with, the word's multiplier (odd) and, on
// the last word of a stage that has a hash set, the stage's number plus
// one (see subRef.visit).
type wordMask struct {
	idx uint32
	chk uint32
	m   uint64
	mul uint64
}

// bitPair is two words of bits that a lookup adds to its mask. Such lists
// come in pairs, the last word of an odd list repeated (adding bits twice
// changes nothing), so that orInto adds two words a turn.
type bitPair [2]struct {
	idx uint32 // below flow.KeyWords, as a wordMask's
	m   uint64
}

// pairsOf returns ws, whose words are distinct, as pairs.
func pairsOf(ws []wordMask) []bitPair {
	ps := appendPairs(nil, ws)
	return ps[:len(ps):len(ps)]
}

// appendPairs appends ws, whose words are distinct, to ps as pairs.
func appendPairs(ps []bitPair, ws []wordMask) []bitPair {
	for i := 0; i < len(ws); i += 2 {
		var p bitPair
		for j := range p {
			w := &ws[min(i+j, len(ws)-1)]
			p[j].idx, p[j].m = w.idx, w.m
		}
		ps = append(ps, p)
	}
	return ps
}

// orInto sets in wc every bit of ps.
func orInto(wc *[flow.KeyWords]uint64, ps []bitPair) {
	for i := range ps {
		p := &ps[i]
		*keyWord(wc, p[0].idx) |= p[0].m
		*keyWord(wc, p[1].idx) |= p[1].m
	}
}

// keyWord returns the address of kw[i], which it does not check: lookups
// call it with the index of a wordMask, always a key word's.
func keyWord(kw *[flow.KeyWords]uint64, i uint32) *uint64 {
	return (*uint64)(unsafe.Add(unsafe.Pointer(kw), uintptr(i)*8))
}

// The tables below are open-addressing hash tables with linear probing that
// one writer changes while any number of readers probe them without locks.
// Readers see every slot through an atomic load. The writer fills an empty
// slot, or turns a full one into a tombstone, with one atomic store, so a
// probe sees each slot either before or after a change, never half of it.
// When live entries and tombstones fill half the slots the writer builds a
// new slot array, which the next published snapshot carries; readers still
// on the old array finish on it, and the writer never touches it again. At
// least half of every array is empty, so every probe ends.

// minSlots is the smallest table size.
const minSlots = 8

// slotsFor returns the table size that holds n live entries at a quarter
// load, so that a rebuilt table absorbs many changes before the next one.
func slotsFor(n int) int {
	s := minSlots
	for s < 4*n {
		s *= 2
	}
	return s
}

// node holds the rules of one subtable that share a match: the masked key
// words (in the order of the subtable's all list) and the rules, highest
// priority first.
//
// A lookup that finds a node usually reads its first cache line alone (a
// node is 128 bytes, so its size class aligns it to 128): the inline key
// words it compares, and its first entry's version range, priority and
// rule, with heads saying whether that entry heads the list. The node's
// hash is not there but 8 bits of it are, in first.tag, enough for a probe
// to pass over most other nodes without comparing key words.
type node struct {
	inl [inlWords]uint64 // the key words, when they fit
	// first is the entry of the rule that made the node, allocated with it
	// so that a lookup finds the node and its usual single entry together.
	first entry
	head  atomic.Pointer[entry]
	hash  uint64   // the writer's, to place the node in its table
	vals  []uint64 // inl[:n], or allocated when n words do not fit
}

// The fields a lookup reads on a hit are in the node's first 64 bytes, and
// the node fills a size class of its own, which aligns it to its size.
var (
	_ [64 - (unsafe.Offsetof(node{}.first) + unsafe.Offsetof(entry{}.heads) + unsafe.Sizeof(atomic.Bool{}))]struct{}
	_ [64 - (unsafe.Offsetof(node{}.first) + unsafe.Offsetof(entry{}.rule) + unsafe.Sizeof((*flow.Rule)(nil)))]struct{}
	_ [64 - (unsafe.Offsetof(node{}.first) + unsafe.Offsetof(entry{}.pri) + unsafe.Sizeof(uint16(0)))]struct{}
	_ [unsafe.Sizeof(node{}) - 128]struct{}
	_ [128 - unsafe.Sizeof(node{})]struct{}
)

// inlWords is how many key words a node keeps inline.
const inlWords = 4

func newNode(h uint64, n int) *node {
	nd := &node{hash: h}
	nd.first.tag = hashTag(h)
	if n <= len(nd.inl) {
		nd.vals = nd.inl[:n:n]
	} else {
		nd.vals = make([]uint64, n)
	}
	return nd
}

// hashTag returns the bits of a node hash that its first entry keeps. A
// table's slot is the hash's top bits, which nodes in one probe mostly
// share, so they are taken from the middle.
func hashTag(h uint64) uint8 { return uint8(h >> 32) }

// setHead makes e the head of n's list (for the writer). Lookups trust
// first.heads only when it is set: a lookup that sees it set either has a
// version that cannot see an entry being put ahead of first (the flag is
// cleared before that version is published), or retries because an entry
// ahead was unlinked (the flag is set after the unlinking, which follows
// the store of the reclaimed version).
func (n *node) setHead(e *entry) {
	n.head.Store(e)
	n.first.heads.Store(e == &n.first)
}

// inlineWords is the all list of a subtable whose nodes keep their key
// words inline, padded to inlWords with empty masks, which the zero inline
// words past a node's own match. Comparing a fixed number of words needs no
// loop, whose exit, after a different count in each subtable, the
// processor mispredicts. Words are given by their byte offsets in the key.
type inlineWords struct {
	m   [inlWords]uint64
	off [inlWords]uintptr
}

// newInlineWords returns all padded, or nil if all does not fit inline.
func newInlineWords(all []wordMask) *inlineWords {
	if len(all) > inlWords {
		return nil
	}
	w := &inlineWords{}
	for i, x := range all {
		w.m[i], w.off[i] = x.m, uintptr(x.idx)*8
	}
	return w
}

// matchesInline is matches for a node of a subtable whose all list,
// padded, is inl. (It is just cheap enough to inline: keep it so.)
func (n *node) matchesInline(kw *[flow.KeyWords]uint64, inl *inlineWords) bool {
	k := unsafe.Pointer(kw)
	return (*(*uint64)(unsafe.Add(k, inl.off[0]))&inl.m[0]^n.inl[0])|
		(*(*uint64)(unsafe.Add(k, inl.off[1]))&inl.m[1]^n.inl[1])|
		(*(*uint64)(unsafe.Add(k, inl.off[2]))&inl.m[2]^n.inl[2])|
		(*(*uint64)(unsafe.Add(k, inl.off[3]))&inl.m[3]^n.inl[3]) == 0
}

// matches reports whether kw masked by words, the list n's key words were
// made from, equals them.
func (n *node) matches(kw *[flow.KeyWords]uint64, words []wordMask) bool {
	// Reading inline values straight from n saves loading n.vals first;
	// n has as many values as words has entries.
	vals := unsafe.Pointer(&n.inl)
	if len(words) > len(n.inl) {
		vals = unsafe.Pointer(unsafe.SliceData(n.vals))
	}
	for i := range words {
		w := &words[i]
		if *keyWord(kw, w.idx)&w.m != *(*uint64)(unsafe.Add(vals, uintptr(i)*8)) {
			return false
		}
	}
	return true
}

// deadNode marks a slot whose node was removed.
var deadNode = &node{}

// findNode returns the node in slots whose key equals kw under words, or
// nil.
func findNode(slots []atomic.Pointer[node], shift uint8, h uint64, kw *[flow.KeyWords]uint64, words []wordMask) *node {
	mask := uint64(len(slots) - 1)
	for i := h >> (shift & 63); ; i = (i + 1) & mask {
		n := slots[i].Load()
		if n == nil {
			return nil
		}
		if n.hash == h && n != deadNode && n.matches(kw, words) {
			return n
		}
	}
}

// findNodeVals is findNode for a key given by its words under the mask,
// in the order of the subtable's all list.
func findNodeVals(slots []atomic.Pointer[node], shift uint8, h uint64, vals []uint64) *node {
	mask := uint64(len(slots) - 1)
	for i := h >> (shift & 63); ; i = (i + 1) & mask {
		n := slots[i].Load()
		if n == nil {
			return nil
		}
		if n.hash == h && n != deadNode && slices.Equal(n.vals, vals) {
			return n
		}
	}
}

// eachNode calls fn for every live node in slots until fn returns false.
func eachNode(slots []atomic.Pointer[node], fn func(*node) bool) bool {
	for i := range slots {
		if n := slots[i].Load(); n != nil && n != deadNode {
			if !fn(n) {
				return false
			}
		}
	}
	return true
}

// nodeTable maps a masked key to its node.
type nodeTable struct {
	slots []atomic.Pointer[node]
	used  int // live nodes
	dead  int // tombstones
}

func newNodeTable(n int) *nodeTable {
	return &nodeTable{slots: make([]atomic.Pointer[node], slotsFor(n))}
}

// full reports whether adding one node needs a rebuild first.
func (t *nodeTable) full() bool { return 2*(t.used+t.dead+1) > len(t.slots) }

// sparse reports whether the table is worth shrinking.
func (t *nodeTable) sparse() bool { return len(t.slots) > minSlots && 16*t.used < len(t.slots) }

// put stores n, which must be absent, in the first free slot of its probe.
func (t *nodeTable) put(n *node) {
	mask := uint64(len(t.slots) - 1)
	for i := n.hash >> shiftFor(len(t.slots)); ; i = (i + 1) & mask {
		switch t.slots[i].Load() {
		case nil:
			t.slots[i].Store(n)
			t.used++
			return
		case deadNode:
			t.slots[i].Store(n)
			t.used++
			t.dead--
			return
		}
	}
}

// only returns the single live node of a table that has one.
func (t *nodeTable) only() *node {
	var only *node
	eachNode(t.slots, func(n *node) bool { only = n; return false })
	return only
}

// del replaces n's slot with a tombstone.
func (t *nodeTable) del(n *node) {
	mask := uint64(len(t.slots) - 1)
	for i := n.hash >> shiftFor(len(t.slots)); ; i = (i + 1) & mask {
		switch t.slots[i].Load() {
		case n:
			t.slots[i].Store(deadNode)
			t.used--
			t.dead++
			return
		case nil:
			panic("classifier: node missing from its table")
		}
	}
}

// rebuilt returns a fresh table holding t's live nodes, sized for extra
// more.
func (t *nodeTable) rebuilt(extra int) *nodeTable {
	nt := newNodeTable(t.used + extra)
	eachNode(t.slots, func(n *node) bool { nt.put(n); return true })
	return nt
}

// Hash set slot values: 0 is empty, 1 a tombstone, and stored hashes have
// bit 1 set so they are neither (the collisions this adds cost a few more
// examined bits, nothing else).
const (
	setEmpty = 0
	setDead  = 1
)

func setValue(h uint64) uint64 { return h | 2 }

// setSlot returns slots[i] without a bounds check: i must be below
// len(slots), as the indexes of a probe are (the first is a hash shifted
// by shiftFor(len(slots)), the others are masked by len(slots)-1). It
// loads with sync/atomic's function rather than the method, which would
// leave a no-op (its inline mark) in the caller's probe loop.
func setSlot(slots []atomic.Uint64, i uint64) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(slots)), uintptr(i)*8)))
}

// nodeSlot is setSlot for a node table.
func nodeSlot(slots []atomic.Pointer[node], i uint64) *node {
	return (*node)(atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(slots)), uintptr(i)*unsafe.Sizeof(slots[0])))))
}

// setSlot and nodeSlot read a slot as the one word the atomic types hold.
var (
	_ [unsafe.Sizeof(atomic.Uint64{}) - unsafe.Sizeof(uint64(0))]struct{}
	_ [unsafe.Sizeof(uint64(0)) - unsafe.Sizeof(atomic.Uint64{})]struct{}
	_ [unsafe.Sizeof(atomic.Pointer[node]{}) - unsafe.Sizeof(unsafe.Pointer(nil))]struct{}
	_ [unsafe.Sizeof(unsafe.Pointer(nil)) - unsafe.Sizeof(atomic.Pointer[node]{})]struct{}
)

// hashSet is the set of stage hashes of a subtable's nodes. The writer
// counts the nodes behind each hash, so a hash leaves when its last node
// does.
type hashSet struct {
	slots []atomic.Uint64
	refs  []int32 // nodes per slot
	used  int
	dead  int
}

func newHashSet(n int) *hashSet {
	s := slotsFor(n)
	return &hashSet{slots: make([]atomic.Uint64, s), refs: make([]int32, s)}
}

func (s *hashSet) full() bool   { return 2*(s.used+s.dead+1) > len(s.slots) }
func (s *hashSet) sparse() bool { return len(s.slots) > minSlots && 16*s.used < len(s.slots) }

// add counts refs more nodes with hash h and reports whether h is new. The
// set must have room for one more hash (see full).
func (s *hashSet) add(h uint64, refs int32) bool {
	h = setValue(h)
	mask := uint64(len(s.slots) - 1)
	free := -1
	for i := h >> shiftFor(len(s.slots)); ; i = (i + 1) & mask {
		switch s.slots[i].Load() {
		case h:
			s.refs[i] += refs
			return false
		case setDead:
			if free < 0 {
				free = int(i)
			}
		case setEmpty:
			if free < 0 {
				free = int(i)
			} else {
				s.dead--
			}
			s.slots[free].Store(h)
			s.refs[free] = refs
			s.used++
			return true
		}
	}
}

// release counts one node fewer with hash h, which must be present, and
// reports whether h left the set.
func (s *hashSet) release(h uint64) bool {
	h = setValue(h)
	mask := uint64(len(s.slots) - 1)
	for i := h >> shiftFor(len(s.slots)); ; i = (i + 1) & mask {
		switch s.slots[i].Load() {
		case h:
			if s.refs[i]--; s.refs[i] > 0 {
				return false
			}
			s.slots[i].Store(setDead)
			s.used--
			s.dead++
			return true
		case setEmpty:
			panic("classifier: stage hash missing from its set")
		}
	}
}

// only returns the single stored value of a set that has one.
func (s *hashSet) only() uint64 {
	for i := range s.slots {
		if v := s.slots[i].Load(); v != setEmpty && v != setDead {
			return v
		}
	}
	return setEmpty
}

func (s *hashSet) rebuilt(extra int) *hashSet {
	ns := newHashSet(s.used + extra)
	for i := range s.slots {
		if v := s.slots[i].Load(); v != setEmpty && v != setDead {
			ns.add(v, s.refs[i])
		}
	}
	return ns
}
