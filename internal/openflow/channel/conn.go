package channel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/openflow"
)

// Conn is one OpenFlow connection.
type Conn struct {
	ch     *Channel
	kind   string
	target string
	remote string
	nc     net.Conn
	d      *dialer   // the controller target this connection is for, or nil
	l      *listener // the listener that accepted it, or nil

	wmu       sync.Mutex // serializes writes to w (reader replies, writer's async messages)
	w         *bufio.Writer
	qmu       sync.Mutex    // guards queue and closing
	queue     [][]byte      // async messages for the writer, at most QueueLen
	closing   bool          // the writer is to flush and close
	kick      chan struct{} // (1-buffered) the writer has work
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error        // why the writer closes on nil; set before queuing nil
	lastRx    atomic.Int64 // UnixNano of the last message received
	xid       atomic.Uint32
	wasReady  bool // hello completed; written by the reader, read after serve

	// Under Channel.mu:
	ready       bool
	version     uint8
	role        uint32
	async       openflow.AsyncConfig
	flags       uint16
	missSendLen uint16
	since       time.Time

	smu         sync.Mutex
	rx, tx      [256]uint64 // messages by type
	errorsSent  uint64
	dropped     uint64
	err         error  // why the connection closed
	lastPeerErr string // the last OFPT_ERROR the peer sent
}

// Role returns the connection's role, openflow.RoleEqual, RoleMaster or
// RoleSlave.
func (c *Conn) Role() uint32 {
	c.ch.mu.RLock()
	defer c.ch.mu.RUnlock()
	return c.role
}

// MissSendLen returns the miss_send_len the controller last set (128 by
// default).
func (c *Conn) MissSendLen() uint16 {
	c.ch.mu.RLock()
	defer c.ch.mu.RUnlock()
	return c.missSendLen
}

// Config returns the switch configuration the controller last set.
func (c *Conn) Config() openflow.SwitchConfig {
	c.ch.mu.RLock()
	defer c.ch.mu.RUnlock()
	return openflow.SwitchConfig{Flags: c.flags, MissSendLen: c.missSendLen}
}

// Kind returns KindController, KindService or KindSnoop.
func (c *Conn) Kind() string { return c.kind }

// String returns the connection's target, as ConnInfo.Target.
func (c *Conn) String() string { return c.target }

// Err returns why the connection closed, or nil while it is open.
func (c *Conn) Err() error {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.err
}

// Send queues the asynchronous message msg on this connection alone,
// without looking at its role or async config. It never blocks: if the
// queue is full, or the hello exchange is not done, msg is dropped and
// counted. The channel takes ownership of msg.
func (c *Conn) Send(msg []byte) {
	c.ch.mu.RLock()
	ready := c.ready
	c.ch.mu.RUnlock()
	if !ready {
		c.smu.Lock()
		c.dropped++
		c.smu.Unlock()
		return
	}
	c.enqueueAsync(msg)
}

func (c *Conn) enqueueAsync(msg []byte) {
	c.qmu.Lock()
	if len(c.queue) >= QueueLen {
		c.qmu.Unlock()
		c.smu.Lock()
		c.dropped++
		c.smu.Unlock()
		return
	}
	c.queue = append(c.queue, msg)
	c.qmu.Unlock()
	c.wakeWriter()
}

func (c *Conn) wakeWriter() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// drainLocked writes the queued async messages to w (not flushing);
// c.wmu must be held. Writing them before a reply keeps the order in
// which they were sent: a flow-removed that a delete caused reaches the
// controller before the reply to a later barrier.
func (c *Conn) drainLocked(probe time.Duration) (closing bool, err error) {
	c.qmu.Lock()
	q, closing := c.queue, c.closing
	c.queue = nil
	c.qmu.Unlock()
	for _, m := range q {
		if err := c.write(c.w, m, probe, false); err != nil {
			return closing, err
		}
	}
	return closing, nil
}

var errClosed = errors.New("connection closed")

