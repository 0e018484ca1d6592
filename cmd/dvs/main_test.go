package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/agent"
	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/porttest"
)

// startAgent runs an agent in-process with in-memory ports and returns its
// socket.
func startAgent(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	open := func(spec bridge.PortSpec) (datapath.Port, error) {
		if strings.HasPrefix(spec.Name, "gone") {
			return nil, fmt.Errorf("interface %s does not exist", spec.Name)
		}
		return porttest.New(spec.Name), nil
	}
	a, err := agent.Start(agent.Options{StateDir: dir, Socket: sock, Workers: 1, Opener: open})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sock
}

type result struct {
	code           int
	stdout, stderr string
}

func dvs(t *testing.T, sock string, args ...string) result {
	t.Helper()
	return dvsIn(t, sock, "", args...)
}

func dvsIn(t *testing.T, sock, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	if sock != "" {
		args = append([]string{"--socket", sock}, args...)
	}
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) check(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stdout %q, stderr %q)", r.code, code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, stdout) {
		t.Errorf("stdout %q does not contain %q", r.stdout, stdout)
	}
	if !strings.Contains(r.stderr, stderr) {
		t.Errorf("stderr %q does not contain %q", r.stderr, stderr)
	}
	if code != 0 && strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("error is not one line: %q", r.stderr)
	}
}

func TestCLI(t *testing.T) {
	sock := startAgent(t)

	dvs(t, sock, "bridge", "add", "br0").check(t, 0, "added bridge br0", "")
	dvs(t, sock, "bridge", "add", "br0").check(t, 1, "", "dvs: bridge br0 already exists\n")
	dvs(t, sock, "port", "add", "br0", "veth1", "--vlan", "10").check(t, 0, "as OpenFlow port 1 (access vlan 10)", "")
	dvs(t, sock, "port", "add", "br0", "veth2", "--trunk", "10,20-30", "--native-vlan", "10", "--ofport", "5").
		check(t, 0, "as OpenFlow port 5 (trunk 10,20-30 native 10)", "")
	dvs(t, sock, "port", "add", "br0", "veth1").check(t, 1, "", "dvs: port veth1: port already exists on bridge br0")
	dvs(t, sock, "port", "add", "br0", "veth3", "--vlan", "4095").check(t, 1, "", "4095")
	dvs(t, sock, "port", "add", "br0", "veth3", "--vlan", "0").check(t, 1, "", "--vlan 0")
	dvs(t, sock, "port", "add", "br0", "gone9").check(t, 1, "", "port gone9: interface gone9 does not exist")
	dvs(t, sock, "port", "add", "br0", "veth3", "--vlan", "10", "--qinq", "20").check(t, 2, "", "see 'dvs port add --help'")
	dvs(t, sock, "port", "add", "br0").check(t, 2, "", "")
	dvs(t, sock, "port", "set", "br0", "veth1", "--vlan", "20").check(t, 0, "access vlan 20", "")
	dvs(t, sock, "port", "set", "br0", "veth1").check(t, 2, "", "nothing to change")

	r := dvs(t, sock, "port", "list", "br0")
	r.check(t, 0, "NAME", "")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 ||
		!strings.HasPrefix(lines[1], "veth1  ") || !strings.Contains(lines[1], "access vlan 20") || !strings.Contains(lines[1], "up") {
		t.Errorf("port list:\n%s", r.stdout)
	}
	r = dvs(t, sock, "-o", "json", "port", "list", "br0")
	r.check(t, 0, "", "")
	var ports []api.Port
	if err := json.Unmarshal([]byte(r.stdout), &ports); err != nil || len(ports) != 2 || ports[1].OFPort != 5 {
		t.Errorf("port list -o json: %v\n%s", err, r.stdout)
	}

	dvs(t, sock, "flow", "add", "br0", "priority=100,in_port=veth1 actions=output:veth2").check(t, 0, "added 1 flows", "")
	dvs(t, sock, "flow", "add", "br0", "priority=100,tp_dts=80 actions=drop").check(t, 1, "", "tp_dts")
	dvs(t, sock, "flow", "dump", "br0", "--no-stats").
		check(t, 0, "priority=100,in_port=veth1 actions=output:veth2\npriority=0 actions=NORMAL\n", "")
	dvs(t, sock, "flow", "dump", "br0").check(t, 0, "n_packets=0", "")
	dvs(t, sock, "trace", "br0", "in_port=veth1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02").
		check(t, 0, "Datapath actions:", "")
	dvs(t, sock, "stats", "br0").check(t, 0, "Cache", "")
	dvs(t, sock, "mac", "show", "br0", "--vlan", "10").check(t, 0, "PORT", "")
	dvs(t, sock, "mac", "flush", "br0").check(t, 0, "flushed 0 MACs", "")
	dvs(t, sock, "bridge", "list").check(t, 0, "br0", "")
	dvs(t, sock, "bridge", "show", "br9").check(t, 1, "", "bridge br9 does not exist")
	dvs(t, sock, "flow", "del", "br0").check(t, 0, "deleted 2 flows", "")
	dvs(t, sock, "port", "del", "br0", "veth1").check(t, 0, "deleted port veth1", "")
	dvs(t, sock, "bridge", "del", "br0").check(t, 0, "deleted bridge br0", "")

	dvs(t, sock, "-o", "yaml", "bridge", "list").check(t, 2, "", "--output must be table or json")
	dvs(t, sock, "bridge", "frobnicate").check(t, 2, "", "unknown command")
	dvs(t, sock, "port", "add", "br0", "x", "--vlna", "1").check(t, 2, "", "unknown flag")
	dvs(t, sock, "completion", "bash").check(t, 0, "bash completion", "")
	dvs(t, sock, "version").check(t, 0, "agent ", "")
}

