package pipeline_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// acts parses an ovs-ofctl action list.
func acts(t *testing.T, s string) []flow.Action {
	t.Helper()
	r, err := flowtext.ParseRule("actions=" + s)
	if err != nil {
		t.Fatalf("ParseRule(actions=%s): %v", s, err)
	}
	return r.Instructions.Apply
}

// bucket is a bucket with no weight and no watch.
func bucket(t *testing.T, s string) flow.Bucket {
	return flow.Bucket{WatchPort: flow.PortAny, WatchGroup: flow.GroupAny, Actions: acts(t, s)}
}

func watched(t *testing.T, port uint32, s string) flow.Bucket {
	b := bucket(t, s)
	b.WatchPort = port
	return b
}

func weighted(t *testing.T, w uint16, s string) flow.Bucket {
	b := bucket(t, s)
	b.Weight = w
	return b
}

func addGroup(t *testing.T, p *pipeline.Pipeline, id uint32, typ flow.GroupType, buckets ...flow.Bucket) {
	t.Helper()
	if err := p.AddGroup(flow.GroupSpec{ID: id, Type: typ, Buckets: buckets}); err != nil {
		t.Fatalf("AddGroup(%d): %v", id, err)
	}
}

func groupBridge(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	p, _ := newPipeline(t)
	addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3}, pipeline.Port{No: 4})
	return p
}

const ipPkt = "in_port=1,tcp,dl_src=" + macA + ",dl_dst=" + macB + ",nw_src=198.51.100.1,nw_dst=198.51.100.2,nw_ttl=64,tp_src=1000,tp_dst=80"

func TestGroupTypes(t *testing.T) {
	tests := []struct {
		name    string
		typ     flow.GroupType
		buckets func(t *testing.T) []flow.Bucket
		rule    string
		want    string
	}{
		{
			name: "all: buckets see the flow as it was at the group, and so do later actions",
			typ:  flow.GroupAll,
			buckets: func(t *testing.T) []flow.Bucket {
				return []flow.Bucket{
					bucket(t, "set_field:00:00:00:00:00:99->eth_dst,mod_vlan_vid:7,output:2"),
					bucket(t, "output:3"),
					bucket(t, "dec_ttl,output:4"),
				}
			},
			rule: "in_port=1,actions=group:1,output:4",
			want: "push_vlan(tpid=0x8100,vid=7,pcp=0),set(dl_dst=0x000000000099),output:2," +
				"pop_vlan,set(dl_dst=0x00000000000b),output:3," +
				"set(nw_ttl=0x3f),output:4," +
				"set(nw_ttl=0x40),output:4",
		},
		{
			name:    "indirect",
			typ:     flow.GroupIndirect,
			buckets: func(t *testing.T) []flow.Bucket { return []flow.Bucket{bucket(t, "mod_nw_dst:203.0.113.5,output:3")} },
			rule:    "in_port=1,actions=group:1",
			want:    "set(nw_dst=0xcb007105),output:3",
		},
		{
			name: "indirect from the action set",
			typ:  flow.GroupIndirect,
			buckets: func(t *testing.T) []flow.Bucket {
				return []flow.Bucket{bucket(t, "output:3")}
			},
			rule: "in_port=1,actions=write_actions(output:2,group:1)",
			want: "output:3", // a group in the action set overrides its output
		},
		{
			name: "fast failover: the first live bucket",
			typ:  flow.GroupFastFailover,
			buckets: func(t *testing.T) []flow.Bucket {
				return []flow.Bucket{watched(t, 2, "output:2"), watched(t, 3, "output:3")}
			},
			rule: "in_port=1,actions=group:1",
			want: "output:2",
		},
		{
			name:    "select with one bucket",
			typ:     flow.GroupSelect,
			buckets: func(t *testing.T) []flow.Bucket { return []flow.Bucket{weighted(t, 5, "output:4")} },
			rule:    "in_port=1,actions=group:1",
			want:    "output:4",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := groupBridge(t)
			addGroup(t, p, 1, tc.typ, tc.buckets(t)...)
			addRule(t, p, tc.rule)
			res, tr := translate(t, p, ipPkt)
			wantActions(t, res, tr, tc.want)
			if !strings.Contains(tr.String(), "group:1 ("+tc.typ.String()) {
				t.Errorf("trace does not show the group:\n%s", tr)
			}
		})
	}
}

