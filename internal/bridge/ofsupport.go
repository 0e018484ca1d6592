package bridge

import (
	"fmt"
	"hash/fnv"
	"net"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// This file holds what the OpenFlow switch (internal/ofswitch) needs from a
// bridge beyond the operations a user performs: events, packet injection and
// port settings.

// PortReason says what happened to a port (OpenFlow ofp_port_reason).
type PortReason uint8

const (
	PortAdded    PortReason = 0
	PortDeleted  PortReason = 1
	PortModified PortReason = 2
)

// Hooks receive a bridge's events. They run on the bridge's housekeeping
// goroutine or on the caller of the change, must not block and must not
// call back into the bridge's port operations.
type Hooks struct {
	// Expired receives the rules that idle or hard timeouts removed.
	Expired func([]pipeline.Expired)
	// Port receives port additions, deletions and changes of link state or
	// configuration.
	Port func(PortReason, PortInfo)
}

// SetHooks installs h (replacing earlier hooks).
func (b *Bridge) SetHooks(h Hooks) {
	b.hookMu.Lock()
	b.hooks = h
	b.hookMu.Unlock()
}

func (b *Bridge) getHooks() Hooks {
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	return b.hooks
}

func (b *Bridge) portEvent(reason PortReason, info PortInfo) {
	if h := b.getHooks(); h.Port != nil {
		h.Port(reason, info)
	}
}

// Datapath returns the bridge's datapath.
func (b *Bridge) Datapath() *datapath.Datapath { return b.dp }

// PushStats credits rules with the traffic their cached entries carried.
func (b *Bridge) PushStats() { b.c.PushStats() }

// DatapathID returns the bridge's OpenFlow datapath id: the configured one,
// or one derived from the bridge's name (a locally administered MAC in the
// low 48 bits, as Open vSwitch derives it from the bridge's MAC).
func (b *Bridge) DatapathID() uint64 {
	if b.cfg.DatapathID != 0 {
		return b.cfg.DatapathID
	}
	h := fnv.New64a()
	h.Write([]byte(b.name))
	id := h.Sum64() & 0xffffffffffff
	return id&^(1<<40) | 1<<41 // unicast, locally administered
}

// Inject runs acts on frame as if it arrived on inPort (an OpenFlow
// packet-out): output:table sends it through the flow tables. inPort may be
// a bridge port or flow.PortController.
func (b *Bridge) Inject(inPort uint32, frame []byte, acts []flow.Action) error {
	if len(frame) < packet.EthernetLen {
		return fmt.Errorf("packet of %d bytes is shorter than an Ethernet header", len(frame))
	}
	var k flow.Key
	packet.Parse(frame, inPort, &k)
	res := b.pipe.TranslateActions(&k, acts, pipeline.Options{})
	if res.Drop != action.DropNone && len(res.Actions) == 1 {
		return nil // nothing to do; the drop is the outcome, not an error
	}
	b.dp.Inject(inPort, frame, res.Actions)
	return nil
}

// SetPortConfig changes OpenFlow port settings (port-mod) of port no.
func (b *Bridge) SetPortConfig(no uint32, config, mask pipeline.PortConfig) error {
	name, ok := b.portName(no)
	if !ok {
		return fmt.Errorf("port %d: %w on bridge %s", no, ErrNoPort, b.name)
	}
	if err := b.pipe.SetPortConfig(no, config, mask); err != nil {
		return err
	}
	if info, err := b.Port(name); err == nil {
		b.portEvent(PortModified, info)
	}
	return nil
}

func hwAddr(name string) net.HardwareAddr {
	if ifc, err := net.InterfaceByName(name); err == nil {
		return ifc.HardwareAddr
	}
	return nil
}
