// Package channel is the switch side of the OpenFlow 1.3 connections of one
// bridge: it dials controllers, listens for service and snoop connections,
// negotiates the version and answers what the channel owns itself (echo,
// features, switch config, barrier, role, async config), passing every
// other request to a Handler one at a time per connection.
//
// Each connection has a reader goroutine, which handles requests in order
// and queues their replies, and a writer goroutine, which drains the
// queue and sends inactivity probes. Replies are never dropped (a full
// queue stops the reader); asynchronous messages are dropped and counted
// when the queue is full, so a slow controller never blocks the switch.
package channel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dvs-project/dvs/internal/openflow"
)

// Handler is the switch behind the channel.
type Handler interface {
	// Features returns the switch's FEATURES_REPLY contents (datapath id,
	// n_buffers, n_tables, capabilities).
	Features() openflow.FeaturesReply
	// Handle applies one request the channel does not handle itself
	// (flow-mod, group-mod, meter-mod, port-mod, table-mod, packet-out,
	// multipart, experimenter/bundle, queue-get-config...) and returns the
	// encoded reply messages (the handler uses msg's xid), or an error; an
	// *openflow.Error is sent back as an OFPT_ERROR with the offending
	// message's first bytes (openflow.ErrorDataMax), any other error as
	// OFPET_BAD_REQUEST/EPERM. Requests from one connection are handled
	// one at a time in order; different connections may call Handle
	// concurrently. msg is borrowed until Handle returns; the channel takes
	// ownership of the replies.
	Handle(c *Conn, msg []byte) (replies [][]byte, err error)
}

// Closer is implemented by handlers that keep per-connection state (open
// bundles): Closed is called once a connection is gone, after its last
// Handle returned.
type Closer interface {
	Closed(c *Conn)
}

// Config says which connections a Channel keeps.
type Config struct {
	// Controllers are active targets: "tcp:HOST[:PORT]" or
	// "ssl:HOST[:PORT]" (port default 6653; IPv6 hosts in brackets).
	Controllers []string
	// Listen are passive targets in Open vSwitch syntax: "ptcp:[PORT][:IP]"
	// (IP default 127.0.0.1), "pssl:[PORT][:IP]" or "punix:PATH".
	Listen []string
	// Snoop, if set, is a "punix:PATH" (or just PATH) whose connections
	// receive a copy of every message on controller connections, as Open
	// vSwitch's BRIDGE.snoop that ovs-ofctl snoop reads.
	Snoop string
	// PrivateKey, Certificate and CACert are PEM files for ssl: and pssl:
	// targets; peers must present a certificate signed by CACert.
	PrivateKey, Certificate, CACert string
	// InactivityProbe is how long a controller connection may be silent
	// before the channel sends an echo request; it drops the connection
	// after twice that. Default 5s. Connections accepted on listeners wait
	// at least a minute (serviceProbe).
	InactivityProbe time.Duration
	// MaxBackoff caps the reconnection backoff of controllers, which
	// starts at 1s (or MaxBackoff if smaller) and doubles. Default 8s.
	MaxBackoff time.Duration
	// OnConnected is called, from the channel's own goroutine and never
	// under its locks, when the state "at least one controller connection
	// has completed its hello" changes. Calls are serialised; none are
	// made after Close. It must not call Close.
	OnConnected func(anyController bool)
}

// Connection kinds, as ConnInfo reports them.
const (
	KindController = "controller"
	KindService    = "service"
	KindSnoop      = "snoop"
)

// Connection states, as ConnInfo reports them.
const (
	StateConnecting = "connecting" // dialing, or waiting for the peer's hello
	StateConnected  = "connected"
	StateBackoff    = "backoff"
)

// QueueLen is how many messages a connection's send queue holds.
const QueueLen = 1024

const (
	defaultProbe      = 5 * time.Second
	defaultMaxBackoff = 8 * time.Second
	dialTimeout       = 10 * time.Second
	handshakeTimeout  = 10 * time.Second
)

