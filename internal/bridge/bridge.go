// Package bridge assembles one switch: its pipeline, flow cache, datapath,
// workers and ports, behind the operations a user performs (add a port,
// add flows, trace a packet, read counters). A new bridge behaves as a
// VLAN-aware learning switch: its table 0 holds a priority-0 NORMAL rule.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/bond"
	"github.com/dvs-project/dvs/internal/datapath/netlinkmon"
	"github.com/dvs-project/dvs/internal/datapath/offload"
	"github.com/dvs-project/dvs/internal/datapath/tunnel"
	"github.com/dvs-project/dvs/internal/feature/l2"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// Config configures a bridge.
type Config struct {
	Name string
	// Workers is the number of packet worker goroutines; 0 = one per CPU.
	Workers int
	// NoDefaultFlows leaves table 0 empty instead of adding the NORMAL rule
	// (used when restoring a saved flow table).
	NoDefaultFlows bool
	MAC            l2.Config
	Cache          cache.Config
	// Sweep is the housekeeping period (statistics, idle flows, MAC aging,
	// rule timeouts, link state); 0 = one second.
	Sweep time.Duration
	// DatapathID is the OpenFlow datapath id; 0 = derived from the name.
	DatapathID uint64
	// OnFailover, if set, is called (from the bridge's housekeeping
	// goroutine) when a bond's active member changes to another member,
	// after the bridge announced the learned MACs through it.
	OnFailover func(bond, active string)
	// Offload is the kernel fast path: offload.ModeTC (the default, "")
	// or offload.ModeNone. Without BPF support tc falls back to none
	// (Stats().Offload.Reason says why).
	Offload string
}

// Port types.
const (
	TypeAFPacket = "afpacket"
	TypeTap      = "tap"
	TypeInternal = "internal"
	TypeVXLAN    = "vxlan"
	TypeGeneve   = "geneve"
	// TypeBond is an active-backup bond of afpacket members (package
	// datapath/bond): one port, named by the user, over Members.
	TypeBond = "bond"
)

// IsTunnel reports whether typ is an overlay tunnel port type (a port of
// the bridge itself, with no kernel interface).
func IsTunnel(typ string) bool { return typ == TypeVXLAN || typ == TypeGeneve }

// PortSpec is a port's desired configuration.
type PortSpec struct {
	Name   string `json:"name"`
	Type   string `json:"type,omitempty"`   // afpacket (default), tap, internal
	OFPort uint32 `json:"ofport,omitempty"` // 0 = the lowest free number
	// VLAN mode: at most one of VLAN (access), Trunks (trunk list) with an
	// optional Native, QinQ (service VLAN). None = trunk of all VLANs.
	VLAN            int    `json:"vlan,omitempty"`
	Trunks          string `json:"trunks,omitempty"`
	Native          int    `json:"native_vlan,omitempty"`
	QinQ            int    `json:"qinq,omitempty"`
	NoFlood         bool   `json:"no_flood,omitempty"`
	ReflectiveRelay bool   `json:"reflective_relay,omitempty"`
	MACLimit        int    `json:"mac_limit,omitempty"`

	// Tunnel options (types vxlan and geneve). RemoteIP is required;
	// LocalIP is the address to bind (default: any); Key is a VNI
	// (0-16777215, default 0) or "flow" (the VNI is the packet's tun_id);
	// DstPort is the UDP port (default 4789 for vxlan, 6081 for geneve).
	RemoteIP string `json:"remote_ip,omitempty"`
	LocalIP  string `json:"local_ip,omitempty"`
	Key      string `json:"key,omitempty"`
	DstPort  int    `json:"dst_port,omitempty"`

	// Bond options (type bond). Members are the member interfaces in
	// failover order, comma separated ("eth1,eth2"); BondMode is
	// active-backup (the default and only mode).
	Members  string `json:"members,omitempty"`
	BondMode string `json:"bond_mode,omitempty"`
}

