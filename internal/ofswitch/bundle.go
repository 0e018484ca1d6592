package ofswitch

import (
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/openflow/channel"
)

// Bundles (the ONF extension for OpenFlow 1.3, what ovs-ofctl --bundle
// uses): a connection opens a bundle, adds messages to it, and commits it;
// the commit applies every message or none.

// maxBundleMsgs bounds one bundle, so a client cannot exhaust memory.
const maxBundleMsgs = 1 << 20

type bundleKey struct {
	conn *channel.Conn
	id   uint32
}

type bundle struct {
	flags  uint16
	closed bool
	// The messages in order, in chunks of bundleChunk: one slice of
	// 100,000 would be copied again and again as it grows.
	chunks [][]bundled
	n      int
}

const bundleChunk = 1024

func (b *bundle) add(e bundled) {
	if len(b.chunks) == 0 || len(b.chunks[len(b.chunks)-1]) == bundleChunk {
		b.chunks = append(b.chunks, make([]bundled, 0, bundleChunk))
	}
	last := &b.chunks[len(b.chunks)-1]
	*last = append(*last, e)
	b.n++
}

// msg returns message i.
func (b *bundle) msg(i int) *bundled { return &b.chunks[i/bundleChunk][i%bundleChunk] }

// bundled is one message of a bundle: a flow add as the rule it adds,
// checked as it arrived (while ovs-ofctl still streams the bundle), so that
// the commit only inserts; another flow_mod decoded; anything else raw.
type bundled struct {
	raw  []byte
	fm   *openflow.FlowMod
	rule *flow.Rule
}

