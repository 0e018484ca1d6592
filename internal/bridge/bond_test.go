package bridge

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/bond"
	"github.com/dvs-project/dvs/internal/datapath/porttest"
)

// doubles is an Opener of in-memory ports, made on first open.
type doubles map[string]*porttest.Port

func (d doubles) open(spec PortSpec) (datapath.Port, error) {
	p, ok := d[spec.Name]
	if !ok {
		return nil, fmt.Errorf("no double %s", spec.Name)
	}
	return p, nil
}

func ethFrame(dst, src [6]byte, vid uint16) []byte {
	f := append(dst[:], src[:]...)
	if vid != 0 {
		f = append(f, 0x81, 0x00, byte(vid>>8), byte(vid))
	}
	f = append(f, 0x88, 0xb5) // local experimental ethertype
	return append(f, make([]byte, 46)...)
}

// waitSent waits until p has sent frames and returns them.
func waitSent(t *testing.T, p *porttest.Port) [][]byte {
	t.Helper()
	var got [][]byte
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = append(got, p.Sent()...)
		if len(got) > 0 {
			time.Sleep(50 * time.Millisecond)
			return append(got, p.Sent()...)
		}
	}
	return got
}

func TestBondFailoverAnnounces(t *testing.T) {
	d := doubles{"vm1": porttest.New("vm1"), "vm2": porttest.New("vm2"), "eth1": porttest.New("eth1"), "eth2": porttest.New("eth2")}
	b, err := New(Config{Name: "br0", Workers: 1, Sweep: time.Hour}, d.open)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, s := range []PortSpec{
		{Name: "vm1", VLAN: 10},
		{Name: "vm2", VLAN: 20},
		{Name: "up0", Type: TypeBond, Members: "eth1,eth2", Trunks: "10,20"},
	} {
		if _, err := b.AddPort(s); err != nil {
			t.Fatal(err)
		}
	}
	// A bond member is no port of its own, and a port is no member.
	if _, err := b.AddPort(PortSpec{Name: "eth1"}); err == nil {
		t.Error("a bond's member was added as a port")
	}
	if _, err := b.AddPort(PortSpec{Name: "up1", Type: TypeBond, Members: "vm1"}); err == nil {
		t.Error("a port was added as a bond member")
	}

	mac1, mac2 := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// vm1 floods a broadcast: it leaves on the active member only, tagged.
	d["vm1"].Inject(ethFrame(bcast, mac1, 0))
	got := waitSent(t, d["eth1"])
	if len(got) != 1 || !bytes.Equal(got[0][12:16], []byte{0x81, 0x00, 0x00, 10}) {
		t.Fatalf("active member sent %x, want one frame tagged VLAN 10", got)
	}
	if s := d["eth2"].Sent(); len(s) != 0 {
		t.Errorf("backup member sent %d frames", len(s))
	}
	// A frame arriving on the backup is dropped, not switched.
	d["eth2"].Inject(ethFrame(bcast, [6]byte{2, 0, 0, 0, 0, 9}, 10))
	d["vm2"].Inject(ethFrame(bcast, mac2, 0))
	waitSent(t, d["eth1"])
	if s := d["vm1"].Sent(); len(s) != 0 {
		t.Errorf("a frame received on the backup member reached vm1: %x", s)
	}
	info, err := b.Port("up0")
	if err != nil || info.Bond == nil {
		t.Fatalf("port info %+v, %v: no bond status", info, err)
	}
	if info.Bond.Active != "eth1" || info.Bond.Members[1].RxInactiveDropped != 1 {
		t.Errorf("bond status %+v, want eth1 active and one frame dropped on eth2", *info.Bond)
	}

	// eth1 goes down: eth2 takes over and announces vm1's and vm2's MACs in
	// their VLANs.
	d["eth1"].SetUp(false)
	b.followLinks()
	want := [][]byte{RARP(mac1, 10), RARP(mac2, 20)}
	got = waitSent(t, d["eth2"])
	if len(got) != len(want) {
		t.Fatalf("new active member sent %d frames, want %d RARPs:\n%x", len(got), len(want), got)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("RARP %d:\n got %x\nwant %x", i, got[i], want[i])
		}
	}
	if s := d["eth1"].Sent(); len(s) != 0 {
		t.Errorf("the failed member sent %d frames", len(s))
	}
	info, _ = b.Port("up0")
	if !info.Up || info.Bond.Active != "eth2" || info.Bond.Failovers != 1 {
		t.Errorf("after failover: up %v, bond %+v; want up, eth2 active, one failover", info.Up, *info.Bond)
	}
	// Every member down: the port is down.
	d["eth2"].SetUp(false)
	b.followLinks()
	if info, _ = b.Port("up0"); info.Up || info.Bond.Active != "" {
		t.Errorf("all members down: up %v, active %q", info.Up, info.Bond.Active)
	}
}

func TestBondMembersSpec(t *testing.T) {
	for _, s := range []PortSpec{
		{Name: "b", Type: TypeBond},
		{Name: "b", Type: TypeBond, Members: "eth1,,eth2"},
		{Name: "b", Type: TypeBond, Members: "eth1,eth1"},
		{Name: "b", Type: TypeBond, Members: "b,eth1"},
		{Name: "b", Type: TypeBond, Members: "eth1", BondMode: "balance-slb"},
		{Name: "eth0", Members: "eth1"},
	} {
		if _, err := s.BondMembers(); err == nil {
			t.Errorf("%+v: accepted", s)
		}
	}
	got, err := (&PortSpec{Name: "b", Type: TypeBond, Members: " eth1, eth2", BondMode: bond.ModeActiveBackup}).BondMembers()
	if err != nil || len(got) != 2 || got[0] != "eth1" || got[1] != "eth2" {
		t.Errorf("members %q, %v; want eth1, eth2", got, err)
	}
}
