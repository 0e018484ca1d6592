package resource

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Ranges of the numbers users give.
const (
	MinVLAN = 1
	MaxVLAN = 4094
	MinVNI  = 1
	MaxVNI  = 1<<24 - 1 // 16777215
	MinMTU  = 576
	MaxMTU  = 9216
	// DefaultMTU is a switch's MTU when the spec leaves it out: 1500 less
	// the VXLAN/Geneve overhead, so that the encapsulated frame fits a
	// standard underlay.
	DefaultMTU = 1450
)

// Overlay is how a switch carries traffic between hosts.
type Overlay string

// The overlays.
const (
	OverlayVXLAN  Overlay = "vxlan"
	OverlayGeneve Overlay = "geneve"
	OverlayVLAN   Overlay = "vlan" // no tunnel: tagged frames on the uplinks
)

// Tunneled reports whether the overlay encapsulates (and so needs VNIs and
// the remote port locations).
func (o Overlay) Tunneled() bool { return o == OverlayVXLAN || o == OverlayGeneve }

// Switch is one logical switch. It spans the hosts that have a port or an
// uplink on it.
type Switch struct {
	Header
	Spec   SwitchSpec   `json:"spec"`
	Status SwitchStatus `json:"status,omitzero"`
}

// SwitchSpec is a switch's desired state.
type SwitchSpec struct {
	Overlay     Overlay `json:"overlay"`
	MTU         int     `json:"mtu,omitempty"`
	Description string  `json:"description,omitempty"`
}

// SwitchStatus is what the manager reports about a switch.
type SwitchStatus struct {
	PortGroups int      `json:"portGroups,omitempty"`
	Ports      int      `json:"ports,omitempty"`
	Hosts      []string `json:"hosts,omitempty"` // participating hosts
}

// PortGroup is a set of ports with the same network settings (one VLAN or
// segment) on a switch.
type PortGroup struct {
	Header
	Spec   PortGroupSpec   `json:"spec"`
	Status PortGroupStatus `json:"status,omitzero"`
}

// PortGroupSpec is a port group's desired state. VLAN and Trunk exclude
// each other; on a vlan switch one of them is required.
type PortGroupSpec struct {
	Switch string `json:"switch"`
	// VLAN is the access VLAN of the group's ports (1..4094).
	VLAN int `json:"vlan,omitempty"`
	// Trunk makes the ports trunks carrying these VLANs.
	Trunk []VLANRange `json:"trunk,omitempty"`
	// VNI pins the segment id on a vxlan or geneve switch; left out, the
	// manager allocates one (Status.VNI).
	VNI         int           `json:"vni,omitempty"`
	QoS         *QoSSpec      `json:"qos,omitempty"`
	Security    *SecuritySpec `json:"security,omitempty"`
	Description string        `json:"description,omitempty"`
}

// QoSSpec is a placeholder for the port group's rate limits (kbit/s; 0 =
// unlimited). Agents do not apply it yet.
type QoSSpec struct {
	IngressKbps int64 `json:"ingressKbps,omitempty"`
	EgressKbps  int64 `json:"egressKbps,omitempty"`
}

