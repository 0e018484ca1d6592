package agent

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/offload"
	"github.com/dvs-project/dvs/internal/feature/l2"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
	"github.com/dvs-project/dvs/internal/ofswitch"
	"github.com/dvs-project/dvs/internal/pipeline"
	"github.com/dvs-project/dvs/internal/store"
)

// bridgeEntry is a running bridge and what the agent knows beyond it.
type bridgeEntry struct {
	spec api.BridgeSpec
	br   *bridge.Bridge
	sw   *ofswitch.Switch
	// ofErr says why spec.OpenFlow is not what runs: it could not be
	// applied at start, and the switch runs with the management sockets
	// only until the next change.
	ofErr string
	// missing are saved ports that could not be opened at start (their
	// interface was gone). They stay in the saved configuration, keep their
	// port numbers, and come back on a later start or when added again.
	missing map[string]missingPort
	// texts caches the saved text of each rule. The pipeline replaces a
	// rule rather than change it, so a rule's text never changes; without
	// the cache, loading a big table chunk by chunk would format every
	// rule again at each chunk.
	texts map[*flow.Rule]string
	// managed marks the bridge of a manager's switch: the reconciler owns
	// it and the saved share (not the state store) brings it back.
	managed bool
}

type missingPort struct {
	spec bridge.PortSpec
	err  string
}