// experimenter handles OFPT_EXPERIMENTER: ONF bundle control and add.
func (s *Switch) experimenter(c *channel.Conn, xid uint32, msg []byte) ([][]byte, error) {
	// Bundle-adds come by the hundred thousand: decoded directly, not by
	// DecodeONF, which boxes what it returns.
	if e, err := openflow.DecodeExperimenter(msg); err == nil && e.Experimenter == openflow.ONFExperimenterID && e.ExpType == openflow.ONFTBundleAddMessage {
		m, err := openflow.DecodeBundleAdd(msg)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return nil, s.bundleAdd(c, m)
	}
	m, err := openflow.DecodeONF(msg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m := m.(type) {
	case openflow.BundleAdd:
		return nil, s.bundleAdd(c, m)
	case openflow.BundleControl:
		k := bundleKey{c, m.BundleID}
		b := s.bundles[k]
		switch m.Type {
		case openflow.BundleOpenRequest:
			if b != nil {
				return nil, openflow.BundleErr(openflow.BundleFailedBundleExist, "bundle %d is open", m.BundleID)
			}
			s.bundles[k] = &bundle{flags: m.Flags}
		case openflow.BundleCloseRequest:
			if b == nil {
				return nil, openflow.BundleErr(openflow.BundleFailedBadID, "no bundle %d", m.BundleID)
			}
			if b.closed {
				return nil, openflow.BundleErr(openflow.BundleFailedBundleClosed, "bundle %d is closed", m.BundleID)
			}
			b.closed = true
		case openflow.BundleCommitRequest:
			if b == nil {
				return nil, openflow.BundleErr(openflow.BundleFailedBadID, "no bundle %d", m.BundleID)
			}
			delete(s.bundles, k)
			if err := s.commit(b); err != nil {
				return nil, err
			}
		case openflow.BundleDiscardRequest:
			if b == nil {
				return nil, openflow.BundleErr(openflow.BundleFailedBadID, "no bundle %d", m.BundleID)
			}
			delete(s.bundles, k)
		default:
			return nil, openflow.BundleErr(openflow.BundleFailedBadType, "bundle control type %d", m.Type)
		}
		return [][]byte{m.Reply().Encode(xid)}, nil
	}
	return nil, &openflow.Error{Type: openflow.ETBadRequest, Code: openflow.BadRequestBadExpType, Msg: "unsupported experimenter message"}
}

// bundleAdd adds a message to a bundle; the caller holds s.mu.
func (s *Switch) bundleAdd(c *channel.Conn, m openflow.BundleAdd) error {
	k := bundleKey{c, m.BundleID}
	b := s.bundles[k]
	if b == nil {
		// Adding to a bundle that is not open opens it (as OVS does).
		b = &bundle{flags: m.Flags}
		s.bundles[k] = b
	}
	if b.closed {
		return openflow.BundleErr(openflow.BundleFailedBundleClosed, "bundle %d is closed", m.BundleID)
	}
	if m.Flags != b.flags {
		return openflow.BundleErr(openflow.BundleFailedBadFlags, "bundle %d was opened with flags %#x", m.BundleID, b.flags)
	}
	if b.n >= maxBundleMsgs {
		return openflow.BundleErr(openflow.BundleFailedMsgTooMany, "bundle %d holds %d messages", m.BundleID, b.n)
	}
	// Check the message now, so errors name it as they arrive.
	e, err := s.checkBundled(m.Message)
	if err != nil {
		return err
	}
	b.add(e)
	return nil
}

// checkBundled checks a message added to a bundle and returns what the
// bundle keeps of it. The caller holds s.mu.
func (s *Switch) checkBundled(msg []byte) (bundled, error) {
	switch msg[1] {
	case openflow.TypeFlowMod:
		fm, err := openflow.DecodeFlowMod(msg)
		if err != nil {
			return bundled{}, err
		}
		if fm.Command == openflow.FlowAdd {
			r, err := s.addRule(&fm)
			return bundled{rule: r}, err
		}
		if fm.Command <= openflow.FlowModifyStrict {
			if err := s.checkRefs(&fm.Instructions); err != nil {
				return bundled{}, err
			}
		}
		kept := new(openflow.FlowMod)
		*kept = fm
		return bundled{fm: kept}, nil
	case openflow.TypePortMod, openflow.TypeGroupMod, openflow.TypePacketOut:
		return bundled{raw: append([]byte(nil), msg...)}, nil
	}
	return bundled{}, openflow.BundleErr(openflow.BundleFailedMsgUnsup, "message type %d cannot be bundled", msg[1])
}

// Closed implements channel.Closer: it discards the bundles a closed
// connection left open.
func (s *Switch) Closed(c *channel.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.bundles {
		if k.conn == c {
			delete(s.bundles, k)
		}
	}
}

// commit applies a bundle's messages. The flow adds at its start (all of
// them in what ovs-ofctl --bundle add-flows sends) are one atomic batch:
// translation sees all of them or none, and an error applies none. The
// messages after the first other one run in order and stop at the first
// error, leaving the earlier ones applied: full rollback of mixed bundles
// is not implemented. The caller holds s.mu.
func (s *Switch) commit(b *bundle) error {
	p := s.b.Pipeline()
	n := 0
	for n < b.n && b.msg(n).rule != nil {
		n++
	}
	if n > 0 {
		adds := make([]*flow.Rule, n)
		for i := range adds {
			adds[i] = b.msg(i).rule
		}
		if err := ofError(p.AddCheckedRules(adds)); err != nil {
			return err
		}
	}
	for i := n; i < b.n; i++ {
		m := b.msg(i)
		var err error
		switch {
		case m.rule != nil:
			err = ofError(p.AddCheckedRules([]*flow.Rule{m.rule}))
		case m.fm != nil:
			err = s.applyFlowMod(m.fm)
		case m.raw[1] == openflow.TypeGroupMod:
			err = s.groupModLocked(m.raw)
		case m.raw[1] == openflow.TypePortMod:
			s.mu.Unlock()
			err = s.portMod(m.raw)
			s.mu.Lock()
		case m.raw[1] == openflow.TypePacketOut:
			err = s.packetOut(m.raw)
		}
		if err != nil {
			return openflow.BundleErr(openflow.BundleFailedMsgFailed, "bundled message failed: %v", err)
		}
	}
	return nil
}