// enqueueReply queues a reply, waiting for room: replies are never
// dropped.
//
// The reader writes replies itself (no hand-off to the writer goroutine,
// which would add two wake-ups to every request's round trip: ovs-ofctl
// add-flows waits for a barrier reply after each flow_mod) and flushes
// them when it has no more input to handle. A peer that does not read
// blocks the reader, as it should.
func (c *Conn) enqueueReply(msg []byte) error {
	select {
	case <-c.done:
		return errClosed
	default:
	}
	if msg == nil {
		c.qmu.Lock()
		c.closing = true
		c.qmu.Unlock()
		c.wakeWriter()
		return nil
	}
	probe := c.probeInterval()
	c.wmu.Lock()
	_, err := c.drainLocked(probe)
	if err == nil {
		err = c.write(c.w, msg, probe, false)
	}
	c.wmu.Unlock()
	if err != nil {
		c.close(err)
		return errClosed
	}
	return nil
}

// flushAndClose has the writer send what is queued and then close the
// connection because of err.
func (c *Conn) flushAndClose(err error) error {
	c.closeErr = err
	if c.enqueueReply(nil) != nil {
		return err
	}
	return errFlushing
}

var errFlushing = errors.New("closing after the queued messages")

func (c *Conn) close(err error) {
	c.closeOnce.Do(func() {
		if err == nil {
			err = errClosed
		}
		c.smu.Lock()
		c.err = err
		c.smu.Unlock()
		close(c.done)
		c.nc.Close()
	})
}

func (c *Conn) nextXid() uint32 { return c.xid.Add(1) }

// serve runs the connection until it closes.
func (c *Conn) serve() {
	defer c.ch.connDone(c)
	c.lastRx.Store(time.Now().UnixNano())
	c.w = bufio.NewWriterSize(c.nc, 32<<10)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		c.writeLoop()
	}()
	c.enqueueReply(openflow.OurHello().Encode(c.nextXid()))
	err := c.readLoop()
	if err != errFlushing {
		c.close(err)
	}
	<-wdone
	c.close(err)
}

// readBuffer is the size of a connection's read buffer: a burst of
// flow_mods or bundle-adds (ovs-ofctl streams them) is read many messages
// at a time.
const readBuffer = 64 << 10

func (c *Conn) readLoop() error {
	r := bufio.NewReaderSize(c.nc, readBuffer)
	msg, err := openflow.ReadMessage(r, nil)
	if err != nil {
		return err
	}
	c.received(msg, true)
	h, _ := openflow.ParseHeader(msg)
	if h.Type != openflow.TypeHello {
		return c.flushAndClose(fmt.Errorf("received %s before hello", typeName(h.Type)))
	}
	hello, err := openflow.DecodeHello(msg)
	if err != nil {
		c.replyError(err, msg, h.Xid)
		return c.flushAndClose(fmt.Errorf("bad hello: %w", err))
	}
	v, err := openflow.NegotiateVersion(openflow.OurHello(), hello)
	if err != nil {
		// OFPET_HELLO_FAILED carries text, not the offending message.
		oe := err.(*openflow.Error)
		c.replyError(oe, []byte(oe.Msg), h.Xid)
		return c.flushAndClose(err)
	}
	c.helloDone(v)
	for {
		buffered := r.Buffered()
		if buffered == 0 {
			// About to wait for input: send the replies written so far.
			if err := c.flushReplies(); err != nil {
				return err
			}
		}
		msg, err = openflow.ReadMessage(r, msg[:0])
		if err != nil {
			return err
		}
		c.received(msg, r.Buffered() != buffered-len(msg))
		if err := c.dispatch(msg); err != nil {
			return err
		}
	}
}

func (c *Conn) helloDone(v uint8) {
	ch := c.ch
	ch.mu.Lock()
	c.ready, c.version, c.since = true, v, time.Now()
	changed := false
	switch c.kind {
	case KindController:
		ch.nUp++
		changed = true
	case KindSnoop:
		ch.nSnoop++
	}
	ch.mu.Unlock()
	c.wasReady = true
	if changed {
		ch.wake()
	}
}

// received counts msg and copies it to the snoops. read says whether msg
// came with a read from the connection rather than from what an earlier
// read buffered: only then is the time of the last message noted (the
// inactivity probe needs no better, and a bundle of 100,000 flows would
// read the clock 100,000 times).
func (c *Conn) received(msg []byte, read bool) {
	if read {
		c.lastRx.Store(time.Now().UnixNano())
	}
	c.smu.Lock()
	c.rx[msg[1]]++
	c.smu.Unlock()
	if c.kind == KindController && c.ch.snooping() {
		c.ch.snoopCopy(append([]byte(nil), msg...))
	}
}

