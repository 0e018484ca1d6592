// Package api is the local API between the dvs agent and the dvs CLI:
// JSON over HTTP on a unix socket. It holds the request and response types
// both sides use and the client the CLI calls.
//
// Routes (all under /v1):
//
//	GET    /version
//	GET    /bridges                          list bridges
//	POST   /bridges                          add a bridge (BridgeSpec)
//	GET    /bridges/{br}                     one bridge with its ports
//	PATCH  /bridges/{br}                     change a bridge's OpenFlow settings (BridgePatch)
//	DELETE /bridges/{br}                     delete a bridge
//	GET    /bridges/{br}/openflow            OpenFlow state: connections, counters (OpenFlowInfo)
//	GET    /bridges/{br}/ports               list ports
//	POST   /bridges/{br}/ports               add a port (PortSpec)
//	GET    /bridges/{br}/ports/{port}        one port
//	PATCH  /bridges/{br}/ports/{port}        change a port (PortPatch)
//	DELETE /bridges/{br}/ports/{port}        delete a port
//	GET    /bridges/{br}/flows?filter=&stats=1
//	POST   /bridges/{br}/flows               add flows, all or none (FlowLines)
//	POST   /bridges/{br}/flows/mod           modify flows (FlowSelect)
//	POST   /bridges/{br}/flows/del           delete flows (FlowSelect)
//	GET    /bridges/{br}/macs?vlan=          learned MACs
//	POST   /bridges/{br}/macs/flush          forget learned MACs
//	POST   /bridges/{br}/trace               trace a packet (TraceRequest)
//	GET    /bridges/{br}/stats               counters
//
// Errors are a 4xx or 5xx status with an Error body.
package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/ofswitch"
)

// DefaultSocket is where the agent listens unless told otherwise.
const DefaultSocket = "/run/dvs/dvs.sock"

// SocketEnv names the environment variable that overrides DefaultSocket.
const SocketEnv = "DVS_SOCKET"