// BondMembers validates the spec's bond options and returns the members
// (for type bond), or rejects bond options on another type.
func (s *PortSpec) BondMembers() ([]string, error) {
	if s.Type != TypeBond {
		if s.Members != "" || s.BondMode != "" {
			return nil, fmt.Errorf("--members and --bond-mode are for bond ports, not %s", s.Type)
		}
		return nil, nil
	}
	if s.BondMode != "" && s.BondMode != bond.ModeActiveBackup {
		return nil, fmt.Errorf("bond mode %q: only %s is supported", s.BondMode, bond.ModeActiveBackup)
	}
	if strings.TrimSpace(s.Members) == "" {
		return nil, errors.New("a bond port needs its member interfaces (--members eth1,eth2)")
	}
	var out []string
	for _, m := range strings.Split(s.Members, ",") {
		m = strings.TrimSpace(m)
		switch {
		case m == "":
			return nil, fmt.Errorf("members %q: an empty name", s.Members)
		case m == s.Name:
			return nil, fmt.Errorf("member %s: a bond cannot be its own member (name the bond differently)", m)
		case slices.Contains(out, m):
			return nil, fmt.Errorf("member %s is listed twice", m)
		}
		out = append(out, m)
	}
	return out, nil
}

// TunnelConfig validates the spec's tunnel options and returns them (for
// a tunnel port type), or rejects tunnel options on another type.
func (s *PortSpec) TunnelConfig() (tunnel.Config, error) {
	if !IsTunnel(s.Type) {
		if s.RemoteIP != "" || s.LocalIP != "" || s.Key != "" || s.DstPort != 0 {
			return tunnel.Config{}, fmt.Errorf("--remote-ip, --local-ip, --key and --dst-port are for vxlan and geneve ports, not %s", s.Type)
		}
		return tunnel.Config{}, nil
	}
	c := tunnel.Config{Name: s.Name, Kind: tunnel.VXLAN}
	if s.Type == TypeGeneve {
		c.Kind = tunnel.Geneve
	}
	if s.RemoteIP == "" {
		return c, errors.New("a tunnel port needs a remote IP (--remote-ip)")
	}
	var err error
	if c.Remote, err = netip.ParseAddr(s.RemoteIP); err != nil || !c.Remote.Is4() || c.Remote.IsUnspecified() || c.Remote.IsMulticast() {
		return c, fmt.Errorf("remote IP %q: want a unicast IPv4 address", s.RemoteIP)
	}
	if s.LocalIP != "" {
		if c.Local, err = netip.ParseAddr(s.LocalIP); err != nil || !c.Local.Is4() || c.Local.IsMulticast() {
			return c, fmt.Errorf("local IP %q: want an IPv4 address", s.LocalIP)
		}
	}
	switch k := strings.TrimSpace(s.Key); {
	case k == "flow":
		c.KeyFlow = true
	case k == "":
	default:
		v, err := strconv.ParseUint(k, 0, 32)
		if err != nil || v > tunnel.MaxVNI {
			return c, fmt.Errorf("key %q: want a VNI (0-%d) or \"flow\"", s.Key, tunnel.MaxVNI)
		}
		c.VNI = uint32(v)
	}
	if s.DstPort < 0 || s.DstPort > 65535 {
		return c, fmt.Errorf("UDP port %d: want 1-65535", s.DstPort)
	}
	c.DstPort = uint16(s.DstPort)
	return c, nil
}

// VLANConfig validates the spec's VLAN settings and returns them.
func (s *PortSpec) VLANConfig() (vlan.Config, error) {
	modes := 0
	for _, set := range []bool{s.VLAN != 0, s.Trunks != "" || s.Native != 0, s.QinQ != 0} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return vlan.Config{}, errors.New("choose one of --vlan, --trunk/--native-vlan and --qinq")
	}
	var c vlan.Config
	switch {
	case s.VLAN != 0:
		c = vlan.Config{Mode: vlan.Access, Tag: uint16(s.VLAN)}
		if err := vlan.CheckVID(s.VLAN); err != nil {
			return c, err
		}
	case s.QinQ != 0:
		if err := vlan.CheckVID(s.QinQ); err != nil {
			return c, err
		}
		c = vlan.Config{Mode: vlan.QinQ, Tag: uint16(s.QinQ)}
	default:
		c.Mode = vlan.Trunk
		if s.Native != 0 {
			if err := vlan.CheckVID(s.Native); err != nil {
				return c, fmt.Errorf("native %w", err)
			}
			c.Native = uint16(s.Native)
		}
		if s.Trunks != "" {
			set, err := vlan.ParseSet(s.Trunks)
			if err != nil {
				return c, err
			}
			c.Trunks = set
		}
	}
	return c, c.Validate()
}

