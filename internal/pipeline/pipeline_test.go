package pipeline_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// fakeClock is a settable clock for timeouts and aging.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newPipeline(t *testing.T, rules ...string) (*pipeline.Pipeline, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	p := pipeline.New(pipeline.Config{Now: clk.now})
	for _, s := range rules {
		addRule(t, p, s)
	}
	return p, clk
}

func addRule(t *testing.T, p *pipeline.Pipeline, s string) *flow.Rule {
	t.Helper()
	r, err := flowtext.ParseRule(s)
	if err != nil {
		t.Fatalf("ParseRule(%q): %v", s, err)
	}
	if err := p.AddRule(r); err != nil {
		t.Fatalf("AddRule(%q): %v", s, err)
	}
	return r
}

func key(t *testing.T, s string) flow.Key {
	t.Helper()
	k, err := flowtext.ParsePacket(s)
	if err != nil {
		t.Fatalf("ParsePacket(%q): %v", s, err)
	}
	return k
}

func addPorts(t *testing.T, p *pipeline.Pipeline, ports ...pipeline.Port) {
	t.Helper()
	for _, q := range ports {
		if q.Name == "" {
			q.Name = "p" + string(rune('0'+q.No))
		}
		q.Up = true
		if err := p.SetPort(q); err != nil {
			t.Fatal(err)
		}
	}
}

func translate(t *testing.T, p *pipeline.Pipeline, pkt string) (*pipeline.Result, *pipeline.Trace) {
	t.Helper()
	k := key(t, pkt)
	tr := &pipeline.Trace{}
	res := p.Translate(&k, pipeline.Options{Trace: tr})
	return res, tr
}

func wantActions(t *testing.T, res *pipeline.Result, tr *pipeline.Trace, want string) {
	t.Helper()
	if got := action.Format(res.Actions); got != want {
		t.Errorf("datapath actions (-want +got):\n-%s\n+%s\ntrace:\n%s", want, got, tr)
	}
}

const (
	macA  = "00:00:00:00:00:0a"
	macB  = "00:00:00:00:00:0b"
	macC  = "00:00:00:00:00:0c"
	bcast = "ff:ff:ff:ff:ff:ff"
)

func TestEmptyPipelineDrops(t *testing.T) {
	p, _ := newPipeline(t)
	res, tr := translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+macB)
	wantActions(t, res, tr, "drop(no-match)")
	if res.Drop != action.DropNoMatch {
		t.Errorf("drop reason %v, want no-match", res.Drop)
	}
}

func TestOutputAndMegaflow(t *testing.T) {
	p, _ := newPipeline(t,
		"priority=100,in_port=1,actions=output:2",
		"priority=200,tcp,tp_dst=80,actions=output:3",
	)
	addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3})
	res, tr := translate(t, p, "in_port=1,udp,nw_src=198.51.100.1,nw_dst=198.51.100.2,tp_dst=53")
	wantActions(t, res, tr, "output:2")
	// The megaflow needs in_port and the protocol, but not the UDP ports
	// or addresses: the tcp rule's staged lookup stops at nw_proto.
	mf := tr.Megaflow()
	if !flow.FieldByID(flow.FieldIPProto).IsExact(&mf.Mask) {
		t.Errorf("megaflow %s does not examine nw_proto", flowtext.FormatMatch(&mf))
	}
	for _, id := range []flow.FieldID{flow.FieldTpDst, flow.FieldIPv4Src, flow.FieldIPv4Dst, flow.FieldEthSrc} {
		if !flow.FieldByID(id).IsWildcard(&mf.Mask) {
			t.Errorf("megaflow %s examines %s", flowtext.FormatMatch(&mf), flow.FieldByID(id).Name)
		}
	}
	res, tr = translate(t, p, "in_port=1,tcp,nw_src=198.51.100.1,nw_dst=198.51.100.2,tp_dst=80")
	wantActions(t, res, tr, "output:3")
}