func TestFlowFile(t *testing.T) {
	sock := startAgent(t)
	dvs(t, sock, "bridge", "add", "br0").check(t, 0, "", "")

	var good strings.Builder
	good.WriteString("# generated\n\n")
	for i := 1; i <= 2500; i++ {
		fmt.Fprintf(&good, "priority=10,tcp,tp_dst=%d actions=drop\n", i)
	}
	path := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(path, []byte(good.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	dvs(t, sock, "flow", "add", "br0", "-f", path).check(t, 0, "added 2500 flows\n", "")

	// A bad line in the second chunk: the first chunk stays, nothing after.
	var bad strings.Builder
	for i := 1; i <= 1500; i++ {
		if i == 1200 {
			bad.WriteString("priority=20,tcp,tp_dts=1 actions=drop\n")
			continue
		}
		fmt.Fprintf(&bad, "priority=20,tcp,tp_dst=%d actions=drop\n", i)
	}
	dvsIn(t, sock, bad.String(), "flow", "add", "br0", "-f", "-").
		check(t, 1, "", "standard input:1200: ")
	r := dvs(t, sock, "flow", "dump", "br0", "--no-stats")
	if n := strings.Count(r.stdout, "priority=20,"); n != 1000 {
		t.Errorf("after the failed load: %d flows of priority 20, want 1000", n)
	}
	dvs(t, sock, "flow", "add", "br0").check(t, 2, "", "give at least one flow")
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	dvs(t, sock, "bridge", "list").
		check(t, 3, "", "dvs: cannot reach the dvs agent at "+sock+": is `dvs agent` running?\n")
	t.Setenv(api.SocketEnv, sock)
	dvs(t, "", "port", "list", "br0").check(t, 3, "", sock)
}

func TestAgentRefusesSecondInstance(t *testing.T) {
	dir := t.TempDir()
	a, err := agent.Start(agent.Options{StateDir: dir, Socket: filepath.Join(dir, "a.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dvs(t, filepath.Join(dir, "b.sock"), "agent", "--state-dir", dir).
		check(t, 1, "", fmt.Sprintf("dvs: another dvs agent is using state dir %s (pid %d)\n", dir, os.Getpid()))
}

func TestCLIOpenFlow(t *testing.T) {
	sock := startAgent(t)
	dir := filepath.Dir(sock)

	dvs(t, sock, "bridge", "add", "br0", "--datapath-id", "0xa0", "--controller", "tcp:127.0.0.1:1",
		"--controller", "tcp:127.0.0.1:2", "--fail-mode", "secure").check(t, 0, "added bridge br0", "")
	r := dvs(t, sock, "bridge", "show", "br0")
	r.check(t, 0, "", "")
	for _, want := range []string{"datapath id: 00000000000000a0", "flows: 0", "controllers: tcp:127.0.0.1:1, tcp:127.0.0.1:2",
		"fail mode: secure", "management: unix:" + filepath.Join(dir, "br0.mgmt")} {
		if !strings.Contains(squeeze(r.stdout), want) {
			t.Errorf("bridge show does not say %q:\n%s", want, r.stdout)
		}
	}
	if r := dvs(t, sock, "bridge", "list"); !strings.Contains(squeeze(r.stdout), "00000000000000a0 tcp:127.0.0.1:1,tcp:127.0.0.1:2") {
		t.Errorf("bridge list:\n%s", r.stdout)
	}

	dvs(t, sock, "bridge", "set", "br0", "--no-controller", "--fail-mode", "standalone", "--inactivity-probe", "10s").
		check(t, 0, "bridge br0: controllers none, fail mode standalone\n", "")
	dvs(t, sock, "bridge", "set", "br0", "--controller", "tcp:127.0.0.1:3", "--listen", "ptcp:0:127.0.0.1").
		check(t, 0, "bridge br0: controllers tcp:127.0.0.1:3, fail mode standalone\n", "")
	r = dvs(t, sock, "-o", "json", "bridge", "show", "br0")
	var b api.BridgeDetail
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil || b.OpenFlow.InactivityProbe.String() != "10s" ||
		strings.Join(b.OpenFlow.Listen, ",") != "ptcp:0:127.0.0.1" {
		t.Errorf("bridge show -o json: %v\n%s", err, r.stdout)
	}

	r = dvs(t, sock, "of", "show", "br0")
	r.check(t, 0, "OpenFlow br0\n", "")
	for _, want := range []string{"datapath id: 00000000000000a0", "fail mode: standalone\n",
		"management: unix:" + filepath.Join(dir, "br0.mgmt"), "snoop: unix:" + filepath.Join(dir, "br0.snoop"),
		"controllers: tcp:127.0.0.1:3", "listen: ptcp:0:127.0.0.1\n", "Connections", "packet-ins: 0 sent, 0 dropped"} {
		if !strings.Contains(squeeze(r.stdout), want) {
			t.Errorf("of show does not say %q:\n%s", want, r.stdout)
		}
	}
	r = dvs(t, sock, "-o", "json", "of", "show", "br0")
	var info api.OpenFlowInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.DatapathID != "00000000000000a0" ||
		info.MgmtSocket != filepath.Join(dir, "br0.mgmt") {
		t.Errorf("of show -o json: %v\n%s", err, r.stdout)
	}

	dvs(t, sock, "bridge", "add", "br1", "--fail-mode", "open").check(t, 2, "", "--fail-mode must be standalone or secure")
	dvs(t, sock, "bridge", "add", "br1", "--datapath-id", "xyz").check(t, 1, "", `datapath id "xyz": not a hex number`)
	dvs(t, sock, "bridge", "add", "br1", "--controller", "udp:1.2.3.4").check(t, 1, "", `bad controller target "udp:1.2.3.4"`)
	dvs(t, sock, "bridge", "set", "br0").check(t, 2, "", "nothing to change")
	dvs(t, sock, "bridge", "set", "br0", "--controller", "tcp:127.0.0.1", "--no-controller").check(t, 2, "", "none of the others can be")
	dvs(t, sock, "bridge", "set", "br0", "--fail-mode", "").check(t, 2, "", "--fail-mode must be standalone or secure")
	dvs(t, sock, "bridge", "set", "br0", "--inactivity-probe", "5").check(t, 2, "", "invalid argument")
	dvs(t, sock, "bridge", "set", "br9", "--fail-mode", "secure").check(t, 1, "", "bridge br9 does not exist")
	dvs(t, sock, "of", "show", "br9").check(t, 1, "", "bridge br9 does not exist")
	dvs(t, sock, "of").check(t, 0, "ovs-ofctl -O OpenFlow13 dump-flows", "")
	dvs(t, sock, "of", "frobnicate").check(t, 2, "", "unknown command")
	if bs := dvs(t, sock, "bridge", "list"); strings.Contains(bs.stdout, "br1") {
		t.Errorf("a failed add made br1:\n%s", bs.stdout)
	}
}

func TestTopMessages(t *testing.T) {
	rx := map[string]uint64{"OFPT_FLOW_MOD": 10, "OFPT_ECHO_REQUEST": 3, "OFPT_HELLO": 1, "OFPT_BARRIER_REQUEST": 3}
	tx := map[string]uint64{"OFPT_PACKET_IN": 7, "OFPT_ERROR": 0}
	if got, want := topMessages(rx, tx), "rx FLOW_MOD:10 BARRIER_REQUEST:3 ECHO_REQUEST:3, tx PACKET_IN:7"; got != want {
		t.Errorf("topMessages = %q, want %q", got, want)
	}
	if got := topMessages(nil, nil); got != "-" {
		t.Errorf("topMessages(nil, nil) = %q", got)
	}
}

// squeeze turns runs of spaces into one, so that tests do not depend on
// column widths.
func squeeze(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}
