package action

import (
	"net/netip"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
)

type countOut struct{ n int }

func (c *countOut) Output(uint32, *packet.Packet)     { c.n++ }
func (c *countOut) Controller(*packet.Packet, *Action) {}

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
