package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/resource"
)

func startManagerCLI(t *testing.T) (url, tokenFile string) {
	t.Helper()
	dir := t.TempDir()
	m, err := manager.Open(context.Background(), manager.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; m.Close() })
	if _, _, err := m.Register(ctx, hostObj("h1", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	return "http://" + ln.Addr().String(), filepath.Join(dir, manager.TokenFile)
}

const netYAML = `apiVersion: dvs/v1
kind: Switch
metadata: {name: prod}
spec: {overlay: vxlan, mtu: 1450}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: prod, vlan: 10}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm1}
spec: {portGroup: web, mac: "02:00:00:00:00:01", host: h1, interface: tap-vm1}
`

func TestCLIManager(t *testing.T) {
	url, tok := startManagerCLI(t)
	file := filepath.Join(t.TempDir(), "net.yaml")
	if err := os.WriteFile(file, []byte(netYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	mgr := func(args ...string) result {
		return dvs(t, "", append([]string{"--manager", url, "--token-file", tok}, args...)...)
	}
	mgr("apply", "-f", file).check(t, 0, "switch/prod created\nportgroup/web created\nport/vm1 created\n", "")
	mgr("apply", "-f", file).check(t, 0, "switch/prod unchanged\nportgroup/web unchanged\nport/vm1 unchanged\n", "")
	changed := strings.Replace(netYAML, "vlan: 10", "vlan: 11", 1)
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	mgr("apply", "-f", file).check(t, 0, "portgroup/web updated", "")

	mgr("get", "pg").check(t, 0, "web", "")
	mgr("get", "PortGroups", "web", "-o", "yaml").check(t, 0, "vlan: 11", "")
	mgr("get", "port", "vm1", "-o", "json").check(t, 0, `"ofport": 1`, "")
	mgr("get", "switches").check(t, 0, "vxlan", "")
	mgr("describe", "host", "h1").check(t, 0, "address: 127.0.0.1", "")
	mgr("host", "list").check(t, 0, "HEARTBEAT", "")
	mgr("get", "routers").check(t, exitUsage, "", "unknown kind")
	mgr("get", "port", "nope").check(t, exitError, "", "not found")
	mgr("delete", "pg", "web").check(t, exitError, "", "in use by port vm1")
	mgr("delete", "port", "vm1").check(t, 0, "port/vm1 deleted", "")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(netYAML+"---\napiVersion: dvs/v1\nkind: Port\nmetadata: {name: vm2}\nspec: {portGroup: web, mac: \"02:00:00:00:00:02\", host: nohost, interface: t2}\n"), 0o644)
	mgr("apply", "-f", bad).check(t, exitError, "", `host "nohost" does not exist`)
	mgr("get", "port", "vm2").check(t, exitError, "", "not found")
	os.WriteFile(bad, []byte("kind: Switch\nspec: {speed: 1}\n"), 0o644)
	mgr("apply", "-f", bad).check(t, exitError, "", "document 1")

	dvs(t, "", "--manager", "http://127.0.0.1:1", "get", "switches").check(t, exitUnreachable, "", "cannot reach the dvs manager")
	wrong := filepath.Join(t.TempDir(), "token")
	os.WriteFile(wrong, []byte("wrong\n"), 0o600)
	dvs(t, "", "--manager", url, "--token-file", wrong, "get", "switches").check(t, exitError, "", "unknown token: neither the manager's join token (a wrong --token-file?)")
}

func TestCLIManagerEtcdUnreachable(t *testing.T) {
	// Nothing listens on port 1: the manager says so and exits.
	dvs(t, "", "manager", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--store", "etcd://127.0.0.1:1").
		check(t, exitError, "", "cannot reach etcd")
}

func hostObj(name, addr string) *resource.Host {
	h := &resource.Host{Spec: resource.HostSpec{Address: addr}}
	h.APIVersion, h.Kind, h.Metadata.Name = resource.APIVersion, resource.KindHost, name
	return h
}
