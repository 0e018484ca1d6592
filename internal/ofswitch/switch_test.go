package ofswitch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/porttest"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/openflow/channel"
	"github.com/dvs-project/dvs/internal/packet/testframe"
)

// rig is a bridge with in-memory ports p1..p3, its OpenFlow switch and a
// controller connection to it.
type rig struct {
	t     testing.TB
	b     *bridge.Bridge
	sw    *Switch
	ports map[string]*porttest.Port
	c     *client
	sock  string
}

func newRig(t testing.TB, cfg Config, bcfg bridge.Config) *rig {
	t.Helper()
	r := &rig{t: t, ports: map[string]*porttest.Port{}}
	open := func(spec bridge.PortSpec) (datapath.Port, error) {
		p := porttest.New(spec.Name)
		r.ports[spec.Name] = p
		return p, nil
	}
	bcfg.Name, bcfg.Workers, bcfg.Sweep = "br0", 1, 50*time.Millisecond
	b, err := bridge.New(bcfg, open)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	r.b = b
	for i, name := range []string{"p1", "p2", "p3"} {
		if _, err := b.AddPort(bridge.PortSpec{Name: name, Type: bridge.TypeInternal, OFPort: uint32(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	r.sock = filepath.Join(t.TempDir(), "br0.mgmt")
	cfg.Listen = append(cfg.Listen, "punix:"+r.sock)
	sw, err := New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Close)
	r.sw = sw
	r.c = dial(t, r.sock)
	return r
}

// client is a minimal OpenFlow controller built on the codec.
type client struct {
	t   testing.TB
	c   net.Conn
	xid uint32
	buf []byte
}

func dial(t testing.TB, path string) *client {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, buf: make([]byte, 1<<16)}
	cl.send(openflow.OurHello().Encode(1))
	if m := cl.recvType(openflow.TypeHello); m == nil {
		t.Fatal("no hello")
	}
	return cl
}

func (c *client) send(msg []byte) {
	c.t.Helper()
	if _, err := c.c.Write(msg); err != nil {
		c.t.Fatal(err)
	}
}

// request sends msg with a fresh xid and returns it.
func (c *client) request(msg []byte) uint32 {
	c.xid++
	msg = append([]byte(nil), msg...)
	msg[4], msg[5], msg[6], msg[7] = byte(c.xid>>24), byte(c.xid>>16), byte(c.xid>>8), byte(c.xid)
	c.send(msg)
	return c.xid
}

// recv returns the next message (nil after a timeout).
func (c *client) recv(timeout time.Duration) []byte {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(timeout))
	m, err := openflow.ReadMessage(c.c, c.buf)
	if err != nil {
		return nil
	}
	return append([]byte(nil), m...)
}

// recvType returns the next message of type typ, skipping others.
func (c *client) recvType(typ uint8) []byte {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		m := c.recv(time.Until(deadline))
		if m == nil {
			break
		}
		if m[1] == typ {
			return m
		}
	}
	return nil
}

// barrier sends a barrier and returns the messages that came before its
// reply.
func (c *client) barrier() [][]byte {
	c.t.Helper()
	xid := c.request(openflow.EncodeEmpty(openflow.TypeBarrierRequest, 0))
	var got [][]byte
	for {
		m := c.recv(3 * time.Second)
		if m == nil {
			c.t.Fatal("no barrier reply")
		}
		h, _ := openflow.ParseHeader(m)
		if h.Type == openflow.TypeBarrierReply && h.Xid == xid {
			return got
		}
		got = append(got, m)
	}
}

func (c *client) flowMod(text string, cmd uint8, mutate ...func(*openflow.FlowMod)) []byte {
	c.t.Helper()
	r, err := flowtext.ParseRule(text)
	if err != nil {
		c.t.Fatal(err)
	}
	fm := openflow.NewFlowMod(r)
	fm.Command = cmd
	for _, m := range mutate {
		m(&fm)
	}
	msg, err := fm.Encode(0)
	if err != nil {
		c.t.Fatal(err)
	}
	return msg
}

