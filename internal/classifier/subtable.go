package classifier

import (
	"math/bits"
	"slices"

	"github.com/dvs-project/dvs/internal/flow"
)

// numStages is how many groups of key bits a lookup checks in turn.
const numStages = 4

// numStages is a power of two (see visit).
var _ [0]struct{} = [numStages & (numStages - 1)]struct{}{}

// stageMasks[i] selects the key bits of stage i: pipeline state, tunnel and
// in_port; then L2; then L3 (ARP's hardware addresses, which IPv6 ND's
// link-layer options share, included); then L4 and everything else. The
// stages are defined by bits rather than words because the key's words mix
// layers (in_port shares a word with nw_src, the L2 addresses with the ARP
// ones and the ports).
var stageMasks = func() [numStages]flow.Mask {
	var s [numStages]flow.Mask
	s[0] = flow.Mask{Metadata: ^uint64(0), TunID: ^uint64(0), TunSrc: ^uint32(0), TunDst: ^uint32(0), InPort: ^uint32(0)}
	for i := range s[0].Regs {
		s[0].Regs[i] = ^uint32(0)
	}
	s[1] = flow.Mask{EthDst: allOnes6, EthSrc: allOnes6, EthType: 0xffff,
		VLANs: [2]flow.VLAN{{TPID: 0xffff, TCI: 0xffff}, {TPID: 0xffff, TCI: 0xffff}}}
	s[2] = flow.Mask{NwSrc: ^uint32(0), NwDst: ^uint32(0), IPv6Label: ^uint32(0),
		IPv6Src: allOnes16, IPv6Dst: allOnes16, ArpSHA: allOnes6, ArpTHA: allOnes6,
		NwProto: 0xff, NwTOS: 0xff, NwTTL: 0xff, NwFrag: 0xff}
	last := flow.ExactMask()
	lw := last.Words()
	for i := range numStages - 1 {
		for j, w := range s[i].Words() {
			lw[j] &^= w
		}
	}
	s[numStages-1] = last
	return s
}()