func TestGroupChained(t *testing.T) {
	p := groupBridge(t)
	addGroup(t, p, 2, flow.GroupAll, bucket(t, "output:3"), bucket(t, "output:4"))
	addGroup(t, p, 1, flow.GroupIndirect, bucket(t, "mod_vlan_vid:5,group:2"))
	addRule(t, p, "in_port=1,actions=group:1,output:2")
	res, tr := translate(t, p, ipPkt)
	wantActions(t, res, tr, "push_vlan(tpid=0x8100,vid=5,pcp=0),output:3,output:4,pop_vlan,output:2")
	// Counters: group 1, its bucket, group 2, its two buckets.
	if len(res.Counters) != 5 {
		t.Errorf("%d counters, want 5", len(res.Counters))
	}
}

func TestGroupBucketPrereqs(t *testing.T) {
	p := groupBridge(t)
	// A bucket has no match: set_field whose prerequisites the packet
	// lacks is skipped, as Open vSwitch does.
	addGroup(t, p, 1, flow.GroupIndirect, bucket(t, "set_field:203.0.113.5->ip_dst,set_field:99->tcp_dst,output:3"))
	addRule(t, p, "in_port=1,actions=group:1")
	res, tr := translate(t, p, "in_port=1,arp,dl_src="+macA+",dl_dst="+bcast+",arp_spa=198.51.100.7,arp_tpa=198.51.100.8,arp_op=1")
	wantActions(t, res, tr, "output:3")
	if !strings.Contains(tr.String(), "set_field:nw_dst skipped") {
		t.Errorf("trace does not report the skipped set_field:\n%s", tr)
	}
	res, tr = translate(t, p, ipPkt)
	wantActions(t, res, tr, "set(nw_dst=0xcb007105),set(tp_dst=0x0063),output:3")
	// udp: ip_dst set, tcp_dst skipped, and nw_proto is in the mask.
	res, tr = translate(t, p, "in_port=1,udp,dl_src="+macA+",dl_dst="+macB+",nw_src=198.51.100.1,nw_dst=198.51.100.2,tp_dst=53")
	wantActions(t, res, tr, "set(nw_dst=0xcb007105),output:3")
	if mf := tr.Megaflow(); !flow.FieldByID(flow.FieldIPProto).IsExact(&mf.Mask) {
		t.Errorf("megaflow %s does not examine nw_proto", flowtext.FormatMatch(&mf))
	}
}

func TestGroupFastFailover(t *testing.T) {
	p := groupBridge(t)
	addGroup(t, p, 1, flow.GroupFastFailover, watched(t, 2, "output:2"), watched(t, 3, "output:3"))
	addRule(t, p, "in_port=1,actions=group:1")
	res, tr := translate(t, p, ipPkt)
	wantActions(t, res, tr, "output:2")

	gen := p.Gen()
	p.SetPortUp(2, false)
	if p.Gen() == gen {
		t.Error("a port going down did not bump the generation")
	}
	res, tr = translate(t, p, ipPkt)
	wantActions(t, res, tr, "output:3")
	if !strings.Contains(tr.String(), "bucket 0 is not live (watch port 2 down)") {
		t.Errorf("trace does not say why bucket 0 was skipped:\n%s", tr)
	}

	p.SetPortUp(3, false)
	res, tr = translate(t, p, ipPkt)
	wantActions(t, res, tr, "drop(port-down)")

	p.SetPortUp(2, true)
	res, tr = translate(t, p, ipPkt)
	wantActions(t, res, tr, "output:2")

	// A watch group: live while it has a live bucket.
	addGroup(t, p, 2, flow.GroupFastFailover, watched(t, 4, "output:4"))
	ff := flow.Bucket{WatchPort: flow.PortAny, WatchGroup: 2, Actions: acts(t, "output:4")}
	if err := p.ModifyGroup(flow.GroupSpec{ID: 1, Type: flow.GroupFastFailover, Buckets: []flow.Bucket{ff, watched(t, 2, "output:2")}}); err != nil {
		t.Fatal(err)
	}
	res, tr = translate(t, p, ipPkt)
	wantActions(t, res, tr, "output:4")
	p.SetPortUp(4, false)
	res, tr = translate(t, p, ipPkt)
	wantActions(t, res, tr, "output:2")
	if !strings.Contains(tr.String(), "watch group 2 dead") {
		t.Errorf("trace does not say the watch group is dead:\n%s", tr)
	}
}