// errorsIn returns the errors among msgs.
func errorsIn(t testing.TB, msgs [][]byte) []openflow.ErrorMsg {
	var out []openflow.ErrorMsg
	for _, m := range msgs {
		if m[1] == openflow.TypeError {
			e, err := openflow.DecodeError(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}

func (r *rig) dumpFlows() []openflow.FlowStats {
	r.t.Helper()
	req := openflow.FlowStatsRequest{TableID: flow.TableAll, OutPort: flow.PortAny, OutGroup: flow.GroupAny}
	mp := openflow.Multipart{Type: openflow.MultipartFlow, Body: req.Append(nil)}
	xid := r.c.request(mp.Encode(0))
	var all []openflow.FlowStats
	for {
		m := r.c.recvType(openflow.TypeMultipartReply)
		if m == nil {
			r.t.Fatal("no flow stats reply")
		}
		rep, err := openflow.DecodeMultipart(m)
		if err != nil {
			r.t.Fatal(err)
		}
		h, _ := openflow.ParseHeader(m)
		if h.Xid != xid {
			continue
		}
		fs, err := openflow.DecodeFlowStats(rep.Body)
		if err != nil {
			r.t.Fatal(err)
		}
		all = append(all, fs...)
		if rep.Flags&openflow.MultipartReplyMore == 0 {
			return all
		}
	}
}

func frameAB() []byte { return testframe.UDP4(testframe.MAC(0xa), testframe.MAC(0xb), 1000, 2000) }

func waitSent(t *testing.T, p *porttest.Port, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s := p.Sent(); len(s) >= n {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("port %s sent %d frames, want %d", p.Name(), len(p.Sent()), n)
	return nil
}

func TestFlowModAddDumpDelete(t *testing.T) {
	r := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	r.c.send(r.c.flowMod("priority=10,in_port=1,actions=output:2", openflow.FlowAdd))
	r.c.send(r.c.flowMod("table=1,priority=20,ip,nw_dst=198.51.100.0/24,actions=output:3", openflow.FlowAdd,
		func(fm *openflow.FlowMod) { fm.Cookie = 0x77; fm.Flags = uint16(flow.FlagSendFlowRem) }))
	if errs := errorsIn(t, r.c.barrier()); len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	fs := r.dumpFlows()
	if len(fs) != 2 || fs[0].Priority != 10 || fs[1].TableID != 1 || fs[1].Cookie != 0x77 {
		t.Fatalf("dump: %+v", fs)
	}

	// Traffic follows the flow.
	r.ports["p1"].Inject(frameAB())
	waitSent(t, r.ports["p2"], 1)

	// A cookie-filtered delete removes only the matching flow and reports it.
	r.c.send(r.c.flowMod("table=1,actions=drop", openflow.FlowDelete, func(fm *openflow.FlowMod) {
		fm.Cookie, fm.CookieMask, fm.OutPort, fm.OutGroup = 0x77, ^uint64(0), flow.PortAny, flow.GroupAny
		fm.Match = flow.Match{}
	}))
	msgs := r.c.barrier()
	var removed []openflow.FlowRemoved
	for _, m := range msgs {
		if m[1] == openflow.TypeFlowRemoved {
			fr, err := openflow.DecodeFlowRemoved(m)
			if err != nil {
				t.Fatal(err)
			}
			removed = append(removed, fr)
		}
	}
	if len(removed) != 1 || removed[0].Cookie != 0x77 || removed[0].Reason != openflow.FlowRemovedDelete {
		t.Fatalf("flow removed: %+v (messages %d)", removed, len(msgs))
	}
	if fs := r.dumpFlows(); len(fs) != 1 || fs[0].Priority != 10 {
		t.Fatalf("after delete: %+v", fs)
	}
}

func TestFlowModErrors(t *testing.T) {
	r := newRig(t, Config{}, bridge.Config{})
	cases := []struct {
		name      string
		msg       []byte
		typ, code uint16
	}{
		{"add to table 255", r.c.flowMod("priority=1,actions=drop", openflow.FlowAdd, func(fm *openflow.FlowMod) { fm.TableID = 255 }),
			openflow.ETFlowModFailed, openflow.FlowModFailedBadTableID},
		{"goto backwards", r.c.flowMod("table=3,priority=1,actions=drop", openflow.FlowAdd, func(fm *openflow.FlowMod) {
			fm.Instructions = flow.Instructions{HasGoto: true, GotoTable: 2}
		}),
			openflow.ETBadInstruction, openflow.BadInstBadTableID},
		{"buffer id", r.c.flowMod("priority=1,actions=drop", openflow.FlowAdd, func(fm *openflow.FlowMod) { fm.BufferID = 7 }),
			openflow.ETBadRequest, openflow.BadRequestBufferUnknown},
		{"unknown meter", r.c.flowMod("priority=1,actions=meter:9,output:1", openflow.FlowAdd),
			openflow.ETMeterModFailed, openflow.MeterModFailedUnknownMeter},
		{"unknown group", r.c.flowMod("priority=1,actions=group:9", openflow.FlowAdd),
			openflow.ETBadAction, openflow.BadActionBadOutGroup},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.c.request(tc.msg)
			errs := errorsIn(t, r.c.barrier())
			if len(errs) != 1 || errs[0].Type != tc.typ || errs[0].Code != tc.code {
				t.Fatalf("got %+v, want type %d code %d", errs, tc.typ, tc.code)
			}
			if n := min(len(tc.msg), openflow.ErrorDataMax); !bytes.Equal(errs[0].Data, append(append([]byte(nil), tc.msg[:4]...), errs[0].Data[4:n]...)) {
				t.Errorf("offending bytes %x", errs[0].Data)
			}
		})
	}
	// The overlap check.
	r.c.send(r.c.flowMod("priority=5,ip,actions=drop", openflow.FlowAdd))
	r.c.send(r.c.flowMod("priority=5,ip,nw_src=198.51.100.1,actions=drop", openflow.FlowAdd,
		func(fm *openflow.FlowMod) { fm.Flags = uint16(flow.FlagCheckOverlap) }))
	errs := errorsIn(t, r.c.barrier())
	if len(errs) != 1 || errs[0].Type != openflow.ETFlowModFailed || errs[0].Code != openflow.FlowModFailedOverlap {
		t.Fatalf("overlap: %+v", errs)
	}
}

func TestPacketInAndOut(t *testing.T) {
	r := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	r.c.send(r.c.flowMod("priority=0,actions=output:controller", openflow.FlowAdd,
		func(fm *openflow.FlowMod) { fm.Cookie = 0xabc }))
	r.c.barrier()
	f := frameAB()
	r.ports["p1"].Inject(f)
	m := r.c.recvType(openflow.TypePacketIn)
	if m == nil {
		t.Fatal("no packet-in")
	}
	pi, err := openflow.DecodePacketIn(m)
	if err != nil {
		t.Fatal(err)
	}
	if pi.Reason != openflow.PacketInNoMatch || pi.Cookie != 0xabc || pi.Match.Key.InPort != 1 ||
		pi.BufferID != openflow.NoBuffer || !bytes.Equal(pi.Data, f) || int(pi.TotalLen) != len(f) {
		t.Fatalf("packet-in %+v", pi)
	}

	// Packet-out to port 3 and through the tables (output:table).
	po := openflow.PacketOut{BufferID: openflow.NoBuffer, InPort: flow.PortController,
		Actions: []flow.Action{flow.Output{Port: 3}}, Data: f}
	msg, err := po.Encode(0)
	if err != nil {
		t.Fatal(err)
	}
	r.c.request(msg)
	if errs := errorsIn(t, r.c.barrier()); len(errs) > 0 {
		t.Fatalf("packet-out errors: %+v", errs)
	}
	if got := waitSent(t, r.ports["p3"], 1); !bytes.Equal(got[0], f) {
		t.Fatalf("p3 got %x", got[0])
	}
	r.c.send(r.c.flowMod("priority=9,in_port=2,actions=output:1", openflow.FlowAdd))
	po = openflow.PacketOut{BufferID: openflow.NoBuffer, InPort: 2, Actions: []flow.Action{flow.Output{Port: flow.PortTable}}, Data: f}
	msg, _ = po.Encode(0)
	r.c.request(msg)
	r.c.barrier()
	waitSent(t, r.ports["p1"], 1)
}

func TestPortStatusAndPortMod(t *testing.T) {
	r := newRig(t, Config{}, bridge.Config{})
	if _, err := r.b.AddPort(bridge.PortSpec{Name: "p4", Type: bridge.TypeInternal, OFPort: 4}); err != nil {
		t.Fatal(err)
	}
	m := r.c.recvType(openflow.TypePortStatus)
	if m == nil {
		t.Fatal("no port status")
	}
	ps, err := openflow.DecodePortStatus(m)
	if err != nil || ps.Reason != openflow.PortAdd || ps.Port.PortNo != 4 || ps.Port.Name != "p4" {
		t.Fatalf("port status %+v %v", ps, err)
	}
	// No-fwd on port 2 keeps flooded traffic off it.
	pm := openflow.PortMod{PortNo: 2, Config: openflow.PortConfigNoFwd, Mask: openflow.PortConfigNoFwd}
	r.c.request(pm.Encode(0))
	if errs := errorsIn(t, r.c.barrier()); len(errs) > 0 {
		t.Fatalf("port mod: %+v", errs)
	}
	r.ports["p1"].Inject(frameAB())
	waitSent(t, r.ports["p3"], 1)
	if n := len(r.ports["p2"].Sent()); n != 0 {
		t.Fatalf("no-fwd port 2 sent %d frames", n)
	}
	pm = openflow.PortMod{PortNo: 99, Mask: openflow.PortConfigDown}
	r.c.request(pm.Encode(0))
	if errs := errorsIn(t, r.c.barrier()); len(errs) != 1 || errs[0].Type != openflow.ETPortModFailed || errs[0].Code != openflow.PortModFailedBadPort {
		t.Fatalf("port mod of a missing port: %+v", errs)
	}
}

func TestFailMode(t *testing.T) {
	// A controller that is never there: standalone falls back to NORMAL
	// after three inactivity probes, secure keeps its (empty) tables.
	dead := "tcp:127.0.0.1:1"
	for _, mode := range []string{FailStandalone, FailSecure} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, Config{FailMode: mode, Controllers: []string{dead}, InactivityProbe: 50 * time.Millisecond},
				bridge.Config{NoDefaultFlows: true})
			time.Sleep(1500 * time.Millisecond)
			r.ports["p1"].Inject(frameAB())
			time.Sleep(200 * time.Millisecond)
			got := len(r.ports["p2"].Sent())
			if mode == FailStandalone && got != 1 {
				t.Fatalf("standalone: flooded %d frames to p2, want 1 (fail open %v)", got, r.b.Pipeline().FailOpen())
			}
			if mode == FailSecure && got != 0 {
				t.Fatalf("secure: %d frames reached p2", got)
			}
		})
	}
}

