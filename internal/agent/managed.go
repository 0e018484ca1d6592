package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/manager/client"
	"github.com/dvs-project/dvs/internal/ofswitch"
	"github.com/dvs-project/dvs/internal/resource"
)

// ManagerOptions put the agent in manager mode: it registers its host,
// watches its share and reconciles its bridges to it.
type ManagerOptions struct {
	URL      string // http://host:port
	Token    string // "" on loopback
	Host     string // this host's name
	TunnelIP string // the host's VTEP, registered as its address
	// Uplinks are the interfaces the host offers as uplinks (registered
	// as Host.spec.uplinks; the manager warns about an Uplink naming
	// another interface).
	Uplinks []string
	// Heartbeat is the period of heartbeats (and of retries of a failed
	// apply or ack); 0 = 3s.
	Heartbeat time.Duration
}

// shareFile is the last share the agent received, applied at start so
// that forwarding comes back before the manager answers.
const shareFile = "share.json"

type savedShare struct {
	Revision int64          `json:"revision"`
	Share    *manager.Share `json:"share"`
}

// managed is the manager-mode state of an agent.
type managed struct {
	a   *Agent
	opt ManagerOptions
	cl  *client.Client

	// mu guards want, the applied state and the ack bookkeeping.
	mu      sync.Mutex
	want    *manager.Share
	wantRev int64
	kick    chan struct{}
	// rewatch ends the current registration and watch (the manager
	// refused the host token: register again, joining if need be).
	rewatch context.CancelFunc

	applied    desiredState      // what is in the bridges (only what succeeded)
	tunnelNos  map[string]uint32 // bridge/port -> number, kept so flows stay valid across re-adds
	appliedRev int64             // fully applied (no errors)
	ackedRev   int64
}

// loadShare reads the saved share; a missing file is no share.
func loadShare(dir string) (savedShare, error) {
	var s savedShare
	data, err := os.ReadFile(filepath.Join(dir, shareFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return savedShare{}, fmt.Errorf("decoding %s: %w", shareFile, err)
	}
	return s, nil
}

// saveShare writes the share atomically.
func saveShare(dir string, s savedShare) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, shareFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, shareFile))
}

// runManaged applies the saved share, then keeps the bridges following
// the manager until ctx ends.
func (a *Agent) runManaged(ctx context.Context, opt ManagerOptions) {
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 3 * time.Second
	}
	m := &managed{a: a, opt: opt, cl: client.New(opt.URL, opt.Token), kick: make(chan struct{}, 1),
		applied: desiredState{}, tunnelNos: map[string]uint32{}}
	defer m.cl.Close()
	saved, err := loadShare(a.opts.StateDir)
	if err != nil {
		a.log.Error("cannot read the saved share; waiting for the manager", "err", err)
	}
	if saved.Share != nil {
		a.log.Info("applying the saved share", "revision", saved.Revision)
		m.want, m.wantRev = saved.Share, saved.Revision
		m.apply()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); m.applier(ctx) }()
	go func() { defer wg.Done(); m.heartbeats(ctx) }()
	m.watch(ctx, saved)
	wg.Wait()
}