// SecuritySpec is a placeholder for the port group's port security. Agents
// do not apply it yet.
type SecuritySpec struct {
	MACSpoofGuard bool     `json:"macSpoofGuard,omitempty"`
	IPSpoofGuard  bool     `json:"ipSpoofGuard,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}

// PortGroupStatus is what the manager reports about a port group.
type PortGroupStatus struct {
	// VNI is the segment id in use on an overlay switch: Spec.VNI, or the
	// one the manager allocated (kept across updates and restarts).
	VNI   int      `json:"vni,omitempty"`
	Ports int      `json:"ports,omitempty"`
	Hosts []string `json:"hosts,omitempty"` // hosts carrying the group
}

// VLANRange is an inclusive range of VLANs. It reads as a number (100) or
// a string ("100" or "100-199") and writes as a string.
type VLANRange struct {
	From, To int
}

func (r VLANRange) String() string {
	if r.From == r.To {
		return strconv.Itoa(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// MarshalJSON writes the range as a string.
func (r VLANRange) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads 100, "100" or "100-199".
func (r *VLANRange) UnmarshalJSON(b []byte) error {
	var n int
	if json.Unmarshal(b, &n) == nil {
		*r = VLANRange{n, n}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a VLAN range is a number or \"FROM-TO\", not %s", b)
	}
	from, to, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(from))
	b2, err2 := a, error(nil)
	if isRange {
		b2, err2 = strconv.Atoi(strings.TrimSpace(to))
	}
	if err1 != nil || err2 != nil {
		return fmt.Errorf("a VLAN range is a number or \"FROM-TO\", not %q", s)
	}
	*r = VLANRange{a, b2}
	return nil
}

// Host is a machine running an agent. Its agent registers it.
type Host struct {
	Header
	Spec   HostSpec   `json:"spec"`
	Status HostStatus `json:"status,omitzero"`
	// Credential is the SHA-256 (hex) of the host token the manager gave
	// the host's agent when it joined. The manager stores it and never
	// shows it; users cannot set it.
	Credential string `json:"credential,omitempty"`
}

// HostSpec is what the agent reports about its host when it registers.
type HostSpec struct {
	// Address is the underlay address: the VTEP of overlay tunnels.
	Address string `json:"address"`
	// Uplinks are the interfaces the host offers as uplinks.
	Uplinks      []string `json:"uplinks,omitempty"`
	AgentVersion string   `json:"agentVersion,omitempty"`
}

// Host states.
const (
	HostReady    = "Ready"    // watching, heartbeat fresh
	HostNotReady = "NotReady" // registered, but no stream or stale heartbeat
	HostUnknown  = "Unknown"  // never seen since the manager started
)

// HostStatus is what the manager knows about a host's agent. It lives in
// the manager's memory (not in the store): a restarted manager learns it
// again from the next heartbeat and ack.
type HostStatus struct {
	State         string     `json:"state,omitempty"`
	Connected     bool       `json:"connected,omitempty"` // a watch stream is open
	LastHeartbeat *time.Time `json:"lastHeartbeat,omitempty"`
	// HeartbeatAge is the time since LastHeartbeat when the status was
	// read, in seconds.
	HeartbeatAge *float64 `json:"heartbeatAgeSeconds,omitempty"`
	// TargetRevision is the revision of the last change to the host's
	// share; AckedRevision the one its agent reached.
	TargetRevision int64 `json:"targetRevision,omitempty"`
	AckedRevision  int64 `json:"ackedRevision,omitempty"`
	Converged      bool  `json:"converged,omitempty"`
}

// Uplink policies.
const (
	PolicyActiveBackup = "active-backup"
)

// Uplink connects a vlan switch to the physical network on one host: one
// interface, or several under a policy. The host's agent makes it a trunk
// port of the switch's bridge carrying the VLANs of the port groups the
// host has ports in; several interfaces become one active-backup bond
// port. Overlay (vxlan, geneve) switches take no uplink: their tunnels
// leave through the host's IP stack.
type Uplink struct {
	Header
	Spec   UplinkSpec   `json:"spec"`
	Status UplinkStatus `json:"status,omitzero"`
}

// UplinkStatus is what the manager reports about an uplink when it is read.
type UplinkStatus struct {
	// Warnings name problems that do not stop the uplink from being
	// applied: an interface its host does not report as an uplink.
	Warnings []string `json:"warnings,omitempty"`
}

// UplinkSpec is an uplink's desired state. Interface and Interfaces exclude
// each other.
type UplinkSpec struct {
	Switch     string   `json:"switch"`
	Host       string   `json:"host"`
	Interface  string   `json:"interface,omitempty"`
	Interfaces []string `json:"interfaces,omitempty"`
	// Policy says how several interfaces share the traffic; only
	// active-backup (the default) so far.
	Policy string `json:"policy,omitempty"`
}

// Interface types of a port's binding.
const (
	InterfaceTap  = "tap"
	InterfaceVeth = "veth"
)

// Port is a VM's or container's vNIC. It belongs to a port group; its
// binding says on which host, and on which local interface, it is now.
type Port struct {
	Header
	Spec   PortSpec   `json:"spec"`
	Status PortStatus `json:"status,omitzero"`
}

// PortSpec is a port's desired state. Host and Interface are the binding;
// a port with neither is unbound (known, but on no host).
type PortSpec struct {
	PortGroup     string   `json:"portGroup"`
	MAC           string   `json:"mac"`
	IPs           []string `json:"ips,omitempty"`
	Host          string   `json:"host,omitempty"`
	Interface     string   `json:"interface,omitempty"`
	InterfaceType string   `json:"interfaceType,omitempty"` // tap (default) or veth
}

// PortStatus is what the manager reports about a port.
type PortStatus struct {
	Switch string `json:"switch,omitempty"`
	// OFPort is the OpenFlow port number on its host, allocated by the
	// manager (1 and up, unique per host, kept while the binding stays).
	OFPort int `json:"ofport,omitempty"`
}

// Head implementations.

func (o *Switch) Head() *Header    { return &o.Header }
func (o *PortGroup) Head() *Header { return &o.Header }
func (o *Host) Head() *Header      { return &o.Header }
func (o *Uplink) Head() *Header    { return &o.Header }
func (o *Port) Head() *Header      { return &o.Header }

func (o *Switch) SpecJSON() []byte    { return canon(o.Spec) }
func (o *PortGroup) SpecJSON() []byte { return canon(o.Spec) }
func (o *Host) SpecJSON() []byte      { return canon(o.Spec) }
func (o *Uplink) SpecJSON() []byte    { return canon(o.Spec) }
func (o *Port) SpecJSON() []byte      { return canon(o.Spec) }

func (o *Switch) ClearStatus()    { o.Status = SwitchStatus{} }
func (o *PortGroup) ClearStatus() { o.Status = PortGroupStatus{} }
func (o *Host) ClearStatus()      { o.Status = HostStatus{} }
func (o *Uplink) ClearStatus()    { o.Status = UplinkStatus{} }
func (o *Port) ClearStatus()      { o.Status = PortStatus{} }

// Normalize implementations.

func (o *Switch) Normalize() {
	o.Spec.Overlay = Overlay(strings.ToLower(string(o.Spec.Overlay)))
	if o.Spec.MTU == 0 {
		o.Spec.MTU = DefaultMTU
	}
}

func (o *PortGroup) Normalize() {}

func (o *Host) Normalize() {
	if a, err := netip.ParseAddr(o.Spec.Address); err == nil {
		o.Spec.Address = a.String()
	}
}

func (o *Uplink) Normalize() {
	if len(o.Spec.Interfaces) == 1 && o.Spec.Interface == "" {
		o.Spec.Interface, o.Spec.Interfaces = o.Spec.Interfaces[0], nil
	}
	if len(o.Spec.Interfaces) > 1 && o.Spec.Policy == "" {
		o.Spec.Policy = PolicyActiveBackup
	}
}

func (o *Port) Normalize() {
	o.Spec.MAC = strings.ToLower(o.Spec.MAC)
	if o.Spec.Interface != "" && o.Spec.InterfaceType == "" {
		o.Spec.InterfaceType = InterfaceTap
	}
	for i, s := range o.Spec.IPs {
		if a, err := netip.ParseAddr(s); err == nil {
			o.Spec.IPs[i] = a.String()
		}
	}
}

// Validate implementations.

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

func validateName(field, s string) error {
	if s == "" {
		return invalidf("%s is required", field)
	}
	if !nameRE.MatchString(s) {
		return invalidf("%s %q: use 1 to 63 lower-case letters, digits, '-', '.' or '_', starting and ending with a letter or digit", field, s)
	}
	return nil
}

// validateIfName checks a Linux interface name.
func validateIfName(field, s string) error {
	if s == "" {
		return invalidf("%s is required", field)
	}
	if len(s) > 15 || strings.ContainsAny(s, "/ \t\n:") || s == "." || s == ".." {
		return invalidf("%s %q is not a valid interface name (at most 15 characters, no '/', ':' or spaces)", field, s)
	}
	return nil
}

func validateVLAN(field string, v int) error {
	if v < MinVLAN || v > MaxVLAN {
		return invalidf("%s %d is out of range (%d..%d)", field, v, MinVLAN, MaxVLAN)
	}
	return nil
}

// ValidateVNI checks a VNI's range.
func ValidateVNI(field string, v int) error {
	if v < MinVNI || v > MaxVNI {
		return invalidf("%s %d is out of range (%d..%d)", field, v, MinVNI, MaxVNI)
	}
	return nil
}

func (o *Switch) Validate() error {
	switch o.Spec.Overlay {
	case OverlayVXLAN, OverlayGeneve, OverlayVLAN:
	case "":
		return invalidf("spec.overlay is required (vxlan, geneve or vlan)")
	default:
		return invalidf("spec.overlay %q: want vxlan, geneve or vlan", o.Spec.Overlay)
	}
	if o.Spec.MTU < MinMTU || o.Spec.MTU > MaxMTU {
		return invalidf("spec.mtu %d is out of range (%d..%d)", o.Spec.MTU, MinMTU, MaxMTU)
	}
	return nil
}

func (o *PortGroup) Validate() error {
	if err := validateName("spec.switch", o.Spec.Switch); err != nil {
		return err
	}
	if o.Spec.VLAN != 0 && len(o.Spec.Trunk) > 0 {
		return invalidf("spec.vlan and spec.trunk exclude each other (access or trunk)")
	}
	if o.Spec.VLAN != 0 {
		if err := validateVLAN("spec.vlan", o.Spec.VLAN); err != nil {
			return err
		}
	}
	for i, r := range o.Spec.Trunk {
		f := fmt.Sprintf("spec.trunk[%d]", i)
		if err := validateVLAN(f, r.From); err != nil {
			return err
		}
		if err := validateVLAN(f, r.To); err != nil {
			return err
		}
		if r.From > r.To {
			return invalidf("%s %s: the range is backwards", f, r)
		}
	}
	if o.Spec.VNI != 0 {
		if err := ValidateVNI("spec.vni", o.Spec.VNI); err != nil {
			return err
		}
	}
	if q := o.Spec.QoS; q != nil && (q.IngressKbps < 0 || q.EgressKbps < 0) {
		return invalidf("spec.qos: rates cannot be negative")
	}
	return nil
}

func (o *Host) Validate() error {
	if o.Credential != "" {
		return invalidf("credential is set by the manager when the host's agent joins; leave it out")
	}
	a, err := netip.ParseAddr(o.Spec.Address)
	if err != nil {
		if o.Spec.Address == "" {
			return invalidf("spec.address (the host's underlay address) is required")
		}
		return invalidf("spec.address %q is not an IP address", o.Spec.Address)
	}
	if a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
		return invalidf("spec.address %s cannot be a tunnel endpoint", a)
	}
	for i, u := range o.Spec.Uplinks {
		if err := validateIfName(fmt.Sprintf("spec.uplinks[%d]", i), u); err != nil {
			return err
		}
		if slices.Index(o.Spec.Uplinks, u) != i {
			return invalidf("spec.uplinks lists %s twice", u)
		}
	}
	return nil
}

func (o *Uplink) Validate() error {
	if err := validateName("spec.switch", o.Spec.Switch); err != nil {
		return err
	}
	if err := validateName("spec.host", o.Spec.Host); err != nil {
		return err
	}
	switch {
	case o.Spec.Interface != "" && len(o.Spec.Interfaces) > 0:
		return invalidf("spec.interface and spec.interfaces exclude each other")
	case o.Spec.Interface != "":
		if o.Spec.Policy != "" {
			return invalidf("spec.policy needs several spec.interfaces")
		}
		return validateIfName("spec.interface", o.Spec.Interface)
	case len(o.Spec.Interfaces) == 0:
		return invalidf("spec.interface (or spec.interfaces with a policy) is required")
	}
	for i, s := range o.Spec.Interfaces {
		if err := validateIfName(fmt.Sprintf("spec.interfaces[%d]", i), s); err != nil {
			return err
		}
		if slices.Index(o.Spec.Interfaces, s) != i {
			return invalidf("spec.interfaces lists %s twice", s)
		}
	}
	if o.Spec.Policy != PolicyActiveBackup {
		return invalidf("spec.policy %q: only %s is supported", o.Spec.Policy, PolicyActiveBackup)
	}
	return nil
}

func (o *Port) Validate() error {
	if err := validateName("spec.portGroup", o.Spec.PortGroup); err != nil {
		return err
	}
	if o.Spec.MAC == "" {
		return invalidf("spec.mac is required")
	}
	if err := ValidateMAC(o.Spec.MAC); err != nil {
		return invalidf("spec.mac %q: %v", o.Spec.MAC, err)
	}
	for i, s := range o.Spec.IPs {
		if _, err := netip.ParseAddr(s); err != nil {
			return invalidf("spec.ips[%d] %q is not an IP address", i, s)
		}
	}
	switch {
	case o.Spec.Host == "" && o.Spec.Interface == "":
		if o.Spec.InterfaceType != "" {
			return invalidf("spec.interfaceType needs a binding (spec.host and spec.interface)")
		}
		return nil // unbound
	case o.Spec.Host == "":
		return invalidf("spec.interface needs spec.host (the binding is a host and an interface)")
	case o.Spec.Interface == "":
		return invalidf("spec.host needs spec.interface (the binding is a host and an interface)")
	}
	if err := validateName("spec.host", o.Spec.Host); err != nil {
		return err
	}
	if err := validateIfName("spec.interface", o.Spec.Interface); err != nil {
		return err
	}
	if t := o.Spec.InterfaceType; t != InterfaceTap && t != InterfaceVeth {
		return invalidf("spec.interfaceType %q: want tap or veth", t)
	}
	return nil
}

// ValidateMAC checks that s is a unicast, non-zero Ethernet address
// written as six colon-separated hex pairs.
func ValidateMAC(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return fmt.Errorf("want six hex pairs like 02:00:00:00:00:01")
	}
	var b [6]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 8)
		if len(p) != 2 || err != nil {
			return fmt.Errorf("want six hex pairs like 02:00:00:00:00:01")
		}
		b[i] = byte(v)
	}
	if b == [6]byte{} {
		return fmt.Errorf("the zero address is not a port's address")
	}
	if b[0]&1 != 0 {
		return fmt.Errorf("a multicast address is not a port's address")
	}
	return nil
}

func yamlToJSON(doc []byte) ([]byte, error) { return yaml.YAMLToJSONStrict(doc) }

func yamlMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
}

// MarshalYAML encodes v (a resource or a list of them) as YAML.
func MarshalYAML(v any) ([]byte, error) { return yaml.Marshal(v) }