// statusError carries the HTTP status an operation's error maps to.
type statusError struct {
	status int
	err    error
	line   int // see api.Error.Line
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func withStatus(status int, err error) error {
	if err == nil {
		return nil
	}
	var se *statusError
	if errors.As(err, &se) {
		return err
	}
	return &statusError{status: status, err: err}
}

func badRequest(format string, args ...any) error {
	return &statusError{status: http.StatusBadRequest, err: fmt.Errorf(format, args...)}
}

// Limits on names: Linux interface names have at most 15 bytes, and
// bridge names follow so that a bridge can have an interface of its name.
const maxNameLen = 15

func checkBridgeName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return badRequest("bridge name %q: use 1 to %d characters", name, maxNameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return badRequest("bridge name %q: use only letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}

func checkPortName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return badRequest("port name %q: interface names have 1 to %d characters", name, maxNameLen)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\r\"'") {
		return badRequest("port name %q is not a valid interface name", name)
	}
	return nil
}

// entry returns a bridge; the caller holds a.mu.
func (a *Agent) entry(name string) (*bridgeEntry, error) {
	e, ok := a.bridges[name]
	if !ok {
		return nil, &statusError{status: http.StatusNotFound, err: fmt.Errorf("bridge %s does not exist (see `dvs bridge list`)", name)}
	}
	return e, nil
}

// newBridge makes the bridge spec describes, without its OpenFlow switch
// (see startSwitch). A new bridge in fail mode secure starts with empty
// tables, as in Open vSwitch; one in standalone mode with the NORMAL flow.
// A restored bridge starts empty: its saved flows follow.
func (a *Agent) newBridge(spec api.BridgeSpec, restoring bool) (*bridgeEntry, error) {
	workers := spec.Workers
	if workers == 0 {
		workers = a.opts.Workers
	}
	var dpid uint64
	if spec.DatapathID != "" {
		var err error
		if dpid, err = api.ParseDatapathID(spec.DatapathID); err != nil {
			return nil, err
		}
	}
	br, err := bridge.New(bridge.Config{
		Name:           spec.Name,
		Workers:        workers,
		NoDefaultFlows: restoring || spec.OpenFlow.FailMode == ofswitch.FailSecure,
		MAC:            l2.Config{Aging: time.Duration(spec.MACAgingSeconds) * time.Second, MaxEntries: spec.MACLimit},
		Sweep:          a.opts.Sweep,
		DatapathID:     dpid,
		OnFailover: func(bond, active string) {
			a.log.Warn("bond failover: the active member changed; learned MACs announced through it",
				"bridge", spec.Name, "bond", bond, "active", active)
		},
		Offload: a.offloadMode(spec),
	}, a.opts.Opener)
	if err != nil {
		return nil, err
	}
	a.logOffload(spec.Name, br)
	return &bridgeEntry{spec: spec, br: br, missing: map[string]missingPort{}}, nil
}

// offloadMode is the kernel fast path spec asks for, or the agent's default.
func (a *Agent) offloadMode(spec api.BridgeSpec) string {
	if spec.Offload != "" {
		return spec.Offload
	}
	if a.opts.Offload != "" {
		return a.opts.Offload
	}
	return offload.ModeTC
}

// logOffload says which path a bridge forwards on, and why not the kernel.
func (a *Agent) logOffload(name string, br *bridge.Bridge) {
	mode, why := br.Offload()
	if mode == offload.ModeTC {
		a.log.Info("kernel offload on: simple megaflows are forwarded by a tc eBPF program", "bridge", name)
	} else {
		a.log.Warn("kernel offload off: every packet is forwarded in userspace", "bridge", name, "reason", why)
	}
}

// startSwitch makes e's bridge an OpenFlow switch. At restore, a saved
// configuration that no longer applies (a listening port now taken, a
// certificate gone) does not keep the bridge down: it runs with its
// management sockets only, and e.ofErr says why.
func (a *Agent) startSwitch(e *bridgeEntry, restoring bool) error {
	var err error
	e.sw, err = ofswitch.New(e.br, a.ofConfig(e.spec))
	if err != nil && restoring {
		a.log.Error("cannot apply the saved OpenFlow configuration; running with the management sockets only",
			"bridge", e.spec.Name, "err", err)
		e.ofErr = fmt.Sprintf("the saved configuration could not be applied at start: %v", err)
		e.sw, err = ofswitch.New(e.br, a.ofConfig(api.BridgeSpec{Name: e.spec.Name,
			OpenFlow: ofswitch.Config{FailMode: e.spec.OpenFlow.FailMode}}))
	}
	if err != nil {
		return withStatus(http.StatusBadRequest, fmt.Errorf("bridge %s: openflow: %w", e.spec.Name, err))
	}
	return nil
}

// closeBridge stops e's switch and bridge.
func (a *Agent) closeBridge(e *bridgeEntry) {
	if e.sw != nil {
		e.sw.Close()
	}
	e.br.Close()
}

// restore brings back the saved bridges. A bridge or port that cannot be
// restored is logged and left in the store: the agent still starts.
func (a *Agent) restore() error {
	saved, err := a.st.Bridges()
	if err != nil {
		return fmt.Errorf("reading saved state: %w", err)
	}
	for _, sb := range saved {
		spec := api.BridgeSpec{Name: sb.Config.Name, Workers: sb.Config.Workers,
			MACAgingSeconds: sb.Config.MACAgingSeconds, MACLimit: sb.Config.MACLimit,
			DatapathID: sb.Config.DatapathID, OpenFlow: sb.Config.OpenFlow, Offload: sb.Config.Offload}
		log := a.log.With("bridge", spec.Name)
		e, err := a.newBridge(spec, true)
		if err != nil {
			log.Error("cannot restore bridge; its configuration is kept", "err", err)
			continue
		}
		br := e.br
		for _, ps := range sb.Ports {
			if _, err := br.AddPort(ps); err != nil {
				log.Warn("cannot restore port; it is kept in the configuration as missing", "port", ps.Name, "err", err)
				e.missing[ps.Name] = missingPort{spec: ps, err: err.Error()}
			}
		}
		if len(sb.Flows) > 0 {
			if err := br.AddFlows(sb.Flows); err != nil {
				log.Warn("cannot restore the flow table at once; restoring flow by flow", "err", err)
				for i, f := range sb.Flows {
					if err := br.AddFlows([]string{f}); err != nil {
						log.Error("dropping a saved flow that no longer loads", "line", i+1, "flow", f, "err", err)
					}
				}
			}
		}
		// The switch starts last, so that a controller connecting at once
		// finds the ports and flows in place.
		if err := a.startSwitch(e, true); err != nil {
			log.Error("cannot restore bridge; its configuration is kept", "err", err)
			a.closeBridge(e)
			continue
		}
		a.bridges[spec.Name] = e
		log.Info("bridge restored", "ports", len(sb.Ports)-len(e.missing), "missing_ports", len(e.missing),
			"flows", len(sb.Flows))
	}
	return nil
}

// saved saves e after a change that is already active.
func (a *Agent) saved(e *bridgeEntry) error {
	if err := a.save(e); err != nil {
		a.log.Error("cannot save state", "bridge", e.spec.Name, "err", err)
		return &statusError{status: http.StatusInternalServerError,
			err: fmt.Errorf("the change is active but was not saved: %w", err)}
	}
	return nil
}

// save writes e's configuration; the caller holds a.mu for writing.
func (a *Agent) save(e *bridgeEntry) error {
	if e.managed {
		return nil
	}
	ports := e.br.PortSpecs()
	for _, m := range e.missing {
		ports = append(ports, m.spec)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].OFPort < ports[j].OFPort })
	// Flows are saved with port numbers, not names, so that they load even
	// when a port is missing at restore (ports keep their numbers).
	rules := e.br.Pipeline().Rules(pipeline.FilterAll())
	flows := make([]string, len(rules))
	texts := make(map[*flow.Rule]string, len(rules))
	for i, r := range rules {
		t, ok := e.texts[r]
		if !ok {
			t = flowtext.FormatRule(r, flowtext.FormatOptions{})
		}
		flows[i], texts[r] = t, t
	}
	e.texts = texts
	return a.st.SaveBridge(store.Bridge{
		Config: store.BridgeConfig{Name: e.spec.Name, Workers: e.spec.Workers,
			MACAgingSeconds: e.spec.MACAgingSeconds, MACLimit: e.spec.MACLimit,
			DatapathID: e.spec.DatapathID, OpenFlow: e.spec.OpenFlow, Offload: e.spec.Offload},
		Ports: ports,
		Flows: flows,
	})
}

