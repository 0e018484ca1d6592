package pipeline_test

import (
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/packet/testframe"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// BenchmarkSlowPathTranslate measures one upcall's translation through
// three tables and NORMAL with a learned destination, as a miss in the
// caches costs.
func BenchmarkSlowPathTranslate(b *testing.B) {
	p, k := slowPath(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Translate(&k, pipeline.Options{})
	}
}

// TestSlowPathTranslateAllocs checks that the translation the benchmark
// measures allocates only its Result and one block for the Result's lists.
func TestSlowPathTranslateAllocs(t *testing.T) {
	p, k := slowPath(t)
	if n := testing.AllocsPerRun(1000, func() { p.Translate(&k, pipeline.Options{}) }); n != 2 {
		t.Errorf("Translate allocates %v times, want 2 (the Result and its lists)", n)
	}
}

// slowPath returns the benchmark's pipeline and a packet whose destination
// it has learned.
func slowPath(b testing.TB) (*pipeline.Pipeline, flow.Key) {
	p := pipeline.New(pipeline.Config{})
	for _, s := range []string{
		"table=0,priority=100,in_port=1,actions=goto_table:1",
		"table=0,priority=100,in_port=2,actions=goto_table:1",
		"table=0,priority=50,tcp,tp_dst=22,actions=drop",
		"table=1,priority=100,ip,nw_src=198.51.100.0/24,actions=write_metadata:0x1/0xff,goto_table:2",
		"table=1,priority=10,actions=goto_table:2",
		"table=2,priority=100,metadata=0x2/0xff,actions=drop",
		"table=2,priority=0,actions=NORMAL",
	} {
		r, err := flowtext.ParseRule(s)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.AddRule(r); err != nil {
			b.Fatal(err)
		}
	}
	for no := uint32(1); no <= 3; no++ {
		if err := p.SetPort(pipeline.Port{No: no, Name: "p", Up: true}); err != nil {
			b.Fatal(err)
		}
	}
	var k, back flow.Key
	packet.Parse(testframe.UDP4(testframe.MAC(1), testframe.MAC(2), 1000, 53), 1, &k)
	packet.Parse(testframe.UDP4(testframe.MAC(2), testframe.MAC(1), 53, 1000), 2, &back)
	p.Translate(&k, pipeline.Options{})
	p.Translate(&back, pipeline.Options{})
	if res := p.Translate(&k, pipeline.Options{}); len(res.Actions) != 1 || res.Actions[0].Port != 2 {
		b.Fatalf("unexpected translation %v", res.Actions)
	}
	return p, k
}