// watch keeps a watch stream open, reconnecting with backoff, and hands
// every new share to the applier.
func (m *managed) watch(ctx context.Context, saved savedShare) {
	log := m.a.log.With("manager", m.opt.URL)
	have, since := saved.Share, saved.Revision
	backoff := 500 * time.Millisecond
	down := false
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		m.mu.Lock()
		m.rewatch = cancel
		m.mu.Unlock()
		err := m.register(wctx)
		if err == nil {
			// A manager that restarted has forgotten our ack: ack again.
			m.mu.Lock()
			m.ackedRev = 0
			m.mu.Unlock()
			err = m.cl.Watch(wctx, m.opt.Host, since, have, func(msg manager.Message) error {
				backoff = 500 * time.Millisecond
				if down {
					log.Info("manager reachable again", "revision", msg.Revision)
					down = false
				}
				if msg.Type == manager.MsgKeepalive {
					return nil
				}
				rev := msg.Revision
				if msg.Type == manager.MsgCurrent && since > rev {
					rev = since // our share is current; we are at least there
				}
				have, since = msg.Share, rev
				if err := saveShare(m.a.opts.StateDir, savedShare{Revision: rev, Share: msg.Share}); err != nil {
					log.Error("cannot save the share", "err", err)
				}
				m.setWant(msg.Share, rev)
				return nil
			})
		}
		rewatched := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case rewatched:
			continue // register again at once
		case errors.Is(err, manager.ErrOutOfSync):
			log.Warn("out of sync with the manager; asking for a snapshot", "err", err)
			have, since = nil, 0
		case !down:
			// Once per outage; the retries that follow log at debug.
			log.Warn("manager unreachable; forwarding goes on with the last share, retrying with backoff", "err", err)
			down = true
		default:
			log.Debug("manager still unreachable", "err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// hostTokenFile keeps the host token the manager gave this agent when it
// joined; with it the agent needs the join token no more.
const hostTokenFile = "host-token"

// register registers the host with its host token, or joins with the
// join token when it has none or the manager does not know it (the
// manager's store was reset, or the host was deleted or re-joined), and
// keeps the new host token.
func (m *managed) register(ctx context.Context) error {
	spec := resource.HostSpec{Address: m.opt.TunnelIP, Uplinks: m.opt.Uplinks, AgentVersion: m.a.opts.Version}
	path := filepath.Join(m.a.opts.StateDir, hostTokenFile)
	if data, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(data))) > 0 {
		m.cl.SetToken(strings.TrimSpace(string(data)))
		_, _, err := m.cl.Register(ctx, m.opt.Host, spec)
		if !client.IsStatus(err, http.StatusUnauthorized) && !client.IsStatus(err, http.StatusForbidden) {
			return err
		}
		m.a.log.Warn("the manager refused this host's token; joining again with the join token", "err", err)
		os.Remove(path)
	}
	m.cl.SetToken(m.opt.Token)
	_, tok, err := m.cl.Register(ctx, m.opt.Host, spec)
	if client.IsStatus(err, http.StatusUnauthorized) {
		return fmt.Errorf("the manager refused the join token (check --token-file): %w", err)
	}
	if err != nil || tok == "" {
		return err
	}
	if err := os.WriteFile(path+".tmp", []byte(tok+"\n"), 0o600); err != nil {
		m.a.log.Error("cannot save the host token; the agent will join again next time", "err", err)
	} else if err := os.Rename(path+".tmp", path); err != nil {
		m.a.log.Error("cannot save the host token; the agent will join again next time", "err", err)
	}
	m.a.log.Info("joined the manager", "host", m.opt.Host)
	m.cl.SetToken(tok)
	return nil
}

func (m *managed) setWant(sh *manager.Share, rev int64) {
	m.mu.Lock()
	m.want, m.wantRev = sh, rev
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// applier applies the wanted share when it changes, and again every
// heartbeat period while the last apply left errors (a VM interface not
// there yet).
func (m *managed) applier(ctx context.Context) {
	t := time.NewTicker(m.opt.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-t.C:
			m.mu.Lock()
			pending := m.appliedRev < m.wantRev
			m.mu.Unlock()
			if !pending {
				continue
			}
		}
		if m.apply() {
			m.ack(ctx)
		}
	}
}

// heartbeats tells the manager the agent lives, and retries a failed ack.
func (m *managed) heartbeats(ctx context.Context) {
	t := time.NewTicker(m.opt.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := m.cl.Heartbeat(ctx, m.opt.Host)
		switch {
		case ctx.Err() != nil:
		case client.IsStatus(err, http.StatusUnauthorized) || client.IsStatus(err, http.StatusForbidden):
			// The host joined again elsewhere, or the manager forgot
			// us: the open stream would go on, but nothing else will.
			m.a.log.Warn("the manager refused this host's token; registering again", "err", err)
			m.mu.Lock()
			if m.rewatch != nil {
				m.rewatch()
			}
			m.mu.Unlock()
		case err != nil:
			m.a.log.Debug("heartbeat failed", "err", err)
		}
		m.ack(ctx)
	}
}

