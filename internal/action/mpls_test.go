package action

import (
	"net/netip"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
)

func mplsFrame(vlans []testframe.Tag, lses ...uint32) []byte {
	return testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), VLANs: vlans, MPLS: lses,
		Src4: netip.MustParseAddr("198.51.100.1"), Dst4: netip.MustParseAddr("198.51.100.2"),
		Proto: 17, SrcPort: 1, DstPort: 53, Payload: 20}.Bytes()
}

const (
	lseA = 100<<12 | 3<<9 | flow.MPLSBoS | 64
	lseB = 203<<12 | 5<<9 | 127
)

func TestExecuteMPLS(t *testing.T) {
	tag := []testframe.Tag{{VID: 10}}
	for _, tc := range []struct {
		name    string
		in, out []byte
		acts    []Action
	}{
		{"push", mplsFrame(nil), mplsFrame(nil, lseA),
			[]Action{{Kind: PushMPLS, EthType: flow.EthTypeMPLS, LSE: lseA}}},
		{"push behind a tag", mplsFrame(tag), mplsFrame(tag, lseA),
			[]Action{{Kind: PushMPLS, EthType: flow.EthTypeMPLS, LSE: lseA}}},
		{"push a second entry", mplsFrame(nil, lseA), mplsFrame(nil, lseB, lseA),
			[]Action{{Kind: PushMPLS, EthType: flow.EthTypeMPLS, LSE: lseB}}},
		{"pop", mplsFrame(nil, lseA), mplsFrame(nil),
			[]Action{{Kind: PopMPLS, EthType: flow.EthTypeIPv4}}},
		{"pop behind a tag", mplsFrame(tag, lseB, lseA), mplsFrame(tag, lseA),
			[]Action{{Kind: PopMPLS, EthType: flow.EthTypeMPLS}}},
		{"pop of a non-MPLS frame does nothing", mplsFrame(nil), mplsFrame(nil),
			[]Action{{Kind: PopMPLS, EthType: flow.EthTypeIPv4}}},
		{"push then pop is the identity", mplsFrame(tag), mplsFrame(tag),
			[]Action{{Kind: PushMPLS, EthType: flow.EthTypeMPLS, LSE: lseA}, {Kind: PopMPLS, EthType: flow.EthTypeIPv4}}},
		{"set ttl", mplsFrame(nil, lseA), mplsFrame(nil, lseA&^0xff|63),
			[]Action{{Kind: SetMPLS, LSE: 63, LSEMask: flow.MPLSTTLMask}}},
		{"set label and bos", mplsFrame(tag, lseA), mplsFrame(tag, 7<<12|3<<9|64),
			[]Action{{Kind: SetMPLS, LSE: 7 << 12, LSEMask: flow.MPLSLabelMask | flow.MPLSBoS}}},
		{"push_vlan outside MPLS", mplsFrame(nil, lseA), mplsFrame(tag, lseA),
			[]Action{{Kind: PushVLAN, TPID: flow.EthTypeVLAN, TCI: flow.TCIPresent | 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := packet.FromBytes(tc.in)
			Execute(p, tc.acts, &countOut{})
			if got := p.Data(); string(got) != string(tc.out) {
				t.Errorf("frame (-want +got):\n-%x\n+%x", tc.out, got)
			}
		})
	}
}

func TestExecuteMPLSAllocs(t *testing.T) {
	f := mplsFrame([]testframe.Tag{{VID: 10}})
	p := packet.FromBytes(f)
	acts := []Action{
		{Kind: PushMPLS, EthType: flow.EthTypeMPLS, LSE: lseA},
		{Kind: SetMPLS, LSE: 5, LSEMask: flow.MPLSTTLMask},
		{Kind: Output, Port: 2},
		{Kind: PopMPLS, EthType: flow.EthTypeIPv4},
		{Kind: Set, Field: flow.FieldTpDst, Value: flow.ValueOf(8080), Mask: flow.FieldByID(flow.FieldTpDst).Ones()},
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
}

func TestMPLSString(t *testing.T) {
	for _, tc := range []struct {
		a    Action
		want string
	}{
		{Action{Kind: PushMPLS, EthType: 0x8847, LSE: lseA}, "push_mpls(eth_type=0x8847,label=100,tc=3,ttl=64,bos=1)"},
		{Action{Kind: PopMPLS, EthType: 0x0800}, "pop_mpls(eth_type=0x0800)"},
		{Action{Kind: SetMPLS, LSE: lseB, LSEMask: ^uint32(0)}, "set_mpls(label=203,tc=5,ttl=127,bos=0)"},
		{Action{Kind: SetMPLS, LSE: 63, LSEMask: 0xff}, "set_mpls(lse=0x0000003f/0x000000ff)"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
