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
		got, want := m.Validate(), m.validateAll()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("match %v: Validate %v, checking every member %v", &m, got, want)
		}
		if got == nil {
			ok++
		} else {
			bad++
		}
	}
	if ok == 0 || bad == 0 {
		t.Errorf("the random matches were all valid (%d) or all invalid (%d): the test checks too little", ok, bad)
	}
}
