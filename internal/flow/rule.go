package flow

import (
	"sync/atomic"
	"time"
)

// OpenFlow 1.3 reserved port numbers.
const (
	PortMax        uint32 = 0xffffff00 // highest number of a physical or logical port
	PortInPort     uint32 = 0xfffffff8
	PortTable      uint32 = 0xfffffff9
	PortNormal     uint32 = 0xfffffffa
	PortFlood      uint32 = 0xfffffffb
	PortAll        uint32 = 0xfffffffc
	PortController uint32 = 0xfffffffd
	PortLocal      uint32 = 0xfffffffe
	PortAny        uint32 = 0xffffffff
	PortNone              = PortAny
)

// Table limits: OpenFlow table ids 0..253 (254 is unused, 255 means "all").
const (
	MaxTables = 254
	TableAll  = 0xff
)

// Rule flags (OpenFlow 1.3 ofp_flow_mod_flags).
type RuleFlags uint16

const (
	FlagSendFlowRem  RuleFlags = 1 << 0
	FlagCheckOverlap RuleFlags = 1 << 1
	FlagResetCounts  RuleFlags = 1 << 2
	FlagNoPktCounts  RuleFlags = 1 << 3
	FlagNoByteCounts RuleFlags = 1 << 4
)

// Rule is one flow table entry. Its match, priority and instructions are
// immutable once the rule is in a table: a modification installs a new Rule
// (which may inherit the old one's counters).
type Rule struct {
	Table        uint8
	Priority     uint16
	Match        Match
	Cookie       uint64
	IdleTimeout  uint16 // seconds; 0 = none
	HardTimeout  uint16 // seconds; 0 = none
	Flags        RuleFlags
	Instructions Instructions

	// Runtime state, maintained by the pipeline.
	Stats RuleStats
}

// RuleStats are a rule's counters. They are updated with atomics so the
// slow path and the stats pusher may update them while they are read.
type RuleStats struct {
	Packets atomic.Uint64
	Bytes   atomic.Uint64
	Created time.Time    // when the rule was added (a modify keeps it)
	used    atomic.Int64 // unix nanoseconds of the last packet; 0 = never
}

// Add counts packets and bytes hitting the rule at time now.
func (s *RuleStats) Add(packets, bytes uint64, now time.Time) {
	if packets == 0 {
		return
	}
	s.Packets.Add(packets)
	s.Bytes.Add(bytes)
	s.used.Store(now.UnixNano())
}

// Used returns when the rule last saw a packet (zero if never).
func (s *RuleStats) Used() time.Time {
	n := s.used.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SetUsed records t as the time of the last packet.
func (s *RuleStats) SetUsed(t time.Time) { s.used.Store(t.UnixNano()) }

// Instructions are a rule's OpenFlow 1.3 instructions. At most one of each
// kind, executed in the order the specification gives: meter, apply-actions,
// clear-actions, write-actions, write-metadata, goto-table.
type Instructions struct {
	Meter        uint32   // meter id; 0 = no meter instruction
	Apply        []Action // apply-actions, executed in order
	ClearActions bool
	Write        []Action // write-actions; merged into the action set
	HasWrite     bool     // a write-actions instruction is present (Write may be empty)
	// WriteMetadata applies when MetadataMask is non-zero.
	Metadata     uint64
	MetadataMask uint64
	// GotoTable is the next table; valid when HasGoto.
	GotoTable uint8
	HasGoto   bool
}

// Action is an OpenFlow action. The concrete types are below.
type Action interface{ isAction() }

// Output sends the packet to Port, which may be a reserved port.
type Output struct {
	Port   uint32
	MaxLen uint16 // bytes of the packet to send to the controller
}

// PushVLAN pushes a new outermost tag with ethertype 0x8100 or 0x88a8. The
// new tag copies VID and PCP from the tag it covers (or zero).
type PushVLAN struct{ EthType uint16 }

// PopVLAN removes the outermost tag.
type PopVLAN struct{}

// SetField writes Value (under Mask, all ones for a plain set_field) into
// Field.
type SetField struct {
	Field FieldID
	Value Value
	Mask  Value
}

// DecTTL decrements the IPv4 TTL or IPv6 hop limit; a packet whose TTL would
// reach zero is dropped (and sent to controllers that ask for invalid-TTL
// packets).
type DecTTL struct{}

// SetTTL sets the IPv4 TTL or IPv6 hop limit.
type SetTTL struct{ TTL uint8 }

// PushMPLS pushes a new outermost MPLS label stack entry after any VLAN
// tags and makes the ethertype EthType (0x8847 or 0x8848). The entry copies
// the one it covers with bos cleared; on a packet without MPLS it has label
// 0, tc 0, bos 1 and the IP TTL (0 for non-IP), as OpenFlow 1.3 says.
type PushMPLS struct{ EthType uint16 }

// PopMPLS removes the outermost MPLS label stack entry and makes the
// ethertype EthType.
type PopMPLS struct{ EthType uint16 }

// SetMPLSTTL sets the outermost MPLS TTL.
type SetMPLSTTL struct{ TTL uint8 }

// DecMPLSTTL decrements the outermost MPLS TTL; a packet whose TTL would
// reach zero is dropped, as for DecTTL.
type DecMPLSTTL struct{}

// Group hands the packet to a group.
type Group struct{ ID uint32 }

// SetQueue selects an egress queue for subsequent outputs.
type SetQueue struct{ ID uint32 }

func (Output) isAction()     {}
func (PushVLAN) isAction()   {}
func (PopVLAN) isAction()    {}
func (SetField) isAction()   {}
func (DecTTL) isAction()     {}
func (SetTTL) isAction()     {}
func (Group) isAction()      {}
func (PushMPLS) isAction()   {}
func (PopMPLS) isAction()    {}
func (SetMPLSTTL) isAction() {}
func (DecMPLSTTL) isAction() {}
func (SetQueue) isAction()   {}

// IsTableMiss reports whether r is a table-miss rule (priority 0, matching
// every packet): packets it sends to the controller report "no match".
func (r *Rule) IsTableMiss() bool { return r.Priority == 0 && r.Match.Mask == (Mask{}) }

// Expired reports why r has expired at now, if it has: "idle" or "hard".
func (r *Rule) Expired(now time.Time) (reason string, expired bool) {
	if r.HardTimeout != 0 && now.Sub(r.Stats.Created) >= time.Duration(r.HardTimeout)*time.Second {
		return "hard", true
	}
	if r.IdleTimeout != 0 {
		last := r.Stats.Used()
		if last.Before(r.Stats.Created) {
			last = r.Stats.Created
		}
		if now.Sub(last) >= time.Duration(r.IdleTimeout)*time.Second {
			return "idle", true
		}
	}
	return "", false
}
