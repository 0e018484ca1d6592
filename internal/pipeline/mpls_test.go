package pipeline_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// mplsKey parses a TCP/IPv4 frame behind the given label stack entries
// (none: a plain IPv4 frame) arriving on port 1.
func mplsKey(lses ...uint32) flow.Key {
	f := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src4: netip.MustParseAddr("198.51.100.1"),
		Dst4: netip.MustParseAddr("198.51.100.2"), Proto: 6, SrcPort: 1000, DstPort: 80, TTL: 64, MPLS: lses}
	var k flow.Key
	packet.Parse(f.Bytes(), 1, &k)
	return k
}

const (
	lse100 = 100<<12 | 3<<9 | flow.MPLSBoS | 64 // label 100, tc 3, bos, ttl 64
	lse203 = 203<<12 | 5<<9 | 127               // label 203, tc 5, not bos, ttl 127
)

func TestMPLS(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []string
		key   flow.Key
		want  string
		trace string // a line the trace must contain
	}{
		{"push on IPv4", []string{"ip,actions=push_mpls:0x8847,output:2"}, mplsKey(),
			"push_mpls(eth_type=0x8847,label=0,tc=0,ttl=64,bos=1),output:2", "push_mpls:0x8847"},
		{"push on MPLS copies the entry", []string{"mpls,actions=push_mpls:0x8848,output:2"}, mplsKey(lse100),
			"push_mpls(eth_type=0x8848,label=100,tc=3,ttl=64,bos=0),output:2", ""},
		{"set_field before push rewrites IPv4 first", []string{"ip,actions=set_field:203.0.113.7->ip_src,push_mpls:0x8847,set_field:17->mpls_label,output:2"}, mplsKey(),
			"set(nw_src=0xcb007107),push_mpls(eth_type=0x8847,label=0,tc=0,ttl=64,bos=1),set_mpls(lse=0x00011000/0xfffff000),output:2", ""},
		{"pop", []string{"mpls,actions=pop_mpls:0x0800,output:2"}, mplsKey(lse100),
			"pop_mpls(eth_type=0x0800),output:2", "bottom of stack"},
		{"pop then match inner IPv4", []string{
			"mpls,mpls_label=100,actions=pop_mpls:0x0800,goto_table:1",
			"table=1,tcp,nw_src=198.51.100.1,tp_dst=80,actions=set_field:203.0.113.7->ip_dst,output:2",
		}, mplsKey(lse100), "pop_mpls(eth_type=0x0800),set(nw_dst=0xcb007107),output:2", "goto_table:1"},
		{"inner IPv4 is not matched before the pop", []string{"ip,actions=output:2"}, mplsKey(lse100),
			"drop(no-match)", ""},
		{"set_mpls_ttl", []string{"mpls,actions=set_mpls_ttl:127,output:2"}, mplsKey(lse100),
			"set_mpls(lse=0x0000007f/0x000000ff),output:2", ""},
		{"dec_mpls_ttl", []string{"mpls,actions=dec_mpls_ttl,output:2"}, mplsKey(lse100),
			"set_mpls(lse=0x0000003f/0x000000ff),output:2", "TTL now 63"},
		{"dec_mpls_ttl at 1 drops", []string{"mpls,actions=dec_mpls_ttl,output:2"}, mplsKey(100<<12 | flow.MPLSBoS | 1),
			"drop(invalid-ttl)", "would reach zero"},
		{"set_field tc and bos", []string{"mpls,mpls_tc=3,mpls_bos=1,actions=set_field:5->mpls_tc,set_field:0->mpls_bos,output:2"}, mplsKey(lse100),
			"set_mpls(lse=0x00000a00/0x00000f00),output:2", ""},
		{"set_field to the same value emits nothing", []string{"mpls,actions=set_field:100->mpls_label,output:2"}, mplsKey(lse100),
			"output:2", ""},
		{"match on label misses", []string{"mpls,mpls_label=100,actions=output:2"}, mplsKey(lse203, lse100),
			"drop(no-match)", ""},
		{"pop outer of two, then set", []string{"mpls,mpls_bos=0,actions=pop_mpls:0x8847,set_field:7->mpls_label,output:2"}, mplsKey(lse203, lse100),
			"pop_mpls(eth_type=0x8847),set_mpls(lse=0x00007000/0xfffff000),output:2", "not in the flow key"},
		{"dec_mpls_ttl after popping a non-bottom entry", []string{"mpls,actions=pop_mpls:0x8847,dec_mpls_ttl,output:2"}, mplsKey(lse203, lse100),
			"pop_mpls(eth_type=0x8847),drop(unsupported)", ""},
		{"action set order: pop before push", []string{"mpls,actions=write_actions(push_mpls:0x8847,pop_mpls:0x0800,output:2)"}, mplsKey(lse100),
			"pop_mpls(eth_type=0x0800),push_mpls(eth_type=0x8847,label=0,tc=0,ttl=64,bos=1),output:2", ""},
		{"push_mpls then push_vlan: MPLS stays inside the tag", []string{"ip,actions=push_mpls:0x8847,push_vlan:0x8100,set_field:4106->vlan_vid,output:2"}, mplsKey(),
			"push_mpls(eth_type=0x8847,label=0,tc=0,ttl=64,bos=1),push_vlan(tpid=0x8100,vid=10,pcp=0),output:2", ""},
		{"MPLS actions on IPv4 are ignored", []string{"ip,actions=pop_mpls:0x0800,dec_mpls_ttl,set_mpls_ttl:1,output:2"}, mplsKey(),
			"output:2", "not an MPLS packet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newPipeline(t, tc.rules...)
			addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2})
			tr := &pipeline.Trace{}
			k := tc.key
			res := p.Translate(&k, pipeline.Options{Trace: tr})
			wantActions(t, res, tr, tc.want)
			if tc.trace != "" && !strings.Contains(tr.String(), tc.trace) {
				t.Errorf("trace lacks %q:\n%s", tc.trace, tr)
			}
		})
	}
}

// TestMPLSMegaflow checks that the megaflow mask covers the label stack
// entry bits a translation depended on, and no others.
func TestMPLSMegaflow(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule string
		key  flow.Key
		want uint32
	}{
		{"output only", "mpls,actions=output:2", mplsKey(lse100), 0},
		{"pop looks at bos", "mpls,actions=pop_mpls:0x0800,output:2", mplsKey(lse100), flow.MPLSBoS},
		{"dec looks at ttl", "mpls,actions=dec_mpls_ttl,output:2", mplsKey(lse100), flow.MPLSTTLMask},
		{"push copies the entry", "mpls,actions=push_mpls:0x8847,output:2", mplsKey(lse100), ^uint32(0)},
		{"label match", "mpls,mpls_label=100,actions=output:2", mplsKey(lse100), flow.MPLSLabelMask},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newPipeline(t, tc.rule)
			addPorts(t, p, pipeline.Port{No: 1}, pipeline.Port{No: 2})
			k := tc.key
			res := p.Translate(&k, pipeline.Options{})
			if res.Mask.MPLS != tc.want {
				t.Errorf("megaflow MPLS mask %#08x, want %#08x", res.Mask.MPLS, tc.want)
			}
		})
	}
}
