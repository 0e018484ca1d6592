package agent

import (
	"github.com/dvs-project/dvs/internal/datapath/offload"

	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/ofswitch"
	"github.com/dvs-project/dvs/internal/openflow/channel"
)

// Every bridge listens on a management socket in the state dir, as Open
// vSwitch does with /var/run/openvswitch/BR.mgmt, so that
// `ovs-ofctl -O OpenFlow13 dump-flows unix:STATE_DIR/BR.mgmt` works with no
// configuration; and on a snoop socket for `ovs-ofctl snoop`.
const (
	mgmtSuffix  = ".mgmt"
	snoopSuffix = ".snoop"
)

// minProbe is the shortest inactivity probe the agent accepts: shorter
// ones make a busy controller look dead.
const minProbe = time.Second

// ofSockets returns the management and snoop socket paths of bridge name,
// or "" for one whose path does not fit in a unix socket address.
func (a *Agent) ofSockets(name string) (mgmt, snoop string) {
	fit := func(suffix string) string {
		p := filepath.Join(a.opts.StateDir, name+suffix)
		if len(p) > maxSocketPath {
			return ""
		}
		return p
	}
	return fit(mgmtSuffix), fit(snoopSuffix)
}

// ofConfig is the configuration the bridge's switch runs: the user's plus
// the management and snoop sockets.
func (a *Agent) ofConfig(spec api.BridgeSpec) ofswitch.Config {
	cfg := spec.OpenFlow
	mgmt, snoop := a.ofSockets(spec.Name)
	cfg.Controllers = slices.Clone(cfg.Controllers)
	cfg.Listen = slices.Clone(cfg.Listen)
	if mgmt != "" {
		cfg.Listen = append([]string{"punix:" + mgmt}, cfg.Listen...)
	}
	if cfg.Snoop == "" {
		cfg.Snoop = snoop
	}
	return cfg
}

// checkOpenFlow validates spec's datapath id and OpenFlow configuration
// and puts them in canonical form.
func (a *Agent) checkOpenFlow(spec *api.BridgeSpec) error {
	if spec.DatapathID != "" {
		id, err := api.ParseDatapathID(spec.DatapathID)
		if err != nil {
			return badRequest("%v", err)
		}
		spec.DatapathID = api.FormatDatapathID(id)
	}
	cfg := &spec.OpenFlow
	if err := cfg.Validate(); err != nil {
		return badRequest("openflow: %v", err)
	}
	if cfg.InactivityProbe != 0 && cfg.InactivityProbe < minProbe {
		return badRequest("inactivity probe %v: use at least %v (or 0 for the default, 5s)", cfg.InactivityProbe, minProbe)
	}
	var err error
	if cfg.Controllers, err = checkTargets("controller", cfg.Controllers); err != nil {
		return err
	}
	if cfg.Listen, err = checkTargets("listen target", cfg.Listen); err != nil {
		return err
	}
	mgmt, snoop := a.ofSockets(spec.Name)
	for _, l := range cfg.Listen {
		if p, ok := strings.CutPrefix(l, "punix:"); ok && (p == mgmt || p == snoop) {
			return badRequest("listen target %s: the bridge's management sockets are always there", l)
		}
	}
	tls := false
	for _, t := range append(slices.Clone(cfg.Controllers), cfg.Listen...) {
		tls = tls || strings.HasPrefix(t, "ssl:") || strings.HasPrefix(t, "pssl:")
	}
	if tls && (cfg.PrivateKey == "" || cfg.Certificate == "" || cfg.CACert == "") {
		return badRequest("ssl and pssl targets need a private key, a certificate and a CA certificate (--ssl-key, --ssl-cert, --ssl-ca)")
	}
	return nil
}

// checkTargets rejects empty targets; a list of just "none" is the empty
// list. The channel checks the syntax and repeats.
func checkTargets(what string, ts []string) ([]string, error) {
	if len(ts) == 1 && ts[0] == "none" {
		return nil, nil
	}
	for _, t := range ts {
		switch {
		case strings.TrimSpace(t) == "":
			return nil, badRequest("empty %s", what)
		case t == "none":
			return nil, badRequest(`%s "none" removes them all: give it alone`, what)
		}
	}
	if len(ts) == 0 {
		return nil, nil
	}
	return ts, nil
}

// checkOffload rejects an unknown kernel fast path mode.
func checkOffload(mode string) error {
	switch mode {
	case "", offload.ModeTC, offload.ModeNone:
		return nil
	}
	return badRequest("offload %q: want %s or %s", mode, offload.ModeTC, offload.ModeNone)
}

// SetBridge changes a bridge's OpenFlow settings: connections to
// controllers and listeners that stay are kept.
func (a *Agent) SetBridge(name string, patch api.BridgePatch) (api.Bridge, error) {
	if patch.IsZero() {
		return api.Bridge{}, badRequest("nothing to change")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, err := a.entry(name)
	if err != nil {
		return api.Bridge{}, err
	}
	next := e.spec
	cfg := &next.OpenFlow
	cfg.Controllers, cfg.Listen = slices.Clone(cfg.Controllers), slices.Clone(cfg.Listen)
	if patch.Controllers != nil {
		cfg.Controllers = slices.Clone(*patch.Controllers)
	}
	if patch.Listen != nil {
		cfg.Listen = slices.Clone(*patch.Listen)
	}
	if patch.FailMode != nil {
		cfg.FailMode = *patch.FailMode
	}
	if patch.InactivityProbe != nil {
		cfg.InactivityProbe = *patch.InactivityProbe
	}
	if patch.PrivateKey != nil {
		cfg.PrivateKey = *patch.PrivateKey
	}
	if patch.Certificate != nil {
		cfg.Certificate = *patch.Certificate
	}
	if patch.CACert != nil {
		cfg.CACert = *patch.CACert
	}
	if err := a.checkOpenFlow(&next); err != nil {
		return api.Bridge{}, err
	}
	if patch.Offload != nil {
		if err := checkOffload(*patch.Offload); err != nil {
			return api.Bridge{}, err
		}
		next.Offload = *patch.Offload
		if err := e.br.SetOffload(a.offloadMode(next)); err != nil {
			return api.Bridge{}, withStatus(http.StatusBadRequest, fmt.Errorf("bridge %s: %w", name, err))
		}
		a.logOffload(name, e.br)
	}
	if err := e.sw.Update(a.ofConfig(next)); err != nil {
		return api.Bridge{}, withStatus(http.StatusBadRequest, fmt.Errorf("bridge %s: %w", name, err))
	}
	e.spec, e.ofErr = next, ""
	a.log.Info("bridge changed", "bridge", name, "controllers", cfg.Controllers, "listen", cfg.Listen,
		"fail_mode", cfg.FailMode)
	return a.bridgeSummary(e), a.saved(e)
}

// OpenFlow returns a bridge's OpenFlow state.
func (a *Agent) OpenFlow(name string) (api.OpenFlowInfo, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, err := a.entry(name)
	if err != nil {
		return api.OpenFlowInfo{}, err
	}
	mgmt, _ := a.ofSockets(name)
	info := e.sw.Info()
	if info.Connections == nil {
		info.Connections = []channel.ConnInfo{} // [] rather than null in JSON
	}
	return api.OpenFlowInfo{Info: info, MgmtSocket: mgmt, SnoopSocket: a.ofConfig(e.spec).Snoop,
		Error: e.ofErr}, nil
}