func (a *Agent) bridgeSummary(e *bridgeEntry) api.Bridge {
	flows := 0
	for _, t := range e.br.Pipeline().TableStats() {
		flows += t.Rules
	}
	spec := e.spec
	spec.DatapathID = api.FormatDatapathID(e.br.DatapathID())
	mgmt, _ := a.ofSockets(e.spec.Name)
	return api.Bridge{BridgeSpec: spec, Ports: len(e.br.Ports()) + len(e.missing), Flows: flows,
		MACs: e.br.Pipeline().MACs().Len(), MgmtSocket: mgmt, SnoopSocket: a.ofConfig(e.spec).Snoop}
}

// AddBridge creates a bridge: with the default NORMAL flow, or with empty
// tables in fail mode secure.
func (a *Agent) AddBridge(spec api.BridgeSpec) (api.Bridge, error) {
	if err := checkBridgeName(spec.Name); err != nil {
		return api.Bridge{}, err
	}
	if spec.Workers < 0 || spec.Workers > 1024 {
		return api.Bridge{}, badRequest("workers: %d is not in 0..1024", spec.Workers)
	}
	if spec.MACAgingSeconds < 0 {
		return api.Bridge{}, badRequest("MAC aging: %d seconds is negative", spec.MACAgingSeconds)
	}
	if spec.MACLimit < 0 {
		return api.Bridge{}, badRequest("MAC limit: %d is negative", spec.MACLimit)
	}
	if err := a.checkOpenFlow(&spec); err != nil {
		return api.Bridge{}, err
	}
	if err := checkOffload(spec.Offload); err != nil {
		return api.Bridge{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.bridges[spec.Name]; ok {
		return api.Bridge{}, &statusError{status: http.StatusConflict, err: fmt.Errorf("bridge %s already exists", spec.Name)}
	}
	e, err := a.newBridge(spec, false)
	if err != nil {
		return api.Bridge{}, withStatus(http.StatusInternalServerError, fmt.Errorf("creating bridge %s: %w", spec.Name, err))
	}
	if err := a.startSwitch(e, false); err != nil {
		a.closeBridge(e)
		return api.Bridge{}, err
	}
	if err := a.save(e); err != nil {
		a.closeBridge(e)
		a.log.Error("cannot save state", "bridge", spec.Name, "err", err)
		return api.Bridge{}, withStatus(http.StatusInternalServerError, err)
	}
	a.bridges[spec.Name] = e
	a.log.Info("bridge added", "bridge", spec.Name)
	return a.bridgeSummary(e), nil
}

// DelBridge deletes a bridge, closing its ports.
func (a *Agent) DelBridge(name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(name)
	if err != nil {
		return err
	}
	if e.managed {
		return &statusError{status: http.StatusConflict, err: fmt.Errorf("bridge %s belongs to the manager's switch %s; delete the switch there", name, name)}
	}
	if err := a.st.DeleteBridge(name); err != nil {
		return withStatus(http.StatusInternalServerError, err)
	}
	delete(a.bridges, name)
	a.closeBridge(e)
	a.log.Info("bridge deleted", "bridge", name)
	return nil
}

// Bridges lists the bridges by name.
func (a *Agent) Bridges() []api.Bridge {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]api.Bridge, 0, len(a.bridges))
	for _, e := range a.bridges {
		out = append(out, a.bridgeSummary(e))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Bridge describes one bridge.
func (a *Agent) Bridge(name string) (api.BridgeDetail, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(name)
	if err != nil {
		return api.BridgeDetail{}, err
	}
	return api.BridgeDetail{Bridge: a.bridgeSummary(e), PortList: portList(e)}, nil
}

func apiPort(p bridge.PortInfo) api.Port {
	state := api.StateDown
	if p.Up {
		state = api.StateUp
	}
	out := api.Port{Name: p.Spec.Name, Type: p.Spec.Type, OFPort: p.OFPort, VLAN: p.VLAN, State: state, Spec: p.Spec,
		Stats: apiStats(p.Stats), SwitchTxDropped: p.Drops}
	if b := p.Bond; b != nil {
		out.Bond = &api.Bond{Mode: b.Mode, Active: b.Active, Failovers: b.Failovers}
		for _, m := range b.Members {
			st := api.StateDown
			if m.Up {
				st = api.StateUp
			}
			out.Bond.Members = append(out.Bond.Members, api.BondMember{Name: m.Name, State: st, Active: m.Active,
				Stats: apiStats(m.Stats), RxInactiveDropped: m.RxInactiveDropped})
		}
	}
	return out
}

func apiStats(s datapath.PortStats) api.PortStats {
	return api.PortStats{RxPackets: s.RxPackets, RxBytes: s.RxBytes, RxDropped: s.RxDropped, RxErrors: s.RxErrors,
		TxPackets: s.TxPackets, TxBytes: s.TxBytes, TxDropped: s.TxDropped, TxErrors: s.TxErrors}
}

func apiMissingPort(m missingPort) api.Port {
	vs := ""
	if vc, err := m.spec.VLANConfig(); err == nil {
		vs = vc.String()
	}
	typ := m.spec.Type
	if typ == "" {
		typ = bridge.TypeAFPacket
	}
	return api.Port{Name: m.spec.Name, Type: typ, OFPort: m.spec.OFPort, VLAN: vs, State: api.StateMissing,
		Error: m.err, Spec: m.spec}
}

// portList returns e's ports, missing ones included, by port number.
func portList(e *bridgeEntry) []api.Port {
	infos := e.br.Ports()
	out := make([]api.Port, 0, len(infos)+len(e.missing))
	for _, p := range infos {
		out = append(out, apiPort(p))
	}
	for _, m := range e.missing {
		out = append(out, apiMissingPort(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OFPort < out[j].OFPort })
	return out
}

// Ports lists a bridge's ports.
func (a *Agent) Ports(br string) ([]api.Port, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(br)
	if err != nil {
		return nil, err
	}
	return portList(e), nil
}

// Port describes one port.
func (a *Agent) Port(br, name string) (api.Port, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(br)
	if err != nil {
		return api.Port{}, err
	}
	return portOf(e, name)
}

func portOf(e *bridgeEntry, name string) (api.Port, error) {
	if m, ok := e.missing[name]; ok {
		return apiMissingPort(m), nil
	}
	p, err := e.br.Port(name)
	if err != nil {
		return api.Port{}, withStatus(http.StatusNotFound, err)
	}
	return apiPort(p), nil
}

// hasPort reports whether e has a port (running or missing) named name.
func hasPort(e *bridgeEntry, name string) bool {
	if _, ok := e.missing[name]; ok {
		return true
	}
	_, err := e.br.Port(name)
	return err == nil
}

func normalizeTrunks(s string) string {
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return ""
	}
	return s
}

// AddPort opens a port and adds it to a bridge. Adding a port that is
// missing (see bridgeEntry.missing) replaces its saved configuration.
func (a *Agent) AddPort(br string, spec bridge.PortSpec) (api.Port, error) {
	if err := checkPortName(spec.Name); err != nil {
		return api.Port{}, err
	}
	spec.Trunks = normalizeTrunks(spec.Trunks)
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(br)
	if err != nil {
		return api.Port{}, err
	}
	members, err := spec.BondMembers()
	if err != nil {
		return api.Port{}, badRequest("port %s: %v", spec.Name, err)
	}
	for _, other := range a.bridges {
		if other == e {
			continue
		}
		for _, n := range append([]string{spec.Name}, members...) {
			if hasPort(other, n) {
				return api.Port{}, &statusError{status: http.StatusConflict,
					err: fmt.Errorf("port %s: %s is already on bridge %s (delete it there first)", spec.Name, n, other.spec.Name)}
			}
		}
	}
	old, wasMissing := e.missing[spec.Name]
	taken := map[uint32]string{}
	for _, m := range e.missing {
		if m.spec.Name != spec.Name {
			taken[m.spec.OFPort] = m.spec.Name
		}
	}
	if len(taken) > 0 {
		if spec.OFPort != 0 {
			if owner, ok := taken[spec.OFPort]; ok {
				return api.Port{}, &statusError{status: http.StatusConflict,
					err: fmt.Errorf("port %s: OpenFlow port number %d is kept for missing port %s", spec.Name, spec.OFPort, owner)}
			}
		} else {
			// The bridge would hand out the lowest number free among its
			// running ports; skip the numbers missing ports keep.
			for _, p := range e.br.Ports() {
				taken[p.OFPort] = p.Spec.Name
			}
			for no := uint32(1); ; no++ {
				if _, ok := taken[no]; !ok {
					spec.OFPort = no
					break
				}
			}
		}
	}
	delete(e.missing, spec.Name)
	if _, err := e.br.AddPort(spec); err != nil {
		if wasMissing {
			e.missing[spec.Name] = old
		}
		if errors.Is(err, bridge.ErrPortExists) {
			return api.Port{}, withStatus(http.StatusConflict, err)
		}
		return api.Port{}, withStatus(http.StatusBadRequest, err)
	}
	p, _ := portOf(e, spec.Name)
	a.log.Info("port added", "bridge", br, "port", spec.Name, "type", p.Type, "ofport", p.OFPort, "vlan", p.VLAN)
	return p, a.saved(e)
}

// DelPort removes a port (running or missing) from a bridge.
func (a *Agent) DelPort(br, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(br)
	if err != nil {
		return err
	}
	if _, ok := e.missing[name]; ok {
		delete(e.missing, name)
	} else if err := e.br.DelPort(name); err != nil {
		if errors.Is(err, bridge.ErrNoPort) {
			return withStatus(http.StatusNotFound, err)
		}
		return withStatus(http.StatusBadRequest, err)
	}
	a.log.Info("port deleted", "bridge", br, "port", name)
	return a.saved(e)
}

// SetPort changes a port's VLAN and switching options.
func (a *Agent) SetPort(br, name string, patch api.PortPatch) (api.Port, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(br)
	if err != nil {
		return api.Port{}, err
	}
	cur, err := portOf(e, name)
	if err != nil {
		return api.Port{}, err
	}
	spec := cur.Spec
	if patch.VLAN != nil || patch.Trunks != nil || patch.Native != nil || patch.QinQ != nil {
		spec.VLAN, spec.Trunks, spec.Native, spec.QinQ = 0, "", 0, 0
		if patch.VLAN != nil {
			spec.VLAN = *patch.VLAN
		}
		if patch.Trunks != nil {
			spec.Trunks = normalizeTrunks(*patch.Trunks)
		}
		if patch.Native != nil {
			spec.Native = *patch.Native
		}
		if patch.QinQ != nil {
			spec.QinQ = *patch.QinQ
		}
	}
	if patch.NoFlood != nil {
		spec.NoFlood = *patch.NoFlood
	}
	if patch.ReflectiveRelay != nil {
		spec.ReflectiveRelay = *patch.ReflectiveRelay
	}
	if patch.MACLimit != nil {
		if *patch.MACLimit < 0 {
			return api.Port{}, badRequest("port %s: MAC limit %d is negative", name, *patch.MACLimit)
		}
		spec.MACLimit = *patch.MACLimit
	}
	if m, ok := e.missing[name]; ok {
		if _, err := spec.VLANConfig(); err != nil {
			return api.Port{}, badRequest("port %s: %v", name, err)
		}
		m.spec = spec
		e.missing[name] = m
	} else if err := e.br.SetPort(spec); err != nil {
		return api.Port{}, withStatus(http.StatusBadRequest, err)
	}
	p, _ := portOf(e, name)
	a.log.Info("port changed", "bridge", br, "port", name, "vlan", p.VLAN)
	return p, a.saved(e)
}

// AddFlows adds flows to a bridge, all or none.
func (a *Agent) AddFlows(br string, lines []string) (int, error) {
	if len(lines) == 0 {
		return 0, badRequest("no flows given")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(br)
	if err != nil {
		return 0, err
	}
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			err := errors.New("empty flow")
			if len(lines) > 1 {
				err = fmt.Errorf("line %d: %w", i+1, err)
			}
			return 0, &statusError{status: http.StatusBadRequest, err: err, line: i + 1}
		}
	}
	if err := e.br.AddFlows(lines); err != nil {
		se := &statusError{status: http.StatusBadRequest, err: err}
		if len(lines) == 1 {
			se.line = 1
		} else if _, scanErr := fmt.Sscanf(err.Error(), "line %d:", &se.line); scanErr != nil {
			// Bridge.AddFlows names the failing line as "line N: ..." for
			// more than one flow; an error without it is about the batch.
			se.line = 0
		}
		return 0, se
	}
	a.log.Info("flows added", "bridge", br, "count", len(lines))
	return len(lines), a.saved(e)
}

// ModFlows changes the actions of the selected flows.
func (a *Agent) ModFlows(br string, sel api.FlowSelect) (int, error) {
	if !strings.Contains(sel.Flow, "actions=") {
		return 0, badRequest("give the new actions, for example \"in_port=1 actions=output:2\"")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(br)
	if err != nil {
		return 0, err
	}
	n, err := e.br.ModFlows(sel.Flow, sel.Strict)
	if err != nil {
		return 0, withStatus(http.StatusBadRequest, err)
	}
	a.log.Info("flows modified", "bridge", br, "count", n)
	if n == 0 {
		return 0, nil
	}
	return n, a.saved(e)
}

// DelFlows deletes the selected flows (all for an empty selection).
func (a *Agent) DelFlows(br string, sel api.FlowSelect) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(br)
	if err != nil {
		return 0, err
	}
	n, err := e.br.DelFlows(sel.Flow, sel.Strict)
	if err != nil {
		return 0, withStatus(http.StatusBadRequest, err)
	}
	a.log.Info("flows deleted", "bridge", br, "count", n)
	if n == 0 {
		return 0, nil
	}
	return n, a.saved(e)
}

// DumpFlows prints the selected flows.
func (a *Agent) DumpFlows(br, filter string, stats bool) ([]string, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(br)
	if err != nil {
		return nil, err
	}
	lines, err := e.br.DumpFlows(filter, stats)
	if err != nil {
		return nil, withStatus(http.StatusBadRequest, err)
	}
	if lines == nil {
		lines = []string{}
	}
	return lines, nil
}

// MACs lists the learned MACs in vlan (0 = all).
func (a *Agent) MACs(br string, vid int) ([]api.MAC, error) {
	if vid != 0 {
		if err := vlan.CheckVID(vid); err != nil {
			return nil, withStatus(http.StatusBadRequest, err)
		}
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(br)
	if err != nil {
		return nil, err
	}
	names := map[uint32]string{}
	for _, p := range e.br.Ports() {
		names[p.OFPort] = p.Spec.Name
	}
	now := time.Now()
	entries := e.br.MACs(uint16(vid))
	out := make([]api.MAC, 0, len(entries))
	for _, m := range entries {
		name, ok := names[m.Port]
		if !ok {
			name = fmt.Sprint(m.Port)
		}
		out = append(out, api.MAC{Port: name, OFPort: m.Port, VLAN: m.VLAN,
			MAC:        fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m.MAC[0], m.MAC[1], m.MAC[2], m.MAC[3], m.MAC[4], m.MAC[5]),
			AgeSeconds: int(now.Sub(m.Seen) / time.Second)})
	}
	return out, nil
}

// FlushMACs forgets a bridge's learned MACs.
func (a *Agent) FlushMACs(br string) (int, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(br)
	if err != nil {
		return 0, err
	}
	n := e.br.FlushMACs()
	a.log.Info("MACs flushed", "bridge", br, "count", n)
	return n, nil
}

// Trace walks a described packet through a bridge.
func (a *Agent) Trace(br, packet string) (api.Trace, error) {
	if strings.TrimSpace(packet) == "" {
		return api.Trace{}, badRequest("describe the packet, for example \"in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02\"")
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(br)
	if err != nil {
		return api.Trace{}, err
	}
	tr, err := e.br.Trace(packet)
	if err != nil {
		return api.Trace{}, withStatus(http.StatusBadRequest, err)
	}
	mf := tr.Megaflow()
	out := api.Trace{Text: tr.String(), Flow: flowtext.FormatKey(&tr.Flow), FinalFlow: flowtext.FormatKey(&tr.FinalFlow),
		Megaflow: flowtext.FormatMatch(&mf), Actions: action.Format(tr.Actions), Offload: tr.Offload, Steps: make([]api.TraceStep, 0, len(tr.Steps))}
	if tr.Drop != 0 {
		out.Drop = tr.Drop.String()
	}
	for _, s := range tr.Steps {
		out.Steps = append(out.Steps, api.TraceStep{Depth: s.Depth, Table: s.Table, Text: s.Text})
	}
	return out, nil
}

// Stats returns a bridge's counters.
func (a *Agent) Stats(br string) (api.Stats, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(br)
	if err != nil {
		return api.Stats{}, err
	}
	s := e.br.Stats() // first: it credits the ports with kernel-forwarded traffic
	o := s.Offload
	out := api.Stats{Ports: portList(e), Drops: s.Drops,
		Offload: api.OffloadStats{Mode: o.Mode, Reason: o.Reason, Entries: o.Entries, Ports: o.Ports,
			Installs: o.Installs, Failed: o.Failed, Packets: o.Packets, Bytes: o.Bytes, PortEntries: o.PortEntries, Orphans: o.Orphans, Peer: o.Peer},
		Cache: api.CacheStats{Entries: s.Cache.Entries, Masks: s.Cache.Masks, Upcalls: s.Cache.Upcalls,
			Revalidations: s.Cache.Revalidations, Replaced: s.Cache.Replaced, NotCached: s.Cache.NotCached,
			EMCHits: s.EMCHits, MegaflowHits: s.MegaflowHits, Misses: s.Misses, Translations: s.Translations},
		MACs: api.MACStats{Entries: s.MACs, Learned: s.MACCounters.Learned, Moved: s.MACCounters.Moved,
			Expired: s.MACCounters.Expired, Refused: s.MACCounters.Refused, Flushed: s.MACCounters.Flushed}}
	if out.Drops == nil {
		out.Drops = map[string]uint64{}
	}
	for _, t := range s.Tables {
		out.Tables = append(out.Tables, api.TableStats{ID: t.ID, Rules: t.Rules, Lookups: t.Lookups, Matched: t.Matched})
	}
	if out.Tables == nil {
		out.Tables = []api.TableStats{}
	}
	return out, nil
}