// spec is a validated Config.
type spec struct {
	cfg         Config
	controllers []target
	listen      []target
	snoop       *target
	tls         *tlsFiles // nil when no target needs TLS
}

func validate(cfg Config) (*spec, error) {
	s := &spec{cfg: cfg}
	if s.cfg.InactivityProbe <= 0 {
		s.cfg.InactivityProbe = defaultProbe
	}
	if s.cfg.MaxBackoff <= 0 {
		s.cfg.MaxBackoff = defaultMaxBackoff
	}
	seen := map[string]bool{}
	needTLS := false
	for _, c := range cfg.Controllers {
		t, err := parseActive(c)
		if err != nil {
			return nil, fmt.Errorf("bad controller target %q: %w", c, err)
		}
		if seen[t.name] {
			return nil, fmt.Errorf("bad controller target %q: duplicate of %s", c, t.name)
		}
		seen[t.name] = true
		needTLS = needTLS || t.tls
		s.controllers = append(s.controllers, t)
	}
	for _, l := range cfg.Listen {
		t, err := parsePassive(l)
		if err != nil {
			return nil, fmt.Errorf("bad listen target %q: %w", l, err)
		}
		if seen[t.name] {
			return nil, fmt.Errorf("bad listen target %q: duplicate of %s", l, t.name)
		}
		seen[t.name] = true
		needTLS = needTLS || t.tls
		s.listen = append(s.listen, t)
	}
	if cfg.Snoop != "" {
		p, _ := strings.CutPrefix(cfg.Snoop, "punix:")
		t, err := parsePassive("punix:" + p)
		if err != nil {
			return nil, fmt.Errorf("bad snoop target %q: %w", cfg.Snoop, err)
		}
		if seen[t.name] {
			return nil, fmt.Errorf("bad snoop target %q: also a listen target", cfg.Snoop)
		}
		s.snoop = &t
	}
	if needTLS {
		f, err := loadTLS(cfg.PrivateKey, cfg.Certificate, cfg.CACert)
		if err != nil {
			return nil, err
		}
		s.tls = f
	}
	return s, nil
}

// Channel is the set of OpenFlow connections of one switch.
type Channel struct {
	h Handler

	mu        sync.RWMutex
	spec      *spec
	dialers   map[string]*dialer
	listeners map[string]*listener // by kind + " " + target name
	conns     map[*Conn]struct{}
	genID     uint64 // last master/slave generation id, if genIDSet
	genIDSet  bool
	nUp       int // controller connections past hello
	nSnoop    int // snoop connections past hello
	closed    bool

	wg     sync.WaitGroup
	notify chan struct{} // wakes the OnConnected goroutine
	done   chan struct{} // closed by Close
}

