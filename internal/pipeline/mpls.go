package pipeline

import (
	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/flow"
)

// MPLS translation. The key holds the top label stack entry, and for a
// single-entry stack the IP packet behind it (see packet.Parse), so:
//
//   - push_mpls and pop_mpls change the stack's depth, which a diff of two
//     keys cannot express. They commit whatever is pending (so L3 rewrites
//     reach the packet before a push hides its L3 header) and emit their
//     datapath action at once, keeping the committed key in step.
//   - set_field on mpls_*, set_mpls_ttl and dec_mpls_ttl edit the current
//     flow's entry and record the bits they wrote; commit turns those
//     into one masked SetMPLS.
//   - After popping an entry that was not the bottom of the stack the new
//     top entry is not in the key (only one is). Writes to it still work,
//     being masked; dec_mpls_ttl and push_mpls, which need its value, drop
//     the packet as unsupported, and matches on mpls_* in later tables see
//     zero.

// pushMPLS pushes a label stack entry: a copy of the current top entry
// with bos cleared, or for a packet without MPLS label 0, tc 0, bos 1 and
// the IP TTL (0 for non-IP), as OpenFlow 1.3 specifies. (Open vSwitch
// differs: label 2 for IPv6, TTL 64 for non-IP, tc from the DSCP.)
func (x *xlate) pushMPLS(ethType uint16) {
	var lse uint32
	if x.flow.IsMPLS() {
		if x.mplsUnknown {
			x.drop(action.DropUnsupported, "push_mpls: the top MPLS entry is not known after popping a non-bottom entry")
			x.stop = true
			return
		}
		x.wc.MPLS = ^uint32(0)
		lse = x.flow.MPLS &^ flow.MPLSBoS
	} else {
		lse = flow.MPLSBoS
		if x.flow.IsIP() {
			x.wc.NwTTL = 0xff
			lse |= uint32(x.flow.NwTTL)
		}
	}
	x.commit()
	x.res.Actions = append(x.res.Actions, action.Action{Kind: action.PushMPLS, EthType: ethType, LSE: lse})
	x.flow.EthType, x.flow.MPLS = ethType, lse
	x.committed.EthType, x.committed.MPLS = ethType, lse
	x.trace("push_mpls:0x%04x (label %d, tc %d, ttl %d, bos %d)", ethType, lse>>flow.MPLSLabelShift,
		lse&flow.MPLSTCMask>>flow.MPLSTCShift, lse&flow.MPLSTTLMask, lse&flow.MPLSBoS>>8)
}

// popMPLS removes the top entry and makes the ethertype ethType. Popping
// the bottom entry uncovers the IP fields the parser put in the key, so a
// later table can match them.
func (x *xlate) popMPLS(ethType uint16) {
	if !x.flow.IsMPLS() {
		x.trace("pop_mpls: not an MPLS packet, ignored")
		return
	}
	x.commit()
	bos := false
	if !x.mplsUnknown {
		x.wc.MPLS |= flow.MPLSBoS
		bos = x.flow.MPLS&flow.MPLSBoS != 0
	}
	x.res.Actions = append(x.res.Actions, action.Action{Kind: action.PopMPLS, EthType: ethType})
	x.flow.EthType, x.flow.MPLS = ethType, 0
	x.committed.EthType, x.committed.MPLS = ethType, 0
	x.mplsUnknown = !bos && x.flow.IsMPLS()
	switch {
	case bos:
		x.trace("pop_mpls:0x%04x (bottom of stack: the packet is now eth_type 0x%04x)", ethType, ethType)
	case x.mplsUnknown:
		x.trace("pop_mpls:0x%04x (more entries follow; the new top entry is not in the flow key)", ethType)
	default:
		x.trace("pop_mpls:0x%04x (more entries followed; their payload is not in the flow key)", ethType)
	}
}

func (x *xlate) setMPLSTTL(ttl uint8) {
	if !x.flow.IsMPLS() {
		x.trace("set_mpls_ttl: not an MPLS packet, ignored")
		return
	}
	x.flow.MPLS = x.flow.MPLS&^flow.MPLSTTLMask | uint32(ttl)
	x.mplsDirty |= flow.MPLSTTLMask
	x.wc.MPLS |= flow.MPLSTTLMask
	x.trace("set_mpls_ttl:%d", ttl)
}

func (x *xlate) decMPLSTTL() {
	if !x.flow.IsMPLS() {
		x.trace("dec_mpls_ttl: not an MPLS packet, ignored")
		return
	}
	if x.mplsUnknown {
		x.drop(action.DropUnsupported, "dec_mpls_ttl: the top MPLS entry is not known after popping a non-bottom entry")
		x.stop = true
		return
	}
	x.wc.MPLS |= flow.MPLSTTLMask
	ttl := x.flow.MPLS & flow.MPLSTTLMask
	if ttl <= 1 {
		x.drop(action.DropInvalidTTL, "dec_mpls_ttl: TTL %d would reach zero", ttl)
		x.invalidTTL()
		x.stop = true
		return
	}
	x.flow.MPLS--
	x.mplsDirty |= flow.MPLSTTLMask
	x.trace("dec_mpls_ttl: TTL now %d", ttl-1)
}

// commitMPLS emits the writes to the top label stack entry since the last
// commit as one masked SetMPLS, if they change it (or the entry is unknown).
func (x *xlate) commitMPLS() {
	m := x.mplsDirty
	if m == 0 {
		return
	}
	x.mplsDirty = 0
	if !x.committed.IsMPLS() || !x.flow.IsMPLS() {
		return
	}
	if !x.mplsUnknown && (x.flow.MPLS^x.committed.MPLS)&m == 0 {
		return
	}
	x.res.Actions = append(x.res.Actions, action.Action{Kind: action.SetMPLS, LSE: x.flow.MPLS & m, LSEMask: m})
	x.committed.MPLS = x.committed.MPLS&^m | x.flow.MPLS&m
}