// Opener creates the datapath port a spec describes.
type Opener func(spec PortSpec) (datapath.Port, error)

// Bridge is one running switch.
type Bridge struct {
	name string
	cfg  Config
	pipe *pipeline.Pipeline
	c    *cache.Cache
	dp   *datapath.Datapath
	ws   *datapath.Workers
	open Opener
	tuns *tunnel.Registry // the bridge's tunnel sockets

	mu    sync.Mutex // serializes configuration changes
	ports map[string]*portState

	hookMu sync.Mutex
	hooks  Hooks

	// The kernel fast path: gen is the pipeline's generation counter in
	// BPF memory (nil without BPF), kp the programs (nil when off), under
	// mu; offloadWhy says why it is off.
	gen        *offload.Gen
	kp         *offload.Path
	offloadWhy string

	mon      *netlinkmon.Monitor // nil if netlink is unavailable: polling only
	linkKick chan struct{}       // a link changed: re-read link states now
	stop     chan struct{}
	done     chan struct{}
}

type portState struct {
	spec PortSpec
	no   uint32
	port datapath.Port
	// offloadErr says why the kernel fast path could not attach.
	offloadErr string
}

// Errors.
var (
	ErrPortExists = errors.New("port already exists")
	ErrNoPort     = errors.New("no such port")
)

// New creates and starts a bridge.
func New(cfg Config, open Opener) (*Bridge, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = time.Second
	}
	switch cfg.Offload {
	case "":
		cfg.Offload = offload.ModeTC
	case offload.ModeTC, offload.ModeNone:
	default:
		return nil, fmt.Errorf("offload %q: want %s or %s", cfg.Offload, offload.ModeTC, offload.ModeNone)
	}
	// The generation counter lives in BPF memory whenever the kernel has
	// BPF, so the kernel path can be switched on later.
	pcfg := pipeline.Config{MAC: cfg.MAC}
	gen, genErr := offload.NewGen()
	if genErr == nil {
		pcfg.Gen = gen.Counter()
	}
	p := pipeline.New(pcfg)
	if gen != nil {
		// The counter is the pipeline's: unmap it when the pipeline is gone.
		runtime.AddCleanup(p, func(g *offload.Gen) { g.Close() }, gen)
	}
	if !cfg.NoDefaultFlows {
		r, err := flowtext.ParseRule("table=0,priority=0,actions=NORMAL")
		if err != nil {
			return nil, err
		}
		if err := p.AddRule(r); err != nil {
			return nil, err
		}
	}
	c := cache.New(p, cfg.Cache)
	d := datapath.New(c)
	ws, err := d.Start(cfg.Workers)
	if err != nil {
		return nil, fmt.Errorf("starting workers: %w", err)
	}
	b := &Bridge{name: cfg.Name, cfg: cfg, pipe: p, c: c, dp: d, ws: ws, open: open, tuns: tunnel.NewRegistry(d.CountDrop),
		ports: map[string]*portState{}, linkKick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		gen: gen, offloadWhy: "switched off"}
	if genErr != nil {
		b.offloadWhy = genErr.Error()
	}
	if cfg.Offload == offload.ModeTC {
		b.mu.Lock()
		b.startOffloadLocked()
		b.mu.Unlock()
	}
	// Follow links through netlink so a port going down (or up, or
	// changing MTU) takes effect at once; the periodic sweep re-reads them
	// anyway, so a bridge without netlink still follows within a second.
	mon, err := netlinkmon.Watch(context.Background(), netlinkmon.Options{
		OnChange: func(netlinkmon.State, bool) {
			select {
			case b.linkKick <- struct{}{}:
			default:
			}
		},
	})
	if err == nil {
		b.mon = mon
	}
	go b.housekeeping()
	return b, nil
}

// startOffloadLocked loads the kernel fast path and attaches it to the
// AF_PACKET ports; if the kernel cannot, the bridge stays in userspace and
// offloadWhy says why.
func (b *Bridge) startOffloadLocked() {
	if b.kp != nil {
		return
	}
	if b.gen == nil {
		return // offloadWhy says why
	}
	kp, err := offload.New(b.gen, offload.Config{})
	if err != nil {
		b.offloadWhy = err.Error()
		return
	}
	b.kp, b.offloadWhy = kp, ""
	for _, ps := range b.ports {
		b.attachOffloadLocked(ps)
	}
	b.c.SetOffload(kp)
	b.dp.SetKernelPath(kp)
}