// New validates cfg, starts its listeners and dialers and returns the
// channel. A listener that cannot be opened is an error.
func New(cfg Config, h Handler) (*Channel, error) {
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	ch := &Channel{
		h:         h,
		dialers:   map[string]*dialer{},
		listeners: map[string]*listener{},
		conns:     map[*Conn]struct{}{},
		notify:    make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	ch.wg.Add(1)
	go ch.notifyLoop()
	if err := ch.apply(s); err != nil {
		ch.Close()
		return nil, err
	}
	return ch, nil
}

// Update reconfigures the channel: connections whose target is unchanged
// stay up, removed targets are closed and new ones started. Changing the
// TLS files restarts the ssl and pssl targets. On error the channel keeps
// its old configuration, except for listeners already replaced.
func (ch *Channel) Update(cfg Config) error {
	s, err := validate(cfg)
	if err != nil {
		return err
	}
	return ch.apply(s)
}

func (ch *Channel) apply(s *spec) error {
	// Open new listeners first, outside the lock, so that a failure
	// leaves everything as it was.
	ch.mu.RLock()
	if ch.closed {
		ch.mu.RUnlock()
		return errors.New("channel is closed")
	}
	tlsChanged := !sameTLS(ch.spec, s)
	type want struct {
		t    target
		kind string
	}
	var wantL []want
	for _, t := range s.listen {
		wantL = append(wantL, want{t, KindService})
	}
	if s.snoop != nil {
		wantL = append(wantL, want{*s.snoop, KindSnoop})
	}
	keepL := map[string]bool{}
	var openL []want
	for _, w := range wantL {
		key := w.kind + " " + w.t.name
		if _, ok := ch.listeners[key]; ok && !(w.t.tls && tlsChanged) {
			keepL[key] = true
			continue
		}
		openL = append(openL, w)
	}
	ch.mu.RUnlock()

	var opened []*listener
	for _, w := range openL {
		// A listener being replaced (new TLS files) still holds the
		// address: close it first.
		ch.mu.Lock()
		if old := ch.listeners[w.kind+" "+w.t.name]; old != nil {
			ch.stopListenerLocked(old, "listener restarted")
		}
		ch.mu.Unlock()
		ln, err := listen(w.t)
		if err != nil {
			for _, l := range opened {
				l.ln.Close()
			}
			return fmt.Errorf("listening on %s: %w", w.t.name, err)
		}
		opened = append(opened, &listener{t: w.t, kind: w.kind, ln: ln, conns: map[*Conn]struct{}{}})
	}

	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		for _, l := range opened {
			l.ln.Close()
		}
		return errors.New("channel is closed")
	}
	ch.spec = s
	for key, l := range ch.listeners {
		if !keepL[key] {
			ch.stopListenerLocked(l, "target removed")
		}
	}
	for _, l := range opened {
		ch.listeners[l.kind+" "+l.t.name] = l
		ch.wg.Add(1)
		go ch.acceptLoop(l)
	}
	wantD := map[string]target{}
	for _, t := range s.controllers {
		wantD[t.name] = t
	}
	for name, d := range ch.dialers {
		if _, ok := wantD[name]; !ok || (d.t.tls && tlsChanged) {
			d.cancel()
			if d.conn != nil {
				d.conn.close(errors.New("target removed"))
			}
			delete(ch.dialers, name)
		}
	}
	for name, t := range wantD {
		if _, ok := ch.dialers[name]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		d := &dialer{t: t, ctx: ctx, cancel: cancel, state: StateConnecting, since: time.Now()}
		ch.dialers[name] = d
		ch.wg.Add(1)
		go ch.dialLoop(d)
	}
	return nil
}

func sameTLS(a, b *spec) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.cfg.PrivateKey == b.cfg.PrivateKey && a.cfg.Certificate == b.cfg.Certificate && a.cfg.CACert == b.cfg.CACert
}

func (ch *Channel) stopListenerLocked(l *listener, why string) {
	l.ln.Close()
	for c := range l.conns {
		c.close(errors.New(why))
	}
	delete(ch.listeners, l.kind+" "+l.t.name)
}

// Close closes every listener and connection and waits for all of the
// channel's goroutines.
func (ch *Channel) Close() {
	ch.mu.Lock()
	if ch.closed {
		ch.mu.Unlock()
		return
	}
	ch.closed = true
	for _, d := range ch.dialers {
		d.cancel()
	}
	for _, l := range ch.listeners {
		l.ln.Close()
	}
	for c := range ch.conns {
		c.close(errors.New("channel closed"))
	}
	close(ch.done)
	ch.mu.Unlock()
	ch.wg.Wait()
}

// notifyLoop calls OnConnected when the controller state changes.
func (ch *Channel) notifyLoop() {
	defer ch.wg.Done()
	last := false
	for {
		select {
		case <-ch.notify:
		case <-ch.done:
			return
		}
		ch.mu.RLock()
		up, cb := ch.nUp > 0, ch.spec.cfg.OnConnected
		ch.mu.RUnlock()
		if up != last {
			last = up
			if cb != nil {
				cb(up)
			}
		}
	}
}

func (ch *Channel) wake() {
	select {
	case ch.notify <- struct{}{}:
	default:
	}
}