func TestGroupSelect(t *testing.T) {
	p := groupBridge(t)
	addGroup(t, p, 1, flow.GroupSelect, weighted(t, 1, "output:2"), weighted(t, 3, "output:3"), weighted(t, 0, "output:4"))
	addRule(t, p, "in_port=1,actions=group:1")

	pkt := func(i int) string {
		return fmt.Sprintf("in_port=1,tcp,dl_src=%s,dl_dst=%s,nw_src=198.51.100.%d,nw_dst=198.51.100.200,tp_src=%d,tp_dst=80", macA, macB, i%200+1, 1024+i)
	}
	const n = 4000
	count := map[string]int{}
	chosen := make([]string, n)
	for i := 0; i < n; i++ {
		res, tr := translate(t, p, pkt(i))
		got := action.Format(res.Actions)
		count[got]++
		chosen[i] = got
		if i == 0 {
			// The hashed fields are in the megaflow mask.
			mf := tr.Megaflow()
			for _, id := range []flow.FieldID{flow.FieldEthSrc, flow.FieldEthDst, flow.FieldIPv4Src, flow.FieldIPv4Dst, flow.FieldIPProto, flow.FieldTpSrc, flow.FieldTpDst} {
				if !flow.FieldByID(id).IsExact(&mf.Mask) {
					t.Errorf("megaflow %s does not examine %s", flowtext.FormatMatch(&mf), flow.FieldByID(id).Name)
				}
			}
			if !strings.Contains(tr.String(), "selected bucket") {
				t.Errorf("trace does not report the selection:\n%s", tr)
			}
		}
	}
	if count["output:4"] != 0 {
		t.Errorf("the zero-weight bucket got %d flows", count["output:4"])
	}
	// Weights 1:3 give 25% and 75%; allow a few standard deviations.
	if f := float64(count["output:2"]) / n; f < 0.21 || f > 0.29 {
		t.Errorf("bucket 0 (weight 1) got %.1f%% of flows, want about 25%% (%v)", 100*f, count)
	}
	// Stable: the same flow takes the same bucket.
	for i := 0; i < 50; i++ {
		res, tr := translate(t, p, pkt(i))
		wantActions(t, res, tr, chosen[i])
	}

	// A dead bucket is skipped, and only its flows move.
	if err := p.ModifyGroup(flow.GroupSpec{ID: 1, Type: flow.GroupSelect, Buckets: []flow.Bucket{
		weighted(t, 1, "output:2"), {Weight: 3, WatchPort: 3, WatchGroup: flow.GroupAny, Actions: acts(t, "output:3")},
	}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		res, tr := translate(t, p, pkt(i))
		wantActions(t, res, tr, chosen[i])
	}
	p.SetPortUp(3, false)
	for i := 0; i < 200; i++ {
		res, tr := translate(t, p, pkt(i))
		wantActions(t, res, tr, "output:2")
	}
	p.SetPortUp(2, false)
	res, tr := translate(t, p, pkt(0))
	wantActions(t, res, tr, "drop(port-down)")

	// ARP hashes on the addresses it is about (as IP does), not on its
	// opcode.
	p.SetPortUp(2, true)
	res, tr = translate(t, p, "in_port=1,arp,dl_src="+macA+",dl_dst="+bcast+",arp_spa=198.51.100.7,arp_tpa=198.51.100.8,arp_op=1")
	wantActions(t, res, tr, "output:2")
	mf := tr.Megaflow()
	if flow.FieldByID(flow.FieldARPSPA).IsWildcard(&mf.Mask) || !flow.FieldByID(flow.FieldARPOp).IsWildcard(&mf.Mask) {
		t.Errorf("megaflow %s: want arp_spa examined and arp_op not", flowtext.FormatMatch(&mf))
	}
}

func TestGroupErrors(t *testing.T) {
	p := groupBridge(t)
	addGroup(t, p, 1, flow.GroupAll, bucket(t, "output:2"))
	addGroup(t, p, 2, flow.GroupIndirect, bucket(t, "group:1"))
	b := func(s string) flow.Bucket { return bucket(t, s) }
	tests := []struct {
		name string
		mod  bool
		g    flow.GroupSpec
		want error
	}{
		{"exists", false, flow.GroupSpec{ID: 1, Type: flow.GroupAll}, pipeline.ErrGroupExists},
		{"id too big", false, flow.GroupSpec{ID: flow.GroupMax + 1, Type: flow.GroupAll}, pipeline.ErrBadGroup},
		{"modify missing", true, flow.GroupSpec{ID: 9, Type: flow.GroupAll}, pipeline.ErrUnknownGroup},
		{"bad type", false, flow.GroupSpec{ID: 3, Type: 7}, pipeline.ErrBadGroupType},
		{"indirect with two buckets", false, flow.GroupSpec{ID: 3, Type: flow.GroupIndirect, Buckets: []flow.Bucket{b("output:2"), b("output:3")}}, pipeline.ErrBadGroup},
		{"indirect with none", false, flow.GroupSpec{ID: 3, Type: flow.GroupIndirect}, pipeline.ErrBadGroup},
		{"weight in an all group", false, flow.GroupSpec{ID: 3, Type: flow.GroupAll, Buckets: []flow.Bucket{weighted(t, 2, "output:2")}}, pipeline.ErrBadGroup},
		{"fast failover without watch", false, flow.GroupSpec{ID: 3, Type: flow.GroupFastFailover, Buckets: []flow.Bucket{b("output:2")}}, pipeline.ErrBadWatch},
		{"watch in an all group", false, flow.GroupSpec{ID: 3, Type: flow.GroupAll, Buckets: []flow.Bucket{watched(t, 2, "output:2")}}, pipeline.ErrWatchUnsupported},
		{"missing watch group", false, flow.GroupSpec{ID: 3, Type: flow.GroupFastFailover, Buckets: []flow.Bucket{{WatchPort: flow.PortAny, WatchGroup: 8}}}, pipeline.ErrBadWatch},
		{"chain to a missing group", false, flow.GroupSpec{ID: 3, Type: flow.GroupAll, Buckets: []flow.Bucket{b("group:8")}}, pipeline.ErrBadOutGroup},
		{"bad bucket action", false, flow.GroupSpec{ID: 3, Type: flow.GroupAll, Buckets: []flow.Bucket{{WatchPort: flow.PortAny, WatchGroup: flow.GroupAny, Actions: []flow.Action{flow.Output{Port: 0}}}}}, pipeline.ErrBadAction},
		{"add group 3", false, flow.GroupSpec{ID: 3, Type: flow.GroupAll, Buckets: []flow.Bucket{b("output:2")}}, nil},
		{"self loop by modify", true, flow.GroupSpec{ID: 3, Type: flow.GroupAll, Buckets: []flow.Bucket{b("group:3")}}, pipeline.ErrGroupLoop},
		{"indirect loop", true, flow.GroupSpec{ID: 1, Type: flow.GroupAll, Buckets: []flow.Bucket{b("group:2")}}, pipeline.ErrGroupLoop},
		{"loop through a watch", true, flow.GroupSpec{ID: 1, Type: flow.GroupFastFailover, Buckets: []flow.Bucket{{WatchPort: flow.PortAny, WatchGroup: 2}}}, pipeline.ErrGroupLoop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gen := p.Gen()
			var err error
			if tc.mod {
				err = p.ModifyGroup(tc.g)
			} else {
				err = p.AddGroup(tc.g)
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && p.Gen() != gen {
				t.Error("a refused change bumped the generation")
			}
		})
	}
	// A rule's group action must name an existing group.
	r, _ := flowtext.ParseRule("in_port=1,actions=group:99")
	if err := p.AddRule(r); !errors.Is(err, pipeline.ErrBadOutGroup) {
		t.Errorf("AddRule(group:99) = %v, want ErrBadOutGroup", err)
	}
	r, _ = flowtext.ParseRule("in_port=1,actions=write_actions(group:99)")
	if err := p.AddRule(r); !errors.Is(err, pipeline.ErrBadOutGroup) {
		t.Errorf("AddRule(write_actions(group:99)) = %v, want ErrBadOutGroup", err)
	}
	addRule(t, p, "in_port=1,actions=output:2")
	nr, _ := flowtext.ParseRule("actions=group:99")
	if _, err := p.ModifyRules(pipeline.FilterAll(), nr.Instructions, false); !errors.Is(err, pipeline.ErrBadOutGroup) {
		t.Errorf("ModifyRules(group:99) = %v, want ErrBadOutGroup", err)
	}
}

func TestGroupDelete(t *testing.T) {
	p := groupBridge(t)
	addGroup(t, p, 1, flow.GroupAll, bucket(t, "output:2"))
	addGroup(t, p, 2, flow.GroupIndirect, bucket(t, "group:1"))
	addGroup(t, p, 3, flow.GroupAll, bucket(t, "output:3"))
	r1 := addRule(t, p, "priority=10,in_port=1,actions=group:1")
	r2 := addRule(t, p, "priority=10,in_port=2,actions=write_actions(group:1)")
	r3 := addRule(t, p, "priority=10,in_port=3,actions=group:2")
	addRule(t, p, "priority=10,in_port=4,actions=output:1")

	infos := p.Groups()
	if len(infos) != 3 || infos[0].ID != 1 || infos[0].RefCount != 3 || infos[1].RefCount != 1 || infos[2].RefCount != 0 {
		t.Errorf("groups %+v, want ids 1,2,3 with ref counts 3 (two rules, one group), 1, 0", infos)
	}

	// Group 2 forwards to 1: deleting 1 is refused.
	if _, err := p.DeleteGroup(1); !errors.Is(err, pipeline.ErrChainedGroup) {
		t.Fatalf("DeleteGroup(1) = %v, want ErrChainedGroup", err)
	}
	removed, err := p.DeleteGroup(2)
	if err != nil || len(removed) != 1 || removed[0] != r3 {
		t.Fatalf("DeleteGroup(2) = %v, %v; want [rule 3]", removed, err)
	}
	gen := p.Gen()
	removed, err = p.DeleteGroup(1)
	if err != nil || len(removed) != 2 || removed[0] != r1 && removed[1] != r1 || removed[0] != r2 && removed[1] != r2 {
		t.Fatalf("DeleteGroup(1) = %v, %v; want rules 1 and 2", removed, err)
	}
	if p.Gen() == gen {
		t.Error("deleting a group did not bump the generation")
	}
	if n := len(p.Rules(pipeline.FilterAll())); n != 1 {
		t.Errorf("%d rules left, want 1", n)
	}
	// Deleting a missing group is not an error.
	if removed, err := p.DeleteGroup(1); err != nil || removed != nil {
		t.Errorf("DeleteGroup(missing) = %v, %v", removed, err)
	}
	addRule(t, p, "priority=10,in_port=3,actions=group:3")
	removed, err = p.DeleteGroup(flow.GroupIDAll)
	if err != nil || len(removed) != 1 || len(p.Groups()) != 0 {
		t.Errorf("DeleteGroup(all) = %v, %v, left %d groups", removed, err, len(p.Groups()))
	}
}

func TestGroupCountersThroughCache(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	p := pipeline.New(pipeline.Config{Now: clk.now})
	addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3})
	addGroup(t, p, 1, flow.GroupAll, bucket(t, "output:2"), bucket(t, "output:3"))
	addGroup(t, p, 2, flow.GroupFastFailover, watched(t, 2, "output:2"), watched(t, 3, "output:3"))
	addRule(t, p, "priority=10,in_port=1,actions=group:1")
	addRule(t, p, "priority=10,in_port=2,actions=group:2")
	c := cache.New(p, cache.Config{})
	w := c.NewWorker()
	hit := func(pkt string, n int) {
		k := key(t, pkt)
		for i := 0; i < n; i++ {
			e := w.Lookup(&k)
			e.Hit(1, 100, clk.now().UnixNano())
		}
	}
	hit("in_port=1,dl_src="+macA+",dl_dst="+macB, 3)
	hit("in_port=2,dl_src="+macB+",dl_dst="+macA, 2)
	p.SetPortUp(2, false)
	hit("in_port=2,dl_src="+macB+",dl_dst="+macA, 4) // revalidated: now bucket 1
	c.PushStats()
	clk.advance(5 * time.Second)
	infos := p.Groups()
	want := []struct {
		packets, bytes uint64
		buckets        []pipeline.BucketStats
	}{
		{3, 300, []pipeline.BucketStats{{3, 300}, {3, 300}}},
		{6, 600, []pipeline.BucketStats{{2, 200}, {4, 400}}},
	}
	for i, g := range infos {
		if g.Packets != want[i].packets || g.Bytes != want[i].bytes || fmt.Sprint(g.BucketStats) != fmt.Sprint(want[i].buckets) {
			t.Errorf("group %d: %d packets, %d bytes, buckets %v; want %d, %d, %v", g.ID, g.Packets, g.Bytes, g.BucketStats, want[i].packets, want[i].bytes, want[i].buckets)
		}
		if g.Duration != 5*time.Second {
			t.Errorf("group %d: duration %v, want 5s", g.ID, g.Duration)
		}
	}
}

func TestGroupDepthLimit(t *testing.T) {
	p := groupBridge(t)
	// A chain longer than translation follows: each group forwards to the
	// previous one.
	addGroup(t, p, 1, flow.GroupIndirect, bucket(t, "output:2"))
	for id := uint32(2); id <= 80; id++ {
		addGroup(t, p, id, flow.GroupIndirect, bucket(t, fmt.Sprintf("group:%d", id-1)))
	}
	addRule(t, p, "in_port=1,actions=group:80")
	res, tr := translate(t, p, ipPkt)
	wantActions(t, res, tr, "drop(loop)")
}