// Error is the body of every failed request.
type Error struct {
	// Status is the HTTP status (not sent in the body).
	Status  int    `json:"-"`
	Message string `json:"error"`
	// Line is, for a failed flow load, the 1-based index of the line in the
	// request that failed; 0 otherwise.
	Line int `json:"line,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// UnreachableError is returned by the client when it cannot talk to the
// agent at all.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	if errors.Is(e.Err, syscall.EACCES) || errors.Is(e.Err, syscall.EPERM) {
		return fmt.Sprintf("cannot reach the dvs agent at %s: permission denied (the socket is for root only)", e.Socket)
	}
	return fmt.Sprintf("cannot reach the dvs agent at %s: is `dvs agent` running?", e.Socket)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Version describes the running agent.
type Version struct {
	Version  string `json:"version"`
	PID      int    `json:"pid"`
	StateDir string `json:"state_dir"`
	Socket   string `json:"socket"`
}

// BridgeSpec is a bridge's configuration.
type BridgeSpec struct {
	Name string `json:"name"`
	// Workers is the number of packet workers; 0 = the agent's default.
	Workers int `json:"workers,omitempty"`
	// MACAgingSeconds is how long a learned MAC lives without traffic;
	// 0 = 300.
	MACAgingSeconds int `json:"mac_aging_seconds,omitempty"`
	// MACLimit bounds the learned MACs; 0 = 2048.
	MACLimit int `json:"mac_limit,omitempty"`
	// DatapathID is the OpenFlow datapath id, up to 16 hex digits with an
	// optional 0x; "" = derived from the name. In answers it is always the
	// id in use, as 16 hex digits.
	DatapathID string `json:"datapath_id,omitempty"`
	// OpenFlow is what the user configured; the agent adds the bridge's
	// management and snoop sockets (see Bridge.MgmtSocket).
	OpenFlow OpenFlowConfig `json:"openflow,omitzero"`
	// Offload is the kernel fast path: "tc" (forward simple megaflows in
	// a tc eBPF program) or "none"; "" = the agent's default (tc unless
	// the agent was started with --offload none). Without kernel support
	// tc falls back to none (see Stats.Offload).
	Offload string `json:"offload,omitempty"`
}

// OpenFlowConfig is a bridge's OpenFlow configuration: controllers to
// connect to (tcp:HOST[:PORT], ssl:HOST[:PORT]), targets to listen on
// (ptcp:[PORT][:IP], pssl:[PORT][:IP], punix:PATH), the fail mode
// (standalone or secure), the inactivity probe and the SSL files.
type OpenFlowConfig = ofswitch.Config

// ParseDatapathID reads a datapath id: 1 to 16 hex digits, with an optional
// 0x prefix, not zero.
func ParseDatapathID(s string) (uint64, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" {
		return 0, fmt.Errorf("datapath id %q: give 1 to 16 hex digits, like 0000aabbccddeeff", s)
	}
	if len(h) > 16 {
		return 0, fmt.Errorf("datapath id %q: more than 16 hex digits (it is 64 bits)", s)
	}
	v, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("datapath id %q: not a hex number", s)
	}
	if v == 0 {
		return 0, fmt.Errorf("datapath id %q: zero is not a valid datapath id", s)
	}
	return v, nil
}

// FormatDatapathID writes a datapath id as 16 hex digits, as Open vSwitch
// shows it.
func FormatDatapathID(id uint64) string { return fmt.Sprintf("%016x", id) }

// Bridge summarizes a bridge.
type Bridge struct {
	BridgeSpec
	Ports int `json:"ports"`
	Flows int `json:"flows"`
	MACs  int `json:"macs"`
	// MgmtSocket is the bridge's OpenFlow management socket, the one
	// `ovs-ofctl ... unix:PATH` talks to; "" if the agent could not make
	// one (the state dir's path is too long for a unix socket).
	MgmtSocket string `json:"mgmt_socket,omitempty"`
	// SnoopSocket is where `ovs-ofctl snoop unix:PATH` watches the
	// controllers' traffic.
	SnoopSocket string `json:"snoop_socket,omitempty"`
}

// BridgePatch changes a bridge's OpenFlow settings; nil fields keep their
// value. A list replaces the whole list: [] (or ["none"]) removes every
// controller or listener.
type BridgePatch struct {
	Controllers     *[]string      `json:"controllers,omitempty"`
	Listen          *[]string      `json:"listen,omitempty"`
	FailMode        *string        `json:"fail_mode,omitempty"`
	InactivityProbe *time.Duration `json:"inactivity_probe,omitempty"`
	PrivateKey      *string        `json:"private_key,omitempty"`
	Certificate     *string        `json:"certificate,omitempty"`
	CACert          *string        `json:"ca_cert,omitempty"`
	Offload         *string        `json:"offload,omitempty"`
}

// IsZero reports whether p changes nothing.
func (p BridgePatch) IsZero() bool { return p == BridgePatch{} }

// OpenFlowInfo is a bridge's OpenFlow state: the switch's own report plus
// the sockets the agent gave it.
type OpenFlowInfo struct {
	ofswitch.Info
	MgmtSocket  string `json:"mgmt_socket,omitempty"`
	SnoopSocket string `json:"snoop_socket,omitempty"`
	// Error says why the saved configuration is not running: the agent
	// could not apply it when it started, and runs the bridge with only its
	// management sockets until it is changed.
	Error string `json:"error,omitempty"`
}

// BridgeDetail is one bridge with its ports.
type BridgeDetail struct {
	Bridge
	PortList []Port `json:"port_list"`
}

// PortSpec is a port's desired configuration (see bridge.PortSpec).
// Trunks "all" is the same as no trunk list.
type PortSpec = bridge.PortSpec

// Port states.
const (
	StateUp   = "up"
	StateDown = "down"
	// StateMissing is a saved port the agent could not open when it
	// started (its interface did not exist). It stays in the saved
	// configuration and comes back when the agent restarts and the
	// interface exists, or when it is added again.
	StateMissing = "missing"
)

// Port describes a port.
type Port struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	OFPort uint32    `json:"ofport"`
	VLAN   string    `json:"vlan"` // "access vlan 10", "trunk 10,20-30 native 10", ...
	State  string    `json:"state"`
	Error  string    `json:"error,omitempty"` // why a port is missing
	Spec   PortSpec  `json:"spec"`
	Stats  PortStats `json:"stats"`
	// SwitchTxDropped counts frames the switch dropped because the port's
	// transmit queue was full.
	SwitchTxDropped uint64 `json:"switch_tx_dropped"`
	// Bond is a bond port's state (type bond).
	Bond *Bond `json:"bond,omitempty"`
}

// Bond is a bond port's state: its mode, its active member and each
// member's link state and counters.
type Bond struct {
	Mode string `json:"mode"`
	// Active is the member that transmits and whose frames are received;
	// "" when every member is down.
	Active string `json:"active"`
	// Failovers counts changes of the active member.
	Failovers uint64       `json:"failovers"`
	Members   []BondMember `json:"members"`
}

// BondMember is one member of a bond, in failover order.
type BondMember struct {
	Name   string    `json:"name"`
	State  string    `json:"state"` // up or down
	Active bool      `json:"active"`
	Stats  PortStats `json:"stats"`
	// RxInactiveDropped counts frames the member received while it was a
	// backup (dropped, as Linux bonding does).
	RxInactiveDropped uint64 `json:"rx_inactive_dropped"`
}

// PortStats are a port's counters.
type PortStats struct {
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
	RxErrors  uint64 `json:"rx_errors"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxDropped uint64 `json:"tx_dropped"`
	TxErrors  uint64 `json:"tx_errors"`
}

// PortPatch changes some of a port's settings; nil fields keep their
// value. Setting any of VLAN, Trunks, Native and QinQ replaces the port's
// whole VLAN mode: {"vlan": 20} makes a trunk port an access port, and
// {"trunks": "all"} makes any port a trunk of every VLAN.
type PortPatch struct {
	VLAN            *int    `json:"vlan,omitempty"`
	Trunks          *string `json:"trunks,omitempty"`
	Native          *int    `json:"native_vlan,omitempty"`
	QinQ            *int    `json:"qinq,omitempty"`
	NoFlood         *bool   `json:"no_flood,omitempty"`
	ReflectiveRelay *bool   `json:"reflective_relay,omitempty"`
	MACLimit        *int    `json:"mac_limit,omitempty"`
}

