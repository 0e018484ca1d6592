package classifier

import (
	"sync/atomic"

	"github.com/dvs-project/dvs/internal/flow"
)

// snapshot is what a lookup reads: a version and the subtables in the order
// to visit them. It is immutable once published.
type snapshot struct {
	version uint64
	subs    []subRef
	n       int
	pre     *preIndex // nil when the filters are not all of the usual kinds
}

// subRef is a subtable in a snapshot: everything a lookup reads before it
// reaches a node, laid out so that it comes from the snapshot's array.
type subRef struct {
	maxPri uint16
	// The prerequisite filter: a key whose preValue under preMask is none
	// of pre matches no rule. Unused slots hold noPre, which no value
	// under a mask equals; a subtable without a filter has preMask 0 and
	// pre {0, noPre, ...}, which admit every key.
	preMask     uint32
	pre         [maxPre]uint32
	preEthTypes [maxPre]uint32 // pre's eth_types (unused slots hold noPre)
	// words are the mask's words stage by stage; the last word of each
	// stage with a hash set names it (wordMask.chk).
	words  []wordMask
	stages [numStages]stageRef // stages[numStages-1], the last stage's, is unused
	more   []bitPair           // all bits but the first stage's
	all    []wordMask          // all bits, each key word once
	// inl is all padded, when the nodes keep their key words inline.
	inl *inlineWords
	// upto is the first-stage bits of this subtable and of all before it
	// in the snapshot, each key word once: a lookup that visits the
	// subtables up to this one examines them all, so it adds them to its
	// mask at once when it ends instead of once per visit.
	upto  []bitPair
	nodes []atomic.Pointer[node]
	shift uint8 // shiftFor(len(nodes))
	one   *node // the only node, when there is one; nodes is nil then
	st    *subtable
}

// stageRef is a stage of a subtable but the last.
type stageRef struct {
	more  []bitPair // the bits of the stages after the first up to this one
	set   []atomic.Uint64
	shift uint8  // shiftFor(len(set))
	one   uint64 // the only stored hash, when there is one; set is nil then
}

// Lookup returns the highest-priority rule that matches k, or nil. If wc is
// not nil, Lookup sets in it every key bit it examined: any key that agrees
// with k on the bits set in wc afterwards gets the same answer from the
// classifier as it is now (the same rule, or one of the same priority when
// several tie). Lookup does not allocate and borrows k and wc until it
// returns.
func (c *Classifier) Lookup(k *flow.Key, wc *flow.Mask) *flow.Rule {
	kw := k.Words()
	var ww *[flow.KeyWords]uint64
	if wc != nil {
		ww = wc.Words()
	}
	pv := preValue(k)
	for {
		s := c.snap.Load()
		var best *entry
		var pm uint32 // the prerequisite bits that the filters of skipped subtables compared
		if s.pre == nil {
			best, pm = s.lookupEach(c.seed, kw, pv, ww)
		} else {
			// The prerequisite index says which subtables the filters
			// admit for pv: visit those in order, and afterwards find where
			// the lookup would have stopped among the ones passed over. (Written
			// out here: a call would cost more than its frame.)
			cl := s.pre.class(pv)
			bestPri := int32(-1)
			refs := cl.refs
			i := 0
			for ; i < len(refs); i++ {
				ref := refs[i]
				if bestPri >= int32(ref.maxPri) {
					break
				}
				if n := ref.visit(c.seed, kw, ww); n != nil {
					if e := n.entryAt(s.version); e != nil && int32(e.pri) > bestPri {
						best, bestPri = e, int32(e.pri)
					}
				}
			}
			// The early exit at the first subtable whose highest priority
			// is not above the best, which may be one the filter skipped.
			subs := s.subs
			next, end := 0, len(subs) // after the last visited; where to stop
			if i > 0 {
				next = int(cl.admit[i-1]) + 1
			}
			if i < len(cl.admit) {
				end = int(cl.admit[i])
			}
			for next < end && int32(subs[next].maxPri) > bestPri {
				next++
			}
			if next > 0 {
				if ww != nil {
					orInto(ww, subs[next-1].upto)
				}
				pm = cl.pm[next-1]
			}
		}
		if wc != nil && pm != 0 {
			// The prerequisite bits the filters compared.
			wc.EthType |= uint16(pm >> 8)
			wc.NwProto |= uint8(pm)
		}
		// A retry may leave extra bits in wc; more bits are always safe.
		if c.reclaimed.Load() <= s.version {
			if best == nil {
				return nil
			}
			return best.rule
		}
	}
}