// stopOffloadLocked detaches the kernel fast path; its entries' counts are
// credited first.
func (b *Bridge) stopOffloadLocked(why string) {
	if b.kp == nil {
		return
	}
	b.dp.SetKernelPath(nil)
	b.kp.Close()
	b.c.SetOffload(nil)
	b.kp, b.offloadWhy = nil, why
}

func (b *Bridge) attachOffloadLocked(ps *portState) {
	if q, ok := ps.port.(offload.Port); ok && b.kp != nil {
		if err := b.kp.Attach(q); err != nil {
			ps.offloadErr = err.Error()
		}
	}
}

// SetOffload switches the kernel fast path (offload.ModeTC or ModeNone).
// Switching it on fails if the kernel cannot run it.
func (b *Bridge) SetOffload(mode string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch mode {
	case offload.ModeNone:
		b.stopOffloadLocked("switched off")
	case offload.ModeTC:
		b.startOffloadLocked()
		if b.kp == nil {
			return fmt.Errorf("kernel offload: %s", b.offloadWhy)
		}
	default:
		return fmt.Errorf("offload %q: want %s or %s", mode, offload.ModeTC, offload.ModeNone)
	}
	b.cfg.Offload = mode
	return nil
}

// Offload returns the kernel fast path's mode in use ("tc" or "none") and,
// when none, why.
func (b *Bridge) Offload() (mode, why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kp != nil {
		return offload.ModeTC, ""
	}
	return offload.ModeNone, b.offloadWhy
}

// Name returns the bridge's name.
func (b *Bridge) Name() string { return b.name }

// Pipeline returns the bridge's pipeline (for tests and the OpenFlow channel).
func (b *Bridge) Pipeline() *pipeline.Pipeline { return b.pipe }

// Close stops the bridge and closes its ports.
func (b *Bridge) Close() {
	close(b.stop)
	<-b.done
	if b.mon != nil {
		b.mon.Close()
	}
	b.ws.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopOffloadLocked("the bridge is closed")
	for _, ps := range b.ports {
		ps.port.Close()
	}
	b.ports = map[string]*portState{}
}

func (b *Bridge) housekeeping() {
	defer close(b.done)
	t := time.NewTicker(b.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			if exp := b.c.Sweep(now); len(exp) > 0 {
				if h := b.getHooks(); h.Expired != nil {
					h.Expired(exp)
				}
			}
			b.followLinks()
		case <-b.linkKick:
			b.followLinks()
		}
	}
}

// followLinks updates the pipeline with the link state of ports that
// report one (a down port is skipped for output and flooding) and the
// datapath with their MTU.
func (b *Bridge) followLinks() {
	var changed []string
	var failovers []failover
	b.mu.Lock()
	for name, ps := range b.ports {
		if bp, ok := ps.port.(*bond.Port); ok {
			// Before LinkUp, which reports the state Update leaves.
			if moved, active := bp.Update(); moved && active != "" {
				pp, _ := b.pipe.Port(ps.no)
				failovers = append(failovers, failover{bond: name, no: ps.no, active: active, vlan: pp.VLAN})
			}
		}
		if ls, ok := ps.port.(datapath.LinkStater); ok {
			up := ls.LinkUp()
			if q, ok := b.pipe.Port(ps.no); ok && q.Up != up {
				b.pipe.SetPortUp(ps.no, up)
				changed = append(changed, name)
			}
		}
		if IsTunnel(ps.spec.Type) {
			// The name is no interface's; the underlay's MTU matters.
			b.dp.RefreshTxLimit(ps.no)
		} else if mtu := b.portMTU(ps.spec, ps.port); mtu > 0 {
			b.dp.SetMTU(ps.no, mtu)
		}
	}
	b.mu.Unlock()
	for _, f := range failovers {
		b.announceFailover(f)
	}
	for _, name := range changed {
		if info, err := b.Port(name); err == nil {
			b.portEvent(PortModified, info)
		}
	}
}