var _ channel.Closer = (*Switch)(nil)

func TestHostileConnectionLeavesOthersAlone(t *testing.T) {
	r := newRig(t, Config{}, bridge.Config{})
	// A second connection sends a header whose length lies (shorter than
	// a header), then garbage: the switch closes it.
	bad, err := net.Dial("unix", r.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write(openflow.OurHello().Encode(1))
	bad.Write([]byte{4, 14, 0, 3, 0, 0, 0, 9, 0xde, 0xad})
	bad.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := bad.Read(buf)
		if err == nil {
			continue // the switch's hello, and an error reply
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the switch kept a connection whose header lies about its length")
		}
		break
	}
	// A third one floods echo requests and an unknown type; every one is
	// answered. Its replies are read while it sends: the switch stops
	// reading from a peer that does not read its replies, as Open vSwitch
	// does, so a flood sent without reading would block both sides.
	flood := dial(t, r.sock)
	const echoes = 2000
	type tally struct{ echoes, errors int }
	got := make(chan tally, 1)
	go func() {
		var n tally
		buf := make([]byte, 1<<16)
		flood.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for n.echoes < echoes || n.errors == 0 {
			m, err := openflow.ReadMessage(flood.c, buf)
			if err != nil {
				break
			}
			switch m[1] {
			case openflow.TypeEchoReply:
				n.echoes++
			case openflow.TypeError:
				n.errors++
			}
		}
		got <- n
	}()
	for i := 0; i < echoes; i++ {
		flood.send(openflow.Echo{Data: []byte("x")}.Encode(uint32(i)))
	}
	flood.send([]byte{4, 99, 0, 8, 0, 0, 0, 1})
	if n := <-got; n.echoes != echoes || n.errors != 1 {
		t.Fatalf("the flood got %d echo replies and %d errors, want %d and 1", n.echoes, n.errors, echoes)
	}
	// The first connection and forwarding are unaffected.
	r.c.send(r.c.flowMod("priority=10,in_port=1,actions=output:3", openflow.FlowAdd))
	if errs := errorsIn(t, r.c.barrier()); len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	r.ports["p1"].Inject(frameAB())
	waitSent(t, r.ports["p3"], 1)
}