// ack acknowledges the applied revision if the manager has not had it.
func (m *managed) ack(ctx context.Context) {
	m.mu.Lock()
	rev, acked := m.appliedRev, m.ackedRev
	m.mu.Unlock()
	if rev <= acked {
		return
	}
	if err := m.cl.Ack(ctx, m.opt.Host, rev); err != nil {
		if ctx.Err() == nil {
			m.a.log.Debug("ack failed; retrying with the next heartbeat", "revision", rev, "err", err)
		}
		return
	}
	m.mu.Lock()
	m.ackedRev = max(m.ackedRev, rev)
	m.mu.Unlock()
}

// apply reconciles the bridges to the wanted share and reports whether
// everything applied.
func (m *managed) apply() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	want, warns := compileShare(m.want, m.opt.TunnelIP)
	for _, w := range warns {
		m.a.log.Warn("share: " + w)
	}
	ch := diffStates(m.applied, want)
	errs := m.a.applyChanges(ch, m.applied, want, m.tunnelNos)
	for _, err := range errs {
		m.a.log.Error("reconciling", "revision", m.wantRev, "err", err)
	}
	if len(errs) == 0 {
		m.appliedRev = m.wantRev
		if len(ch.Bridges)+len(ch.DelBridges) > 0 {
			m.a.log.Info("share applied", "revision", m.wantRev, "bridges_changed", len(ch.Bridges), "bridges_deleted", len(ch.DelBridges))
		}
	}
	return len(errs) == 0
}

// errClosed is returned when the agent closed under a reconcile.
var errClosed = errors.New("agent closed")

// applyChanges applies ch to the bridges and records in applied what
// succeeded (so that the next diff retries the rest). tunnelNos keeps the
// number each tunnel port got.
func (a *Agent) applyChanges(ch changes, applied, want desiredState, tunnelNos map[string]uint32) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return []error{errClosed}
	}
	var errs []error
	for _, n := range ch.DelBridges {
		if e, ok := a.bridges[n]; ok && e.managed {
			delete(a.bridges, n)
			a.closeBridge(e)
		}
		delete(applied, n)
		a.log.Info("bridge deleted (its switch left the share)", "bridge", n)
	}
	for _, n := range ch.AddBridges {
		if err := a.addManagedBridge(n); err != nil {
			errs = append(errs, err)
			continue
		}
		applied[n] = &desiredBridge{Name: n, Ports: map[string]bridge.PortSpec{}, Flows: map[string][]string{}}
	}
	for _, bc := range ch.Bridges {
		have := applied[bc.Name]
		e := a.bridges[bc.Name]
		if have == nil || e == nil || !e.managed {
			continue // its creation failed (reported above)
		}
		errs = append(errs, applyBridge(e.br, bc, have, want[bc.Name], tunnelNos)...)
	}
	return errs
}

// addManagedBridge creates the bridge of a switch: empty tables (fail
// mode secure) that only the reconciler fills. It is not saved in the
// state store: the saved share brings it back.
func (a *Agent) addManagedBridge(name string) error {
	if err := checkBridgeName(name); err != nil {
		return fmt.Errorf("switch %s: %w", name, err)
	}
	if e, ok := a.bridges[name]; ok {
		if e.managed {
			return nil
		}
		return fmt.Errorf("switch %s: a bridge of that name was added by hand; delete it to let the manager use the name", name)
	}
	spec := api.BridgeSpec{Name: name, OpenFlow: ofswitch.Config{FailMode: ofswitch.FailSecure}}
	e, err := a.newBridge(spec, false)
	if err != nil {
		return fmt.Errorf("creating bridge %s: %w", name, err)
	}
	if err := a.startSwitch(e, false); err != nil {
		a.closeBridge(e)
		return err
	}
	e.managed = true
	a.bridges[name] = e
	a.log.Info("bridge added for switch", "bridge", name)
	return nil
}

