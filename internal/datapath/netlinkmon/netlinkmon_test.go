package netlinkmon

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dvs-project/dvs/internal/datapath/afpacket/afpackettest"
)

type recorder struct {
	mu     sync.Mutex
	events []event
}

type event struct {
	s       State
	removed bool
}

func (r *recorder) onChange(s State, removed bool) {
	r.mu.Lock()
	r.events = append(r.events, event{s, removed})
	r.mu.Unlock()
}

func (r *recorder) saw(match func(event) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if match(e) {
			return true
		}
	}
	return false
}

func TestWatch(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	a, b := afpackettest.Name("ma"), afpackettest.Name("mb")
	afpackettest.Veth(t, ns, a, ns, b)

	rec := &recorder{}
	m, err := Watch(context.Background(), Options{Namespace: ns, OnChange: rec.onChange})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	// The listing is complete when Watch returns.
	s, ok := m.State(a)
	if !ok || !s.AdminUp || s.MTU != 1500 || s.Index == 0 {
		t.Fatalf("State(%q) = %+v, %v; want admin up with MTU 1500", a, s, ok)
	}
	// The kernel sets the operational state asynchronously (linkwatch).
	if !afpackettest.Eventually(2*time.Second, func() bool { return m.Up(a) && m.Up(b) }) {
		t.Fatalf("new veth pair not up: %+v %+v", must(m.State(a)), must(m.State(b)))
	}
	if !m.Up("lo") {
		t.Error("loopback not up")
	}
	if m.Up("nonexistent") {
		t.Error("Up(nonexistent) = true")
	}

	afpackettest.SetDown(t, ns, a)
	if !afpackettest.Eventually(time.Second, func() bool { return !m.Up(a) }) {
		t.Fatalf("%s still up a second after going down: %+v", a, must(m.State(a)))
	}
	if s := must(m.State(a)); s.AdminUp || s.OperUp {
		t.Errorf("down link state %+v", s)
	}
	// The peer loses its carrier: admin up, operationally down.
	if !afpackettest.Eventually(time.Second, func() bool { s := must(m.State(b)); return s.AdminUp && !s.OperUp }) {
		t.Errorf("peer state %+v, want admin up, oper down", must(m.State(b)))
	}
	afpackettest.SetUp(t, ns, a)
	if !afpackettest.Eventually(time.Second, func() bool { return m.Up(a) && m.Up(b) }) {
		t.Fatalf("links not up a second after going up: %+v %+v", must(m.State(a)), must(m.State(b)))
	}

	h := afpackettest.Handle(t, ns)
	l, err := h.LinkByName(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetMTU(l, 9000); err != nil {
		t.Fatal(err)
	}
	if !afpackettest.Eventually(time.Second, func() bool { return must(m.State(a)).MTU == 9000 }) {
		t.Errorf("MTU change not seen: %+v", must(m.State(a)))
	}

	renamed := afpackettest.Name("mr")
	if err := h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetName(l, renamed); err != nil {
		t.Fatal(err)
	}
	if !afpackettest.Eventually(time.Second, func() bool { _, old := m.State(a); _, nw := m.State(renamed); return !old && nw }) {
		t.Error("rename not seen")
	}

	if err := h.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	if !afpackettest.Eventually(time.Second, func() bool {
		_, ra := m.State(renamed)
		_, rb := m.State(b)
		return !ra && !rb
	}) {
		t.Error("deleted veth pair still known")
	}
	if !rec.saw(func(e event) bool { return e.removed && e.s.Name == b }) {
		t.Error("no removal reported for the peer")
	}
	if !rec.saw(func(e event) bool { return !e.removed && e.s.Name == a && !e.s.AdminUp }) {
		t.Error("no down change reported")
	}
	for _, s := range m.States() {
		if s.Name != "lo" {
			t.Errorf("unexpected link left: %+v", s)
		}
	}
}

func TestWatchNamesAndClose(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	a, b := afpackettest.Name("ma"), afpackettest.Name("mb")
	afpackettest.Veth(t, ns, a, ns, b)

	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	var m *Monitor
	// Without Options.Namespace the monitor watches the caller's.
	afpackettest.Do(t, ns, func() {
		var err error
		if m, err = Watch(ctx, Options{Names: []string{a}, OnChange: rec.onChange}); err != nil {
			t.Fatal(err)
		}
	})
	if got := m.States(); len(got) != 1 || got[0].Name != a {
		t.Fatalf("States() = %+v, want only %s", got, a)
	}
	afpackettest.SetDown(t, ns, b)
	afpackettest.SetDown(t, ns, a)
	if !afpackettest.Eventually(time.Second, func() bool { return !m.Up(a) }) {
		t.Fatal("down not seen")
	}
	if rec.saw(func(e event) bool { return e.s.Name != a }) {
		t.Error("change reported for an interface outside Names")
	}
	cancel()
	m.Close()
	afpackettest.SetUp(t, ns, a)
	time.Sleep(100 * time.Millisecond)
	if m.Up(a) {
		t.Error("monitor still updating after its context ended")
	}
}

// TestResubscribe ends a monitor's subscription as a netlink overrun
// would and checks that it subscribes again, lists the links again (dropping
// one that vanished meanwhile) and follows changes after that.
func TestResubscribe(t *testing.T) {
	afpackettest.RequireRoot(t)
	ns := afpackettest.NewNS(t)
	a, b := afpackettest.Name("ma"), afpackettest.Name("mb")
	afpackettest.Veth(t, ns, a, ns, b)

	rec := &recorder{}
	dup, err := netns.GetFromPath("/proc/self/fd/" + strconv.Itoa(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	m := &Monitor{
		opts:  Options{OnChange: rec.onChange},
		ns:    dup,
		links: map[string]State{"ghost": {Index: 99999, Name: "ghost", AdminUp: true, OperUp: true}},
		names: map[int]string{99999: "ghost"},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	ended := make(chan netlink.LinkUpdate)
	close(ended)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.ns.Close()
		m.run(m.ctx, ended, make(chan struct{}))
	}()
	defer m.Close()

	if !afpackettest.Eventually(2*time.Second, func() bool { _, ok := m.State(a); return ok }) {
		t.Fatal("links not listed again after the subscription ended")
	}
	if _, ok := m.State("ghost"); ok {
		t.Error("a link gone during the gap is still known")
	}
	if !rec.saw(func(e event) bool { return e.removed && e.s.Name == "ghost" }) {
		t.Error("the vanished link's removal was not reported")
	}
	afpackettest.SetDown(t, ns, a)
	if !afpackettest.Eventually(time.Second, func() bool { return !m.Up(a) }) {
		t.Error("changes not followed after resubscribing")
	}
}

func must(s State, _ bool) State { return s }
