package vlan

import (
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

func TestParseSet(t *testing.T) {
	s, err := ParseSet("10, 20-22,4094")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "10,20-22,4094"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if s.IsEmpty() || !(&Set{}).IsEmpty() {
		t.Error("IsEmpty is wrong")
	}
	for _, v := range []uint16{10, 20, 21, 22, 4094} {
		if !s.Has(v) {
			t.Errorf("Has(%d) = false", v)
		}
	}
	for _, v := range []uint16{0, 9, 11, 23, 4095} {
		if s.Has(v) {
			t.Errorf("Has(%d) = true", v)
		}
	}
	if again, _ := ParseSet("4094,20-22,10"); again != s {
		t.Error("the same members in another order make a different set")
	}
	for _, bad := range []string{"0", "4095", "10-5", "x", "1,,2", ""} {
		if _, err := ParseSet(bad); err == nil {
			t.Errorf("ParseSet(%q) succeeded, want an error", bad)
		}
	}
}

func tag(tpid, vid uint16) flow.VLAN { return flow.VLAN{TPID: tpid, TCI: flow.TCIPresent | vid} }

func TestIngressEgress(t *testing.T) {
	trunks, _ := ParseSet("10,20")
	tests := []struct {
		name    string
		cfg     Config
		in      [2]flow.VLAN
		wantVID uint16
		drop    bool
		out     [2]flow.VLAN // egress on the same config
	}{
		{"access untagged", Config{Mode: Access, Tag: 10}, [2]flow.VLAN{}, 10, false, [2]flow.VLAN{}},
		{"access tagged", Config{Mode: Access, Tag: 10}, [2]flow.VLAN{tag(0x8100, 10)}, 0, true, [2]flow.VLAN{}},
		{"access priority tag", Config{Mode: Access, Tag: 10}, [2]flow.VLAN{{TPID: 0x8100, TCI: flow.TCIPresent | 5<<13}}, 10, false, [2]flow.VLAN{}},
		{"trunk allowed", Config{Trunks: trunks}, [2]flow.VLAN{tag(0x8100, 20)}, 20, false, [2]flow.VLAN{tag(0x8100, 20)}},
		{"trunk not allowed", Config{Trunks: trunks}, [2]flow.VLAN{tag(0x8100, 30)}, 0, true, [2]flow.VLAN{}},
		{"trunk untagged no native", Config{Trunks: trunks}, [2]flow.VLAN{}, 0, true, [2]flow.VLAN{}},
		{"trunk native", Config{Trunks: trunks, Native: 10}, [2]flow.VLAN{}, 10, false, [2]flow.VLAN{}},
		{"default port untagged", Config{}, [2]flow.VLAN{}, 0, false, [2]flow.VLAN{}},
		{"default port tagged", Config{}, [2]flow.VLAN{tag(0x8100, 99)}, 99, false, [2]flow.VLAN{tag(0x8100, 99)}},
		{"qinq customer tag", Config{Mode: QinQ, Tag: 100}, [2]flow.VLAN{tag(0x8100, 7)}, 100, false, [2]flow.VLAN{tag(0x8100, 7)}},
		{"qinq double tag", Config{Mode: QinQ, Tag: 100}, [2]flow.VLAN{tag(0x88a8, 7), tag(0x8100, 8)}, 0, true, [2]flow.VLAN{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			fr, why := tt.cfg.Ingress(tt.in)
			if (why != "") != tt.drop {
				t.Fatalf("Ingress drop reason %q, want drop=%v", why, tt.drop)
			}
			if tt.drop {
				return
			}
			if fr.VID() != tt.wantVID {
				t.Errorf("VID = %d, want %d", fr.VID(), tt.wantVID)
			}
			if !tt.cfg.Carries(fr.VID()) {
				t.Errorf("port does not carry its own ingress VLAN %d", fr.VID())
			}
			if got := tt.cfg.Egress(fr); got != tt.out {
				t.Errorf("Egress (-want +got):\n-%+v\n+%+v", tt.out, got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	bad := []Config{
		{Mode: Access},
		{Mode: Access, Tag: 4095},
		{Mode: Trunk, Tag: 5},
		{Mode: Trunk, Native: 5000},
		{Mode: QinQ, Tag: 10, QinQTPID: 0x1234},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) succeeded, want an error", c)
		}
	}
}
