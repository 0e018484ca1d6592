package channel

import (
	"bytes"
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/openflow"
)

func flowModMsg(xid uint32) []byte {
	return rawMsg(openflow.Version, openflow.TypeFlowMod, xid, make([]byte, 48))
}

func TestHandshakeEchoFeaturesConfig(t *testing.T) {
	checkGoroutines(t)
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	p := connect(t, "tcp", listenAddr(t, ch, KindService))

	p.echo(7)
	p.send(openflow.EncodeEmpty(openflow.TypeFeaturesRequest, 8))
	f, err := openflow.DecodeFeaturesReply(p.expect(openflow.TypeFeaturesReply, 8))
	if err != nil || f != testFeatures {
		t.Fatalf("features reply %+v, %v; want %+v", f, err, testFeatures)
	}

	p.send(openflow.EncodeEmpty(openflow.TypeGetConfigRequest, 9))
	sc, _ := openflow.DecodeSwitchConfig(p.expect(openflow.TypeGetConfigReply, 9))
	if sc != (openflow.SwitchConfig{MissSendLen: 128}) {
		t.Errorf("default config %+v", sc)
	}
	p.send(openflow.SwitchConfig{Flags: openflow.ConfigFragDrop, MissSendLen: 0xffff}.Encode(openflow.TypeSetConfig, 10))
	p.send(openflow.EncodeEmpty(openflow.TypeGetConfigRequest, 11))
	sc, _ = openflow.DecodeSwitchConfig(p.expect(openflow.TypeGetConfigReply, 11))
	if sc != (openflow.SwitchConfig{Flags: openflow.ConfigFragDrop, MissSendLen: 0xffff}) {
		t.Errorf("config after set-config %+v", sc)
	}

	// The switch answers the peer's echo replies with nothing.
	p.send(openflow.Echo{Reply: true}.Encode(12))
	p.echo(13)

	info := ch.Connections()
	if len(info) != 1 {
		t.Fatalf("Connections: %+v", info)
	}
	i := info[0]
	if i.Kind != KindService || i.State != StateConnected || i.Role != "equal" || i.Version != 4 ||
		!strings.HasPrefix(i.Target, "ptcp:0:127.0.0.1 from 127.0.0.1:") {
		t.Errorf("ConnInfo %+v", i)
	}
	if i.Rx["OFPT_ECHO_REQUEST"] != 2 || i.Rx["OFPT_HELLO"] != 1 || i.Tx["OFPT_FEATURES_REPLY"] != 1 || i.Tx["OFPT_ECHO_REPLY"] != 2 {
		t.Errorf("counts rx %v tx %v", i.Rx, i.Tx)
	}
}

func TestHelloFailures(t *testing.T) {
	checkGoroutines(t)
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	addr := listenAddr(t, ch, KindService)

	t.Run("incompatible", func(t *testing.T) {
		p := dialPeer(t, "tcp", addr)
		p.send(openflow.Hello{Version: 1}.Encode(5))
		p.expect(openflow.TypeHello, 1)
		m := p.expect(openflow.TypeError, 5)
		e, _ := openflow.DecodeError(m)
		if e.Type != openflow.ETHelloFailed || e.Code != openflow.HelloFailedIncompatible {
			t.Errorf("error %+v", e)
		}
		p.expectClosed()
	})
	t.Run("bitmap without 1.3", func(t *testing.T) {
		p := dialPeer(t, "tcp", addr)
		p.send(openflow.Hello{Version: 6, Bitmap: []uint32{1<<5 | 1<<6}}.Encode(5))
		p.recv()
		p.expectError(5, openflow.ETHelloFailed, openflow.HelloFailedIncompatible, nil)
		p.expectClosed()
	})
	t.Run("higher version without bitmap", func(t *testing.T) {
		p := dialPeer(t, "tcp", addr)
		p.send(openflow.Hello{Version: 6}.Encode(5))
		p.recv()
		p.echo(6)
	})
	t.Run("message before hello", func(t *testing.T) {
		p := dialPeer(t, "tcp", addr)
		p.send(openflow.EncodeEmpty(openflow.TypeFeaturesRequest, 5))
		p.expect(openflow.TypeHello, 1)
		p.expectClosed()
	})
}