// applyBridge applies one bridge's changes: ports out, ports in, VLAN
// changes, then each changed owner's flows (after the ports they name).
func applyBridge(br *bridge.Bridge, bc bridgeChanges, have, want *desiredBridge, tunnelNos map[string]uint32) []error {
	var errs []error
	key := func(p string) string { return bc.Name + "/" + p }
	type arrival struct {
		no uint32
		an announcement
	}
	var added []arrival
	for _, p := range bc.DelPorts {
		if err := br.DelPort(p); err != nil && !errors.Is(err, bridge.ErrNoPort) {
			errs = append(errs, fmt.Errorf("bridge %s: removing port %s: %w", bc.Name, p, err))
			continue
		}
		delete(have.Ports, p)
		if _, ok := want.Ports[p]; !ok {
			delete(tunnelNos, key(p))
		}
	}
	for _, ps := range bc.AddPorts {
		spec := ps
		if bridge.IsTunnel(spec.Type) {
			spec.OFPort = tunnelNos[key(ps.Name)]
			if spec.OFPort == 0 {
				spec.OFPort = freeTunnelNo(br)
			}
		}
		no, err := br.AddPort(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: adding port %s: %w", bc.Name, ps.Name, err))
			continue
		}
		if bridge.IsTunnel(spec.Type) {
			tunnelNos[key(ps.Name)] = no
		} else if an, ok := want.Announce[ps.Name]; ok {
			added = append(added, arrival{no, an})
		}
		have.Ports[ps.Name] = ps
	}
	for _, ps := range bc.SetPorts {
		spec := ps
		spec.OFPort = 0
		if err := br.SetPort(spec); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: changing port %s: %w", bc.Name, ps.Name, err))
			continue
		}
		have.Ports[ps.Name] = ps
	}
	for _, o := range bc.DelFlows {
		if _, err := br.DelFlows(fmt.Sprintf("cookie=%#x/0xffffffffffffffff", ownerCookie(o)), false); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: removing the flows of %s: %w", bc.Name, o, err))
			continue
		}
		delete(have.Flows, o)
	}
	for o, fl := range bc.SetFlows {
		if err := replaceFlows(br, o, have.Flows[o], fl); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: replacing the flows of %s: %w", bc.Name, o, err))
			continue
		}
		have.Flows[o] = fl
	}
	// The ports that arrived announce their VMs' MACs, now that the flows
	// that carry their traffic are in.
	for _, a := range added {
		if err := announce(br, a.no, a.an); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: announcing %s: %w", bc.Name, a.an.MAC, err))
		}
	}
	return errs
}

// replaceFlows turns owner o's rules from old into new without a gap: it
// adds the new rules (an added rule replaces the one with the same table,
// priority and match), then deletes, strictly, the old rules whose match
// is gone. An owner without old rules is cleared first, so that rules of
// its cookie from an earlier life do not linger.
func replaceFlows(br *bridge.Bridge, o string, old, new []string) error {
	cookie := fmt.Sprintf("cookie=%#x", ownerCookie(o))
	if old == nil {
		if _, err := br.DelFlows(cookie+"/0xffffffffffffffff", false); err != nil {
			return err
		}
	}
	if err := br.AddFlows(new); err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, f := range new {
		kept[selector(f)] = true
	}
	for _, f := range old {
		sel := selector(f)
		if kept[sel] {
			continue
		}
		sel = strings.Replace(sel, cookie, cookie+"/0xffffffffffffffff", 1)
		if _, err := br.DelFlows(sel, true); err != nil {
			return err
		}
	}
	return nil
}

// selector is a generated flow without its actions: its cookie, table,
// priority and match.
func selector(f string) string {
	if i := strings.Index(f, ",actions="); i >= 0 {
		return f[:i]
	}
	return f
}

// freeTunnelNo returns the lowest free port number from tunnelPortBase.
func freeTunnelNo(br *bridge.Bridge) uint32 {
	used := map[uint32]bool{}
	for _, p := range br.Ports() {
		used[p.OFPort] = true
	}
	no := uint32(tunnelPortBase)
	for used[no] {
		no++
	}
	return no
}
