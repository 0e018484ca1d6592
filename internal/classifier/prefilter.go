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

// ethClass marks the keys of the index that stand for an eth_type.
const ethClass = 1 << 24

// maxPreCells bounds the index's size, in classes times subtables: a table
// with very many filtered subtables does without one.
const maxPreCells = 1 << 16

// preIndex maps a prerequisite value to its class: an open-addressing
// table whose keys are the exact values the filters list, and eth_type<<8
// | ethClass for the eth_types they list.
type preIndex struct {
	keys    []uint32 // noPre in empty slots
	classes []preClass
	shift   uint8 // 32 - log2(len(keys))
	none    preClass
}

// preClass is what the filters make of the keys of one class.
type preClass struct {
	admit []int32   // the subtables whose filters admit the keys, in order
	refs  []*subRef // and their views (refs[i] is &subs[admit[i]])
	pm    []uint32  // pm[i]: the bits compared by the filters of subtables 0..i that do not admit them
}

// class returns the class of prerequisite value pv.
func (x *preIndex) class(pv uint32) *preClass {
	if c := x.find(pv); c != nil {
		return c
	}
	if c := x.find(pv&preEth | ethClass); c != nil {
		return c
	}
	return &x.none
}

func (x *preIndex) find(k uint32) *preClass {
	mask := uint32(len(x.keys) - 1)
	for i := (k * 0x9e3779b1) >> (x.shift & 31); ; i = (i + 1) & mask {
		switch x.keys[i] {
		case k:
			return &x.classes[i]
		case noPre:
			return nil
		}
	}
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
			eths = append(eths, v&preEth)
		}
	}
	if filtered < preIndexMin {
		return nil
	}
	slices.Sort(full)
	full = slices.Compact(full)
	slices.Sort(eths)
	eths = slices.Compact(eths)
	n := len(full) + len(eths)
	if (n+1)*len(subs) > maxPreCells {
		return nil
	}
	size := 2
	for size < 2*n {
		size *= 2
	}
	x := &preIndex{keys: make([]uint32, size), classes: make([]preClass, size), shift: uint8(33 - bits.Len(uint(size)))}
	for i := range x.keys {
		x.keys[i] = noPre
	}
	add := func(k, pv uint32) {
		mask := uint32(size - 1)
		i := (k * 0x9e3779b1) >> x.shift
		for x.keys[i] != noPre {
			i = (i + 1) & mask
		}
		x.keys[i], x.classes[i] = k, classOf(subs, pv)
	}
	for _, v := range full {
		add(v, v)
	}
	for _, e := range eths {
		// A value of this eth_type that no filter lists.
		v := e
		for v&preEth == e && slices.Contains(full, v) {
			v++
		}
		if v&preEth == e { // else every value of e is a class of its own
			add(e|ethClass, v)
		}
	}
	// An eth_type that no filter lists.
	e := uint32(0)
	for slices.Contains(eths, e) {
		e += 1 << 8
	}
	x.none = classOf(subs, e)
	return x
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