// portMTU returns the MTU of a port's interface: for a bond the smallest
// of its members', for a tunnel none (0).
func (b *Bridge) portMTU(spec PortSpec, port datapath.Port) int {
	if IsTunnel(spec.Type) {
		return 0
	}
	names := []string{spec.Name}
	if bp, ok := port.(*bond.Port); ok {
		names = bp.Members()
	}
	mtu := 0
	for _, n := range names {
		if ifc, err := net.InterfaceByName(n); err == nil && (mtu == 0 || ifc.MTU < mtu) {
			mtu = ifc.MTU
		}
	}
	return mtu
}

// AddPort opens the port spec describes and adds it; it returns the
// OpenFlow port number.
func (b *Bridge) AddPort(spec PortSpec) (uint32, error) {
	if spec.Type == "" {
		spec.Type = TypeAFPacket
	}
	switch spec.Type {
	case TypeAFPacket, TypeTap, TypeInternal, TypeVXLAN, TypeGeneve, TypeBond:
	default:
		return 0, fmt.Errorf("unknown port type %q (want afpacket, tap, internal, vxlan, geneve or bond)", spec.Type)
	}
	vc, err := spec.VLANConfig()
	if err != nil {
		return 0, fmt.Errorf("port %s: %w", spec.Name, err)
	}
	tc, err := spec.TunnelConfig()
	if err != nil {
		return 0, fmt.Errorf("port %s: %w", spec.Name, err)
	}
	members, err := spec.BondMembers()
	if err != nil {
		return 0, fmt.Errorf("port %s: %w", spec.Name, err)
	}
	if spec.OFPort > flow.PortMax {
		return 0, fmt.Errorf("port %s: OpenFlow port number %d is reserved", spec.Name, spec.OFPort)
	}
	b.mu.Lock()
	info, err := b.addPortLocked(spec, vc, tc, members)
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	b.portEvent(PortAdded, info) // outside b.mu: hooks may read the bridge
	return info.OFPort, nil
}

func (b *Bridge) addPortLocked(spec PortSpec, vc vlan.Config, tc tunnel.Config, members []string) (PortInfo, error) {
	if _, ok := b.ports[spec.Name]; ok {
		return PortInfo{}, fmt.Errorf("port %s: %w on bridge %s", spec.Name, ErrPortExists, b.name)
	}
	// An interface is one port: a bond's member is no port of its own.
	for _, ps := range b.ports {
		if bp, ok := ps.port.(*bond.Port); ok && slices.Contains(bp.Members(), spec.Name) {
			return PortInfo{}, fmt.Errorf("port %s: %w on bridge %s (a member of bond %s)", spec.Name, ErrPortExists, b.name, ps.spec.Name)
		}
		for _, m := range members {
			if m == ps.spec.Name {
				return PortInfo{}, fmt.Errorf("port %s: member %s is already a port of bridge %s", spec.Name, m, b.name)
			}
			if bp, ok := ps.port.(*bond.Port); ok && slices.Contains(bp.Members(), m) {
				return PortInfo{}, fmt.Errorf("port %s: member %s is already in bond %s", spec.Name, m, ps.spec.Name)
			}
		}
	}
	no := spec.OFPort
	if no == 0 {
		no = b.freeNumberLocked()
	} else {
		for _, ps := range b.ports {
			if ps.no == no {
				return PortInfo{}, fmt.Errorf("port %s: OpenFlow port number %d is taken by %s", spec.Name, no, ps.spec.Name)
			}
		}
	}
	var port datapath.Port
	var err error
	if IsTunnel(spec.Type) {
		// A tunnel port belongs to the bridge (it shares the bridge's
		// sockets), not to an interface, so the bridge opens it.
		tc.OFPort = no
		port, err = b.tuns.Open(tc)
	} else if spec.Type == TypeBond {
		port, err = b.openBond(spec.Name, members)
	} else {
		port, err = b.open(spec)
	}
	if err != nil {
		return PortInfo{}, fmt.Errorf("port %s: %w", spec.Name, err)
	}
	up := true
	if ls, ok := port.(datapath.LinkStater); ok {
		up = ls.LinkUp()
	}
	if err := b.pipe.SetPort(pipeline.Port{No: no, Name: spec.Name, VLAN: vc, Up: up, NoFlood: spec.NoFlood,
		ReflectiveRelay: spec.ReflectiveRelay, MACLimit: spec.MACLimit}); err != nil {
		port.Close()
		return PortInfo{}, err
	}
	if _, err := b.dp.Attach(no, port); err != nil {
		b.pipe.RemovePort(no)
		port.Close()
		return PortInfo{}, err
	}
	if mtu := b.portMTU(spec, port); mtu > 0 {
		b.dp.SetMTU(no, mtu)
	}
	spec.OFPort = no
	b.ports[spec.Name] = &portState{spec: spec, no: no, port: port}
	b.attachOffloadLocked(b.ports[spec.Name])
	return b.portInfoLocked(b.ports[spec.Name]), nil
}

