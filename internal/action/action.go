// Package action is the datapath's action list: the flat, already-resolved
// program that translation produces, the flow caches store, and workers run
// on each packet (push/pop tags, rewrite fields, output, drop).
package action

import (
	"fmt"
	"strings"

	"github.com/dvs-project/dvs/internal/flow"
)

// Kind is an action's type.
type Kind uint8

const (
	// Output sends a copy of the packet, as it is now, to Port.
	Output Kind = iota + 1
	// PushVLAN pushes a tag with TPID and TCI (TCIPresent is dropped on the wire).
	PushVLAN
	// PopVLAN removes the outermost tag.
	PopVLAN
	// SetVLAN rewrites the outermost tag's TCI in place.
	SetVLAN
	// Set writes Value under Mask into Field of the packet, fixing checksums.
	Set
	// Controller hands the packet to the OpenFlow channel (In, Table,
	// Cookie, Metadata, MaxLen: what the packet-in says).
	Controller
	// Drop ends the list; Reason says why (for counters and traces).
	Drop
	// Meter runs meter ID; a packet over its rate is dropped.
	Meter
	// PushMPLS pushes label stack entry LSE after the VLAN tags and makes
	// the ethertype EthType (0x8847 or 0x8848).
	PushMPLS
	// PopMPLS removes the outermost label stack entry and makes the
	// ethertype EthType.
	PopMPLS
	// SetMPLS writes LSE under LSEMask into the outermost label stack entry.
	SetMPLS
	// SetTunnel sets the packet's tunnel ID (the VNI a tunnel port with
	// key=flow encapsulates it with) to TunID. It changes metadata, not the
	// frame.
	SetTunnel
)

// Action is one step of a datapath action list.
type Action struct {
	Kind     Kind
	Reason   DropReason     // Drop
	In       PacketInReason // Controller
	Table    uint8          // Controller: the table of the rule that sent it
	TPID     uint16         // PushVLAN
	TCI      uint16         // PushVLAN, SetVLAN
	EthType  uint16         // PushMPLS, PopMPLS
	LSE      uint32         // PushMPLS, SetMPLS
	LSEMask  uint32         // SetMPLS
	MaxLen   uint16         // Controller
	Field    flow.FieldID
	Port     uint32 // Output; Meter id
	Cookie   uint64 // Controller: the cookie of the rule that sent it
	TunID    uint64 // SetTunnel
	Metadata uint64 // Controller: the pipeline metadata at that point
	Value    flow.Value
	Mask     flow.Value
}

// PacketInReason says why a packet goes to the controller (OpenFlow 1.3
// ofp_packet_in_reason).
type PacketInReason uint8

const (
	InNoMatch    PacketInReason = 0 // a table-miss rule sent it
	InAction     PacketInReason = 1 // an explicit output:controller
	InInvalidTTL PacketInReason = 2 // dec_ttl reached zero
)

var inNames = [...]string{"no_match", "action", "invalid_ttl"}

func (r PacketInReason) String() string {
	if int(r) < len(inNames) {
		return inNames[r]
	}
	return fmt.Sprintf("reason%d", r)
}

// DropReason says why a packet was dropped or sent to a controller.
type DropReason uint8

const (
	DropNone         DropReason = iota
	DropNoMatch                 // table miss with no miss rule
	DropRule                    // a rule with no output actions
	DropVLAN                    // NORMAL: VLAN not allowed on the port
	DropHairpin                 // NORMAL: destination is the input port
	DropSourceMAC               // NORMAL: multicast source MAC
	DropInvalidTTL              // dec_ttl reached zero
	DropPortDown                // the only output port is down
	DropUnknownPort             // input port not (or no longer) on the bridge
	DropLoop                    // too many resubmits or group chaining
	DropUnsupported             // an action the datapath cannot run
	DropMalformed               // a header (IP, ARP) is truncated or invalid
	DropMeter                   // over a meter's rate
	DropNoOutput                // pipeline ended without output
	DropRunt                    // shorter than an Ethernet header
	DropOversize                // longer than the input port's MTU allows
	DropTags                    // more VLAN tags than the switch handles (2)
	DropTunnelMTU               // too big for a tunnel's underlay once encapsulated
	DropTunnelSource            // a tunnel datagram from an address no tunnel port has as its remote
	DropTunnelVNI               // a tunnel datagram whose VNI is not its port's key
	DropTunnelHeader            // a tunnel datagram with a malformed or unsupported header
	numDropReasons
)