func TestInstructions(t *testing.T) {
	p, _ := newPipeline(t,
		"table=0,priority=10,in_port=1,actions=write_actions(output:3),write_metadata:0x5/0xff,goto_table:1",
		"table=1,priority=10,metadata=0x5/0xff,actions=set_field:00:00:00:00:00:99->eth_dst,goto_table:2",
		"table=2,priority=10,actions=output:2",
	)
	addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3})
	res, tr := translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+macB)
	// apply-actions in table 2 output first (with the rewrite), then the
	// action set's output:3 at the end of the pipeline.
	wantActions(t, res, tr, "set(dl_dst=0x000000000099),output:2,output:3")
	if len(res.Rules) != 3 {
		t.Errorf("hit %d rules, want 3", len(res.Rules))
	}

	// clear_actions empties the action set.
	p2, _ := newPipeline(t,
		"table=0,priority=10,actions=write_actions(output:3),goto_table:1",
		"table=1,priority=10,actions=output:2,clear_actions",
	)
	addPorts(t, p2, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3})
	res, tr = translate(t, p2, "in_port=1")
	wantActions(t, res, tr, "output:2")
}

func TestGotoMustGoForward(t *testing.T) {
	p, _ := newPipeline(t)
	for _, s := range []string{"table=3,actions=goto_table:3", "table=3,actions=goto_table:1"} {
		// The parser refuses it; a rule built by other means is refused by
		// the pipeline.
		if _, err := flowtext.ParseRule(s); err == nil {
			t.Errorf("ParseRule(%q) succeeded, want an error", s)
		}
		r := &flow.Rule{Table: 3, Instructions: flow.Instructions{HasGoto: true, GotoTable: 1}}
		if err := p.AddRule(r); err == nil {
			t.Errorf("AddRule(goto backwards) succeeded, want an error")
		}
	}
}

func TestVLANActionsCommit(t *testing.T) {
	p, _ := newPipeline(t,
		"priority=10,in_port=1,actions=mod_vlan_vid:10,output:2,strip_vlan,output:3",
		"priority=10,in_port=4,actions=push_vlan:0x88a8,mod_vlan_vid:100,output:2",
		"priority=10,in_port=5,actions=pop_vlan,output:2",
		"priority=10,in_port=6,ip,actions=dec_ttl,mod_nw_dst:203.0.113.9,output:2",
	)
	addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3}, pipeline.Port{No: 4}, pipeline.Port{No: 5}, pipeline.Port{No: 6})
	res, tr := translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+macB)
	wantActions(t, res, tr, "push_vlan(tpid=0x8100,vid=10,pcp=0),output:2,pop_vlan,output:3")

	res, tr = translate(t, p, "in_port=4,dl_vlan=7,dl_src="+macA+",dl_dst="+macB)
	// The service tag copies the customer tag's VID, then gets VID 100.
	wantActions(t, res, tr, "push_vlan(tpid=0x88a8,vid=100,pcp=0),output:2")

	res, tr = translate(t, p, "in_port=5,dl_vlan=7,dl_src="+macA+",dl_dst="+macB)
	wantActions(t, res, tr, "pop_vlan,output:2")

	res, tr = translate(t, p, "in_port=6,ip,nw_src=198.51.100.1,nw_dst=198.51.100.2,nw_ttl=64")
	wantActions(t, res, tr, "set(nw_dst=0xcb007109),set(nw_ttl=0x3f),output:2")

	res, tr = translate(t, p, "in_port=6,ip,nw_src=198.51.100.1,nw_dst=198.51.100.2,nw_ttl=1")
	wantActions(t, res, tr, "drop(invalid-ttl)")
}

func TestAddReplacesAndDeleteSelects(t *testing.T) {
	p, _ := newPipeline(t,
		"priority=100,ip,nw_dst=198.51.100.0/24,actions=output:2",
		"priority=100,ip,nw_dst=198.51.100.0/24,actions=output:3",
		"priority=50,ip,actions=output:4",
		"table=1,priority=50,actions=output:4",
	)
	rules := p.Rules(pipeline.FilterAll())
	if len(rules) != 3 {
		t.Fatalf("%d rules after a duplicate add, want 3", len(rules))
	}
	if got := flowtext.FormatActions(&rules[0].Instructions); got != "output:3" {
		t.Errorf("replaced rule has actions %q, want output:3", got)
	}
	// Loose delete of "ip" in table 0 removes both table-0 rules (each is
	// at least as specific), not table 1's.
	spec, err := flowtext.ParseFlowSpec("table=0,ip")
	if err != nil {
		t.Fatal(err)
	}
	f := pipeline.Filter{Table: spec.Table, Match: spec.Match, OutPort: flow.PortAny}
	if n := len(p.DeleteRules(f)); n != 2 {
		t.Errorf("deleted %d rules, want 2", n)
	}
	if n := len(p.Rules(pipeline.FilterAll())); n != 1 {
		t.Errorf("%d rules left, want 1", n)
	}
}