func TestBarrierOrdering(t *testing.T) {
	h := &fakeHandler{delay: 20 * time.Millisecond}
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, h)
	p := connect(t, "tcp", listenAddr(t, ch, KindService))
	for xid := uint32(10); xid < 15; xid++ {
		p.send(flowModMsg(xid))
	}
	p.send(openflow.EncodeEmpty(openflow.TypeBarrierRequest, 99))
	p.expect(openflow.TypeBarrierReply, 99)
	if got := h.flowModsDone(); len(got) != 5 || got[0] != 10 || got[4] != 14 {
		t.Errorf("flow-mods done before the barrier reply: %v", got)
	}
	// Handler replies and errors come back in order, before the barrier.
	pkt := rawMsg(openflow.Version, openflow.TypePacketOut, 20, make([]byte, 16))
	p.send(pkt)
	grp := rawMsg(openflow.Version, openflow.TypeGroupMod, 21, make([]byte, 8))
	p.send(grp)
	mp := (&openflow.Multipart{Type: 13}).Encode(22)
	p.send(mp)
	p.send(openflow.EncodeEmpty(openflow.TypeBarrierRequest, 23))
	p.expectError(20, openflow.ETBadRequest, openflow.BadRequestEPerm, pkt)
	p.expectError(21, 6, 0, grp)
	p.expect(openflow.TypeMultipartReply, 22)
	p.expect(openflow.TypeBarrierReply, 23)
}

func TestBadMessages(t *testing.T) {
	checkGoroutines(t)
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	p := connect(t, "tcp", listenAddr(t, ch, KindService))
	long := make([]byte, 100)
	for i := range long {
		long[i] = byte(i)
	}
	cases := []struct {
		name      string
		msg       []byte
		typ, code uint16
	}{
		{"bad version", rawMsg(0x01, openflow.TypeEchoRequest, 1, nil), openflow.ETBadRequest, openflow.BadRequestBadVersion},
		{"bad version long", rawMsg(0x05, openflow.TypeFlowMod, 2, long), openflow.ETBadRequest, openflow.BadRequestBadVersion},
		{"unknown type", rawMsg(openflow.Version, 40, 3, long), openflow.ETBadRequest, openflow.BadRequestBadType},
		{"switch-to-controller type", rawMsg(openflow.Version, openflow.TypePacketIn, 4, long), openflow.ETBadRequest, openflow.BadRequestBadType},
		{"features request with body", rawMsg(openflow.Version, openflow.TypeFeaturesRequest, 5, []byte{1}), openflow.ETBadRequest, openflow.BadRequestBadLen},
		{"short set-config", rawMsg(openflow.Version, openflow.TypeSetConfig, 6, []byte{0, 0}), openflow.ETBadRequest, openflow.BadRequestBadLen},
		{"short role request", rawMsg(openflow.Version, openflow.TypeRoleRequest, 7, []byte{0, 0, 0, 2}), openflow.ETBadRequest, openflow.BadRequestBadLen},
		{"long set-async", rawMsg(openflow.Version, openflow.TypeSetAsync, 8, make([]byte, 28)), openflow.ETBadRequest, openflow.BadRequestBadLen},
		{"bad role", openflow.RoleMsg{Role: 9}.Encode(9), openflow.ETRoleRequestFailed, openflow.RoleRequestFailedBadRole},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.send(tc.msg)
			h, _ := openflow.ParseHeader(tc.msg)
			p.expectError(h.Xid, tc.typ, tc.code, tc.msg)
			p.echo(100)
		})
	}
	if e := ch.Connections()[0].ErrorsSent; e != uint64(len(cases)) {
		t.Errorf("ErrorsSent %d, want %d", e, len(cases))
	}
}

