package reference

import (
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

func TestReference(t *testing.T) {
	var c Classifier
	all := &flow.Rule{Priority: 1}
	port := &flow.Rule{Priority: 5}
	port.Match.Mask.InPort, port.Match.Key.InPort = ^uint32(0), 1
	tie := &flow.Rule{Priority: 5, Match: port.Match}
	c.Insert(all)
	c.Insert(port)
	c.Insert(tie)

	k1, k2 := flow.Key{InPort: 1}, flow.Key{InPort: 2}
	if r := c.Lookup(&k1, nil); r != port {
		t.Errorf("Lookup(in_port=1) = %p, want the first priority-5 rule", r)
	}
	var wc flow.Mask
	if r := c.Lookup(&k2, &wc); r != all {
		t.Errorf("Lookup(in_port=2) = %p, want the catch-all", r)
	}
	if wc != port.Match.Mask {
		t.Errorf("Lookup examined %x, want the union of the masks", wc.Words())
	}
	if r := c.Find(&port.Match, 5); r != port {
		t.Errorf("Find = %p, want the first inserted", r)
	}
	if !c.Remove(port) || c.Remove(port) {
		t.Error("Remove reported wrongly")
	}
	if r := c.Lookup(&k1, nil); r != tie {
		t.Errorf("after Remove: Lookup = %p, want the other priority-5 rule", r)
	}
	if c.Len() != 2 || len(c.Rules()) != 2 {
		t.Errorf("Len = %d", c.Len())
	}
}
