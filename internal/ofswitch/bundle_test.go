package ofswitch

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// bundleAdd sends flow_mod fm as a bundle-add to bundle id and returns the
// add's xid (the flow_mod's too, as ovs-ofctl does).
func (c *client) bundleAdd(id uint32, fm []byte) uint32 {
	c.xid++
	inner := append([]byte(nil), fm...)
	binary.BigEndian.PutUint32(inner[4:], c.xid)
	c.send(openflow.BundleAdd{BundleID: id, Flags: openflow.BundleAtomic, Message: inner}.Encode(c.xid))
	return c.xid
}

func (c *client) bundleControl(id uint32, typ uint16) uint32 {
	return c.request(openflow.BundleControl{BundleID: id, Type: typ, Flags: openflow.BundleAtomic}.Encode(0))
}

// errorXids returns the xid, type and code of each error among msgs.
func errorXids(t *testing.T, msgs [][]byte) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		if m[1] != openflow.TypeError {
			continue
		}
		h, _ := openflow.ParseHeader(m)
		e, err := openflow.DecodeError(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("xid %d type %d code %d", h.Xid, e.Type, e.Code))
	}
	return out
}

// flowTable returns the rig's flows, without durations, sorted.
func (r *rig) flowTable() []string {
	var out []string
	for _, fs := range r.dumpFlows() {
		fs.DurationSec, fs.DurationNsec = 0, 0
		out = append(out, fmt.Sprintf("%+v", fs))
	}
	sort.Strings(out)
	return out
}

// TestBundleAddChecksEachFlow: a bad flow is refused when it is added to
// the bundle, with an error naming that bundle-add, and is not committed;
// the others are.
func TestBundleAddChecksEachFlow(t *testing.T) {
	r := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	r.c.bundleControl(4, openflow.BundleOpenRequest)
	good := r.c.bundleAdd(4, r.c.flowMod("priority=1,in_port=1,actions=output:2", openflow.FlowAdd))
	bad := []struct {
		name      string
		mutate    func(*openflow.FlowMod)
		typ, code uint16
	}{
		{"goto backwards", func(fm *openflow.FlowMod) {
			fm.TableID, fm.Instructions = 3, flow.Instructions{HasGoto: true, GotoTable: 1}
		}, openflow.ETBadInstruction, openflow.BadInstBadTableID},
		{"output to port 0", func(fm *openflow.FlowMod) {
			fm.Instructions = flow.Instructions{Apply: []flow.Action{flow.Output{Port: 0}}}
		}, openflow.ETBadAction, openflow.BadActionBadOutPort},
		{"unknown flags", func(fm *openflow.FlowMod) { fm.Flags = 1 << 12 },
			openflow.ETFlowModFailed, openflow.FlowModFailedBadFlags},
		{"table 255", func(fm *openflow.FlowMod) { fm.TableID = 255 },
			openflow.ETFlowModFailed, openflow.FlowModFailedBadTableID},
		{"buffer id", func(fm *openflow.FlowMod) { fm.BufferID = 7 },
			openflow.ETBadRequest, openflow.BadRequestBufferUnknown},
	}
	var want []string
	for _, b := range bad {
		xid := r.c.bundleAdd(4, r.c.flowMod("priority=2,actions=drop", openflow.FlowAdd, b.mutate))
		want = append(want, fmt.Sprintf("xid %d type %d code %d", xid, b.typ, b.code))
	}
	if got := errorXids(t, r.c.barrier()); !reflect.DeepEqual(got, want) {
		t.Fatalf("errors for the bad adds:\n got %q\nwant %q", got, want)
	}
	if n := len(r.dumpFlows()); n != 0 {
		t.Fatalf("%d flows before the commit", n)
	}
	r.c.bundleControl(4, openflow.BundleCommitRequest)
	if got := errorXids(t, r.c.barrier()); len(got) != 0 {
		t.Fatalf("commit errors %q", got)
	}
	fl := r.dumpFlows()
	if len(fl) != 1 || fl[0].Priority != 1 {
		t.Fatalf("after the commit: %+v, want the flow of xid %d alone", fl, good)
	}
}

// TestBundleCommitFailureChangesNothing: a commit that fails (a flow names
// a group that does not exist, which only the commit can tell) reports the
// error on the commit and leaves the tables as they were, including a
// flow the bundle would have replaced.
func TestBundleCommitFailureChangesNothing(t *testing.T) {
	r := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	r.c.send(r.c.flowMod("priority=10,in_port=1,actions=output:2", openflow.FlowAdd))
	r.c.barrier()
	before := r.flowTable()
	r.c.bundleControl(5, openflow.BundleOpenRequest)
	r.c.bundleAdd(5, r.c.flowMod("priority=10,in_port=1,actions=output:3", openflow.FlowAdd))
	r.c.bundleAdd(5, r.c.flowMod("priority=20,in_port=2,actions=output:1", openflow.FlowAdd))
	r.c.bundleAdd(5, r.c.flowMod("priority=30,in_port=3,actions=group:9", openflow.FlowAdd))
	r.c.bundleAdd(5, r.c.flowMod("priority=40,in_port=3,actions=output:1", openflow.FlowAdd))
	if got := errorXids(t, r.c.barrier()); len(got) != 0 {
		t.Fatalf("errors while adding: %q", got)
	}
	commit := r.c.bundleControl(5, openflow.BundleCommitRequest)
	want := []string{fmt.Sprintf("xid %d type %d code %d", commit, openflow.ETBadAction, openflow.BadActionBadOutGroup)}
	if got := errorXids(t, r.c.barrier()); !reflect.DeepEqual(got, want) {
		t.Fatalf("commit errors %q, want %q", got, want)
	}
	if after := r.flowTable(); !reflect.DeepEqual(after, before) {
		t.Fatalf("the failed commit changed the tables:\nbefore %q\nafter  %q", before, after)
	}
	r.ports["p1"].Inject(frameAB())
	waitSent(t, r.ports["p2"], 1)
	if r.sw.Info().Bundles != 0 {
		t.Error("the failed bundle is still open")
	}
}