// parseRules parses rules for a batch.
func parseRules(t *testing.T, lines ...string) []*flow.Rule {
	t.Helper()
	var rs []*flow.Rule
	for _, s := range lines {
		r, err := flowtext.ParseRule(s)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", s, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// dump formats a pipeline's rules with their counters, sorted, for
// comparing.
func dump(p *pipeline.Pipeline) string {
	var lines []string
	for _, r := range p.Rules(pipeline.FilterAll()) {
		lines = append(lines, fmt.Sprintf("%s packets=%d\n", flowtext.FormatRule(r, flowtext.FormatOptions{}), r.Stats.Packets.Load()))
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

func TestAddRulesBatch(t *testing.T) {
	p, clk := newPipeline(t, "priority=100,in_port=1,actions=output:2", "priority=5,actions=drop")
	old := p.Rules(pipeline.FilterAll())[0]
	old.Stats.Add(7, 700, clk.now())
	before := dump(p)

	// A bad rule anywhere fails the whole batch, which changes nothing.
	for _, bad := range []*flow.Rule{
		{Table: 3, Priority: 1, Instructions: flow.Instructions{HasGoto: true, GotoTable: 1}},
		{Priority: 1, Instructions: flow.Instructions{Apply: []flow.Action{flow.Output{Port: 0}}}},
	} {
		rs := parseRules(t, "priority=100,in_port=1,actions=output:3", "priority=9,in_port=9,actions=drop")
		if err := p.AddRules(append(rs, bad)); err == nil {
			t.Fatalf("a batch ending with %s succeeded", flowtext.FormatRule(bad, flowtext.FormatOptions{}))
		}
		if got := dump(p); got != before {
			t.Fatalf("a failed batch changed the tables (-want +got):\n-%s\n+%s", before, got)
		}
	}

	// The batch replaces the in_port=1 rule, which keeps its counters;
	// of two adds of in_port=2 in one batch the later one wins, and the
	// replaced one's hard timeout goes with it.
	rs := parseRules(t,
		"priority=100,in_port=1,actions=output:3",
		"priority=100,in_port=2,hard_timeout=5,actions=output:1",
		"priority=100,in_port=2,actions=output:4",
	)
	if err := p.AddRules(rs); err != nil {
		t.Fatal(err)
	}
	want := "priority=100,in_port=1 actions=output:3 packets=7\n" +
		"priority=100,in_port=2 actions=output:4 packets=0\n" +
		"priority=5 actions=drop packets=0\n"
	if got := dump(p); got != want {
		t.Errorf("after the batch (-want +got):\n-%s\n+%s", want, got)
	}
	clk.advance(10 * time.Second)
	if ex := p.Expire(clk.now()); len(ex) != 0 {
		t.Errorf("expired %d rules; the only timed one was replaced in its batch", len(ex))
	}
}

// TestAddCheckedRules: rules checked one by one with CheckRule and added
// with AddCheckedRules end up as AddRules leaves them, and translate the
// same.
func TestAddCheckedRules(t *testing.T) {
	lines := []string{
		"priority=100,ip,nw_dst=198.51.100.7,actions=output:2",
		"priority=100,ip,nw_dst=198.51.100.0/24,actions=output:3",
		"priority=90,tcp,tp_dst=80,actions=output:1,goto_table:2",
		"table=2,priority=1,actions=output:4",
		"priority=100,ip,nw_dst=198.51.100.0/24,actions=output:4",
	}
	plain, _ := newPipeline(t)
	checked, _ := newPipeline(t)
	if err := plain.AddRules(parseRules(t, lines...)); err != nil {
		t.Fatal(err)
	}
	rs := parseRules(t, lines...)
	for _, r := range rs {
		if err := pipeline.CheckRule(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := checked.AddCheckedRules(rs); err != nil {
		t.Fatal(err)
	}
	if a, b := dump(plain), dump(checked); a != b {
		t.Errorf("AddRules (-) and AddCheckedRules (+) differ:\n-%s\n+%s", a, b)
	}
	for _, pkt := range []string{"tcp,nw_dst=198.51.100.7,tp_dst=80", "tcp,nw_dst=198.51.100.8,tp_dst=80", "tcp,nw_dst=203.0.113.1,tp_dst=80"} {
		a, _ := translate(t, plain, pkt)
		b, _ := translate(t, checked, pkt)
		if x, y := action.Format(a.Actions), action.Format(b.Actions); x != y {
			t.Errorf("%s: AddRules gives %s, AddCheckedRules %s", pkt, x, y)
		}
	}
	if err := pipeline.CheckRule(&flow.Rule{Table: 3, Instructions: flow.Instructions{HasGoto: true, GotoTable: 1}}); err == nil {
		t.Error("CheckRule accepted a goto_table backwards")
	}
}

func TestModifyKeepsCounters(t *testing.T) {
	p, _ := newPipeline(t, "priority=100,in_port=1,actions=output:2")
	r := p.Rules(pipeline.FilterAll())[0]
	r.Stats.Add(5, 500, time.Now())
	nr, _ := flowtext.ParseRule("actions=output:3")
	n, err := p.ModifyRules(pipeline.FilterAll(), nr.Instructions, false)
	if err != nil || n != 1 {
		t.Fatalf("ModifyRules = %d, %v", n, err)
	}
	got := p.Rules(pipeline.FilterAll())[0]
	if got.Stats.Packets.Load() != 5 || flowtext.FormatActions(&got.Instructions) != "output:3" {
		t.Errorf("after modify: %d packets, actions %s; want 5, output:3", got.Stats.Packets.Load(), flowtext.FormatActions(&got.Instructions))
	}
}

func TestTimeouts(t *testing.T) {
	p, clk := newPipeline(t,
		"priority=1,hard_timeout=10,in_port=1,actions=output:2",
		"priority=1,idle_timeout=5,in_port=2,actions=output:1",
		"priority=1,in_port=3,actions=output:1",
	)
	clk.advance(4 * time.Second)
	// Traffic on the idle-timeout rule keeps it alive.
	for _, r := range p.Rules(pipeline.FilterAll()) {
		if r.IdleTimeout != 0 {
			r.Stats.Add(1, 64, clk.now())
		}
	}
	clk.advance(4 * time.Second)
	if ex := p.Expire(clk.now()); len(ex) != 0 {
		t.Fatalf("expired %d rules at 8s, want 0", len(ex))
	}
	clk.advance(2 * time.Second)
	ex := p.Expire(clk.now())
	if len(ex) != 2 {
		t.Fatalf("expired %d rules at 10s, want 2 (hard at 10s, idle 5s after last use at 4s)", len(ex))
	}
	if n := len(p.Rules(pipeline.FilterAll())); n != 1 {
		t.Errorf("%d rules left, want 1", n)
	}
}

// normalBridge is the default bridge: a NORMAL rule and ports 1..n.
func normalBridge(t *testing.T, ports ...pipeline.Port) *pipeline.Pipeline {
	t.Helper()
	p, _ := newPipeline(t, "priority=0,actions=NORMAL")
	addPorts(t, p, ports...)
	return p
}

func access(no uint32, v uint16) pipeline.Port {
	return pipeline.Port{No: no, VLAN: vlan.Config{Mode: vlan.Access, Tag: v}}
}

func trunk(no uint32, list string, native uint16) pipeline.Port {
	c := vlan.Config{Mode: vlan.Trunk, Native: native}
	if list != "" {
		s, err := vlan.ParseSet(list)
		if err != nil {
			panic(err)
		}
		c.Trunks = s
	}
	return pipeline.Port{No: no, VLAN: c}
}

func TestNormalLearningStopsFlooding(t *testing.T) {
	p := normalBridge(t, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3})
	res, tr := translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+macB)
	wantActions(t, res, tr, "output:2,output:3")
	if !strings.Contains(tr.String(), "learned 00:00:00:00:00:0a on port 1") {
		t.Errorf("trace does not report learning:\n%s", tr)
	}
	res, tr = translate(t, p, "in_port=2,dl_src="+macB+",dl_dst="+macA)
	wantActions(t, res, tr, "output:1")
	if !strings.Contains(tr.String(), "00:00:00:00:00:0a learned on port 1") {
		t.Errorf("trace does not report the learned port:\n%s", tr)
	}
	res, tr = translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+macB)
	wantActions(t, res, tr, "output:2")
	// A move: A appears on port 3.
	res, tr = translate(t, p, "in_port=3,dl_src="+macA+",dl_dst="+macB)
	wantActions(t, res, tr, "output:2")
	if !strings.Contains(tr.String(), "moved 00:00:00:00:00:0a on port 3") {
		t.Errorf("trace does not report the move:\n%s", tr)
	}
	res, tr = translate(t, p, "in_port=2,dl_src="+macB+",dl_dst="+macA)
	wantActions(t, res, tr, "output:3")
}

func TestNormalHairpinAndReflectiveRelay(t *testing.T) {
	p := normalBridge(t, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+bcast)
	res, tr := translate(t, p, "in_port=1,dl_src="+macC+",dl_dst="+macA)
	wantActions(t, res, tr, "drop(hairpin)")

	p2 := normalBridge(t, pipeline.Port{No: 1, ReflectiveRelay: true}, pipeline.Port{No: 2})
	translate(t, p2, "in_port=1,dl_src="+macA+",dl_dst="+bcast)
	res, tr = translate(t, p2, "in_port=1,dl_src="+macC+",dl_dst="+macA)
	wantActions(t, res, tr, "output:1")
}

func TestNormalVLANs(t *testing.T) {
	p := normalBridge(t,
		access(1, 10), access(2, 10), access(3, 20),
		trunk(4, "10,20-30", 0), trunk(5, "", 20),
		pipeline.Port{No: 6, VLAN: vlan.Config{Mode: vlan.QinQ, Tag: 100}},
		trunk(7, "100", 0),
	)
	// Access VLAN 10 floods to the other VLAN 10 access port untagged, then
	// tagged to the trunks carrying 10; never to VLAN 20's access port.
	res, tr := translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+bcast)
	wantActions(t, res, tr, "output:2,push_vlan(tpid=0x8100,vid=10,pcp=0),output:4,output:5")

	// VLAN 20 from the trunk: port 5's native VLAN 20 leaves untagged.
	res, tr = translate(t, p, "in_port=4,dl_vlan=20,dl_src="+macB+",dl_dst="+bcast)
	wantActions(t, res, tr, "pop_vlan,output:3,output:5")

	// Untagged on trunk 5 belongs to its native VLAN 20.
	res, tr = translate(t, p, "in_port=5,dl_src="+macC+",dl_dst="+bcast)
	wantActions(t, res, tr, "output:3,push_vlan(tpid=0x8100,vid=20,pcp=0),output:4")

	// Disallowed VLAN and tagged frames on access ports are dropped.
	res, tr = translate(t, p, "in_port=4,dl_vlan=99,dl_src="+macB+",dl_dst="+bcast)
	wantActions(t, res, tr, "drop(vlan)")
	if !strings.Contains(tr.String(), "VLAN 99 not allowed on trunk") {
		t.Errorf("trace does not say why:\n%s", tr)
	}
	res, tr = translate(t, p, "in_port=1,dl_vlan=10,dl_src="+macB+",dl_dst="+bcast)
	wantActions(t, res, tr, "drop(vlan)")
	res, tr = translate(t, p, "in_port=4,dl_src="+macB+",dl_dst="+bcast)
	wantActions(t, res, tr, "drop(vlan)")

	// QinQ: a customer frame tagged 7 gets an 802.1ad service tag 100 on
	// the trunks carrying 100 (7, and 5, which carries all VLANs), and
	// loses it on the way back.
	res, tr = translate(t, p, "in_port=6,dl_vlan=7,dl_src="+macA+",dl_dst="+bcast)
	wantActions(t, res, tr, "push_vlan(tpid=0x88a8,vid=100,pcp=0),output:5,output:7")
	k := key(t, "in_port=7,dl_vlan=100,dl_src="+macB+",dl_dst="+macA)
	k.VLANs = [2]flow.VLAN{{TPID: flow.EthTypeQinQ, TCI: flow.TCIPresent | 100}, {TPID: flow.EthTypeVLAN, TCI: flow.TCIPresent | 7}}
	tr = &pipeline.Trace{}
	res = p.Translate(&k, pipeline.Options{Trace: tr})
	wantActions(t, res, tr, "pop_vlan,output:6")
}

func TestNormalMACLimitAndAging(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	p := pipeline.New(pipeline.Config{Now: clk.now})
	addRule(t, p, "priority=0,actions=NORMAL")
	addPorts(t, p, pipeline.Port{No: 1, MACLimit: 1}, pipeline.Port{No: 2})
	translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+bcast)
	_, tr := translate(t, p, "in_port=1,dl_src="+macC+",dl_dst="+bcast)
	if !strings.Contains(tr.String(), "MAC limit reached") {
		t.Errorf("second MAC on a port limited to 1 was not refused:\n%s", tr)
	}
	if _, ok := p.MACs().Lookup(1, [6]byte{0, 0, 0, 0, 0, 0xc}); ok {
		t.Error("refused MAC is in the table")
	}
	gen := p.Gen()
	clk.advance(301 * time.Second)
	if n := p.MACs().Expire(clk.now()); n != 1 {
		t.Errorf("expired %d MACs, want 1", n)
	}
	_ = gen
	res, tr := translate(t, p, "in_port=2,dl_src="+macB+",dl_dst="+macA)
	wantActions(t, res, tr, "output:1")
	if !strings.Contains(tr.String(), "not learned") {
		t.Errorf("aged-out MAC still known:\n%s", tr)
	}
}

func TestNormalDropsMulticastSource(t *testing.T) {
	p := normalBridge(t, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	res, tr := translate(t, p, "in_port=1,dl_src=01:00:5e:00:00:01,dl_dst="+bcast)
	wantActions(t, res, tr, "drop(source-mac)")
}

func TestNormalSkipsDownPorts(t *testing.T) {
	p := normalBridge(t, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3})
	p.SetPortUp(3, false)
	res, tr := translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+bcast)
	wantActions(t, res, tr, "output:2")
}

