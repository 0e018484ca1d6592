package agent

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/store"
)

func TestAgentOpenFlowConfig(t *testing.T) {
	dir := t.TempDir()
	host := newFakeHost()
	ctx := context.Background()

	// State saved before OpenFlow existed: no datapath id, no openflow.
	st, err := store.Open(filepath.Join(dir, "dvs.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveBridge(store.Bridge{Config: store.BridgeConfig{Name: "old"}, Flows: []string{"actions=NORMAL"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ta := startAgent(t, dir, host)
	c := ta.c
	old := must[api.BridgeDetail](t)(c.Bridge(ctx, "old"))
	if old.Flows != 1 || len(old.DatapathID) != 16 || old.MgmtSocket != filepath.Join(dir, "old.mgmt") {
		t.Errorf("bridge from old state = %+v", old.Bridge)
	}

	// Secure: empty tables; the datapath id is canonical.
	b := must[api.Bridge](t)(c.AddBridge(ctx, api.BridgeSpec{Name: "br0", DatapathID: "0xA",
		OpenFlow: api.OpenFlowConfig{Controllers: []string{"tcp:127.0.0.1:1"}, FailMode: "secure"}}))
	if b.Flows != 0 || b.DatapathID != "000000000000000a" || b.MgmtSocket != filepath.Join(dir, "br0.mgmt") ||
		b.SnoopSocket != filepath.Join(dir, "br0.snoop") {
		t.Errorf("secure bridge = %+v", b)
	}
	// Standalone: the NORMAL flow; the datapath id comes from the name.
	b1 := must[api.Bridge](t)(c.AddBridge(ctx, api.BridgeSpec{Name: "br1"}))
	if b1.Flows != 1 || len(b1.DatapathID) != 16 || b1.DatapathID == b.DatapathID {
		t.Errorf("standalone bridge = %+v", b1)
	}

	info := must[api.OpenFlowInfo](t)(c.OpenFlow(ctx, "br0"))
	if info.DatapathID != "000000000000000a" || info.FailMode != "secure" || info.FailOpen ||
		info.MgmtSocket != filepath.Join(dir, "br0.mgmt") ||
		strings.Join(info.Controllers, ",") != "tcp:127.0.0.1:1" ||
		!strings.Contains(strings.Join(info.Listen, ","), "punix:"+filepath.Join(dir, "br0.mgmt")) {
		t.Errorf("OpenFlow(br0) = %+v", info)
	}

	b = must[api.Bridge](t)(c.SetBridge(ctx, "br0", api.BridgePatch{Controllers: &[]string{},
		Listen: &[]string{"ptcp:0:127.0.0.1"}, InactivityProbe: ptr(2 * time.Second)}))
	of := b.OpenFlow
	if len(of.Controllers) != 0 || strings.Join(of.Listen, ",") != "ptcp:0:127.0.0.1" || of.FailMode != "secure" ||
		of.InactivityProbe != 2*time.Second {
		t.Errorf("after set: %+v", of)
	}
	b = must[api.Bridge](t)(c.SetBridge(ctx, "br0", api.BridgePatch{Controllers: &[]string{"tcp:127.0.0.1:2"},
		FailMode: ptr("standalone")}))
	if of := b.OpenFlow; strings.Join(of.Controllers, ",") != "tcp:127.0.0.1:2" || of.FailMode != "standalone" ||
		strings.Join(of.Listen, ",") != "ptcp:0:127.0.0.1" {
		t.Errorf("after second set: %+v", of)
	}
	if info := must[api.OpenFlowInfo](t)(c.OpenFlow(ctx, "br0")); strings.Join(info.Controllers, ",") != "tcp:127.0.0.1:2" {
		t.Errorf("switch runs controllers %v", info.Controllers)
	}
	want := must[api.BridgeDetail](t)(c.Bridge(ctx, "br0")).Bridge

	// Restart: the configuration comes back, and the tables stay as they
	// were (a restored bridge never gets the NORMAL flow back).
	ta.stop()
	ta = startAgent(t, dir, host)
	c = ta.c
	got := must[api.BridgeDetail](t)(c.Bridge(ctx, "br0")).Bridge
	if got.DatapathID != want.DatapathID || got.Flows != 0 || got.OpenFlow.FailMode != "standalone" ||
		strings.Join(got.OpenFlow.Controllers, ",") != "tcp:127.0.0.1:2" ||
		strings.Join(got.OpenFlow.Listen, ",") != "ptcp:0:127.0.0.1" || got.OpenFlow.InactivityProbe != 2*time.Second {
		t.Errorf("after restart: %+v\nwant %+v", got, want)
	}
	if info := must[api.OpenFlowInfo](t)(c.OpenFlow(ctx, "br0")); info.DatapathID != "000000000000000a" || info.Error != "" {
		t.Errorf("OpenFlow(br0) after restart = %+v", info)
	}
	if got := must[api.BridgeDetail](t)(c.Bridge(ctx, "br1")); got.Flows != 1 || got.DatapathID != b1.DatapathID {
		t.Errorf("br1 after restart = %+v, datapath id was %s", got.Bridge, b1.DatapathID)
	}

	// Deleting a bridge removes its management socket.
	if err := c.DelBridge(ctx, "br1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "br1.mgmt")); !os.IsNotExist(err) {
		t.Errorf("br1.mgmt after delete: %v", err)
	}
}

// A saved configuration that no longer applies does not keep the bridge
// down: it runs with its management sockets, and says why.
func TestAgentOpenFlowRestoreFallback(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "dvs.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.BridgeConfig{Name: "br0", DatapathID: "0000000000000001",
		OpenFlow: api.OpenFlowConfig{Listen: []string{"punix:" + filepath.Join(dir, "gone", "of.sock")}, FailMode: "secure"}}
	if err := st.SaveBridge(store.Bridge{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	ta := startAgent(t, dir, newFakeHost())
	ctx := context.Background()
	info := must[api.OpenFlowInfo](t)(ta.c.OpenFlow(ctx, "br0"))
	if !strings.Contains(info.Error, "could not be applied") || info.FailMode != "secure" || info.DatapathID != "0000000000000001" ||
		info.MgmtSocket == "" {
		t.Errorf("OpenFlow(br0) = %+v", info)
	}
	b := must[api.BridgeDetail](t)(ta.c.Bridge(ctx, "br0"))
	if len(b.OpenFlow.Listen) != 1 {
		t.Errorf("the saved configuration was not kept: %+v", b.OpenFlow)
	}
	// Fixing it clears the error.
	must[api.Bridge](t)(ta.c.SetBridge(ctx, "br0", api.BridgePatch{Listen: &[]string{"none"}}))
	if info := must[api.OpenFlowInfo](t)(ta.c.OpenFlow(ctx, "br0")); info.Error != "" {
		t.Errorf("error after the fix: %q", info.Error)
	}
}

func TestAgentOpenFlowBadInput(t *testing.T) {
	dir := t.TempDir()
	ta := startAgent(t, dir, newFakeHost())
	ctx := context.Background()
	c := ta.c
	must[api.Bridge](t)(c.AddBridge(ctx, api.BridgeSpec{Name: "br0",
		OpenFlow: api.OpenFlowConfig{Controllers: []string{"tcp:127.0.0.1:1"}}}))

	add := func(spec api.BridgeSpec) func() error {
		return func() error {
			spec.Name = "br1"
			_, err := c.AddBridge(ctx, spec)
			return err
		}
	}
	set := func(br string, p api.BridgePatch) func() error {
		return func() error { _, err := c.SetBridge(ctx, br, p); return err }
	}
	of := func(cfg api.OpenFlowConfig) api.BridgeSpec { return api.BridgeSpec{OpenFlow: cfg} }
	tests := []struct {
		name   string
		do     func() error
		status int
		msg    string
	}{
		{"non-hex datapath id", add(api.BridgeSpec{DatapathID: "00:11"}), http.StatusBadRequest, "not a hex number"},
		{"long datapath id", add(api.BridgeSpec{DatapathID: "0x12345678901234567"}), http.StatusBadRequest, "more than 16 hex digits"},
		{"zero datapath id", add(api.BridgeSpec{DatapathID: "0"}), http.StatusBadRequest, "zero"},
		{"bad fail mode", add(of(api.OpenFlowConfig{FailMode: "open"})), http.StatusBadRequest, `fail mode "open"`},
		{"bad controller", add(of(api.OpenFlowConfig{Controllers: []string{"udp:1.2.3.4"}})), http.StatusBadRequest,
			`bad controller target "udp:1.2.3.4"`},
		{"bad listener", add(of(api.OpenFlowConfig{Listen: []string{"tcp:6653"}})), http.StatusBadRequest,
			`bad listen target "tcp:6653"`},
		{"empty controller", add(of(api.OpenFlowConfig{Controllers: []string{""}})), http.StatusBadRequest, "empty controller"},
		{"none among others", add(of(api.OpenFlowConfig{Controllers: []string{"none", "tcp:127.0.0.1"}})),
			http.StatusBadRequest, "give it alone"},
		{"ssl without files", add(of(api.OpenFlowConfig{Controllers: []string{"ssl:127.0.0.1"}})), http.StatusBadRequest,
			"need a private key, a certificate and a CA certificate"},
		{"short probe", add(of(api.OpenFlowConfig{InactivityProbe: 10 * time.Millisecond})), http.StatusBadRequest,
			"at least 1s"},
		{"management socket as listener", add(of(api.OpenFlowConfig{Listen: []string{"punix:" + filepath.Join(dir, "br1.mgmt")}})),
			http.StatusBadRequest, "management sockets are always there"},
		{"set unknown bridge", set("br9", api.BridgePatch{FailMode: ptr("secure")}), http.StatusNotFound, "bridge br9 does not exist"},
		{"set nothing", set("br0", api.BridgePatch{}), http.StatusBadRequest, "nothing to change"},
		{"set bad fail mode", set("br0", api.BridgePatch{FailMode: ptr("Secure")}), http.StatusBadRequest, "fail mode"},
		{"set bad controller", set("br0", api.BridgePatch{Controllers: &[]string{"tcp:127.0.0.1:1", "tcp:[::1"}}),
			http.StatusBadRequest, `bad controller target "tcp:[::1"`},
		{"set negative probe", set("br0", api.BridgePatch{InactivityProbe: ptr(-time.Second)}), http.StatusBadRequest, "negative"},
		{"openflow of unknown bridge", func() error { _, err := c.OpenFlow(ctx, "br9"); return err }, http.StatusNotFound,
			"bridge br9 does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatal("no error")
			}
			if got := statusOf(err); got != tc.status {
				t.Errorf("status %d, want %d (%v)", got, tc.status, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
	// Nothing changed.
	if bs := must[[]api.Bridge](t)(c.Bridges(ctx)); len(bs) != 1 {
		t.Errorf("bridges after failed requests: %+v", bs)
	}
	if info := must[api.OpenFlowInfo](t)(c.OpenFlow(ctx, "br0")); strings.Join(info.Controllers, ",") != "tcp:127.0.0.1:1" ||
		info.FailMode != "standalone" {
		t.Errorf("switch after failed requests: %+v", info)
	}
	if _, err := os.Lstat(filepath.Join(dir, "br1.mgmt")); !os.IsNotExist(err) {
		t.Errorf("a failed add left br1.mgmt: %v", err)
	}
}

// ovs-ofctl reaches a new bridge on its management socket with no
// configuration.
func TestAgentMgmtSocketOvsOfctl(t *testing.T) {
	ofctl, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		t.Skip("ovs-ofctl is not installed")
	}
	dir := t.TempDir()
	ta := startAgent(t, dir, newFakeHost())
	ctx := context.Background()
	b := must[api.Bridge](t)(ta.c.AddBridge(ctx, api.BridgeSpec{Name: "br0", DatapathID: "00000000000000b0"}))
	must[api.Port](t)(ta.c.AddPort(ctx, "br0", api.PortSpec{Name: "veth1"}))

	run := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, ofctl, append([]string{"-O", "OpenFlow13"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ovs-ofctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	target := "unix:" + b.MgmtSocket
	if out := run("show", target); !strings.Contains(out, "dpid:00000000000000b0") || !strings.Contains(out, "veth1") {
		t.Errorf("ovs-ofctl show:\n%s", out)
	}
	if out := run("dump-flows", target); !strings.Contains(out, "actions=NORMAL") {
		t.Errorf("ovs-ofctl dump-flows:\n%s", out)
	}
	// The switch sees ovs-ofctl's close a moment after the process exits.
	waitFor(t, "no connections left after ovs-ofctl exited", func() bool {
		info := must[api.OpenFlowInfo](t)(ta.c.OpenFlow(ctx, "br0"))
		return len(info.Connections) == 0
	})
}
