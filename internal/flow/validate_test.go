package flow

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// validateAll is Validate without skipping zero mask words: every group is
// checked.
func (m *Match) validateAll() error { return m.validate(^uint32(0)) }

// TestValidateSkipsOnlyZeroWords: Validate (which skips members in zero
// mask words) decides as checking every member does, on random matches
// built from random fields, prerequisites sometimes met.
func TestValidateSkipsOnlyZeroWords(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ok, bad int
	for range 20000 {
		var m Match
		if rng.IntN(2) == 0 {
			m.SetMasked(FieldByID(FieldEthType), ValueOf(uint64([]uint16{EthTypeIPv4, EthTypeIPv6, EthTypeARP}[rng.IntN(3)])), ValueOf(0xffff))
		}
		if rng.IntN(2) == 0 {
			m.SetMasked(FieldByID(FieldIPProto), ValueOf(uint64([]uint8{IPProtoTCP, IPProtoUDP, 1}[rng.IntN(3)])), ValueOf(0xff))
		}
		for range rng.IntN(4) {
			f := &fields[rng.IntN(len(fields))]
			var v, mask Value
			for i := range v {
				v[i], mask[i] = byte(rng.Uint32()), byte(rng.Uint32())
			}
			switch rng.IntN(3) {
			case 0:
				mask = f.Ones()
			case 1: // only low bytes: a member's later words alone
				clear(mask[:8+rng.IntN(8)])
			}
			m.SetMasked(f, v.And(f.Ones()), mask.And(f.Ones()))
		}
		if checkValidate(t, &m) {
			ok++
		} else {
			bad++
		}
	}
	if ok == 0 || bad == 0 {
		t.Errorf("the random matches were all valid (%d) or all invalid (%d): the test checks too little", ok, bad)
	}
}

// TestValidateRemembers: Validate, which remembers the last match it
// accepted, decides as checking every member does on matches that share
// a mask but differ in the key bits prerequisites read (so that a
// remembered answer would be wrong if the memory held too little).
func TestValidateRemembers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	masks := []Match{}
	for _, ids := range [][]FieldID{
		{FieldEthType, FieldIPProto, FieldTpDst},
		{FieldEthType, FieldIPProto, FieldICMPv6Type, FieldNDTarget},
		{FieldEthType, FieldIPv4Src},
		{FieldVLANTCI, FieldVLANPCP},
		{FieldEthType, FieldARPOp},
	} {
		var m Match
		for _, id := range ids {
			f := FieldByID(id)
			m.SetMasked(f, Value{}, f.Ones())
		}
		masks = append(masks, m)
	}
	ethType := func() uint16 { return []uint16{EthTypeIPv4, EthTypeIPv6, EthTypeARP, 0}[rng.IntN(4)] }
	proto := func() uint8 { return []uint8{IPProtoTCP, IPProtoICMPv6, 1, 0}[rng.IntN(4)] }
	tpSrc := func() uint16 { return uint16([]uint8{ICMPv6NeighborSolicit, ICMPv6NeighborAdvert, 0}[rng.IntN(3)]) }
	tci := func() uint16 { return []uint16{0, TCIPresent | 5}[rng.IntN(2)] }
	var ok, bad int
	var prev Match
	for range 50000 {
		// Usually the last match with one prerequisite bit changed, the
		// case a remembered answer could get wrong.
		m := prev
		switch rng.IntN(6) {
		case 0:
			m = masks[rng.IntN(len(masks))]
			m.Key.EthType, m.Key.NwProto, m.Key.TpSrc, m.Key.VLANs[0].TCI = ethType(), proto(), tpSrc(), tci()
		case 1:
			m.Key.EthType = ethType()
		case 2:
			m.Key.NwProto = proto()
		case 3:
			m.Key.TpSrc = tpSrc()
		case 4:
			m.Key.VLANs[0].TCI = tci()
		}
		m.Normalize()
		prev = m
		if checkValidate(t, &m) {
			ok++
		} else {
			bad++
		}
	}
	if ok < 1000 || bad < 1000 {
		t.Errorf("%d valid and %d invalid matches: the test checks too little", ok, bad)
	}
}

// checkValidate checks that Validate decides on m as checking every member
// does, and reports whether m is valid.
func checkValidate(t *testing.T, m *Match) bool {
	t.Helper()
	got, want := m.Validate(), m.validateAll()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("match %v: Validate %v, checking every member %v", m, got, want)
	}
	return got == nil
}