func TestGratuitousARPLearnsMove(t *testing.T) {
	p := normalBridge(t, pipeline.Port{No: 1}, pipeline.Port{No: 2}, pipeline.Port{No: 3})
	translate(t, p, "in_port=1,dl_src="+macA+",dl_dst="+bcast)
	_, tr := translate(t, p, "in_port=2,arp,dl_src="+macA+",dl_dst="+bcast+",arp_spa=198.51.100.7,arp_tpa=198.51.100.7,arp_op=1")
	if !strings.Contains(tr.String(), "moved 00:00:00:00:00:0a on port 2") || !strings.Contains(tr.String(), "gratuitous ARP") {
		t.Errorf("gratuitous ARP did not move the MAC:\n%s", tr)
	}
	if port, _ := p.MACs().Lookup(0, [6]byte{0, 0, 0, 0, 0, 0xa}); port != 2 {
		t.Errorf("MAC on port %d, want 2", port)
	}
}

func TestTraceText(t *testing.T) {
	p, _ := newPipeline(t,
		"table=0,priority=100,in_port=1,actions=goto_table:1",
		"table=1,priority=0,actions=NORMAL",
	)
	addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2})
	k := key(t, "in_port=1,dl_src="+macA+",dl_dst="+macB)
	tr := &pipeline.Trace{}
	p.Translate(&k, pipeline.Options{Trace: tr, NoLearn: true})
	text := tr.String()
	for _, want := range []string{
		"Flow: in_port=1",
		" 0. in_port=1, priority 100",
		" 1. ",
		"actions=NORMAL",
		"not learned in VLAN 0, flooding",
		"Megaflow: ",
		"Datapath actions: output:2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
	// NoLearn: the trace learned nothing.
	if p.MACs().Len() != 0 {
		t.Error("a NoLearn translation learned a MAC")
	}
}

// TestPortNumbers checks port lookups by number on both sides of the
// small numbers the pipeline indexes by array, as ports come and go.
func TestPortNumbers(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	nos := []uint32{1, 5, 1023, 1024, 2000, 0xfffffffe}
	for _, no := range nos {
		if err := p.SetPort(pipeline.Port{No: no, Name: fmt.Sprint("p", no), Up: true}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(present map[uint32]bool) {
		t.Helper()
		for _, no := range []uint32{0, 1, 2, 5, 6, 1022, 1023, 1024, 1025, 2000, 0xfffffffe} {
			q, ok := p.Port(no)
			if ok != present[no] || ok && q.No != no {
				t.Errorf("Port(%d) = %d, %v; want present %v", no, q.No, ok, present[no])
			}
		}
	}
	present := map[uint32]bool{}
	for _, no := range nos {
		present[no] = true
	}
	check(present)
	for _, no := range []uint32{1023, 1} {
		p.RemovePort(no)
		delete(present, no)
		check(present)
	}
}
