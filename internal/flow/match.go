package flow

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Match is a key and a mask. Key bits that the mask wildcards are always
// zero, so two equal matches are equal structs.
type Match struct {
	Key  Key
	Mask Mask
}

// MatchAll returns the match that every packet satisfies.
func MatchAll() Match { return Match{} }

// Set requires field f to equal v exactly.
func (m *Match) Set(f *Field, v Value) { m.SetMasked(f, v, f.Ones()) }

// SetMasked requires the bits of field f selected by mask to equal those of
// v. Bits of v outside mask are dropped.
func (m *Match) SetMasked(f *Field, v, mask Value) {
	mask = mask.And(f.Ones())
	f.SetMasked((*Key)(&m.Mask), mask, f.Ones())
	f.SetMasked(&m.Key, v.And(mask), f.Ones())
}

// SetMaskedUint is SetMasked for a field with IsUint, its value and mask
// given as integers.
func (m *Match) SetMaskedUint(f *Field, v, mask uint64) {
	mask &= f.intMask()
	f.setUint((*Key)(&m.Mask), mask, f.intMask())
	f.setUint(&m.Key, v&mask, f.intMask())
}

// Get returns the value and mask of field f in m.
func (m *Match) Get(f *Field) (v, mask Value) { return f.Get(&m.Key), f.GetMask(&m.Mask) }

// Matches reports whether k satisfies m.
func (m *Match) Matches(k *Key) bool {
	a, b, w := k.Words(), m.Key.Words(), m.Mask.Words()
	for i := range a {
		if a[i]&w[i] != b[i] {
			return false
		}
	}
	return true
}

// Normalize clears key bits the mask wildcards.
func (m *Match) Normalize() { m.Key = m.Key.Apply(&m.Mask) }

// ErrPrereq is wrapped by errors for a field whose prerequisites are missing.
var ErrPrereq = errors.New("missing prerequisite")

// Validate checks that every bit m examines belongs to a field whose OpenFlow
// prerequisites m also matches, and that fields which cannot be masked are
// matched exactly or not at all. Fields that share key bits (tcp_src,
// udp_src and icmp_type all live in TpSrc) are alternatives: the bits are
// valid if any of them fits.
func (m *Match) Validate() error {
	k := validKey{mask: m.Mask, vlan: m.Key.VLANs[0].TCI&TCIPresent != 0,
		ethType: m.Key.EthType, proto: m.Key.NwProto, tpSrc: uint8(m.Key.TpSrc)}
	lastValid.mu.Lock()
	hit := lastValid.ok && lastValid.k == k
	lastValid.mu.Unlock()
	if hit {
		return nil
	}
	// Only the members in nonzero mask words can be matched: skip the
	// others without reading them (most of a typical match is wildcard).
	var nz uint32
	for i, w := range m.Mask.Words() {
		if w != 0 {
			nz |= 1 << i
		}
	}
	err := m.validate(nz)
	if err == nil {
		lastValid.mu.Lock()
		lastValid.k, lastValid.ok = k, true
		lastValid.mu.Unlock()
	}
	return err
}

// validKey is all that Validate's answer depends on: the mask, and the key
// bits that prerequisites read (prereqsMet).
type validKey struct {
	mask    Mask
	vlan    bool // a tag is present
	ethType uint16
	proto   uint8
	tpSrc   uint8 // the ICMPv6 type
}

// lastValid remembers the last match Validate accepted. Flows added in
// bulk mostly share one form (a bundle of 100,000 differs in addresses and
// ports only), and checking it was a fifth of decoding a flow_mod.
var lastValid struct {
	mu sync.Mutex
	k  validKey
	ok bool
}

// validate is Validate looking only at the members in the key words of
// the set nz (bit i for word i).
func (m *Match) validate(nz uint32) error {
	words := sharingWords()
	for i, group := range sharing() {
		if words[i]&nz == 0 {
			continue
		}
		f := group[0]
		member := memberBits(&m.Mask, f)
		if member == 0 {
			continue
		}
		var covered uint64
		var firstBad *Field // the first sharing field that failed, for the error
		for _, o := range group {
			bits := o.memberMask() & member
			if bits == 0 {
				continue
			}
			if !m.prereqsMet(o) || (!o.Maskable && bits != o.memberMask()) {
				if firstBad == nil {
					firstBad = o
				}
				continue
			}
			covered |= bits
		}
		if covered != member {
			// Only now, on failure, build the message (Validate runs for
			// every flow added, so success must not allocate).
			switch {
			case firstBad == nil:
				return fmt.Errorf("bits of %s match nothing", f.Name)
			case !m.prereqsMet(firstBad):
				return m.checkPrereq(firstBad)
			default:
				return fmt.Errorf("field %s cannot be masked", firstBad.Name)
			}
		}
	}
	return nil
}

