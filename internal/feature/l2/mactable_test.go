package l2

import (
	"testing"
	"time"
)

func TestLearnMoveAgeLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := New(Config{Aging: 10 * time.Second, MaxEntries: 3})
	a, b, c, d := [6]byte{0xa}, [6]byte{0xb}, [6]byte{0xc}, [6]byte{0xd}
	steps := []struct {
		mac  [6]byte
		vlan uint16
		port uint32
		want Change
	}{
		{a, 1, 1, Learned},
		{a, 1, 1, Refreshed},
		{a, 2, 1, Learned}, // same MAC, other VLAN: a separate entry
		{a, 1, 2, Moved},
		{b, 1, 2, Learned},
		{c, 1, 2, Refused}, // bridge limit 3
	}
	for i, s := range steps {
		if got := tb.Learn(s.vlan, s.mac, s.port, now); got != s.want {
			t.Fatalf("step %d: Learn = %v, want %v", i, got, s.want)
		}
	}
	if p, ok := tb.Lookup(1, a); !ok || p != 2 {
		t.Errorf("Lookup after move = %d, %v", p, ok)
	}
	tb.SetPortLimit(3, 1)
	tb.Flush(2)
	if tb.Learn(1, c, 3, now) != Learned || tb.Learn(1, d, 3, now) != Refused {
		t.Error("per-port limit 1 not enforced")
	}
	tb.Refresh(1, c, 3, now.Add(8*time.Second))
	if n := tb.Expire(now.Add(11 * time.Second)); n != 1 {
		t.Errorf("Expire removed %d, want 1 (the VLAN 2 entry; the refreshed one stays)", n)
	}
	if _, ok := tb.Lookup(1, c); !ok {
		t.Error("refreshed entry expired")
	}
	if got := tb.Counters(); got.Moved != 1 || got.Refused != 2 {
		t.Errorf("counters %+v", got)
	}
}
