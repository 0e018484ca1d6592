package action

import (
	"net/netip"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
)

// countOut counts outputs; its meters give verdict.
type countOut struct {
	n       int
	meters  int
	verdict MeterVerdict
}

func (c *countOut) Output(uint32, *packet.Packet, bool) { c.n++ }
func (c *countOut) Controller(*packet.Packet, *Action)  {}
func (c *countOut) Meter(uint32, *packet.Packet) MeterVerdict {
	c.meters++
	return c.verdict
}

// TestExecuteAllocs runs rewrites, a tag push and pop, and outputs without
// allocating.
func TestExecuteAllocs(t *testing.T) {
	f := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src4: netip.MustParseAddr("198.51.100.1"),
		Dst4: netip.MustParseAddr("198.51.100.2"), Proto: 6, SrcPort: 1, DstPort: 80}.Bytes()
	p := packet.FromBytes(f)
	dst := flow.FieldByID(flow.FieldIPv4Dst)
	port := flow.FieldByID(flow.FieldTpDst)
	acts := []Action{
		{Kind: Set, Field: flow.FieldIPv4Dst, Value: flow.ValueOf(0xcb007109), Mask: dst.Ones()},
		{Kind: Set, Field: flow.FieldTpDst, Value: flow.ValueOf(8080), Mask: port.Ones()},
		{Kind: PushVLAN, TPID: flow.EthTypeVLAN, TCI: flow.TCIPresent | 10},
		{Kind: Output, Port: 2},
		{Kind: PopVLAN},
		{Kind: Output, Port: 3},
	}
	out := &countOut{}
	allocs := testing.AllocsPerRun(100, func() {
		p.SetFrame(copy(p.RecvBuf(), f))
		Execute(p, acts, out)
	})
	if allocs != 0 {
		t.Errorf("Execute allocates %v times", allocs)
	}
	// The rewritten frame has valid checksums: it equals one built with
	// the new values.
	want := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src4: netip.MustParseAddr("198.51.100.1"),
		Dst4: netip.MustParseAddr("203.0.113.9"), Proto: 6, SrcPort: 1, DstPort: 8080}.Bytes()
	if got := p.Data(); string(got) != string(want) {
		t.Errorf("rewritten frame (-want +got):\n-%x\n+%x", want, got)
	}
}

func TestExecuteMeter(t *testing.T) {
	f := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2)
	acts := []Action{{Kind: Meter, Port: 3}, {Kind: Output, Port: 2}}
	for _, tc := range []struct {
		name    string
		verdict MeterVerdict
		drop    DropReason
		outputs int
	}{
		{"pass", MeterVerdict{}, DropNone, 1},
		{"drop", MeterVerdict{Drop: true}, DropMeter, 0},
		{"remark", MeterVerdict{PrecLevel: 1}, DropNone, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &countOut{verdict: tc.verdict}
			if got := Execute(packet.FromBytes(f), acts, out); got != tc.drop || out.n != tc.outputs || out.meters != 1 {
				t.Errorf("Execute = %v with %d outputs, %d meter calls; want %v with %d outputs, 1 meter call",
					got, out.n, out.meters, tc.drop, tc.outputs)
			}
		})
	}
}

// withTOS returns an IPv4 (or IPv6) frame with the given TOS (traffic
// class) byte and a valid header checksum; l3 is where its IP header is.
func withTOS(t *testing.T, v6 bool, vlan bool, tos uint8) (frame []byte, l3 int) {
	t.Helper()
	f := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Proto: 17, SrcPort: 1, DstPort: 2, Payload: 10}
	l3 = 14
	if vlan {
		f.VLANs = []testframe.Tag{{TPID: flow.EthTypeVLAN, VID: 10}}
		l3 = 18
	}
	if v6 {
		f.Src6, f.Dst6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	} else {
		f.Src4, f.Dst4 = netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	}
	b := f.Bytes()
	if v6 {
		packet.IPv6(b[l3:]).SetTrafficClass(tos)
	} else {
		ip := packet.IPv4(b[l3:])
		ip.SetTOS(tos)
		ip.SetChecksum(ip.CalculateChecksum())
	}
	return b, l3
}

func TestRemarkDSCP(t *testing.T) {
	const (
		af11 = 10 << 2
		af12 = 12 << 2
		af13 = 14 << 2
		af21 = 18 << 2
		af23 = 22 << 2
		af31 = 26 << 2
		af33 = 30 << 2
		af41 = 34 << 2
		af42 = 36 << 2
		ef   = 46 << 2
		cs1  = 8 << 2
	)
	for _, tc := range []struct {
		name     string
		v6, vlan bool
		tos      uint8
		prec     uint8
		want     uint8
	}{
		{"af11+1", false, false, af11, 1, af12},
		{"af11+1 keeps ecn", false, false, af11 | 3, 1, af12 | 3},
		{"af13 stays", false, false, af13, 1, af13},
		{"af21+5 saturates", false, false, af21, 5, af23},
		{"af41+255", false, false, af41, 255, af43(af41)},
		{"af41 tagged", false, true, af41, 1, af42},
		{"ef untouched", false, false, ef, 1, ef},
		{"cs1 untouched", false, false, cs1, 2, cs1},
		{"best effort untouched", false, false, 0, 2, 0},
		{"ipv6 af31+2", true, false, af31 | 1, 2, af33 | 1},
		{"ipv6 tagged af11", true, true, af11, 2, af13},
		{"ipv6 ef untouched", true, false, ef, 1, ef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, l3 := withTOS(t, tc.v6, tc.vlan, tc.tos)
			p := packet.FromBytes(f)
			out := &countOut{verdict: MeterVerdict{PrecLevel: tc.prec}}
			Execute(p, []Action{{Kind: Meter, Port: 1}, {Kind: Output, Port: 2}}, out)
			want, _ := withTOS(t, tc.v6, tc.vlan, tc.want)
			if got := p.Data(); string(got) != string(want) {
				t.Errorf("remarked frame (-want +got):\n-%x\n+%x", want, got)
			}
			if !tc.v6 {
				if ip := packet.IPv4(p.Data()[l3:]); ip.Checksum() != ip.CalculateChecksum() {
					t.Errorf("IPv4 checksum %#04x, want %#04x", ip.Checksum(), ip.CalculateChecksum())
				}
			}
		})
	}
	// Non-IP frames are left alone.
	arp := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), ARP: &testframe.ARP{Op: 1,
		SPA: netip.MustParseAddr("198.51.100.1"), TPA: netip.MustParseAddr("198.51.100.2")}}.Bytes()
	p := packet.FromBytes(arp)
	Execute(p, []Action{{Kind: Meter, Port: 1}}, &countOut{verdict: MeterVerdict{PrecLevel: 1}})
	if string(p.Data()) != string(arp) {
		t.Errorf("ARP frame changed:\n-%x\n+%x", arp, p.Data())
	}
}

// af43 is the AF class of tos at drop precedence 3.
func af43(tos uint8) uint8 { return tos&^(3<<3) | 3<<3 }

func TestExecuteMeterAllocs(t *testing.T) {
	f, _ := withTOS(t, false, true, 10<<2)
	p := packet.FromBytes(f)
	acts := []Action{{Kind: PopVLAN}, {Kind: Meter, Port: 1}, {Kind: Output, Port: 2}}
	out := &countOut{verdict: MeterVerdict{PrecLevel: 1}}
	allocs := testing.AllocsPerRun(100, func() {
		p.SetFrame(copy(p.RecvBuf(), f))
		Execute(p, acts, out)
	})
	if allocs != 0 {
		t.Errorf("Execute with a meter allocates %v times", allocs)
	}
}