func (b *Bridge) freeNumberLocked() uint32 {
	used := map[uint32]bool{}
	for _, ps := range b.ports {
		used[ps.no] = true
	}
	for no := uint32(1); ; no++ {
		if !used[no] {
			return no
		}
	}
}

// DelPort removes a port and closes it.
func (b *Bridge) DelPort(name string) error {
	b.mu.Lock()
	ps, ok := b.ports[name]
	if !ok {
		b.mu.Unlock()
		return fmt.Errorf("port %s: %w on bridge %s", name, ErrNoPort, b.name)
	}
	info := b.portInfoLocked(ps)
	b.pipe.RemovePort(ps.no)
	if q, ok := ps.port.(offload.Port); ok && b.kp != nil {
		b.kp.Detach(q.Ifindex())
	}
	b.dp.Detach(ps.no)
	b.ws.Sync()
	ps.port.Close()
	delete(b.ports, name)
	b.mu.Unlock()
	b.portEvent(PortDeleted, info) // outside b.mu: hooks may read the bridge
	return nil
}

// SetPort changes a port's VLAN and switching options (not its type, name
// or number).
func (b *Bridge) SetPort(spec PortSpec) error {
	vc, err := spec.VLANConfig()
	if err != nil {
		return fmt.Errorf("port %s: %w", spec.Name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ps, ok := b.ports[spec.Name]
	if !ok {
		return fmt.Errorf("port %s: %w on bridge %s", spec.Name, ErrNoPort, b.name)
	}
	if spec.Type != "" && spec.Type != ps.spec.Type {
		return fmt.Errorf("port %s: the type cannot change (delete and add it)", spec.Name)
	}
	if spec.OFPort != 0 && spec.OFPort != ps.no {
		return fmt.Errorf("port %s: the OpenFlow port number cannot change", spec.Name)
	}
	if spec.RemoteIP != ps.spec.RemoteIP || spec.LocalIP != ps.spec.LocalIP || spec.Key != ps.spec.Key || spec.DstPort != ps.spec.DstPort {
		return fmt.Errorf("port %s: tunnel options cannot change (delete and add the port)", spec.Name)
	}
	if spec.Members != ps.spec.Members || spec.BondMode != ps.spec.BondMode {
		return fmt.Errorf("port %s: bond members and mode cannot change (delete and add the port)", spec.Name)
	}
	cur, _ := b.pipe.Port(ps.no)
	cur.VLAN, cur.NoFlood, cur.ReflectiveRelay, cur.MACLimit = vc, spec.NoFlood, spec.ReflectiveRelay, spec.MACLimit
	if err := b.pipe.SetPort(cur); err != nil {
		return err
	}
	spec.Type, spec.OFPort = ps.spec.Type, ps.no
	ps.spec = spec
	return nil
}

// PortInfo describes a port for listings.
type PortInfo struct {
	Spec   PortSpec            `json:"spec"`
	OFPort uint32              `json:"ofport"`
	VLAN   string              `json:"vlan"`
	Up     bool                `json:"up"` // link state
	Config pipeline.PortConfig `json:"of_config,omitempty"`
	MAC    string              `json:"mac,omitempty"`
	Stats  datapath.PortStats  `json:"stats"`
	Drops  uint64              `json:"switch_tx_dropped"`
	// Bond is a bond port's state: its active member and per-member
	// counters.
	Bond *bond.Status `json:"bond,omitempty"`
	// OffloadError says why the kernel fast path is not attached to the port.
	OffloadError string `json:"offload_error,omitempty"`
}

func (b *Bridge) portInfoLocked(ps *portState) PortInfo {
	pp, _ := b.pipe.Port(ps.no)
	info := PortInfo{Spec: ps.spec, OFPort: ps.no, VLAN: pp.VLAN.String(), Up: pp.Up, Config: pp.Config, Stats: ps.port.Stats(),
		OffloadError: ps.offloadErr}
	if mac := hwAddr(ps.spec.Name); mac != nil && !IsTunnel(ps.spec.Type) {
		info.MAC = mac.String()
	}
	if d := b.dp.Port(ps.no); d != nil {
		info.Drops = d.TxDropped()
	}
	if bp, ok := ps.port.(*bond.Port); ok {
		st := bp.Status()
		info.Bond = &st
	}
	return info
}

// Ports returns the ports sorted by OpenFlow number.
func (b *Bridge) Ports() []PortInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]PortInfo, 0, len(b.ports))
	for _, ps := range b.ports {
		out = append(out, b.portInfoLocked(ps))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OFPort < out[j].OFPort })
	return out
}

