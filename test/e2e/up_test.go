package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUp runs `dvs up` (manager and agent in one process) in a switch
// namespace, applies two VMs on it and pings between them; SIGTERM stops
// it cleanly.
func TestUp(t *testing.T) {
	tp := newTopo(t)
	ifs := []string{tp.host("u1", "198.51.100.1/24"), tp.host("u2", "198.51.100.2/24")}
	macs := []string{"02:00:00:00:31:01", "02:00:00:00:31:02"}
	yaml := "apiVersion: dvs/v1\nkind: Switch\nmetadata: {name: ov}\nspec: {overlay: vxlan}\n---\n" +
		"apiVersion: dvs/v1\nkind: PortGroup\nmetadata: {name: web}\nspec: {switch: ov, vni: 100}\n"
	for i, ifc := range ifs {
		tp.nsx(tp.ns(fmt.Sprintf("u%d", i+1)), "ip", "link", "set", "eth0", "address", macs[i])
		yaml += fmt.Sprintf(portYAML, fmt.Sprintf("vm%d", i+1), "web", macs[i], "solo", ifc)
	}
	file := filepath.Join(tp.dir, "net.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", tp.sw, dvsBin, "--socket", tp.socket, "up", "--host", "solo",
		"--data-dir", filepath.Join(tp.dir, "manager"), "--state-dir", tp.state, "--workers", "2")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("dvs up log:\n%s", logs.String())
		}
	})
	apply := func() (string, error) {
		return try("ip", "netns", "exec", tp.sw, dvsBin, "apply", "-f", file, "--manager", "http://127.0.0.1:7441")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := apply()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dvs apply against dvs up: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tp.waitBridge("ov", 2)
	if !strings.Contains(logs.String(), "dvs is up: manager http://127.0.0.1:7441") {
		t.Errorf("dvs up did not say where it is:\n%s", logs.String())
	}
	tp.mustPing("u1", "198.51.100.2")

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("dvs up exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("dvs up did not stop within 10s of SIGTERM")
	}
}
