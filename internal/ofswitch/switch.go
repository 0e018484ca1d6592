// Package ofswitch makes a bridge an OpenFlow 1.3 switch: it serves the
// requests its OpenFlow channel receives (flow-mod, group-mod, meter-mod,
// port-mod, table-mod, packet-out, multipart, bundles) from the bridge's
// pipeline, ports and meters, and turns the bridge's events into
// asynchronous messages (packet-in, flow-removed, port-status). It also
// runs the fail mode: what the bridge does while no controller is
// connected.
package ofswitch

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/feature/meter"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/openflow/channel"
)

// Fail modes.
const (
	// FailStandalone: with controllers configured but none connected for a
	// while, the bridge switches as a learning switch (NORMAL).
	FailStandalone = "standalone"
	// FailSecure: the flow tables stay as they are; nothing else happens.
	FailSecure = "secure"
)

// Config is a bridge's OpenFlow configuration.
type Config struct {
	Controllers []string `json:"controllers,omitempty"` // tcp:HOST:PORT, ssl:HOST:PORT
	Listen      []string `json:"listen,omitempty"`      // ptcp:PORT[:IP], punix:PATH, pssl:PORT[:IP]
	Snoop       string   `json:"snoop,omitempty"`       // punix path for ovs-ofctl snoop
	FailMode    string   `json:"fail_mode,omitempty"`   // standalone (default) or secure
	// InactivityProbe is the echo interval on idle connections; 0 = 5s.
	InactivityProbe time.Duration `json:"inactivity_probe,omitempty"` // nanoseconds in JSON
	PrivateKey      string        `json:"private_key,omitempty"`
	Certificate     string        `json:"certificate,omitempty"`
	CACert          string        `json:"ca_cert,omitempty"`
}

// Validate checks c's values that do not need the network.
func (c *Config) Validate() error {
	switch c.FailMode {
	case "", FailStandalone, FailSecure:
	default:
		return fmt.Errorf("fail mode %q: want standalone or secure", c.FailMode)
	}
	if c.InactivityProbe < 0 {
		return errors.New("inactivity probe must not be negative")
	}
	return nil
}

func (c *Config) probe() time.Duration {
	if c.InactivityProbe > 0 {
		return c.InactivityProbe
	}
	return 5 * time.Second
}

// Switch is the OpenFlow side of one bridge.
type Switch struct {
	b      *bridge.Bridge
	meters *meter.Table

	mu      sync.Mutex // serializes changes to flows, groups, meters and config
	cfg     Config
	ch      *channel.Channel
	bundles map[bundleKey]*bundle

	pins    chan packetIn // packet-ins waiting to be encoded and sent
	pinDrop atomic.Uint64 // packet-ins dropped because the queue was full
	pinSent atomic.Uint64

	// Fail mode state.
	connected   atomic.Bool
	lostAt      atomic.Int64 // unix nanos when the last controller went away
	failOpenNow atomic.Bool

	stop chan struct{}
	done sync.WaitGroup
}

// New makes b an OpenFlow switch configured by cfg.
func New(b *bridge.Bridge, cfg Config) (*Switch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Switch{b: b, meters: meter.New(nil), cfg: cfg, bundles: map[bundleKey]*bundle{},
		pins: make(chan packetIn, 1024), stop: make(chan struct{})}
	s.lostAt.Store(time.Now().UnixNano())
	b.Datapath().SetMeters(s.meters)
	ch, err := channel.New(s.channelConfig(cfg), s)
	if err != nil {
		return nil, err
	}
	s.ch = ch
	b.Datapath().SetController(s.toController)
	// The channel passes invalid-TTL packet-ins only to connections that
	// asked for them (set-config or set-async).
	b.Pipeline().SetInvalidTTLToController(true)
	b.SetHooks(bridge.Hooks{Expired: s.expired, Port: s.portChanged})
	s.done.Add(2)
	go s.sendPacketIns()
	go s.failModeLoop()
	return s, nil
}

