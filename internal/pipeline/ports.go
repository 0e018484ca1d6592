package pipeline

import (
	"fmt"
	"sort"

	"github.com/dvs-project/dvs/internal/feature/vlan"
)

// Port is what translation knows of a port.
type Port struct {
	No   uint32 // OpenFlow port number
	Name string
	VLAN vlan.Config
	// Up is the link state; a port whose link is down, or that is
	// administratively down (Config), is skipped for output and flooding.
	Up bool
	// Config holds the OpenFlow port-mod settings.
	Config PortConfig
	// NoFlood keeps the port out of FLOOD and NORMAL flooding.
	NoFlood bool
	// ReflectiveRelay (VEPA hairpin) lets NORMAL send a frame back out of
	// the port it arrived on.
	ReflectiveRelay bool
	// MACLimit caps the MACs NORMAL learns on the port; 0 = no limit.
	MACLimit int
}

// PortConfig are OpenFlow port settings (ofp_port_config bits).
type PortConfig uint32

const (
	PortDown       PortConfig = 1 << 0 // administratively down
	PortNoRecv     PortConfig = 1 << 2 // drop packets received on the port
	PortNoFwd      PortConfig = 1 << 5 // drop packets forwarded to the port
	PortNoPacketIn PortConfig = 1 << 6 // no packet-ins for packets received on the port
)

// PortConfigMask is the set of settings port-mod may change.
const PortConfigMask = PortDown | PortNoRecv | PortNoFwd | PortNoPacketIn

// Live reports whether the port can carry traffic: link up and not
// administratively down.
func (q *Port) Live() bool { return q.Up && q.Config&PortDown == 0 }

// SetPortConfig changes the bits of port no's config that mask selects.
func (p *Pipeline) SetPortConfig(no uint32, config, mask PortConfig) error {
	if mask&^PortConfigMask != 0 {
		return fmt.Errorf("port %d: unsupported config bits %#x", no, uint32(mask&^PortConfigMask))
	}
	p.mu.Lock()
	q := p.ports.Load().get(no)
	p.mu.Unlock()
	if q == nil {
		return fmt.Errorf("port %d: no such port", no)
	}
	c := *q
	c.Config = c.Config&^mask | config&mask
	if c.Config == q.Config {
		return nil
	}
	if err := p.SetPort(c); err != nil {
		return err
	}
	if !c.Live() {
		p.macs.Flush(no)
		p.gen.Add(1)
	}
	return nil
}

// portMap is an immutable snapshot of the ports; changes replace it.
type portMap struct {
	byNo   map[uint32]*Port
	sorted []*Port // by number
	// low holds the ports numbered below len(low), at their numbers: a
	// translation looks ports up several times, and most numbers are
	// small. It covers the numbers up to the highest below maxLowPort.
	low []*Port
}

// maxLowPort bounds the port numbers portMap.low holds.
const maxLowPort = 1024

func (m *portMap) get(no uint32) *Port {
	if no < uint32(len(m.low)) {
		return m.low[no]
	}
	return m.byNo[no]
}

// SetPort adds or replaces port p (by number).
func (p *Pipeline) SetPort(port Port) error {
	if err := port.VLAN.Validate(); err != nil {
		return fmt.Errorf("port %s: %w", port.Name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.ports.Load()
	next := &portMap{byNo: make(map[uint32]*Port, len(old.byNo)+1)}
	for no, q := range old.byNo {
		next.byNo[no] = q
	}
	prev := old.byNo[port.No]
	cp := port
	next.byNo[port.No] = &cp
	next.index()
	p.ports.Store(next)
	p.macs.SetPortLimit(port.No, port.MACLimit)
	// MACs learned in VLANs the port no longer carries are stale.
	if prev != nil && prev.VLAN != port.VLAN {
		p.macs.Flush(port.No)
	}
	p.gen.Add(1)
	return nil
}

// RemovePort removes port no and forgets the MACs learned on it.
func (p *Pipeline) RemovePort(no uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.ports.Load()
	if old.byNo[no] == nil {
		return
	}
	next := &portMap{byNo: make(map[uint32]*Port, len(old.byNo))}
	for n, q := range old.byNo {
		if n != no {
			next.byNo[n] = q
		}
	}
	next.index()
	p.ports.Store(next)
	p.macs.Flush(no)
	p.macs.SetPortLimit(no, 0)
	p.gen.Add(1)
}

// SetPortUp changes a port's link state.
func (p *Pipeline) SetPortUp(no uint32, up bool) {
	p.mu.Lock()
	q := p.ports.Load().get(no)
	p.mu.Unlock()
	if q == nil || q.Up == up {
		return
	}
	c := *q
	c.Up = up
	_ = p.SetPort(c)
	if !up {
		p.macs.Flush(no)
		p.gen.Add(1)
	}
}

// Port returns a copy of port no.
func (p *Pipeline) Port(no uint32) (Port, bool) {
	q := p.ports.Load().get(no)
	if q == nil {
		return Port{}, false
	}
	return *q, true
}

// Ports returns copies of all ports, by number.
func (p *Pipeline) Ports() []Port {
	m := p.ports.Load()
	out := make([]Port, len(m.sorted))
	for i, q := range m.sorted {
		out[i] = *q
	}
	return out
}

// index fills sorted and low from byNo.
func (m *portMap) index() {
	m.sorted = m.sorted[:0]
	n := 0
	for _, q := range m.byNo {
		m.sorted = append(m.sorted, q)
		if q.No < maxLowPort {
			n = max(n, int(q.No)+1)
		}
	}
	sort.Slice(m.sorted, func(i, j int) bool { return m.sorted[i].No < m.sorted[j].No })
	m.low = make([]*Port, n)
	for _, q := range m.sorted {
		if int(q.No) < n {
			m.low[q.No] = q
		}
	}
}
