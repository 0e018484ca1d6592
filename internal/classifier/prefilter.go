package classifier

import (
	"math/bits"
	"slices"
)

// The prerequisite index. Almost every filter is on eth_type (mask
// 0xffff00) or on eth_type and ip_proto (0xffffff), as OpenFlow's
// prerequisites make them, and then what the filters make of a key depends
// only on its class: its exact prerequisite value when some filter lists
// it, else its eth_type when some filter lists that, else nothing. A
// snapshot works this out for every class when it is published, so that a
// lookup finds its class once instead of comparing with every subtable's
// filter.

// Filter masks the index handles.
const (
	preEth      = 0xffff00
	preEthProto = 0xffffff
)

// maxPreCells bounds the index's size, in classes times subtables: a table
// with very many filtered subtables does without one.
const maxPreCells = 1 << 16

// preIndex maps a prerequisite value to its class in two steps: its
// eth_type picks a row, and the row's ip_proto table (when some filter
// lists an exact value of that eth_type) picks the class. Rows sit in a
// table whose multiplier gives every listed eth_type a slot of its own, so
// finding the row is a single probe.
type preIndex struct {
	rows    []preRow // a listed eth_type's in slot (eth*mul)>>shift; the others' eth is noPre
	mul     uint32   // the multiplier that spreads the listed eth_types
	shift   uint8    // 32 - log2(len(rows))
	classes []preClass
	none    *preClass // the class of eth_types no filter lists
}

// preRow is what the filters make of the keys of one eth_type.
type preRow struct {
	eth    uint32
	cls    *preClass       // the class of every key of eth, when protos is nil
	protos *[256]*preClass // the class of each ip_proto, when a filter lists one
}

// preClass is what the filters make of the keys of one class.
type preClass struct {
	admit []int32   // the subtables whose filters admit the keys, in order
	refs  []*subRef // and their views (refs[i] is &subs[admit[i]])
	pm    []uint32  // pm[i]: the bits compared by the filters of subtables 0..i that do not admit them
}

// class returns the class of prerequisite value pv. (Inlined, it would
// leave the lookup loop fewer registers: the loop reloads more after each
// visit than the call costs.)
//
//go:noinline
func (x *preIndex) class(pv uint32) *preClass {
	e := pv >> 8
	r := &x.rows[(e*x.mul)>>(x.shift&31)]
	if r.eth != e {
		return x.none
	}
	if r.protos != nil {
		return r.protos[uint8(pv)]
	}
	return r.cls
}

// preIndexMin is the fewest filtered subtables a snapshot indexes: with
// fewer, comparing with each filter costs a lookup less than finding its
// class (a slow-path translation through small tables spent 3% more
// instructions with an index).
var preIndexMin = 8

// newPreIndex returns the prerequisite index of subs, or nil if a filter
// has another mask than the two the index handles, if fewer than
// preIndexMin subtables have a filter, or if the index would be too large.
func newPreIndex(subs []subRef) *preIndex {
	var full, eths []uint32
	filtered := 0
	for i := range subs {
		ref := &subs[i]
		switch ref.preMask {
		case 0:
			continue
		case preEth, preEthProto:
		default:
			return nil
		}
		filtered++
		for _, v := range ref.pre {
			if v == noPre {
				continue
			}
			if ref.preMask == preEthProto {
				full = append(full, v)
			}
			eths = append(eths, v>>8)
		}
	}
	if filtered < preIndexMin {
		return nil
	}
	slices.Sort(full)
	full = slices.Compact(full)
	slices.Sort(eths)
	eths = slices.Compact(eths)
	if (len(full)+len(eths)+1)*len(subs) > maxPreCells {
		return nil
	}
	x := &preIndex{}
	if x.rows, x.mul, x.shift = spread(eths); x.rows == nil {
		return nil
	}
	// The classes: one per listed value, one per listed eth_type (for its
	// values no filter lists), and one for the other eth_types. Class
	// storage is allocated at once, so the pointers stay put.
	x.classes = make([]preClass, 0, len(full)+len(eths)+1)
	class := func(pv uint32) *preClass {
		x.classes = append(x.classes, classOf(subs, pv))
		return &x.classes[len(x.classes)-1]
	}
	for i := range x.rows {
		r := &x.rows[i]
		if r.eth == noPre {
			continue
		}
		e := r.eth << 8
		lo, _ := slices.BinarySearch(full, e)
		hi, _ := slices.BinarySearch(full, e+0x100)
		if lo == hi {
			r.cls = class(e)
			continue
		}
		r.protos = new([256]*preClass)
		var other *preClass // the eth_type's values no filter lists
		for p := range uint32(256) {
			if lo < hi && full[lo] == e|p {
				r.protos[p] = class(e | p)
				lo++
				continue
			}
			if other == nil {
				other = class(e | p)
			}
			r.protos[p] = other
		}
	}
	// An eth_type that no filter lists.
	e := uint32(0)
	for slices.Contains(eths, e) {
		e++
	}
	x.none = class(e << 8)
	return x
}

// maxRowsPer bounds the index's row table: slots per listed eth_type.
const maxRowsPer = 64

// spread returns a table with a slot of its own for each of eths (16-bit
// values), which the others hold noPre, the multiplier that takes an eth_type
// to its slot and the shift after it: slot (e*mul)>>shift. It tries odd
// multipliers in a fixed sequence, doubling the table when they fail, and
// returns a nil table if it would grow beyond maxRowsPer slots per eth_type.
func spread(eths []uint32) ([]preRow, uint32, uint8) {
	size := 2
	for size < 2*len(eths) {
		size *= 2
	}
	seq := uint64(0)
	for ; size <= maxRowsPer*max(len(eths), 1); size *= 2 {
		rows := make([]preRow, size)
		shift := uint8(33 - bits.Len(uint(size)))
	tries:
		for range 32 {
			seq++
			mul := uint32(splitmix(seq)) | 1
			for i := range rows {
				rows[i].eth = noPre
			}
			for _, e := range eths {
				i := (e * mul) >> shift
				if rows[i].eth != noPre {
					continue tries
				}
				rows[i].eth = e
			}
			return rows, mul, shift
		}
	}
	return nil, 0, 0
}

// classOf returns what the filters of subs make of prerequisite value pv.
func classOf(subs []subRef, pv uint32) preClass {
	n := 0
	for i := range subs {
		if subs[i].admits(pv) {
			n++
		}
	}
	c := preClass{admit: make([]int32, 0, n), refs: make([]*subRef, 0, n), pm: make([]uint32, len(subs))}
	var pm uint32
	for i := range subs {
		if subs[i].admits(pv) {
			c.admit = append(c.admit, int32(i))
			c.refs = append(c.refs, &subs[i])
		} else {
			pm |= subs[i].ruledOut(pv)
		}
		c.pm[i] = pm
	}
	return c
}