// lookupEach is Lookup's search in a snapshot without a prerequisite
// index: it applies each subtable's filter in turn. It returns the entry
// found, or nil, and the prerequisite bits that skipped subtables
// compared, which wc (if not nil) needs too.
func (s *snapshot) lookupEach(seed uint64, kw *[flow.KeyWords]uint64, pv uint32, wc *[flow.KeyWords]uint64) (*entry, uint32) {
	var best *entry
	bestPri := int32(-1)
	var pm uint32
	subs := s.subs
	i := 0
subtables:
	for i < len(subs) {
		// Pass the subtables the filter rules out in a loop of their own,
		// so that it keeps its variables in registers: the loop around
		// visit reloads them after every call.
		ref := &subs[i]
		for !ref.admits(pv) {
			if bestPri >= int32(ref.maxPri) {
				break subtables
			}
			// Once pm holds the filter's bits, no need to compare again
			// (pm is unused when wc is nil).
			if pm&ref.preMask != ref.preMask {
				pm |= ref.ruledOut(pv)
			}
			if i++; i == len(subs) {
				break subtables
			}
			ref = &subs[i]
		}
		if bestPri >= int32(ref.maxPri) {
			break
		}
		if n := ref.visit(seed, kw, wc); n != nil {
			if e := n.entryAt(s.version); e != nil && int32(e.pri) > bestPri {
				best, bestPri = e, int32(e.pri)
			}
		}
		i++
	}
	if wc != nil && i > 0 {
		orInto(wc, subs[i-1].upto)
	}
	return best, pm
}

// admits reports whether a key whose prerequisite value is pv may match
// a rule of the subtable. (A subtable without a filter has preMask 0 and
// pre[0] 0, which admit every key.)
func (ref *subRef) admits(pv uint32) bool {
	v := pv & ref.preMask
	return v == ref.pre[0] || v == ref.pre[1] || v == ref.pre[2] || v == ref.pre[3]
}

// ruledOut returns the prerequisite bits that show that a key whose
// prerequisite value is pv, which the subtable does not admit, matches no
// rule of it: eth_type's alone when it suffices, so that other traffic
// does not examine ip_proto.
func (ref *subRef) ruledOut(pv uint32) uint32 {
	em := ref.preMask &^ 0xff
	v := pv & em
	if v == ref.preEthTypes[0] || v == ref.preEthTypes[1] || v == ref.preEthTypes[2] || v == ref.preEthTypes[3] {
		return ref.preMask
	}
	return em
}

// visit looks kw up in the subtable: it hashes kw stage by stage, starting
// from seed, and stops at the first stage whose hash no node has, adding
// the bits hashed so far to wc (if not nil); or, when every stage's hash
// is known, adds all of the mask's bits to wc and returns the node whose
// key is kw, or nil. (Which of the node's entries are visible is the
// caller's to check: visit keeps fewer values in registers without the
// version.) It leaves the first stage's bits out of wc: the caller adds
// them (see subRef.upto).
func (ref *subRef) visit(seed uint64, kw, wc *[flow.KeyWords]uint64) *node {
	h := seed
	ws := ref.words
words:
	for i := range ws {
		w := &ws[i]
		h = mix(h, w, *keyWord(kw, w.idx)&w.m)
		if w.chk == 0 {
			continue
		}
		// The end of a stage with a set: chk-1 < numStages-1, so the mask
		// spares a bounds check.
		sg := &ref.stages[(w.chk-1)&(numStages-1)]
		// setValue(h), written out: the inlined call would leave a no-op
		// (its inline mark) in the loop. The hash goes on from the set
		// value (see subtable.hashes), which keeps one register for both.
		h |= 2
		if sg.set == nil {
			if sg.one == h {
				continue
			}
		} else {
			// The set's probe, written out: a hit goes on to the next stage
			// straight from the probe.
			mask := uint64(len(sg.set) - 1)
			for i := h >> (sg.shift & 63); ; i = (i + 1) & mask {
				switch setSlot(sg.set, i) {
				case h:
					continue words
				case setEmpty:
					break
				default:
					continue
				}
				break
			}
		}
		if wc != nil {
			orInto(wc, sg.more)
		}
		return nil
	}
	if wc != nil {
		orInto(wc, ref.more)
	}
	// A node's key words are compared with matchesInline when they fit
	// inline, with matches when not.
	inl := ref.inl
	n := ref.one
	if n == nil {
		// findNode, written out: a call would cost as much as its probe.
		slots := ref.nodes
		mask := uint64(len(slots) - 1)
		tag := hashTag(h)
		for i := h >> (ref.shift & 63); ; i = (i + 1) & mask {
			n = nodeSlot(slots, i)
			if n == nil {
				return nil
			}
			if n.first.tag != tag || n == deadNode {
				continue
			}
			if inl != nil && n.matchesInline(kw, inl) || inl == nil && n.matches(kw, ref.all) {
				return n
			}
		}
	}
	if n.first.tag == hashTag(h) && (inl != nil && n.matchesInline(kw, inl) || inl == nil && n.matches(kw, ref.all)) {
		return n
	}
	return nil
}

// entryAt returns the highest-priority entry of n visible at version v, or
// nil.
func (n *node) entryAt(v uint64) *entry {
	// Usually the node's first entry heads it: it and its heads flag are
	// in the cache line the lookup compared the key words in.
	if f := &n.first; f.heads.Load() && f.visible(v) {
		return f
	}
	for e := n.head.Load(); e != nil; e = e.next.Load() {
		if e.visible(v) {
			return e
		}
	}
	return nil
}
