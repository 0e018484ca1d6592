package datapath_test

import (
	"testing"

	"github.com/dvs-project/dvs/internal/feature/meter"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// TestMeterDropsOverRate sends a batch through a rule's meter: the burst
// passes, the rest is dropped and counted under "meter".
func TestMeterDropsOverRate(t *testing.T) {
	b := newBridge(t, []string{"priority=10,in_port=1,actions=meter:1,output:2"}, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	frames := make([][]byte, packet.BatchSize)
	for i := range frames {
		frames[i] = testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2)
	}
	// No meter table: meters pass everything.
	b.send(1, frames...)
	if got := len(b.ports[2].Sent()); got != len(frames) {
		t.Fatalf("without meters port 2 got %d frames, want %d", got, len(frames))
	}
	tb := meter.New(nil)
	if err := tb.Add(flow.MeterSpec{ID: 1, Flags: flow.MeterPktps | flow.MeterBurst | flow.MeterStats,
		Bands: []flow.MeterBand{{Type: flow.BandDrop, Rate: 1, Burst: 5}}}); err != nil {
		t.Fatal(err)
	}
	b.d.SetMeters(tb)
	b.send(1, frames...)
	if got := len(b.ports[2].Sent()); got != 5 {
		t.Errorf("port 2 got %d frames, want the burst of 5", got)
	}
	if got := b.d.Drops()["meter"]; got != uint64(len(frames)-5) {
		t.Errorf("meter drops: %d, want %d (all: %v)", got, len(frames)-5, b.d.Drops())
	}
	st := tb.Stats(1)[0]
	if st.Packets != uint64(len(frames)) || st.Bands[0].Packets != uint64(len(frames)-5) {
		t.Errorf("meter stats: %+v", st)
	}
}

// TestMeterCountsSegments checks an offloaded super-packet is metered as
// the wire packets it stands for.
func TestMeterCountsSegments(t *testing.T) {
	b := newBridge(t, []string{"priority=10,in_port=1,actions=meter:1,output:2"}, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	tb := meter.New(nil)
	if err := tb.Add(flow.MeterSpec{ID: 1, Flags: flow.MeterPktps | flow.MeterStats,
		Bands: []flow.MeterBand{{Type: flow.BandDrop, Rate: 1000}}}); err != nil {
		t.Fatal(err)
	}
	b.d.SetMeters(tb)
	f := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2)
	hdr := len(f) - 18 // the test frame's UDP payload is 18 bytes
	p := packet.FromBytes(f)
	p.GSO = packet.GSO{Type: packet.VirtioNetHdrGSOUDPL4, HdrLen: uint16(hdr), Size: 5}
	b.w.Process(1, []*packet.Packet{p})
	st := tb.Stats(1)[0]
	if st.Packets != 4 || st.Bytes != uint64(4*hdr+18) {
		t.Errorf("metered %d packets, %d bytes; want 4, %d", st.Packets, st.Bytes, 4*hdr+18)
	}
}

// TestProcessMeterAllocs checks the fast path through a meter does not
// allocate.
func TestProcessMeterAllocs(t *testing.T) {
	b := newBridge(t, []string{"priority=10,in_port=1,actions=meter:1,output:2"}, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	b.ports[2].Discard()
	tb := meter.New(nil)
	if err := tb.Add(flow.MeterSpec{ID: 1, Flags: flow.MeterKbps | flow.MeterStats,
		Bands: []flow.MeterBand{{Type: flow.BandDrop, Rate: 1000}}}); err != nil {
		t.Fatal(err)
	}
	b.d.SetMeters(tb)
	pkts := make([]*packet.Packet, packet.BatchSize)
	frame := testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1, 2)
	for i := range pkts {
		pkts[i] = packet.FromBytes(frame)
	}
	b.w.Process(1, pkts)
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range pkts {
			p.SetFrame(copy(p.RecvBuf(), frame))
		}
		b.w.Process(1, pkts)
	})
	if allocs != 0 {
		t.Errorf("Process through a meter allocates %v times per batch", allocs)
	}
}