// replyError queues an OFPT_ERROR for err (an *openflow.Error, or any
// other error as OFPET_BAD_REQUEST/EPERM) carrying data's first bytes.
func (c *Conn) replyError(err error, data []byte, xid uint32) error {
	var oe *openflow.Error
	if !errors.As(err, &oe) {
		oe = &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestEPerm, Msg: err.Error()}
	}
	c.smu.Lock()
	c.errorsSent++
	c.smu.Unlock()
	return c.enqueueReply(openflow.EncodeErrorReply(oe, data, xid))
}

// dispatch handles one message after the hello exchange. It returns an
// error only when the connection must close.
func (c *Conn) dispatch(msg []byte) error {
	h, _ := openflow.ParseHeader(msg)
	if h.Version != openflow.Version {
		return c.replyError(&openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadVersion,
			Msg: fmt.Sprintf("version %#x after negotiating %#x", h.Version, openflow.Version)}, msg, h.Xid)
	}
	switch h.Type {
	case openflow.TypeHello, openflow.TypeEchoReply:
		return nil
	case openflow.TypeError:
		if e, err := openflow.DecodeError(msg); err == nil {
			c.noteError(fmt.Errorf("peer sent error type %d code %d", e.Type, e.Code))
		}
		return nil
	case openflow.TypeEchoRequest:
		e, err := openflow.DecodeEcho(msg)
		if err != nil {
			return c.replyError(err, msg, h.Xid)
		}
		return c.enqueueReply(openflow.Echo{Reply: true, Data: e.Data}.Encode(h.Xid))
	}
	if c.kind == KindSnoop {
		return nil
	}
	switch h.Type {
	case openflow.TypeFeaturesRequest:
		if err := openflow.DecodeEmpty(msg, h.Type); err != nil {
			return c.replyError(err, msg, h.Xid)
		}
		f := c.ch.h.Features()
		f.AuxiliaryID = 0
		return c.enqueueReply(f.Encode(h.Xid))
	case openflow.TypeGetConfigRequest:
		if err := openflow.DecodeEmpty(msg, h.Type); err != nil {
			return c.replyError(err, msg, h.Xid)
		}
		return c.enqueueReply(c.Config().Encode(openflow.TypeGetConfigReply, h.Xid))
	case openflow.TypeSetConfig:
		sc, err := openflow.DecodeSwitchConfig(msg)
		if err != nil {
			return c.replyError(err, msg, h.Xid)
		}
		c.ch.mu.Lock()
		c.flags, c.missSendLen = sc.Flags, sc.MissSendLen
		c.ch.mu.Unlock()
		return nil
	case openflow.TypeBarrierRequest:
		// Requests are handled in order and each is done when Handle
		// returns, so everything before the barrier is done.
		if err := openflow.DecodeEmpty(msg, h.Type); err != nil {
			return c.replyError(err, msg, h.Xid)
		}
		return c.enqueueReply(openflow.EncodeEmpty(openflow.TypeBarrierReply, h.Xid))
	case openflow.TypeRoleRequest:
		return c.roleRequest(msg, h.Xid)
	case openflow.TypeGetAsyncRequest:
		if err := openflow.DecodeEmpty(msg, h.Type); err != nil {
			return c.replyError(err, msg, h.Xid)
		}
		c.ch.mu.RLock()
		a := c.async
		c.ch.mu.RUnlock()
		return c.enqueueReply(a.Encode(openflow.TypeGetAsyncReply, h.Xid))
	case openflow.TypeSetAsync:
		a, err := openflow.DecodeAsyncConfig(msg)
		if err != nil {
			return c.replyError(err, msg, h.Xid)
		}
		c.ch.mu.Lock()
		c.async = a
		c.ch.mu.Unlock()
		return nil
	case openflow.TypeFlowMod, openflow.TypeGroupMod, openflow.TypePortMod, openflow.TypeTableMod,
		openflow.TypePacketOut, openflow.TypeMeterMod:
		if c.Role() == openflow.RoleSlave {
			return c.replyError(isSlave(h.Type), msg, h.Xid)
		}
		return c.handle(msg, h.Xid)
	case openflow.TypeExperimenter:
		if c.Role() == openflow.RoleSlave && isBundleWrite(msg) {
			return c.replyError(isSlave(h.Type), msg, h.Xid)
		}
		return c.handle(msg, h.Xid)
	case openflow.TypeMultipartRequest, openflow.TypeQueueGetConfigRequest:
		return c.handle(msg, h.Xid)
	}
	return c.replyError(&openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadType,
		Msg: fmt.Sprintf("switch does not accept %s", typeName(h.Type))}, msg, h.Xid)
}

