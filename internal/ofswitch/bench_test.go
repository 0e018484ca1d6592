package ofswitch

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
)

// BenchmarkFlowModAdd measures installing distinct flows over a real
// OpenFlow connection (unix socket), as ovs-ofctl add-flows does: one
// flow_mod per flow, then a barrier. Reported per flow.
func BenchmarkFlowModAdd(b *testing.B) {
	r := newRig(b, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = r.c.flowMod(fmt.Sprintf("priority=%d,tcp,nw_src=10.%d.%d.%d,tp_dst=%d,actions=output:%d",
			100+i%7, (i>>16)&255, (i>>8)&255, i&255, 1+i%1000, 1+i%3), openflow.FlowAdd)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, m := range msgs {
		r.c.send(m)
	}
	r.c.barrier()
}

// BenchmarkBundleAdd measures installing distinct flows in one bundle, as
// ovs-ofctl --bundle add-flows does: open, one bundle-add per flow, commit.
// Reported per flow, commit included.
func BenchmarkBundleAdd(b *testing.B) {
	r := newRig(b, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	msgs := make([][]byte, b.N)
	for i := range msgs {
		fm := r.c.flowMod(fmt.Sprintf("priority=%d,tcp,nw_src=10.%d.%d.%d,tp_dst=%d,actions=output:%d",
			100+i%7, (i>>16)&255, (i>>8)&255, i&255, 1+i%1000, 1+i%3), openflow.FlowAdd)
		binary.BigEndian.PutUint32(fm[4:], uint32(i+10))
		msgs[i] = openflow.BundleAdd{BundleID: 1, Flags: openflow.BundleAtomic, Message: fm}.Encode(uint32(i + 10))
	}
	open := openflow.BundleControl{BundleID: 1, Type: openflow.BundleOpenRequest, Flags: openflow.BundleAtomic}
	commit := openflow.BundleControl{BundleID: 1, Type: openflow.BundleCommitRequest, Flags: openflow.BundleAtomic}
	b.ReportAllocs()
	b.ResetTimer()
	r.c.send(open.Encode(1))
	for _, m := range msgs {
		r.c.send(m)
	}
	r.c.send(commit.Encode(2))
	if errs := errorsIn(b, r.c.barrier()); len(errs) > 0 {
		b.Fatalf("errors: %+v", errs)
	}
}

// BenchmarkBundlePhases measures the switch's own work for a bundle of
// distinct flow adds, without a connection: Handle is called directly.
// add-ns/flow is the bundle-add messages (while ovs-ofctl streams them),
// commit-ns/flow the commit that makes them visible.
func BenchmarkBundlePhases(b *testing.B) {
	r := newRig(b, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	const n = 100000
	msgs := make([][]byte, n)
	for i := range msgs {
		fm := r.c.flowMod(fmt.Sprintf("priority=%d,tcp,nw_src=10.%d.%d.%d,tp_dst=%d,actions=output:%d",
			100+i%7, (i>>16)&255, (i>>8)&255, i&255, 1+i%1000, 1+i%3), openflow.FlowAdd)
		binary.BigEndian.PutUint32(fm[4:], uint32(i+10))
		msgs[i] = openflow.BundleAdd{BundleID: 1, Flags: openflow.BundleAtomic, Message: fm}.Encode(uint32(i + 10))
	}
	open := openflow.BundleControl{BundleID: 1, Type: openflow.BundleOpenRequest, Flags: openflow.BundleAtomic}.Encode(1)
	commit := openflow.BundleControl{BundleID: 1, Type: openflow.BundleCommitRequest, Flags: openflow.BundleAtomic}.Encode(2)
	del := r.c.flowMod("actions=drop", openflow.FlowDelete, func(fm *openflow.FlowMod) {
		fm.TableID, fm.OutPort, fm.OutGroup, fm.Match = flow.TableAll, flow.PortAny, flow.GroupAny, flow.Match{}
	})
	handle := func(m []byte) {
		if _, err := r.sw.Handle(nil, m); err != nil {
			b.Fatal(err)
		}
	}
	var add, com time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		handle(del)
		b.StartTimer()
		t0 := time.Now()
		handle(open)
		for _, m := range msgs {
			handle(m)
		}
		t1 := time.Now()
		handle(commit)
		add, com = add+t1.Sub(t0), com+time.Since(t1)
	}
	if got := r.b.Pipeline().TableStats()[0].Rules; got != n {
		b.Fatalf("%d flows in table 0, want %d", got, n)
	}
	b.ReportMetric(float64(add.Nanoseconds())/float64(b.N*n), "add-ns/flow")
	b.ReportMetric(float64(com.Nanoseconds())/float64(b.N*n), "commit-ns/flow")
	b.ReportMetric(0, "ns/op")
}
