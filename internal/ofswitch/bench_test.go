package ofswitch

import (
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