// NumDropReasons is the number of drop reasons, for counter arrays.
const NumDropReasons = int(numDropReasons)

var dropNames = [...]string{
	DropNone:         "none",
	DropNoMatch:      "no-match",
	DropRule:         "rule",
	DropVLAN:         "vlan",
	DropHairpin:      "hairpin",
	DropSourceMAC:    "source-mac",
	DropInvalidTTL:   "invalid-ttl",
	DropPortDown:     "port-down",
	DropUnknownPort:  "unknown-port",
	DropLoop:         "loop",
	DropUnsupported:  "unsupported",
	DropMalformed:    "malformed",
	DropMeter:        "meter",
	DropNoOutput:     "no-output",
	DropRunt:         "runt",
	DropOversize:     "oversize",
	DropTags:         "too-many-tags",
	DropTunnelMTU:    "tunnel-mtu",
	DropTunnelSource: "tunnel-unknown-source",
	DropTunnelVNI:    "tunnel-vni",
	DropTunnelHeader: "tunnel-header",
}

func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return fmt.Sprintf("reason-%d", r)
}

// Format prints an action list as traces and `dvs` show it.
func Format(acts []Action) string {
	if len(acts) == 0 {
		return "drop"
	}
	parts := make([]string, 0, len(acts))
	for i := range acts {
		parts = append(parts, acts[i].String())
	}
	return strings.Join(parts, ",")
}

func (a *Action) String() string {
	switch a.Kind {
	case Output:
		return fmt.Sprintf("output:%d", a.Port)
	case PushVLAN:
		return fmt.Sprintf("push_vlan(tpid=0x%04x,vid=%d,pcp=%d)", a.TPID, a.TCI&flow.TCIVIDMask, a.TCI>>flow.TCIPCPShift)
	case PopVLAN:
		return "pop_vlan"
	case SetVLAN:
		return fmt.Sprintf("set_vlan(vid=%d,pcp=%d)", a.TCI&flow.TCIVIDMask, a.TCI>>flow.TCIPCPShift)
	case Set:
		f := flow.FieldByID(a.Field)
		if a.Mask == f.Ones() {
			return fmt.Sprintf("set(%s=%s)", f.Name, hexValue(a.Value, f))
		}
		return fmt.Sprintf("set(%s=%s/%s)", f.Name, hexValue(a.Value, f), hexValue(a.Mask, f))
	case Controller:
		return fmt.Sprintf("controller(reason=%s,table=%d,cookie=%#x,max_len=%d)", a.In, a.Table, a.Cookie, a.MaxLen)
	case Drop:
		return "drop(" + a.Reason.String() + ")"
	case Meter:
		return fmt.Sprintf("meter(%d)", a.Port)
	case PushMPLS:
		return fmt.Sprintf("push_mpls(eth_type=0x%04x,%s)", a.EthType, formatLSE(a.LSE))
	case PopMPLS:
		return fmt.Sprintf("pop_mpls(eth_type=0x%04x)", a.EthType)
	case SetTunnel:
		return fmt.Sprintf("set_tunnel(tun_id=0x%x)", a.TunID)
	case SetMPLS:
		if a.LSEMask == ^uint32(0) {
			return "set_mpls(" + formatLSE(a.LSE) + ")"
		}
		return fmt.Sprintf("set_mpls(lse=0x%08x/0x%08x)", a.LSE, a.LSEMask)
	}
	return fmt.Sprintf("unknown(%d)", a.Kind)
}

func formatLSE(lse uint32) string {
	return fmt.Sprintf("label=%d,tc=%d,ttl=%d,bos=%d", lse>>flow.MPLSLabelShift, lse&flow.MPLSTCMask>>flow.MPLSTCShift,
		lse&flow.MPLSTTLMask, lse&flow.MPLSBoS>>8)
}

func hexValue(v flow.Value, f *flow.Field) string {
	n := (int(f.Bits) + 7) / 8
	return fmt.Sprintf("0x%x", v[16-n:])
}