// Port returns one port's description.
func (b *Bridge) Port(name string) (PortInfo, error) {
	for _, p := range b.Ports() {
		if p.Spec.Name == name {
			return p, nil
		}
	}
	return PortInfo{}, fmt.Errorf("port %s: %w on bridge %s", name, ErrNoPort, b.name)
}

// PortSpecs returns the specs of all ports (for saving).
func (b *Bridge) PortSpecs() []PortSpec {
	var out []PortSpec
	for _, p := range b.Ports() {
		out = append(out, p.Spec)
	}
	return out
}

func (b *Bridge) portNumber(name string) (uint32, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ps, ok := b.ports[name]; ok {
		return ps.no, true
	}
	return 0, false
}

func (b *Bridge) portName(no uint32) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, ps := range b.ports {
		if ps.no == no {
			return name, true
		}
	}
	return "", false
}

// AddFlows parses and adds rules (one per text); all or none are added.
// Errors name the line (1-based) of the text that failed.
func (b *Bridge) AddFlows(texts []string) error {
	rules := make([]*flow.Rule, 0, len(texts))
	for i, s := range texts {
		r, err := flowtext.ParseRule(s, flowtext.WithPortNames(b.portNumber))
		if err != nil {
			if len(texts) > 1 {
				return fmt.Errorf("line %d: %w", i+1, err)
			}
			return err
		}
		rules = append(rules, r)
	}
	return b.pipe.AddRules(rules)
}

func (b *Bridge) filter(text string, strict bool) (pipeline.Filter, error) {
	spec, err := flowtext.ParseFlowSpec(text, flowtext.WithPortNames(b.portNumber))
	if err != nil {
		return pipeline.Filter{}, err
	}
	return pipeline.Filter{Table: spec.Table, Match: spec.Match, Strict: strict, Priority: spec.Priority,
		Cookie: spec.Cookie, CookieMask: spec.CookieMask, OutPort: spec.OutPort}, nil
}

// ModFlows replaces the actions of the rules text selects with text's
// actions and returns how many changed.
func (b *Bridge) ModFlows(text string, strict bool) (int, error) {
	r, err := flowtext.ParseRule(text, flowtext.WithPortNames(b.portNumber))
	if err != nil {
		return 0, err
	}
	f, err := b.filter(stripActions(text), strict)
	if err != nil {
		return 0, err
	}
	return b.pipe.ModifyRules(f, r.Instructions, r.Flags&flow.FlagResetCounts != 0)
}

// stripActions removes the actions= part of a flow text.
func stripActions(text string) string {
	if i := strings.Index(text, "actions="); i >= 0 {
		return strings.TrimRight(strings.TrimSpace(text[:i]), ", ")
	}
	return text
}

// DelFlows deletes the rules text selects (all rules for an empty text)
// and returns how many.
func (b *Bridge) DelFlows(text string, strict bool) (int, error) {
	f, err := b.filter(text, strict)
	if err != nil {
		return 0, err
	}
	return len(b.pipe.DeleteRules(f)), nil
}

// DumpFlows returns the rules text selects, printed as ovs-ofctl
// dump-flows does (with counters when stats is set).
func (b *Bridge) DumpFlows(text string, stats bool) ([]string, error) {
	f, err := b.filter(text, false)
	if err != nil {
		return nil, err
	}
	b.c.PushStats()
	now := time.Now()
	var out []string
	for _, r := range b.pipe.Rules(f) {
		out = append(out, flowtext.FormatRule(r, flowtext.FormatOptions{Stats: stats, Now: now, PortName: b.portName}))
	}
	return out, nil
}