func (c *Conn) noteError(err error) {
	c.smu.Lock()
	c.lastPeerErr = err.Error()
	c.smu.Unlock()
}

func isSlave(typ uint8) *openflow.Error {
	return &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestIsSlave,
		Msg: fmt.Sprintf("%s from a slave controller", typeName(typ))}
}

// ONF bundle extension for OpenFlow 1.3 (ONF_ET_BUNDLE_CONTROL and
// ONF_ET_BUNDLE_ADD_MESSAGE), as Open vSwitch implements it.
const (
	onfExperimenter     = 0x4f4e4600
	onfBundleControl    = 2300
	onfBundleAdd        = 2301
	bundleCommitRequest = 4
)

// isBundleWrite reports whether msg adds to or commits an ONF bundle,
// which a slave may not do.
func isBundleWrite(msg []byte) bool {
	if len(msg) < 16 || binary.BigEndian.Uint32(msg[8:]) != onfExperimenter {
		return false
	}
	switch binary.BigEndian.Uint32(msg[12:]) {
	case onfBundleAdd:
		return true
	case onfBundleControl:
		return len(msg) >= 22 && binary.BigEndian.Uint16(msg[20:]) == bundleCommitRequest
	}
	return false
}

func (c *Conn) handle(msg []byte, xid uint32) error {
	replies, err := c.ch.h.Handle(c, msg)
	for _, r := range replies {
		if err := c.enqueueReply(r); err != nil {
			return err
		}
	}
	if err != nil {
		return c.replyError(err, msg, xid)
	}
	return nil
}

// roleRequest applies an OFPT_ROLE_REQUEST (OpenFlow 1.3 section 6.3.5):
// master and slave requests carry a generation id that must not be older
// than the last one seen, and a new master makes the previous one slave.
func (c *Conn) roleRequest(msg []byte, xid uint32) error {
	r, err := openflow.DecodeRole(msg)
	if err != nil {
		return c.replyError(err, msg, xid)
	}
	ch := c.ch
	var oe *openflow.Error
	ch.mu.Lock()
	switch r.Role {
	case openflow.RoleNoChange:
	case openflow.RoleEqual:
		c.role = openflow.RoleEqual
	case openflow.RoleMaster, openflow.RoleSlave:
		if ch.genIDSet && int64(r.GenerationID-ch.genID) < 0 {
			oe = &openflow.Error{Type: openflow.ETRoleRequestFailed, Code: openflow.RoleRequestFailedStale,
				Msg: fmt.Sprintf("generation id %d is older than %d", r.GenerationID, ch.genID)}
			break
		}
		ch.genID, ch.genIDSet = r.GenerationID, true
		if r.Role == openflow.RoleMaster {
			for o := range ch.conns {
				if o != c && o.role == openflow.RoleMaster {
					o.role = openflow.RoleSlave
				}
			}
		}
		c.role = r.Role
	default:
		oe = &openflow.Error{Type: openflow.ETRoleRequestFailed, Code: openflow.RoleRequestFailedBadRole,
			Msg: fmt.Sprintf("unknown role %d", r.Role)}
	}
	reply := openflow.RoleMsg{Reply: true, Role: c.role, GenerationID: openflow.GenerationIDUndefined}
	if ch.genIDSet {
		reply.GenerationID = ch.genID
	}
	ch.mu.Unlock()
	if oe != nil {
		return c.replyError(oe, msg, xid)
	}
	return c.enqueueReply(reply.Encode(xid))
}

// filterLocked reports whether c's role and async config want the
// asynchronous message msg, and returns the message to send. Channel.mu
// must be held.
func (c *Conn) filterLocked(msg []byte) ([]byte, bool) {
	i := 0
	if c.role == openflow.RoleSlave {
		i = 1
	}
	var reason uint8
	var mask uint32
	switch msg[1] {
	case openflow.TypePacketIn:
		if len(msg) < 16 {
			return nil, false
		}
		reason, mask = msg[14], c.async.PacketInMask[i]
		if reason == openflow.PacketInInvalidTTL {
			msg = truncatePacketIn(msg, c.missSendLen)
		}
	case openflow.TypeFlowRemoved:
		if len(msg) < 20 {
			return nil, false
		}
		reason, mask = msg[18], c.async.FlowRemovedMask[i]
	case openflow.TypePortStatus:
		if len(msg) < 9 {
			return nil, false
		}
		reason, mask = msg[8], c.async.PortStatusMask[i]
	default:
		return msg, true
	}
	if msg[1] == openflow.TypePacketIn && reason == openflow.PacketInInvalidTTL && c.flags&openflow.ConfigInvalidTTLToController != 0 {
		return msg, true // asked for with set-config, the OpenFlow 1.3 way
	}
	return msg, reason < 32 && mask&(1<<reason) != 0
}