func TestLyingLengthClosesOnlyThatConnection(t *testing.T) {
	checkGoroutines(t)
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	addr := listenAddr(t, ch, KindService)
	good := connect(t, "tcp", addr)
	for _, length := range []uint16{0, 4, 7} {
		bad := connect(t, "tcp", addr)
		m := openflow.EncodeEmpty(openflow.TypeBarrierRequest, 1)
		binary.BigEndian.PutUint16(m[2:], length)
		bad.send(m)
		bad.expectClosed()
		good.echo(uint32(length))
	}
	// A length beyond what is sent leaves the switch waiting for the
	// rest; the other connection is unaffected.
	slow := connect(t, "tcp", addr)
	m := openflow.EncodeEmpty(openflow.TypeBarrierRequest, 1)
	binary.BigEndian.PutUint16(m[2:], 0xffff)
	slow.send(m)
	good.echo(50)
	slow.expectNothing(50 * time.Millisecond)
}

func TestEchoFlood(t *testing.T) {
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	addr := listenAddr(t, ch, KindService)
	p := connect(t, "tcp", addr)
	const n = 5000
	var flood []byte
	for i := range n {
		flood = append(flood, openflow.Echo{Data: []byte("x")}.Encode(uint32(i))...)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.nc.Write(flood)
		done <- err
	}()
	for i := range n {
		p.expect(openflow.TypeEchoReply, uint32(i))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	other := connect(t, "tcp", addr)
	other.echo(1)
}

func TestRoles(t *testing.T) {
	checkGoroutines(t)
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	addr := listenAddr(t, ch, KindService)
	a, b := connect(t, "tcp", addr), connect(t, "tcp", addr)

	role := func(p *peer, xid, r uint32, gen uint64) openflow.RoleMsg {
		t.Helper()
		p.send(openflow.RoleMsg{Role: r, GenerationID: gen}.Encode(xid))
		rep, err := openflow.DecodeRole(p.expect(openflow.TypeRoleReply, xid))
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if r := role(a, 1, openflow.RoleNoChange, 0); r.Role != openflow.RoleEqual || r.GenerationID != openflow.GenerationIDUndefined {
		t.Errorf("initial role %+v", r)
	}
	if r := role(a, 2, openflow.RoleMaster, 10); r.Role != openflow.RoleMaster || r.GenerationID != 10 {
		t.Errorf("after master request %+v", r)
	}
	// b becomes master with a newer generation: a becomes slave.
	if r := role(b, 3, openflow.RoleMaster, 11); r.Role != openflow.RoleMaster || r.GenerationID != 11 {
		t.Errorf("b after master request %+v", r)
	}
	if r := role(a, 4, openflow.RoleNoChange, 0); r.Role != openflow.RoleSlave || r.GenerationID != 11 {
		t.Errorf("a after b became master %+v", r)
	}
	// Stale generation.
	stale := openflow.RoleMsg{Role: openflow.RoleMaster, GenerationID: 9}.Encode(5)
	a.send(stale)
	a.expectError(5, openflow.ETRoleRequestFailed, openflow.RoleRequestFailedStale, stale)
	// Generations compare modulo 2^64 (OpenFlow 1.3 section 6.3.5).
	if r := role(a, 6, openflow.RoleSlave, 11+1<<63-1); r.Role != openflow.RoleSlave {
		t.Errorf("%+v", r)
	}
	if r := role(a, 7, openflow.RoleSlave, 1); r.Role != openflow.RoleSlave || r.GenerationID != 1 {
		t.Errorf("wrapped generation %+v", r)
	}

	// The slave may not change state.
	bundleAdd := rawMsg(openflow.Version, openflow.TypeExperimenter, 0, append(be32(be32(nil, onfExperimenter), onfBundleAdd), make([]byte, 16)...))
	bundleCommit := rawMsg(openflow.Version, openflow.TypeExperimenter, 0, append(be32(be32(nil, onfExperimenter), onfBundleControl), 0, 0, 0, 1, 0, 4, 0, 0))
	for i, m := range [][]byte{
		flowModMsg(0),
		rawMsg(openflow.Version, openflow.TypeGroupMod, 0, make([]byte, 8)),
		rawMsg(openflow.Version, openflow.TypeMeterMod, 0, make([]byte, 8)),
		rawMsg(openflow.Version, openflow.TypePortMod, 0, make([]byte, 32)),
		rawMsg(openflow.Version, openflow.TypeTableMod, 0, make([]byte, 8)),
		rawMsg(openflow.Version, openflow.TypePacketOut, 0, make([]byte, 16)),
		bundleAdd,
		bundleCommit,
	} {
		binary.BigEndian.PutUint32(m[4:], uint32(100+i))
		a.send(m)
		a.expectError(uint32(100+i), openflow.ETBadRequest, openflow.BadRequestIsSlave, m)
	}
	// It may still read.
	a.send((&openflow.Multipart{Type: 13}).Encode(200))
	a.expect(openflow.TypeMultipartReply, 200)
	// The master may change state.
	b.send(flowModMsg(300))
	b.send(openflow.EncodeEmpty(openflow.TypeBarrierRequest, 301))
	b.expect(openflow.TypeBarrierReply, 301)
	// Equal is allowed too and does not touch the generation id.
	if r := role(a, 8, openflow.RoleEqual, 0); r.Role != openflow.RoleEqual || r.GenerationID != 1 {
		t.Errorf("%+v", r)
	}
	a.send(flowModMsg(302))
	a.send(openflow.EncodeEmpty(openflow.TypeBarrierRequest, 303))
	a.expect(openflow.TypeBarrierReply, 303)

	roles := map[string]bool{}
	for _, i := range ch.Connections() {
		roles[i.Role] = true
	}
	if !roles["master"] || !roles["equal"] {
		t.Errorf("Connections roles %v", roles)
	}
}

func packetIn(reason uint8, data []byte) []byte {
	p := openflow.PacketIn{BufferID: openflow.NoBuffer, TotalLen: uint16(len(data)), Reason: reason, Data: data}
	return p.Encode(0)
}

func TestAsyncFiltering(t *testing.T) {
	checkGoroutines(t)
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	addr := listenAddr(t, ch, KindService)
	m, s := connect(t, "tcp", addr), connect(t, "tcp", addr)
	m.send(openflow.RoleMsg{Role: openflow.RoleMaster, GenerationID: 1}.Encode(1))
	m.expect(openflow.TypeRoleReply, 1)
	s.send(openflow.RoleMsg{Role: openflow.RoleSlave, GenerationID: 1}.Encode(1))
	s.expect(openflow.TypeRoleReply, 1)

	s.send(openflow.EncodeEmpty(openflow.TypeGetAsyncRequest, 2))
	a, _ := openflow.DecodeAsyncConfig(s.expect(openflow.TypeGetAsyncReply, 2))
	if a != openflow.DefaultAsyncConfig() {
		t.Errorf("default async config %+v", a)
	}

	pinMiss := packetIn(openflow.PacketInNoMatch, []byte("miss"))
	pinTTL := packetIn(openflow.PacketInInvalidTTL, []byte("ttl"))
	fr := (&openflow.FlowRemoved{Reason: openflow.FlowRemovedDelete}).Encode(0)
	ps := (&openflow.PortStatus{Reason: openflow.PortAdd}).Encode(0)
	ch.Send(pinMiss)
	ch.Send(pinTTL) // not in the default masks
	ch.Send(fr)
	ch.Send(ps)
	for _, want := range [][]byte{pinMiss, fr, ps} {
		if got := m.recv(); !bytes.Equal(got, want) {
			t.Fatalf("master got %x, want %x", got, want)
		}
	}
	if got := s.recv(); !bytes.Equal(got, ps) {
		t.Fatalf("slave got %x, want the port status %x", got, ps)
	}
	m.expectNothing(50 * time.Millisecond)
	s.expectNothing(10 * time.Millisecond)

	// The slave asks for invalid-TTL packet-ins and flow-removed deletes,
	// with a short miss_send_len.
	cfg := openflow.AsyncConfig{
		PacketInMask:    [2]uint32{0, 1 << openflow.PacketInInvalidTTL},
		FlowRemovedMask: [2]uint32{0, 1 << openflow.FlowRemovedDelete},
	}
	s.send(cfg.Encode(openflow.TypeSetAsync, 3))
	s.send(openflow.SwitchConfig{MissSendLen: 2}.Encode(openflow.TypeSetConfig, 4))
	s.send(openflow.EncodeEmpty(openflow.TypeGetAsyncRequest, 5))
	if a, _ := openflow.DecodeAsyncConfig(s.expect(openflow.TypeGetAsyncReply, 5)); a != cfg {
		t.Errorf("get-async after set-async %+v, want %+v", a, cfg)
	}
	ch.Send(pinMiss)
	ch.Send(pinTTL)
	ch.Send(fr)
	ch.Send(ps)
	pi, err := openflow.DecodePacketIn(s.recv())
	if err != nil || pi.Reason != openflow.PacketInInvalidTTL || string(pi.Data) != "tt" || pi.TotalLen != 3 {
		t.Fatalf("slave packet-in %+v, %v; want invalid_ttl cut to 2 bytes", pi, err)
	}
	if got := s.recv(); !bytes.Equal(got, fr) {
		t.Fatalf("slave got %x, want the flow removed %x", got, fr)
	}
	s.expectNothing(50 * time.Millisecond)
	for _, want := range [][]byte{pinMiss, fr, ps} {
		if got := m.recv(); !bytes.Equal(got, want) {
			t.Fatalf("master got %x, want %x", got, want)
		}
	}
}

func TestAsyncDropsWhenFull(t *testing.T) {
	ch := newChannel(t, Config{Listen: []string{"ptcp:0"}}, nil)
	p := connect(t, "tcp", listenAddr(t, ch, KindService))
	msg := packetIn(openflow.PacketInNoMatch, make([]byte, 1400))
	// The peer reads nothing: once the socket buffers (which the kernel
	// may grow to many megabytes) and the queue are full, Send drops.
	dropped := func() bool {
		for _, c := range ch.Connections() {
			if c.AsyncDropped > 0 {
				return true
			}
		}
		return false
	}
	start := time.Now()
	for i := 0; i < 200000 && !(i%1000 == 0 && dropped()); i++ {
		ch.Send(msg)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send took %v", d)
	}
	waitFor(t, "drops", dropped)
	p.nc.Close()
}

func TestInactivityProbe(t *testing.T) {
	checkGoroutines(t)
	ctl := newController(t)
	ch := newChannel(t, Config{Controllers: []string{ctl.target()}, Listen: []string{"ptcp:0"},
		InactivityProbe: 300 * time.Millisecond, MaxBackoff: time.Hour}, nil)
	p := ctl.accept()
	tool := connect(t, "tcp", listenAddr(t, ch, KindService))
	// Answering the probes keeps the controller connection up.
	start := time.Now()
	for range 3 {
		m := p.recv()
		h, _ := openflow.ParseHeader(m)
		if h.Type != openflow.TypeEchoRequest {
			t.Fatalf("got %x, want an echo request", m)
		}
		p.send(openflow.Echo{Reply: true}.Encode(h.Xid))
	}
	// Silence closes it.
	p.expectClosed()
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("closed after %v", d)
	}
	// A tool on a listener, as silent, is neither probed nor dropped: it
	// may be waiting for a long reply (Open vSwitch probes its management
	// socket after a minute).
	tool.expectNothing(100 * time.Millisecond)
	var tools int
	for _, c := range ch.Connections() {
		if c.Kind == KindService && c.State == StateConnected {
			tools++
		}
	}
	if tools != 1 {
		t.Errorf("connections %+v, want the tool's still connected", ch.Connections())
	}
}

// controller is a test controller listening for the switch.
type controller struct {
	t  *testing.T
	ln net.Listener
}

func newController(t *testing.T) *controller {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &controller{t: t, ln: ln}
}

func (c *controller) target() string { return "tcp:" + c.ln.Addr().String() }

func (c *controller) accept() *peer {
	c.t.Helper()
	if d, ok := c.ln.(interface{ SetDeadline(time.Time) error }); ok {
		d.SetDeadline(time.Now().Add(5 * time.Second))
	}
	nc, err := c.ln.Accept()
	if err != nil {
		c.t.Fatalf("accepting: %v", err)
	}
	p := newPeer(c.t, nc)
	p.hello()
	return p
}

func TestActiveReconnectsWithBackoff(t *testing.T) {
	checkGoroutines(t)
	ctl := newController(t)
	var mu sync.Mutex
	var states []bool
	ch := newChannel(t, Config{
		Controllers: []string{ctl.target()},
		MaxBackoff:  100 * time.Millisecond,
		OnConnected: func(up bool) {
			mu.Lock()
			states = append(states, up)
			mu.Unlock()
		},
	}, nil)
	gotStates := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		return append([]bool(nil), states...)
	}
	p := ctl.accept()
	p.echo(1)
	waitFor(t, "OnConnected(true)", func() bool { return len(gotStates()) == 1 })
	if i := ch.Connections(); len(i) != 1 || i[0].Kind != KindController || i[0].State != StateConnected || i[0].Target != ctl.target() {
		t.Errorf("Connections %+v", i)
	}
	p.nc.Close()
	waitFor(t, "OnConnected(false)", func() bool { return len(gotStates()) == 2 })
	if i := ch.Connections(); len(i) != 1 || i[0].State == StateConnected || i[0].LastError == "" {
		t.Errorf("Connections after close %+v", i)
	}
	start := time.Now()
	p = ctl.accept()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("reconnected after %v", d)
	}
	p.echo(2)
	waitFor(t, "OnConnected(true) again", func() bool { return len(gotStates()) == 3 })
	if s := gotStates(); !s[0] || s[1] || !s[2] {
		t.Errorf("OnConnected calls %v", s)
	}

	// A controller that is down: backoff, then connected when it is up.
	addr := ctl.ln.Addr().String()
	ctl.ln.Close()
	p.nc.Close()
	waitFor(t, "backoff", func() bool {
		i := ch.Connections()
		return len(i) == 1 && i[0].State == StateBackoff
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	ctl2 := &controller{t: t, ln: ln}
	t.Cleanup(func() { ln.Close() })
	ctl2.accept().echo(3)
}

func TestSnoop(t *testing.T) {
	checkGoroutines(t)
	ctl := newController(t)
	path := filepath.Join(t.TempDir(), "br0.snoop")
	ch := newChannel(t, Config{Controllers: []string{ctl.target()}, Snoop: path, Listen: []string{"ptcp:0"}}, nil)
	p := ctl.accept()
	waitFor(t, "controller connected", func() bool {
		i := ch.Connections()
		return len(i) > 0 && i[0].Kind == KindController && i[0].State == StateConnected
	})
	snoop := connect(t, "unix", path)
	waitFor(t, "snoop connected", func() bool {
		for _, i := range ch.Connections() {
			if i.Kind == KindSnoop && i.State == StateConnected {
				return true
			}
		}
		return false
	})
	// The controller's hello may still be on its way to the snoop (the
	// connection counts as connected before its copy goes out): skip it.
	for {
		m, err := snoop.recvErr(50 * time.Millisecond)
		if err != nil {
			break
		}
		if m[1] != openflow.TypeHello {
			t.Fatalf("snooped %x before any traffic", m)
		}
	}
	p.echo(5)
	if got := snoop.expect(openflow.TypeEchoRequest, 5); string(got[8:]) != "ping" {
		t.Errorf("snooped %x", got)
	}
	snoop.expect(openflow.TypeEchoReply, 5)
	// Service connections are not snooped.
	connect(t, "tcp", listenAddr(t, ch, KindService)).echo(6)
	// What the snoop sends is ignored, except echo.
	snoop.send(openflow.EncodeEmpty(openflow.TypeFeaturesRequest, 7))
	snoop.echo(8)
	snoop.expectNothing(20 * time.Millisecond)
}

func TestUpdate(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ctl := newController(t)
	ch := newChannel(t, Config{Listen: []string{"punix:" + a}}, nil)
	pa := connect(t, "unix", a)
	if err := ch.Update(Config{Listen: []string{"punix:" + a, "punix:" + b}, Controllers: []string{ctl.target()}}); err != nil {
		t.Fatal(err)
	}
	pb := connect(t, "unix", b)
	pc := ctl.accept()
	pa.echo(1) // untouched
	if err := ch.Update(Config{Listen: []string{"punix:" + b}}); err != nil {
		t.Fatal(err)
	}
	pa.expectClosed()
	pc.expectClosed()
	pb.echo(2)
	if _, err := net.Dial("unix", a); err == nil {
		t.Error("removed listener still accepts")
	}
	if err := ch.Update(Config{Listen: []string{"bogus:1"}}); err == nil || !strings.Contains(err.Error(), `bad listen target "bogus:1"`) {
		t.Errorf("Update with a bad target: %v", err)
	}
	pb.echo(3)
}

func TestBadTargets(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Controllers: []string{"udp:1.2.3.4"}}, `bad controller target "udp:1.2.3.4"`},
		{Config{Controllers: []string{"tcp:"}}, `bad controller target "tcp:": missing host`},
		{Config{Controllers: []string{"tcp:127.0.0.1:99999"}}, `bad port "99999"`},
		{Config{Controllers: []string{"tcp:127.0.0.1", "tcp:127.0.0.1:6653"}}, "duplicate"},
		{Config{Controllers: []string{"ssl:127.0.0.1"}}, "need PrivateKey"},
		{Config{Listen: []string{"ptcp:x"}}, `bad listen target "ptcp:x"`},
		{Config{Listen: []string{"ptcp:6653:nothost"}}, "bad IP address"},
		{Config{Listen: []string{"punix:"}}, "missing path"},
		{Config{Listen: []string{"tcp:127.0.0.1"}}, `bad listen target`},
	} {
		_, err := New(tc.cfg, &fakeHandler{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"tcp:10.0.0.1", "tcp:10.0.0.1:6653"},
		{"tcp:[::1]:1234", "tcp:[::1]:1234"},
		{"ssl:ctl.example:6633", "ssl:ctl.example:6633"},
	} {
		if got, err := parseActive(tc.in); err != nil || got.name != tc.want {
			t.Errorf("parseActive(%q) = %q, %v; want %q", tc.in, got.name, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"ptcp:", "ptcp:6653:127.0.0.1"},
		{"ptcp", "ptcp:6653:127.0.0.1"},
		{"ptcp:6633:0.0.0.0", "ptcp:6633:0.0.0.0"},
		{"pssl:6633:[::1]", "pssl:6633:[::1]"},
	} {
		if got, err := parsePassive(tc.in); err != nil || got.name != tc.want {
			t.Errorf("parsePassive(%q) = %q, %v; want %q", tc.in, got.name, err, tc.want)
		}
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	checkGoroutines(t)
	ctl := newController(t)
	ch, err := New(Config{Listen: []string{"ptcp:0", "punix:" + filepath.Join(t.TempDir(), "s")},
		Controllers: []string{ctl.target(), "tcp:127.0.0.1:1"}, MaxBackoff: 50 * time.Millisecond}, &fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	p := ctl.accept()
	q := connect(t, "tcp", listenAddr(t, ch, KindService))
	q.echo(1)
	ch.Close()
	p.expectClosed()
	q.expectClosed()
	ch.Close() // twice is fine
	ch.Send(packetIn(0, nil))
	if err := ch.Update(Config{}); err == nil {
		t.Error("Update after Close succeeded")
	}
}