// MACs returns the learned MACs in vlan (0 = all).
func (b *Bridge) MACs(vlan uint16) []l2.Entry { return b.pipe.MACs().Entries(vlan) }

// FlushMACs forgets every learned MAC.
func (b *Bridge) FlushMACs() int {
	n := b.pipe.MACs().Flush(0)
	b.pipe.Invalidate()
	return n
}

// Trace walks a packet description through the bridge without learning.
func (b *Bridge) Trace(desc string) (*pipeline.Trace, error) {
	k, err := flowtext.ParsePacket(desc, flowtext.WithPortNames(b.portNumber))
	if err != nil {
		return nil, err
	}
	tr := &pipeline.Trace{}
	b.pipe.Translate(&k, pipeline.Options{NoLearn: true, Trace: tr})
	tr.Offload = b.offloadVerdict(&k, tr)
	return tr, nil
}

// offloadVerdict says whether the kernel fast path would forward the
// traced packet's megaflow, and if not, why.
func (b *Bridge) offloadVerdict(k *flow.Key, tr *pipeline.Trace) string {
	b.mu.Lock()
	kp, why := b.kp, b.offloadWhy
	b.mu.Unlock()
	if kp == nil {
		return "none: " + why
	}
	in, out, why := b.dp.Offloadable(k.InPort, &tr.Mask, tr.Actions)
	switch {
	case why != "":
		return "none: " + why
	case !kp.Attached(in) || !kp.Attached(out):
		return "none: the kernel path is not attached to both ports"
	}
	if _, ok := offload.KeyOf(k, in); !ok {
		return "none: packets with this type or these tags stay in userspace"
	}
	return fmt.Sprintf("tc: the kernel forwards such packets (ifindex %d -> %d) at this generation", in, out)
}

// Stats are a bridge's counters.
type Stats struct {
	Ports        []PortInfo            `json:"ports"`
	Tables       []pipeline.TableStats `json:"tables"`
	Cache        cache.Stats           `json:"cache"`
	EMCHits      uint64                `json:"emc_hits"`
	MegaflowHits uint64                `json:"megaflow_hits"`
	Misses       uint64                `json:"misses"`
	Translations uint64                `json:"translations"`
	Drops        map[string]uint64     `json:"drops"`
	MACs         int                   `json:"macs"`
	MACCounters  l2.Counters           `json:"mac_counters"`
	Offload      OffloadStats          `json:"offload"`
}

// OffloadStats are the kernel fast path's state and counters.
type OffloadStats struct {
	offload.Stats
	Reason string `json:"reason,omitempty"` // why the mode is none
	// PortEntries counts the kernel entries from or to each port, by name.
	PortEntries map[string]int `json:"port_entries,omitempty"`
}

// Stats returns the bridge's counters.
func (b *Bridge) Stats() Stats {
	b.c.PushStats() // credits ports with the kernel path's traffic
	s := Stats{Ports: b.Ports(), Tables: b.pipe.TableStats(), Cache: b.c.Stats(), Translations: b.pipe.Translations(),
		Drops: b.dp.Drops(), MACs: b.pipe.MACs().Len(), MACCounters: b.pipe.MACs().Counters()}
	for _, w := range b.ws.Workers() {
		ws := w.CacheStats()
		s.EMCHits += ws.EMCHits
		s.MegaflowHits += ws.MegaflowHits
		s.Misses += ws.Misses
	}
	b.mu.Lock()
	if b.kp != nil {
		s.Offload.Stats = b.kp.Stats()
		s.Offload.PortEntries = map[string]int{}
		for name, ps := range b.ports {
			if q, ok := ps.port.(offload.Port); ok {
				if n, ok := s.Offload.ByIfindex[q.Ifindex()]; ok {
					s.Offload.PortEntries[name] = n
				}
			}
		}
	} else {
		s.Offload = OffloadStats{Stats: offload.Stats{Mode: offload.ModeNone}, Reason: b.offloadWhy}
	}
	b.mu.Unlock()
	return s
}