var (
	allOnes6  = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allOnes16 = [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// subtable holds the rules that share one mask.
type subtable struct {
	// Immutable after creation.
	mask flow.Mask
	// words are the mask's non-zero bits, stage by stage: words[:ends[i]]
	// cover stages 0..i. A key word whose bits fall in two stages appears
	// twice, with each stage's bits.
	words   []wordMask
	ends    [numStages]uint8
	nstages int // stages in which mask has bits; ends beyond are unused
	// first is the first stage's bits, which every lookup that visits the
	// subtable examines; more[i] the bits of the stages after it up to
	// stage i, which a lookup that gets that far examines too (more[0] is
	// empty). all is every bit of the mask: what nodes hold and are
	// compared with. Each list names a key word once.
	first []wordMask
	more  [numStages][]bitPair
	all   []wordMask
	inl   *inlineWords // all padded, when nodes keep their key words inline; else nil

	// Writer-only state. Lookups reach sets and table through the
	// snapshot's view (see ref), so a change to that view must be
	// published: a new slot array, or a set or table that had or has a
	// single member, which the view holds by value.
	//
	// sets[i] holds the hash up to stage i of every node's key. The last
	// stage has none: the node table takes its place.
	sets  [numStages - 1]*hashSet
	table *nodeTable
	stale bool // the published view is out of date
	// pre counts the nodes per prerequisite value (see preValue) while
	// there are at most maxPre values, and preOff is set for good once
	// there were more: the filter is off for the subtable then.
	pre    []preCount
	preOff bool
	prios  prioSet
	n      int // entries, including ones awaiting physical removal
	pos    int // index in Classifier.subtables
	// pending counts the rules of the Upsert in progress still to be
	// inserted, which size the node table when it grows; batchPos is the
	// subtable's index in that Upsert's list.
	pending  int
	batchPos int
}

// newSubtable returns an empty subtable for mask m whose words hash with
// multipliers drawn from seed.
func newSubtable(m *flow.Mask, seed uint64) *subtable {
	st := &subtable{mask: *m}
	mw := m.Words()
	for i := range stageMasks {
		sw := stageMasks[i].Words()
		n := len(st.words)
		for j, w := range mw {
			if x := w & sw[j]; x != 0 {
				seed += 0x9e3779b97f4a7c15
				st.words = append(st.words, wordMask{idx: uint32(j), m: x, mul: splitmix(seed) | 1})
			}
		}
		if len(st.words) > n {
			st.ends[st.nstages] = uint8(len(st.words))
			st.nstages++
		}
	}
	st.words = st.words[:len(st.words):len(st.words)]
	for i := range st.nstages - 1 { // every stage but the last has a set
		st.words[st.ends[i]-1].chk = uint32(i + 1)
	}
	if st.nstages > 0 {
		st.first = merged(st.words[:st.ends[0]])
		for i := 1; i < st.nstages; i++ {
			st.more[i] = pairsOf(without(merged(st.words[:st.ends[i]]), st.first))
		}
		st.all = merged(st.words)
		st.inl = newInlineWords(st.all)
	}
	for i := range st.nstages - 1 {
		st.sets[i] = newHashSet(0)
	}
	st.table = newNodeTable(0)
	return st
}

// splitmix is splitmix64's output function.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// merged returns ws with the entries for each key word combined, in word
// order.
func merged(ws []wordMask) []wordMask {
	var m flow.Mask
	mw := m.Words()
	for _, w := range ws {
		mw[w.idx] |= w.m
	}
	var out []wordMask
	for i, x := range mw {
		if x != 0 {
			out = append(out, wordMask{idx: uint32(i), m: x})
		}
	}
	return out[:len(out):len(out)]
}

// without returns ws without the bits of drop.
func without(ws, drop []wordMask) []wordMask {
	var out []wordMask
	for _, w := range ws {
		for _, d := range drop {
			if d.idx == w.idx {
				w.m &^= d.m
			}
		}
		if w.m != 0 {
			out = append(out, w)
		}
	}
	return out[:len(out):len(out)]
}

// ref returns the snapshot's view of st.
func (st *subtable) ref() subRef {
	r := subRef{maxPri: st.prios.max(), words: st.words, all: st.all, inl: st.inl, nodes: st.table.slots, shift: shiftFor(len(st.table.slots)), st: st}
	if st.nstages > 0 {
		r.more = st.more[st.nstages-1]
	}
	for i := range st.nstages - 1 {
		r.stages[i] = stageRef{more: st.more[i]}
		if set := st.sets[i]; set.used == 1 {
			r.stages[i].one = set.only()
		} else {
			r.stages[i].set, r.stages[i].shift = set.slots, shiftFor(len(set.slots))
		}
	}
	if st.table.used == 1 {
		r.one, r.nodes = st.table.only(), nil
	}
	r.pre = [maxPre]uint32{0, noPre, noPre, noPre} // no filter: admit all
	r.preEthTypes = [maxPre]uint32{noPre, noPre, noPre, noPre}
	if m := st.preMask(); m != 0 && !st.preOff {
		r.preMask = m
		for i := range r.pre {
			r.pre[i] = noPre
			if i < len(st.pre) {
				r.pre[i], r.preEthTypes[i] = st.pre[i].v, st.pre[i].v&^0xff
			}
		}
	}
	st.stale = false
	return r
}

// hashes returns the hash of kw's masked bits and stores in hs[i] the hash
// up to stage i, and in hs[numStages-1] the hash returned.
func (st *subtable) hashes(seed uint64, kw *[flow.KeyWords]uint64, hs *[numStages]uint64) uint64 {
	h := seed
	start := 0
	for i := range st.nstages {
		for _, w := range st.words[start:st.ends[i]] {
			h = mix(h, &w, kw[w.idx]&w.m)
		}
		if i < st.nstages-1 {
			// A stage with a set goes on from its set value (see visit).
			h = setValue(h)
		}
		start = int(st.ends[i])
		hs[i] = h
	}
	hs[numStages-1] = h
	return h
}

// addNode links a new node, whose key has prerequisite value pv
// (preValue), and its stage hashes in.
func (st *subtable) addNode(n *node, hs *[numStages]uint64, pv uint32) {
	st.countPre(pv, 1)
	// A table that must grow for a batch grows for the rest of the batch
	// at once. A set can hold fewer hashes than the batch has rules: it
	// grows at most fourfold at a time.
	for i := range st.nstages - 1 {
		if s := st.sets[i]; s.full() {
			st.sets[i] = s.rebuilt(1 + min(st.pending, 3*s.used))
			st.stale = true
		}
		if st.sets[i].add(hs[i], 1) {
			st.stale = st.stale || st.sets[i].used <= 2
		}
	}
	if st.table.full() {
		st.table = st.table.rebuilt(1 + st.pending)
		st.stale = true
	}
	st.table.put(n)
	st.stale = st.stale || st.table.used <= 2
}

// delNode unlinks node n and its stage hashes.
func (st *subtable) delNode(n *node, seed uint64) {
	var k flow.Key
	kw := k.Words()
	for i, w := range st.all {
		kw[w.idx] = n.vals[i]
	}
	var hs [numStages]uint64
	st.hashes(seed, kw, &hs)
	st.countPre(preValue(&k), -1)
	st.table.del(n)
	if st.table.sparse() {
		st.table = st.table.rebuilt(0)
		st.stale = true
	}
	st.stale = st.stale || st.table.used <= 1
	for i := range st.nstages - 1 {
		if !st.sets[i].release(hs[i]) {
			continue
		}
		if st.sets[i].sparse() {
			st.sets[i] = st.sets[i].rebuilt(0)
			st.stale = true
		}
		st.stale = st.stale || st.sets[i].used <= 1
	}
}

// The prerequisite filter. OpenFlow makes a match on an L3 or L4 field
// name the protocol too (nw_src needs eth_type=0x0800, tp_dst needs an
// ip_proto), so the rules of most subtables share one or two values of
// eth_type and ip_proto. A lookup compares the packet's with them before
// it hashes anything, and skips a subtable that has none of them; only the
// compared bits join the examined bits. In tables that mix protocols most
// subtables a lookup visits are skipped this way.

// maxPre is the most prerequisite values a subtable's filter holds (the
// lookup compares with each written out).
const maxPre = 4

// noPre fills a filter's unused slots: prerequisite values have 24 bits.
const noPre = ^uint32(0)

// preCount is a prerequisite value and the number of nodes that have it.
type preCount struct {
	v uint32
	n int32
}

// preValue returns k's prerequisite fields, eth_type and ip_proto, in one
// word: eth_type<<8 | ip_proto.
func preValue(k *flow.Key) uint32 { return uint32(k.EthType)<<8 | uint32(k.NwProto) }

// preMask returns the bits of the prerequisite word that st's mask has.
func (st *subtable) preMask() uint32 { return preValue((*flow.Key)(&st.mask)) }

// countPre counts d more nodes (d is 1 or -1) with prerequisite value pv.
func (st *subtable) countPre(pv uint32, d int32) {
	m := st.preMask()
	if m == 0 || st.preOff {
		return
	}
	v := pv & m
	for i := range st.pre {
		if p := &st.pre[i]; p.v == v {
			if p.n += d; p.n == 0 {
				st.pre = slices.Delete(st.pre, i, i+1)
				st.stale = true
			}
			return
		}
	}
	if len(st.pre) == maxPre {
		st.pre, st.preOff = nil, true
	} else {
		st.pre = append(st.pre, preCount{v, d})
	}
	st.stale = true
}

// prioSet counts the priorities of a subtable's rules and finds the highest
// in constant time: a three-level bitmap over the 65536 priorities, whose
// leaves are allocated for the 4096-priority ranges in use. A bit stands
// for one rule; extra counts the rules beyond the first at a priority.
type prioSet struct {
	top    uint16
	chunks [16]*prioChunk
	extra  map[uint16]int32
}

type prioChunk struct {
	sum uint64
	w   [64]uint64
}

func (p *prioSet) add(pri uint16) {
	c, w, b := pri>>12, pri>>6&63, pri&63
	ch := p.chunks[c]
	if ch == nil {
		ch = new(prioChunk)
		p.chunks[c] = ch
	}
	if ch.w[w]&(1<<b) != 0 {
		if p.extra == nil {
			p.extra = map[uint16]int32{}
		}
		p.extra[pri]++
		return
	}
	ch.w[w] |= 1 << b
	ch.sum |= 1 << w
	p.top |= 1 << c
}

func (p *prioSet) remove(pri uint16) {
	if n := p.extra[pri]; n > 0 {
		if n == 1 {
			delete(p.extra, pri)
		} else {
			p.extra[pri] = n - 1
		}
		return
	}
	c, w, b := pri>>12, pri>>6&63, pri&63
	ch := p.chunks[c]
	ch.w[w] &^= 1 << b
	if ch.w[w] == 0 {
		ch.sum &^= 1 << w
	}
	if ch.sum == 0 {
		p.top &^= 1 << c
		p.chunks[c] = nil
	}
}

// max returns the highest priority in the set, or 0 when it is empty.
func (p *prioSet) max() uint16 {
	if p.top == 0 {
		return 0
	}
	c := 15 - bits.LeadingZeros16(p.top)
	ch := p.chunks[c]
	w := 63 - bits.LeadingZeros64(ch.sum)
	b := 63 - bits.LeadingZeros64(ch.w[w])
	return uint16(c<<12 | w<<6 | b)
}