// sharing returns the fields grouped by the key member they live in, in
// registry order (computed once: Validate runs for every flow added).
var sharing = sync.OnceValue(func() [][]*Field {
	var groups [][]*Field
	at := map[[2]uintptr]int{}
	for i := range fields {
		f := &fields[i]
		k := [2]uintptr{f.off, f.size}
		j, ok := at[k]
		if !ok {
			j = len(groups)
			at[k] = j
			groups = append(groups, nil)
		}
		groups[j] = append(groups[j], f)
	}
	return groups
})

// The word sets of sharingWords are uint32s.
var _ [32 - KeyWords]struct{}

// sharingWords gives, for each group of sharing(), the set of the key's
// 64-bit words its member occupies (bit i for word i).
var sharingWords = sync.OnceValue(func() []uint32 {
	groups := sharing()
	out := make([]uint32, len(groups))
	for i, g := range groups {
		f := g[0]
		for w := f.off / 8; w <= (f.off+f.size-1)/8; w++ {
			out[i] |= 1 << w
		}
	}
	return out
})

// memberMask is the set of bits of f within its key member; byte-array
// members (MACs, IPv6) count as one bit, set when any byte is examined.
func (f *Field) memberMask() uint64 {
	switch f.size {
	case 1, 2, 4:
		return (1<<f.Bits - 1) << f.shift
	}
	return ^uint64(0)
}

func memberBits(mask *Mask, f *Field) uint64 {
	p := f.ptr((*Key)(mask))
	switch f.size {
	case 1:
		return uint64(*(*uint8)(p))
	case 2:
		return uint64(*(*uint16)(p))
	case 4:
		return uint64(*(*uint32)(p))
	}
	if f.GetMask(mask) != (Value{}) {
		return ^uint64(0)
	}
	return 0
}

func (m *Match) checkPrereq(f *Field) error {
	if m.prereqsMet(f) {
		return nil
	}
	p := &f.Prereq
	if p.VLAN {
		if m.Mask.VLANs[0].TCI&TCIPresent == 0 || m.Key.VLANs[0].TCI&TCIPresent == 0 {
			return fmt.Errorf("%s requires a VLAN tag to be matched (dl_vlan or vlan_tci): %w", f.Name, ErrPrereq)
		}
	}
	if len(p.EthTypes) > 0 && (m.Mask.EthType != 0xffff || !contains(p.EthTypes, m.Key.EthType)) {
		return fmt.Errorf("%s requires dl_type=%s: %w", f.Name, joinHex(p.EthTypes), ErrPrereq)
	}
	if len(p.Protos) > 0 && (m.Mask.NwProto != 0xff || !contains(p.Protos, m.Key.NwProto)) {
		return fmt.Errorf("%s requires nw_proto=%s: %w", f.Name, joinDec(p.Protos), ErrPrereq)
	}
	if len(p.ICMPv6Type) > 0 && (m.Mask.TpSrc&0xff != 0xff || !contains(p.ICMPv6Type, uint8(m.Key.TpSrc))) {
		return fmt.Errorf("%s requires icmpv6_type=%s: %w", f.Name, joinDec(p.ICMPv6Type), ErrPrereq)
	}
	return nil
}

// prereqsMet is checkPrereq without the error (Validate and printing ask
// it for every field sharing bits with a matched one, so it must not
// allocate).
func (m *Match) prereqsMet(f *Field) bool {
	p := &f.Prereq
	if p.VLAN && (m.Mask.VLANs[0].TCI&TCIPresent == 0 || m.Key.VLANs[0].TCI&TCIPresent == 0) {
		return false
	}
	if len(p.EthTypes) > 0 && (m.Mask.EthType != 0xffff || !contains(p.EthTypes, m.Key.EthType)) {
		return false
	}
	if len(p.Protos) > 0 && (m.Mask.NwProto != 0xff || !contains(p.Protos, m.Key.NwProto)) {
		return false
	}
	if len(p.ICMPv6Type) > 0 && (m.Mask.TpSrc&0xff != 0xff || !contains(p.ICMPv6Type, uint8(m.Key.TpSrc))) {
		return false
	}
	return true
}

// PrereqsMet reports whether m satisfies f's prerequisites, so f may be
// matched (or printed as the name of the bits it shares with other fields).
func (m *Match) PrereqsMet(f *Field) bool { return m.prereqsMet(f) }

// CheckPrereq returns an error (wrapping ErrPrereq) that names what m lacks
// for f's prerequisites, or nil.
func (m *Match) CheckPrereq(f *Field) error { return m.checkPrereq(f) }

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func joinHex(s []uint16) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprintf("0x%04x", v)
	}
	return strings.Join(parts, "|")
}

func joinDec(s []uint8) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, "|")
}