// TestBundleMatchesOneByOne: the flows of a committed bundle are those the
// same flow_mods make one at a time (replacements within the bundle and of
// flows already there included), and forward alike.
func TestBundleMatchesOneByOne(t *testing.T) {
	flows := []string{
		"priority=10,in_port=1,actions=output:3",
		"cookie=0x7,priority=100,ip,nw_dst=198.51.100.0/24,actions=output:2",
		"priority=100,ip,nw_dst=198.51.100.0/24,actions=output:3",
		"priority=90,udp,tp_dst=2000,actions=goto_table:4",
		"table=4,priority=5,idle_timeout=60,actions=output:2",
		"table=4,priority=6,udp,tp_src=1000,actions=mod_vlan_vid:10,output:3",
		"priority=10,in_port=1,actions=output:2",
	}
	one := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	bun := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	for _, r := range []*rig{one, bun} {
		r.c.send(r.c.flowMod("priority=10,in_port=1,actions=drop", openflow.FlowAdd))
		r.c.barrier()
	}
	for _, f := range flows {
		one.c.send(one.c.flowMod(f, openflow.FlowAdd))
	}
	bun.c.bundleControl(6, openflow.BundleOpenRequest)
	for _, f := range flows {
		bun.c.bundleAdd(6, bun.c.flowMod(f, openflow.FlowAdd))
	}
	bun.c.bundleControl(6, openflow.BundleCommitRequest)
	for _, r := range []*rig{one, bun} {
		if got := errorXids(t, r.c.barrier()); len(got) != 0 {
			t.Fatalf("errors: %q", got)
		}
	}
	a, b := one.flowTable(), bun.flowTable()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("flows one by one and from the bundle differ:\none by one %q\nbundle     %q", a, b)
	}
	if len(a) != 5 {
		t.Fatalf("%d flows, want 5", len(a))
	}
	for _, r := range []*rig{one, bun} {
		r.ports["p1"].Inject(frameAB())
		waitSent(t, r.ports["p3"], 1)
	}
}

// FuzzCheckDecodedRule: for every flow_mod DecodeFlowMod accepts, checking
// the rule without its match (what a bundle-add does, trusting the
// decoder) decides as checking all of it does, and the decoded match is
// already normalized.
func FuzzCheckDecodedRule(f *testing.F) {
	c := &client{t: f}
	for _, s := range []string{
		"priority=100,tcp,nw_src=10.1.2.3,tp_dst=80,actions=output:2",
		"table=2,priority=5,ipv6,ipv6_dst=2001:db8::/32,actions=goto_table:4",
		"priority=1,arp,arp_tpa=198.51.100.1,actions=set_field:00:00:5e:00:53:01->eth_src,in_port",
		"priority=3,dl_vlan=10,actions=strip_vlan,output:1",
		"priority=3,udp,actions=set_field:53->udp_dst,output:1",
	} {
		f.Add(c.flowMod(s, openflow.FlowAdd))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		fm, err := openflow.DecodeFlowMod(msg)
		if err != nil {
			return
		}
		r := fm.Rule()
		decoded := r.Match
		full, part := pipeline.CheckRule(r), pipeline.CheckDecodedRule(fm.Rule())
		if (full == nil) != (part == nil) {
			t.Fatalf("CheckRule: %v; CheckDecodedRule: %v", full, part)
		}
		if r.Match != decoded {
			t.Fatalf("the decoded match was not normalized")
		}
	})
}

// TestBundleLargeMixed: a bundle longer than a chunk of its storage, whose
// adds are followed by a delete and more adds, applies them all in order.
func TestBundleLargeMixed(t *testing.T) {
	r := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	flowN := func(i int) string { return fmt.Sprintf("priority=100,ip,nw_src=10.0.%d.%d,actions=drop", i/256, i%256) }
	r.c.bundleControl(8, openflow.BundleOpenRequest)
	for i := range 2500 {
		r.c.bundleAdd(8, r.c.flowMod(flowN(i), openflow.FlowAdd))
	}
	r.c.bundleAdd(8, r.c.flowMod(flowN(5), openflow.FlowDeleteStrict, func(fm *openflow.FlowMod) {
		fm.OutPort, fm.OutGroup = flow.PortAny, flow.GroupAny
	}))
	for i := 2500; i < 2510; i++ {
		r.c.bundleAdd(8, r.c.flowMod(flowN(i), openflow.FlowAdd))
	}
	r.c.bundleControl(8, openflow.BundleCommitRequest)
	if got := errorXids(t, r.c.barrier()); len(got) != 0 {
		t.Fatalf("errors: %q", got)
	}
	fl := r.dumpFlows()
	if len(fl) != 2509 {
		t.Fatalf("%d flows, want 2509", len(fl))
	}
	for _, fs := range fl {
		if fs.Match.Key.NwSrc == 0x0a000005 {
			t.Fatal("the flow the bundle deleted is there")
		}
	}
}
