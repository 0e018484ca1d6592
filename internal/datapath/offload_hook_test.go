package datapath_test

import (
	"testing"

	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/porttest"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// kernelPort is the in-memory port with an interface index, as an
// AF_PACKET port has.
type kernelPort struct {
	*porttest.Port
	ifindex int
}

func (k kernelPort) Ifindex() int { return k.ifindex }

type install struct {
	in, out, maxLen int
	src             [6]byte
}

type fakeKernel struct{ got []install }

func (f *fakeKernel) Install(e *cache.Entry, k *flow.Key, in, out, maxLen int, gen uint64) {
	f.got = append(f.got, install{in, out, maxLen, k.EthSrc})
}

// TestKernelPathOffer: workers offer the kernel path exactly the packets
// of megaflows it can take: decided on L2 alone, one output to another
// kernel interface, with no header change.
func TestKernelPathOffer(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	c := cache.New(p, cache.Config{})
	d := datapath.New(c)
	for no := uint32(1); no <= 4; no++ {
		port := pipeline.Port{No: no, Name: string(rune('0' + no)), Up: true}
		var dp datapath.Port = porttest.New(port.Name).Discard()
		if no <= 3 {
			dp = kernelPort{porttest.New(port.Name).Discard(), int(no) + 10}
		}
		if no == 3 {
			port.VLAN = vlan.Config{Mode: vlan.Access, Tag: 10}
		}
		if _, err := d.Attach(no, dp); err != nil {
			t.Fatal(err)
		}
		if err := p.SetPort(port); err != nil {
			t.Fatal(err)
		}
	}
	d.SetMTU(1, 1500)
	d.SetMTU(2, 1400) // the smaller limit of the two ports applies
	mustAdd(t, p, "priority=0,actions=NORMAL")
	mustAdd(t, p, "priority=10,dl_src=02:00:00:00:00:09,udp,tp_dst=53,actions=output:2")
	kp := &fakeKernel{}
	d.SetKernelPath(kp)
	w := d.NewWorker()
	a, b, x := testframe.MAC(1), testframe.MAC(2), testframe.MAC(3)
	send := func(in uint32, f []byte) { w.Process(in, packetsOf(f)) }

	send(2, testframe.UDP4(b, testframe.Broadcast, 1, 2)) // learn b on 2 (a flood: not offered)
	send(1, testframe.UDP4(a, b, 1, 2))                   // NORMAL to 2: offered
	send(1, testframe.UDP4(testframe.MAC(9), b, 1, 53))   // decided on tp_dst: not offered
	send(4, testframe.UDP4(x, b, 1, 2))                   // from a port without an interface
	send(3, testframe.UDP4(testframe.MAC(4), b, 1, 2))    // access port 3 to trunk 2: pushes a tag
	want := []install{{11, 12, 1400 + 14 + 8, a}}
	if len(kp.got) != 1 || kp.got[0] != want[0] {
		t.Fatalf("installs %+v, want %+v", kp.got, want)
	}
	in, out, why := d.Offloadable(1, &flow.L2Mask, nil)
	if why == "" {
		t.Errorf("no actions offloadable from %d to %d", in, out)
	}
}

func mustAdd(tb testing.TB, p *pipeline.Pipeline, s string) {
	tb.Helper()
	r, err := flowtext.ParseRule(s)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.AddRule(r); err != nil {
		tb.Fatal(err)
	}
}

func packetsOf(frames ...[]byte) []*packet.Packet {
	pkts := make([]*packet.Packet, len(frames))
	for i, f := range frames {
		pkts[i] = packet.FromBytes(f)
	}
	return pkts
}