// truncatePacketIn cuts a packet-in's data to max bytes. OpenFlow 1.3
// applies miss_send_len only to packet-ins not made by an output action,
// which in 1.3 means those for an invalid TTL.
func truncatePacketIn(msg []byte, max uint16) []byte {
	if max == openflow.ControllerMaxLenNoBuffer || len(msg) < 28 {
		return msg
	}
	mlen := int(binary.BigEndian.Uint16(msg[26:]))
	off := 24 + (mlen+7)/8*8 + 2
	if off > len(msg) || len(msg)-off <= int(max) {
		return msg
	}
	m := append([]byte(nil), msg[:off+int(max)]...)
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	return m
}

// flushReplies writes out the replies the reader has buffered.
func (c *Conn) flushReplies() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.w.Buffered() == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout(c.probeInterval())))
	if err := c.w.Flush(); err != nil {
		c.close(fmt.Errorf("writing: %w", err))
		return err
	}
	return nil
}

func (c *Conn) writeLoop() {
	w := c.w
	probe := c.probeInterval()
	tick := time.NewTicker(probe / 4)
	defer tick.Stop()
	var probedAt int64
	for {
		select {
		case <-c.kick:
			c.wmu.Lock()
			closing, err := c.drainLocked(probe)
			if err == nil {
				c.nc.SetWriteDeadline(time.Now().Add(writeTimeout(probe)))
				err = w.Flush()
			}
			c.wmu.Unlock()
			if closing {
				c.close(c.closeErr)
				return
			}
			if err != nil {
				c.close(fmt.Errorf("writing: %w", err))
				return
			}
		case <-tick.C:
			if p := c.probeInterval(); p != probe {
				probe = p
				tick.Reset(p / 4)
			}
			last := c.lastRx.Load()
			idle := time.Since(time.Unix(0, last))
			if idle >= 2*probe {
				c.close(fmt.Errorf("inactivity probe: no message for %v", idle.Round(time.Millisecond)))
				return
			}
			if idle >= probe && probedAt != last && c.isReady() {
				probedAt = last
				c.wmu.Lock()
				err := c.write(w, openflow.Echo{}.Encode(c.nextXid()), probe, true)
				c.wmu.Unlock()
				if err != nil {
					c.close(err)
					return
				}
			}
		case <-c.done:
			return
		}
	}
}

// serviceProbe is the least inactivity probe of connections accepted on a
// listener (tools such as ovs-ofctl, and snoopers), as Open vSwitch uses
// for its management socket: a tool waiting for a long reply sends
// nothing, and answers no echo request (ovs-ofctl takes one for a bad
// reply).
const serviceProbe = 60 * time.Second

// probeInterval is how long c may be silent before it is probed: the
// channel's inactivity probe for controllers, at least serviceProbe for
// the others.
func (c *Conn) probeInterval() time.Duration {
	p := c.ch.probeInterval()
	if c.kind != KindController {
		p = max(p, serviceProbe)
	}
	return p
}

// write sends m, flushing when nothing else is queued.
// write writes m to w, and flushes w if flush; c.wmu must be held.
func (c *Conn) write(w *bufio.Writer, m []byte, probe time.Duration, flush bool) error {
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout(probe)))
	if _, err := w.Write(m); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	c.smu.Lock()
	c.tx[m[1]]++
	c.smu.Unlock()
	if flush {
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	if c.kind == KindController && c.ch.snooping() {
		c.ch.snoopCopy(m)
	}
	return nil
}

// writeTimeout is how long a peer may leave a write blocked before the
// connection is dropped.
func writeTimeout(probe time.Duration) time.Duration { return max(2*probe, time.Second) }