// Send queues the asynchronous message msg (packet-in, flow-removed,
// port-status; xid 0) on every connection whose role and async config
// want it. It never blocks: a connection whose queue is full drops the
// message and counts it. The channel takes ownership of msg; the caller
// must not change it afterwards.
func (ch *Channel) Send(msg []byte) {
	if len(msg) < openflow.HeaderLen {
		return
	}
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	for c := range ch.conns {
		if c.kind == KindSnoop || !c.ready {
			continue
		}
		m, ok := c.filterLocked(msg)
		if ok {
			c.enqueueAsync(m)
		}
	}
}

// ListenerInfo describes a listening socket.
type ListenerInfo struct {
	Target string // e.g. "ptcp:6653:127.0.0.1"
	Kind   string // KindService or KindSnoop
	Addr   string // the bound address, e.g. "127.0.0.1:6653"
}

// Listeners reports the listening sockets, sorted by target.
func (ch *Channel) Listeners() []ListenerInfo {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	var out []ListenerInfo
	for _, l := range ch.listeners {
		out = append(out, ListenerInfo{Target: l.t.name, Kind: l.kind, Addr: l.ln.Addr().String()})
	}
	slices.SortFunc(out, func(a, b ListenerInfo) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// ConnInfo describes one connection, or a controller target that is not
// connected, for `dvs of show`.
type ConnInfo struct {
	Target       string            `json:"target"`            // "tcp:127.0.0.1:6653", "ptcp:6653:127.0.0.1 from 127.0.0.1:40000"
	Kind         string            `json:"kind"`              // KindController, KindService or KindSnoop
	State        string            `json:"state"`             // StateConnected, StateConnecting or StateBackoff
	Role         string            `json:"role,omitempty"`    // "equal", "master" or "slave"; empty for snoops and unconnected targets
	Version      uint8             `json:"version,omitempty"` // negotiated OpenFlow version, 0 before hello
	Since        time.Time         `json:"since"`
	RemoteAddr   string            `json:"remote_addr,omitempty"`
	Rx           map[string]uint64 `json:"rx,omitempty"` // messages by type name, e.g. "OFPT_FLOW_MOD"
	Tx           map[string]uint64 `json:"tx,omitempty"`
	ErrorsSent   uint64            `json:"errors_sent"`
	AsyncDropped uint64            `json:"async_dropped"`
	LastError    string            `json:"last_error,omitempty"`
}

// Connections reports every connection and controller target, sorted by
// target.
func (ch *Channel) Connections() []ConnInfo {
	ch.mu.RLock()
	var out []ConnInfo
	for c := range ch.conns {
		out = append(out, c.infoLocked())
	}
	for _, d := range ch.dialers {
		if d.conn != nil {
			continue
		}
		out = append(out, ConnInfo{Target: d.t.name, Kind: KindController, State: d.state, Since: d.since, LastError: d.lastErr})
	}
	ch.mu.RUnlock()
	slices.SortFunc(out, func(a, b ConnInfo) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// dialer keeps one controller target connected.
type dialer struct {
	t      target
	ctx    context.Context
	cancel context.CancelFunc
	// Under Channel.mu:
	state   string
	since   time.Time
	lastErr string
	conn    *Conn
}

func (ch *Channel) dialLoop(d *dialer) {
	defer ch.wg.Done()
	var backoff time.Duration
	for {
		ch.mu.Lock()
		d.state, d.since = StateConnecting, time.Now()
		maxBackoff := ch.spec.cfg.MaxBackoff
		var tf *tlsFiles
		if d.t.tls {
			tf = ch.spec.tls
		}
		ch.mu.Unlock()
		if backoff == 0 {
			backoff = min(time.Second, maxBackoff)
		}

		var err error
		nc, err := ch.dial(d, tf)
		if err == nil {
			c := ch.newConn(nc, KindController, d.t.name, d, nil)
			if c == nil {
				return
			}
			c.serve()
			if c.wasReady {
				backoff = min(time.Second, maxBackoff)
			}
			err = c.Err()
		}
		ch.mu.Lock()
		d.state, d.since = StateBackoff, time.Now()
		if err != nil {
			d.lastErr = err.Error()
		}
		ch.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (ch *Channel) dial(d *dialer, tf *tlsFiles) (net.Conn, error) {
	nd := net.Dialer{Timeout: dialTimeout}
	nc, err := nd.DialContext(d.ctx, d.t.network, d.t.addr)
	if err != nil {
		return nil, err
	}
	if tf == nil {
		return nc, nil
	}
	conf, err := tf.clientConfig()
	if err != nil {
		nc.Close()
		return nil, err
	}
	tc := tls.Client(nc, conf)
	ctx, cancel := context.WithTimeout(d.ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// listener accepts service or snoop connections.
type listener struct {
	t     target
	kind  string
	ln    net.Listener
	conns map[*Conn]struct{} // under Channel.mu
}

func listen(t target) (net.Listener, error) {
	if t.network == "unix" {
		// Replace a stale socket left by a previous run, but nothing else.
		if fi, err := os.Lstat(t.addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(t.addr)
		}
	}
	return net.Listen(t.network, t.addr)
}

func (ch *Channel) acceptLoop(l *listener) {
	defer ch.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, unless closed.
			select {
			case <-ch.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		name := l.t.name
		if ra := nc.RemoteAddr(); ra != nil && ra.String() != "" && ra.String() != "@" {
			name += " from " + ra.String()
		}
		if l.t.tls {
			ch.mu.RLock()
			tf := ch.spec.tls
			ch.mu.RUnlock()
			conf, err := tf.serverConfig()
			if err != nil {
				nc.Close()
				continue
			}
			nc = tls.Server(nc, conf)
		}
		c := ch.newConn(nc, l.kind, name, nil, l)
		if c == nil {
			continue
		}
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			c.serve()
		}()
	}
}

// newConn registers a connection, or closes nc and returns nil if the
// channel or its listener is closing.
func (ch *Channel) newConn(nc net.Conn, kind, name string, d *dialer, l *listener) *Conn {
	c := &Conn{
		ch:          ch,
		kind:        kind,
		target:      name,
		nc:          nc,
		d:           d,
		l:           l,
		kick:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		role:        openflow.RoleEqual,
		async:       openflow.DefaultAsyncConfig(),
		missSendLen: 128,
		since:       time.Now(),
	}
	if ra := nc.RemoteAddr(); ra != nil {
		c.remote = ra.String()
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed || (d != nil && d.ctx.Err() != nil) || (l != nil && ch.listeners[l.kind+" "+l.t.name] != l) {
		nc.Close()
		return nil
	}
	ch.conns[c] = struct{}{}
	if d != nil {
		d.conn = c
	}
	if l != nil {
		l.conns[c] = struct{}{}
	}
	return c
}

// connDone unregisters c.
func (ch *Channel) connDone(c *Conn) {
	ch.mu.Lock()
	delete(ch.conns, c)
	if c.d != nil && c.d.conn == c {
		c.d.conn = nil
	}
	if c.l != nil {
		delete(c.l.conns, c)
	}
	changed := false
	if c.ready {
		c.ready = false
		switch c.kind {
		case KindController:
			ch.nUp--
			changed = true
		case KindSnoop:
			ch.nSnoop--
		}
	}
	ch.mu.Unlock()
	if changed {
		ch.wake()
	}
	if cl, ok := ch.h.(Closer); ok {
		cl.Closed(c)
	}
}

// snoopCopy queues msg on every snoop connection. The channel takes
// ownership of msg.
func (ch *Channel) snoopCopy(msg []byte) {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	for c := range ch.conns {
		if c.kind == KindSnoop && c.ready {
			c.enqueueAsync(msg)
		}
	}
}

func (ch *Channel) snooping() bool {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	return ch.nSnoop > 0
}

func (ch *Channel) probeInterval() time.Duration {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	return ch.spec.cfg.InactivityProbe
}