// FlowLines are flows to add, in ovs-ofctl add-flow syntax. A request is
// all or none: if one line is bad, none is added and the error's Line
// names it.
type FlowLines struct {
	Lines []string `json:"lines"`
}

// FlowSelect selects flows to modify or delete. For a modification Flow
// includes the new actions; for a deletion an empty Flow selects every
// flow.
type FlowSelect struct {
	Flow   string `json:"flow"`
	Strict bool   `json:"strict,omitempty"`
}

// Count is how many flows or MACs a request added, changed or removed.
type Count struct {
	Count int `json:"count"`
}

// Flows is a flow dump, one line per flow as ovs-ofctl dump-flows prints.
type Flows struct {
	Flows []string `json:"flows"`
}

// MAC is a learned MAC address.
type MAC struct {
	Port       string `json:"port"`
	OFPort     uint32 `json:"ofport"`
	VLAN       uint16 `json:"vlan"`
	MAC        string `json:"mac"`
	AgeSeconds int    `json:"age_seconds"`
}

// TraceRequest describes the packet to trace, as ovs-appctl ofproto/trace
// takes it ("in_port=1,dl_src=...,dl_dst=...").
type TraceRequest struct {
	Packet string `json:"packet"`
}

// Trace is the engine's report on one packet.
type Trace struct {
	// Text is the whole report as `dvs trace` prints it.
	Text      string      `json:"text"`
	Flow      string      `json:"flow"`
	FinalFlow string      `json:"final_flow"`
	Megaflow  string      `json:"megaflow"`
	Actions   string      `json:"actions"`
	Drop      string      `json:"drop,omitempty"` // the drop reason, if dropped
	Steps     []TraceStep `json:"steps"`
	// Offload says whether the kernel fast path would forward such
	// packets ("tc: ...") or why not ("none: ...").
	Offload string `json:"offload,omitempty"`
}

// TraceStep is a table lookup (Table >= 0) or a note (Table == -1).
type TraceStep struct {
	Depth int    `json:"depth"`
	Table int    `json:"table"`
	Text  string `json:"text"`
}

// Stats are a bridge's counters.
type Stats struct {
	Ports  []Port       `json:"ports"`
	Tables []TableStats `json:"tables"`
	Cache  CacheStats   `json:"cache"`
	// Drops counts the packets the datapath dropped, by reason.
	Drops   map[string]uint64 `json:"drops"`
	MACs    MACStats          `json:"macs"`
	Offload OffloadStats      `json:"offload"`
}

// OffloadStats are the kernel fast path's state and counters.
type OffloadStats struct {
	Mode     string `json:"mode"`             // in use: tc or none
	Reason   string `json:"reason,omitempty"` // why none
	Entries  int    `json:"entries"`          // kernel flow entries
	Ports    int    `json:"ports"`            // ports with the programs attached
	Installs uint64 `json:"installs"`         // entries written
	Failed   uint64 `json:"failed"`           // entries the kernel refused (table full)
	Packets  uint64 `json:"packets"`          // packets forwarded in the kernel
	Bytes    uint64 `json:"bytes"`
	// PortEntries counts the kernel entries from or to each port (with the
	// kernel path attached), by port name.
	PortEntries map[string]int `json:"port_entries,omitempty"`
	// Orphans counts kernel entries from or to a port that is gone (0
	// unless something is wrong).
	Orphans int `json:"orphans"`
	// Peer counts the entries that hand packets straight to the ingress
	// of a veth's other end (its MAC is their destination).
	Peer int `json:"peer"`
}

// TableStats are one flow table's counters.
type TableStats struct {
	ID      uint8  `json:"id"`
	Rules   int    `json:"rules"`
	Lookups uint64 `json:"lookups"`
	Matched uint64 `json:"matched"`
}

// CacheStats are the flow caches' counters.
type CacheStats struct {
	Entries       int    `json:"entries"`
	Masks         int    `json:"masks"`
	Upcalls       uint64 `json:"upcalls"`
	Revalidations uint64 `json:"revalidations"`
	Replaced      uint64 `json:"replaced"`
	NotCached     uint64 `json:"not_cached"`
	EMCHits       uint64 `json:"emc_hits"`
	MegaflowHits  uint64 `json:"megaflow_hits"`
	Misses        uint64 `json:"misses"`
	Translations  uint64 `json:"translations"`
}

// MACStats are the MAC table's counters.
type MACStats struct {
	Entries int    `json:"entries"`
	Learned uint64 `json:"learned"`
	Moved   uint64 `json:"moved"`
	Expired uint64 `json:"expired"`
	Refused uint64 `json:"refused"`
	Flushed uint64 `json:"flushed"`
}