func (c *Conn) isReady() bool {
	c.ch.mu.RLock()
	defer c.ch.mu.RUnlock()
	return c.ready
}

var roleNames = map[uint32]string{
	openflow.RoleEqual:  "equal",
	openflow.RoleMaster: "master",
	openflow.RoleSlave:  "slave",
}

// infoLocked reports c; Channel.mu must be held.
func (c *Conn) infoLocked() ConnInfo {
	i := ConnInfo{
		Target:     c.target,
		Kind:       c.kind,
		State:      StateConnecting,
		Version:    c.version,
		Since:      c.since,
		RemoteAddr: c.remote,
	}
	if c.ready {
		i.State = StateConnected
		if c.kind != KindSnoop {
			i.Role = roleNames[c.role]
		}
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	i.Rx, i.Tx = map[string]uint64{}, map[string]uint64{}
	for t := range c.rx {
		if c.rx[t] != 0 {
			i.Rx[typeName(uint8(t))] = c.rx[t]
		}
		if c.tx[t] != 0 {
			i.Tx[typeName(uint8(t))] = c.tx[t]
		}
	}
	i.ErrorsSent, i.AsyncDropped = c.errorsSent, c.dropped
	switch {
	case c.err != nil:
		i.LastError = c.err.Error()
	default:
		i.LastError = c.lastPeerErr
	}
	return i
}

var typeNames [256]string

func init() {
	for i, n := range knownTypeNames {
		typeNames[i] = n
	}
	for i := len(knownTypeNames); i < len(typeNames); i++ {
		typeNames[i] = fmt.Sprintf("OFPT_TYPE_%d", i)
	}
}

var knownTypeNames = [...]string{
	openflow.TypeHello:                 "OFPT_HELLO",
	openflow.TypeError:                 "OFPT_ERROR",
	openflow.TypeEchoRequest:           "OFPT_ECHO_REQUEST",
	openflow.TypeEchoReply:             "OFPT_ECHO_REPLY",
	openflow.TypeExperimenter:          "OFPT_EXPERIMENTER",
	openflow.TypeFeaturesRequest:       "OFPT_FEATURES_REQUEST",
	openflow.TypeFeaturesReply:         "OFPT_FEATURES_REPLY",
	openflow.TypeGetConfigRequest:      "OFPT_GET_CONFIG_REQUEST",
	openflow.TypeGetConfigReply:        "OFPT_GET_CONFIG_REPLY",
	openflow.TypeSetConfig:             "OFPT_SET_CONFIG",
	openflow.TypePacketIn:              "OFPT_PACKET_IN",
	openflow.TypeFlowRemoved:           "OFPT_FLOW_REMOVED",
	openflow.TypePortStatus:            "OFPT_PORT_STATUS",
	openflow.TypePacketOut:             "OFPT_PACKET_OUT",
	openflow.TypeFlowMod:               "OFPT_FLOW_MOD",
	openflow.TypeGroupMod:              "OFPT_GROUP_MOD",
	openflow.TypePortMod:               "OFPT_PORT_MOD",
	openflow.TypeTableMod:              "OFPT_TABLE_MOD",
	openflow.TypeMultipartRequest:      "OFPT_MULTIPART_REQUEST",
	openflow.TypeMultipartReply:        "OFPT_MULTIPART_REPLY",
	openflow.TypeBarrierRequest:        "OFPT_BARRIER_REQUEST",
	openflow.TypeBarrierReply:          "OFPT_BARRIER_REPLY",
	openflow.TypeQueueGetConfigRequest: "OFPT_QUEUE_GET_CONFIG_REQUEST",
	openflow.TypeQueueGetConfigReply:   "OFPT_QUEUE_GET_CONFIG_REPLY",
	openflow.TypeRoleRequest:           "OFPT_ROLE_REQUEST",
	openflow.TypeRoleReply:             "OFPT_ROLE_REPLY",
	openflow.TypeGetAsyncRequest:       "OFPT_GET_ASYNC_REQUEST",
	openflow.TypeGetAsyncReply:         "OFPT_GET_ASYNC_REPLY",
	openflow.TypeSetAsync:              "OFPT_SET_ASYNC",
	openflow.TypeMeterMod:              "OFPT_METER_MOD",
}

// typeName names an ofp_type, e.g. "OFPT_FLOW_MOD", or "OFPT_TYPE_30".
func typeName(t uint8) string { return typeNames[t] }