func TestBundleCommitAndDiscard(t *testing.T) {
	r := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	open := openflow.BundleControl{BundleID: 7, Type: openflow.BundleOpenRequest, Flags: openflow.BundleAtomic}
	r.c.request(open.Encode(0))
	for i := 0; i < 3; i++ {
		fm := r.c.flowMod(fmt.Sprintf("priority=%d,actions=drop", i+1), openflow.FlowAdd)
		xid := r.c.request(fm)
		inner := append([]byte(nil), fm...)
		binary.BigEndian.PutUint32(inner[4:], xid)
		add := openflow.BundleAdd{BundleID: 7, Flags: openflow.BundleAtomic, Message: inner}
		r.c.send(add.Encode(xid))
	}
	// The three plain flow_mods above were applied at once; delete them so
	// only the bundle's count.
	r.c.send(r.c.flowMod("actions=drop", openflow.FlowDelete, func(fm *openflow.FlowMod) {
		fm.TableID, fm.OutPort, fm.OutGroup, fm.Match = flow.TableAll, flow.PortAny, flow.GroupAny, flow.Match{}
	}))
	r.c.barrier()
	if n := len(r.dumpFlows()); n != 0 {
		t.Fatalf("%d flows before the commit", n)
	}
	commit := openflow.BundleControl{BundleID: 7, Type: openflow.BundleCommitRequest, Flags: openflow.BundleAtomic}
	r.c.request(commit.Encode(0))
	msgs := r.c.barrier()
	if errs := errorsIn(t, msgs); len(errs) > 0 {
		t.Fatalf("commit errors: %+v", errs)
	}
	if n := len(r.dumpFlows()); n != 3 {
		t.Fatalf("%d flows after the commit, want 3", n)
	}
	// Commit of a bundle that does not exist is an ONF bundle error.
	r.c.request(commit.Encode(0))
	var sawErr bool
	for _, m := range r.c.barrier() {
		if m[1] == openflow.TypeError {
			sawErr = true
		}
	}
	if !sawErr {
		t.Fatal("no error for committing a missing bundle")
	}
	// A connection that closes with an open bundle leaves nothing behind.
	c2 := dial(t, r.sock)
	c2.request(open.Encode(0))
	c2.barrier()
	c2.c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for r.sw.Info().Bundles != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bundles left after the connection closed", r.sw.Info().Bundles)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFlowRemovedOnTimeoutAndPortStatusOnLinkAndDelete(t *testing.T) {
	r := newRig(t, Config{}, bridge.Config{})
	r.c.send(r.c.flowMod("priority=3,hard_timeout=1,actions=drop", openflow.FlowAdd,
		func(fm *openflow.FlowMod) { fm.Flags = uint16(flow.FlagSendFlowRem); fm.Cookie = 0x99 }))
	m := r.c.recvType(openflow.TypeFlowRemoved)
	if m == nil {
		t.Fatal("no flow-removed for the hard timeout")
	}
	fr, err := openflow.DecodeFlowRemoved(m)
	if err != nil || fr.Reason != openflow.FlowRemovedHardTimeout || fr.Cookie != 0x99 || fr.DurationSec < 1 {
		t.Fatalf("flow removed %+v %v", fr, err)
	}

	r.ports["p2"].SetUp(false)
	m = r.c.recvType(openflow.TypePortStatus)
	if m == nil {
		t.Fatal("no port status for link down")
	}
	ps, _ := openflow.DecodePortStatus(m)
	if ps.Reason != openflow.PortModify || ps.Port.PortNo != 2 || ps.Port.State&openflow.PortStateLinkDown == 0 {
		t.Fatalf("port status %+v", ps)
	}
	if err := r.b.DelPort("p3"); err != nil {
		t.Fatal(err)
	}
	m = r.c.recvType(openflow.TypePortStatus)
	ps, _ = openflow.DecodePortStatus(m)
	if m == nil || ps.Reason != openflow.PortDelete || ps.Port.PortNo != 3 {
		t.Fatalf("port status after delete %+v", ps)
	}
}

