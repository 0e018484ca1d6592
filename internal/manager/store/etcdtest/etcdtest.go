// Package etcdtest runs a throwaway single-member etcd (Debian's
// etcd-server, /usr/bin/etcd) on 127.0.0.1 for tests.
package etcdtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

var (
	installOnce sync.Once
	binary      string
	installErr  error
)

// find returns etcd's path, installing etcd-server with apt-get once if it
// is missing and the tests run as root.
func find() (string, error) {
	installOnce.Do(func() {
		if p, err := exec.LookPath("etcd"); err == nil {
			binary = p
			return
		}
		if os.Geteuid() != 0 {
			installErr = fmt.Errorf("etcd is not installed (apt-get install etcd-server, or scripts/deps.sh)")
			return
		}
		cmd := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", "etcd-server")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			installErr = fmt.Errorf("installing etcd-server: %v\n%s", err, out)
			return
		}
		binary, installErr = exec.LookPath("etcd")
	})
	return binary, installErr
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs etcd with a temporary data dir on random free ports and
// returns its client address (127.0.0.1:port); t.Cleanup kills it. The
// test is skipped, loudly, if etcd cannot be found or installed.
func Start(t testing.TB) string {
	t.Helper()
	return StartIn(t, "")
}

// StartIn is Start inside network namespace ns (by name, "" for the
// current one): etcd listens on that namespace's 127.0.0.1.
func StartIn(t testing.TB, ns string) string {
	t.Helper()
	bin, err := find()
	if err != nil {
		t.Skipf("SKIPPING etcd test: %v", err)
	}
	var lastOut []byte
	for range 3 { // the free ports may be taken before etcd binds them
		client, peer := freePort(t), freePort(t)
		if ns != "" { // a test's own namespace: nothing listens there
			client, peer = 2379, 2380
		}
		if client == peer {
			continue
		}
		dir := t.TempDir()
		cu := "http://127.0.0.1:" + strconv.Itoa(client)
		pu := "http://127.0.0.1:" + strconv.Itoa(peer)
		var out bytes.Buffer
		var omu sync.Mutex
		args := []string{bin}
		if ns != "" {
			args = append([]string{"ip", "netns", "exec", ns}, args...)
		}
		cmd := exec.Command(args[0], append(args[1:],
			"--name", "test",
			"--data-dir", filepath.Join(dir, "etcd"),
			"--listen-client-urls", cu, "--advertise-client-urls", cu,
			"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
			"--initial-cluster", "test="+pu,
			"--initial-cluster-state", "new",
		)...)
		cmd.Stdout, cmd.Stderr = lockedWriter{&omu, &out}, lockedWriter{&omu, &out}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting etcd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		addr := "127.0.0.1:" + strconv.Itoa(client)
		if waitReady(ns, addr, exited) {
			t.Cleanup(stop)
			return addr
		}
		stop()
		omu.Lock()
		lastOut = bytes.Clone(out.Bytes())
		omu.Unlock()
	}
	t.Fatalf("etcd did not start:\n%s", tail(lastOut, 4000))
	return ""
}

// waitReady polls etcd's /health until it reports healthy.
func waitReady(ns, addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if healthy(ns, addr) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func healthy(ns, addr string) bool {
	c, err := dialIn(ns, addr)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "GET /health HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
	var buf bytes.Buffer
	b := make([]byte, 512)
	for {
		n, err := c.Read(b)
		buf.Write(b[:n])
		if err != nil {
			break
		}
	}
	return bytes.Contains(buf.Bytes(), []byte(`"health":"true"`))
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// dialIn connects to addr from network namespace ns ("" = the current
// one). The socket stays in ns after the thread returns to its own; the
// dial runs on a goroutine of its own so that a thread that cannot
// return is thrown away with it (it exits locked).
func dialIn(ns, addr string) (net.Conn, error) {
	if ns == "" {
		return net.DialTimeout("tcp", addr, time.Second)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- result{nil, err}
			return
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