func (s *Switch) channelConfig(cfg Config) channel.Config {
	return channel.Config{
		Controllers: cfg.Controllers, Listen: cfg.Listen, Snoop: cfg.Snoop,
		PrivateKey: cfg.PrivateKey, Certificate: cfg.Certificate, CACert: cfg.CACert,
		InactivityProbe: cfg.InactivityProbe,
		OnConnected:     s.onConnected,
	}
}

// Update applies a new configuration; connections to unchanged targets stay.
func (s *Switch) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := s.ch.Update(s.channelConfig(cfg)); err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	s.checkFailMode()
	return nil
}

// Config returns the current configuration.
func (s *Switch) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Close disconnects every connection and detaches from the bridge (which
// keeps its flows, and leaves fail-open mode).
func (s *Switch) Close() {
	close(s.stop)
	s.ch.Close()
	s.done.Wait()
	s.b.SetHooks(bridge.Hooks{})
	s.b.Datapath().SetController(nil)
	s.b.Pipeline().SetFailOpen(false)
	s.b.Pipeline().SetInvalidTTLToController(false)
}

// Features implements channel.Handler.
func (s *Switch) Features() openflow.FeaturesReply {
	return openflow.FeaturesReply{
		DatapathID: s.b.DatapathID(),
		NBuffers:   0, // packets are never buffered: packet-ins carry them
		NTables:    254,
		Capabilities: openflow.CapFlowStats | openflow.CapTableStats | openflow.CapPortStats |
			openflow.CapGroupStats | openflow.CapQueueStats,
	}
}

// Info describes the switch for `dvs of show`.
type Info struct {
	DatapathID       string             `json:"datapath_id"`
	FailMode         string             `json:"fail_mode"`
	FailOpen         bool               `json:"fail_open"` // switching with NORMAL for lack of a controller
	Controllers      []string           `json:"controllers,omitempty"`
	Listen           []string           `json:"listen,omitempty"`
	Connections      []channel.ConnInfo `json:"connections"`
	PacketInsSent    uint64             `json:"packet_ins_sent"`
	PacketInsDropped uint64             `json:"packet_ins_dropped"`
	Groups           int                `json:"groups"`
	Meters           int                `json:"meters"`
	Bundles          int                `json:"open_bundles"`
}

// Info returns the switch's state.
func (s *Switch) Info() Info {
	cfg := s.Config()
	fm := cfg.FailMode
	if fm == "" {
		fm = FailStandalone
	}
	s.mu.Lock()
	nb := len(s.bundles)
	s.mu.Unlock()
	return Info{
		DatapathID: fmt.Sprintf("%016x", s.b.DatapathID()), FailMode: fm, FailOpen: s.b.Pipeline().FailOpen(),
		Controllers: cfg.Controllers, Listen: cfg.Listen, Connections: s.ch.Connections(),
		PacketInsSent: s.pinSent.Load(), PacketInsDropped: s.pinDrop.Load(),
		Groups: len(s.b.Pipeline().Groups()), Meters: s.meters.Len(), Bundles: nb,
	}
}

// onConnected follows whether any controller is connected.
func (s *Switch) onConnected(any bool) {
	if s.connected.Swap(any) && !any {
		s.lostAt.Store(time.Now().UnixNano())
	}
	s.checkFailMode()
}

// failModeLoop re-checks the fail mode every second: fail-open starts a
// while after the last controller went away.
func (s *Switch) failModeLoop() {
	defer s.done.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.checkFailMode()
		}
	}
}

// checkFailMode turns fail-open on in standalone mode when controllers are
// configured and none has been connected for three inactivity probes (as
// Open vSwitch does), and off when one connects.
func (s *Switch) checkFailMode() {
	cfg := s.Config()
	open := false
	if cfg.FailMode != FailSecure && len(cfg.Controllers) > 0 && !s.connected.Load() {
		open = time.Since(time.Unix(0, s.lostAt.Load())) >= 3*cfg.probe()
	}
	s.b.Pipeline().SetFailOpen(open)
}