func TestInvalidTTLPacketIn(t *testing.T) {
	r := newRig(t, Config{FailMode: FailSecure}, bridge.Config{NoDefaultFlows: true})
	r.c.send(r.c.flowMod("priority=5,ip,actions=dec_ttl,output:2", openflow.FlowAdd))
	sc := openflow.SwitchConfig{Flags: openflow.ConfigInvalidTTLToController, MissSendLen: 0xffff}
	r.c.request(sc.Encode(openflow.TypeSetConfig, 0))
	r.c.barrier()
	f := testframe.Frame{Src: testframe.MAC(1), Dst: testframe.MAC(2), Src4: netip.MustParseAddr("198.51.100.1"),
		Dst4: netip.MustParseAddr("198.51.100.2"), Proto: 17, SrcPort: 1, DstPort: 2, TTL: 1}.Bytes()
	r.ports["p1"].Inject(f)
	m := r.c.recvType(openflow.TypePacketIn)
	if m == nil {
		t.Fatal("no invalid-TTL packet-in")
	}
	pi, err := openflow.DecodePacketIn(m)
	if err != nil || pi.Reason != openflow.PacketInInvalidTTL || pi.Match.Key.InPort != 1 {
		t.Fatalf("packet-in %+v %v", pi, err)
	}
	if n := len(r.ports["p2"].Sent()); n != 0 {
		t.Fatalf("a TTL-1 packet was forwarded (%d)", n)
	}
}
