package ofswitch

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/dvs-project/dvs/internal/bridge"
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
