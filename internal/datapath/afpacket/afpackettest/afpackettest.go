// Package afpackettest sets up what namespace tests of the port backends
// need: throwaway network namespaces, veth pairs inside them and plain
// AF_PACKET sockets to inject and capture frames. Everything it makes lives
// in namespaces the test owns and is removed when the test ends, even on
// failure: the namespaces are unnamed, so closing their handle (or the test
// process dying) destroys them with their interfaces.
package afpackettest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// EtherType marks the tests' frames (IEEE 802 local experimental), so that
// they tell their own frames from the IPv6 chatter of a new interface.
const EtherType = 0x88b5

// RequireRoot skips the test, loudly, unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root (network namespaces, veth, AF_PACKET, /dev/net/tun); run the tests as root")
	}
}

var seq atomic.Uint32

// Name returns an interface name unique to this process and call, starting
// with prefix (at most 4 characters).
func Name(prefix string) string {
	return fmt.Sprintf("%.4s%d%d", prefix, os.Getpid()%100000, seq.Add(1)%1000)
}

// NewNS makes an unnamed network namespace with its loopback up, destroyed
// when the test ends.
func NewNS(t testing.TB) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("getting the current namespace: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("creating a namespace: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		// The thread stays locked and dies with this goroutine.
		ns.Close()
		t.Fatalf("returning to the original namespace: %v", err)
	}
	runtime.UnlockOSThread()
	t.Cleanup(func() { ns.Close() })
	SetUp(t, ns, "lo")
	return ns
}

// Do runs fn on a locked OS thread inside ns and returns to the original
// namespace. Sockets and devices fn creates stay in ns.
func Do(t testing.TB, ns netns.NsHandle, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("getting the current namespace: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("entering namespace: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime discards it when the
			// goroutine exits instead of reusing a thread in ns.
			t.Errorf("returning to the original namespace: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// Handle returns a netlink handle working in ns, closed when the test ends.
func Handle(t testing.TB, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// Veth makes a veth pair a <-> b with a in nsA and b in nsB (which may be
// the same) and brings both up.
func Veth(t testing.TB, nsA netns.NsHandle, a string, nsB netns.NsHandle, b string) {
	t.Helper()
	h := Handle(t, nsA)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}
	if nsB != nsA {
		v.PeerNamespace = netlink.NsFd(int(nsB))
	}
	if err := h.LinkAdd(v); err != nil {
		t.Fatalf("adding veth %s <-> %s: %v", a, b, err)
	}
	SetUp(t, nsA, a)
	SetUp(t, nsB, b)
	// The kernel attaches the qdisc and sets the operational state
	// asynchronously (linkwatch); frames sent before that are lost.
	for _, end := range []struct {
		ns   netns.NsHandle
		name string
	}{{nsA, a}, {nsB, b}} {
		h := Handle(t, end.ns)
		if !Eventually(2*time.Second, func() bool {
			l, err := h.LinkByName(end.name)
			return err == nil && l.Attrs().OperState == netlink.OperUp
		}) {
			t.Fatalf("veth %s not operationally up after 2s", end.name)
		}
	}
}

// SetUp brings the link name in ns up.
func SetUp(t testing.TB, ns netns.NsHandle, name string) { t.Helper(); setLink(t, ns, name, true) }

// SetDown brings the link name in ns down.
func SetDown(t testing.TB, ns netns.NsHandle, name string) { t.Helper(); setLink(t, ns, name, false) }

func setLink(t testing.TB, ns netns.NsHandle, name string, up bool) {
	t.Helper()
	h := Handle(t, ns)
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s: %v", name, err)
	}
	if up {
		err = h.LinkSetUp(l)
	} else {
		err = h.LinkSetDown(l)
	}
	if err != nil {
		t.Fatalf("setting %s up=%v: %v", name, up, err)
	}
}

// AddAddr adds cidr (from the documentation ranges only) to the link name
// in ns.
func AddAddr(t testing.TB, ns netns.NsHandle, name, cidr string) {
	t.Helper()
	h := Handle(t, ns)
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s: %v", name, err)
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatalf("parsing %s: %v", cidr, err)
	}
	if err := h.AddrAdd(l, addr); err != nil {
		t.Fatalf("adding %s to %s: %v", cidr, name, err)
	}
}

// MAC returns the link's Ethernet address.
func MAC(t testing.TB, ns netns.NsHandle, name string) net.HardwareAddr {
	t.Helper()
	l, err := Handle(t, ns).LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s: %v", name, err)
	}
	return l.Attrs().HardwareAddr
}

// Raw is a plain AF_PACKET socket bound to one interface, without rings or
// offloads: the reference the ports are checked against.
type Raw struct {
	fd      int
	ifindex int
}

// OpenRaw opens a Raw socket on ifname in ns, closed when the test ends.
func OpenRaw(t testing.TB, ns netns.NsHandle, ifname string) *Raw {
	t.Helper()
	r := &Raw{fd: -1}
	Do(t, ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Fatalf("finding %s: %v", ifname, err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			t.Fatalf("raw socket: %v", err)
		}
		r.fd, r.ifindex = fd, ifi.Index
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			t.Fatalf("binding raw socket to %s: %v", ifname, err)
		}
	})
	t.Cleanup(func() { unix.Close(r.fd) })
	return r
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Send transmits frame on the socket's interface.
func (r *Raw) Send(t testing.TB, frame []byte) {
	t.Helper()
	if _, err := unix.Write(r.fd, frame); err != nil {
		t.Fatalf("raw send: %v", err)
	}
}

// Recv returns the next incoming frame for which match reports true
// (outgoing frames and others are skipped), or false after timeout.
func (r *Raw) Recv(t testing.TB, timeout time.Duration, match func([]byte) bool) ([]byte, bool) {
	t.Helper()
	buf := make([]byte, 70000)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, false
		}
		fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			t.Fatalf("poll: %v", err)
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			continue
		}
		n, from, err := unix.Recvfrom(r.fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("raw recv: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if match == nil || match(buf[:n]) {
			return bytes.Clone(buf[:n]), true
		}
	}
}

// Frame builds an Ethernet frame of EtherType carrying payload.
func Frame(dst, src net.HardwareAddr, payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f, dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], EtherType)
	return append(f, payload...)
}

// IsTest reports whether frame is one of the tests' (by EtherType, after
// any VLAN tags).
func IsTest(frame []byte) bool {
	off := 12
	for len(frame) >= off+2 {
		switch binary.BigEndian.Uint16(frame[off:]) {
		case EtherType:
			return true
		case 0x8100, 0x88a8:
			off += 4
		default:
			return false
		}
	}
	return false
}

// Eventually polls cond every few milliseconds until it holds or timeout
// passes, and reports whether it held.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
