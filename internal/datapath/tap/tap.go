// Package tap gives the switch ports made of Linux tap devices whose file
// side the switch holds.
//
// # Two ends of a tap
//
// A tap device has two ends. The kernel side is a network interface (the
// "netdev", what `ip link` shows): the host's stack or an AF_PACKET socket
// uses it like any NIC. The file side is a file descriptor of /dev/net/tun:
// a frame written to it arrives at the netdev as if received from a wire,
// and a frame the netdev transmits is read from it. With IFF_VNET_HDR each
// frame on the file side carries a struct virtio_net_hdr, so GSO
// super-packets and partial checksums cross intact (the offloads the file
// side accepts are negotiated with TUNSETOFFLOAD).
//
// A tap port (Create) is the switch holding the file side: the switch is
// the "wire" and whatever uses the netdev is attached to the switch. That is
// what an internal port is (CreateInternal): the host stack addresses the
// netdev and reaches the switch through it, like an Open vSwitch internal
// port or the bridge's own interface.
//
// # Virtual machines
//
// qemu (`-netdev tap,ifname=vm1,script=no,downscript=no[,vhost=on]`) opens
// the tap's file side itself: the guest's virtio-net queues are that file
// side (vhost-net moves them into the kernel). The switch cannot hold the
// same end as well: a second opener of a multiqueue tap becomes another
// queue of the same file side, and the kernel spreads the netdev's
// transmitted frames across the queues by flow hash, so the switch and the
// guest would each get part of the guest's traffic instead of talking to
// each other. So for a VM the switch attaches to the other end, the netdev,
// with package afpacket (as Open vSwitch does with a "system" port on a
// VM's tap): guest transmit -> qemu writes the file side -> the netdev
// receives -> the switch's AF_PACKET socket reads it, and back.
//
// The tap for qemu is best made persistent beforehand, so that it exists
// before qemu starts and outlives qemu restarts:
//
//	ip tuntap add dev vm1 mode tap multi_queue vnet_hdr [user qemu]
//
// (or Create with Options.Persist and Close), then the switch opens an
// afpacket port on vm1 and qemu attaches with ifname=vm1. Options.Attach
// lets the switch itself open the file side of such an existing persistent
// tap when no VM uses it, for example to serve a container that uses the
// netdev.
package tap

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/gso"
	"github.com/dvs-project/dvs/internal/datapath/link"
	"github.com/dvs-project/dvs/internal/packet"
)

// Offloads is a set of TUN_F_* offload flags: what the switch accepts from
// the netdev. The kernel then leaves segmentation and checksums of packets
// the host sends through the tap to the switch.
type Offloads uint32

// The TUN_F_* flags of linux/if_tun.h.
const (
	OffloadCsum   Offloads = 0x01 // partial checksums
	OffloadTSO4   Offloads = 0x02 // TCPv4 segmentation (needs OffloadCsum)
	OffloadTSO6   Offloads = 0x04 // TCPv6 segmentation (needs OffloadCsum)
	OffloadTSOECN Offloads = 0x08 // TSO with the ECN CWR bit
	OffloadUSO4   Offloads = 0x20 // UDP segmentation over IPv4 (Linux 6.2+)
	OffloadUSO6   Offloads = 0x40 // UDP segmentation over IPv6 (Linux 6.2+)

	// DefaultOffloads is what Create asks for: everything package gso can
	// undo.
	DefaultOffloads = OffloadCsum | OffloadTSO4 | OffloadTSO6 | OffloadTSOECN | OffloadUSO4 | OffloadUSO6
)

func (o Offloads) String() string {
	names := []struct {
		f    Offloads
		name string
	}{{OffloadCsum, "csum"}, {OffloadTSO4, "tso4"}, {OffloadTSO6, "tso6"}, {OffloadTSOECN, "tso_ecn"}, {OffloadUSO4, "uso4"}, {OffloadUSO6, "uso6"}}
	var s []string
	for _, n := range names {
		if o&n.f != 0 {
			s = append(s, n.name)
			o &^= n.f
		}
	}
	if o != 0 {
		s = append(s, fmt.Sprintf("%#x", uint32(o)))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// MaxQueues bounds Options.Queues (the kernel allows 256).
const MaxQueues = 256

// Options configure Create. The zero value makes a one-queue tap that
// disappears on Close, with DefaultOffloads.
type Options struct {
	// Queues is the number of queues the switch opens (default 1). More
	// than one makes a multiqueue tap; the port reads them all.
	Queues int
	// MultiQueue makes the tap multiqueue even with one queue, so that
	// other queues can be attached later.
	MultiQueue bool
	// Offloads are the offloads to ask for; 0 means DefaultOffloads.
	// The kernel may grant fewer: see Port.Offloads.
	Offloads Offloads
	// NoOffloads asks for no offloads at all: the netdev then segments and
	// checksums in software before the switch sees a frame.
	NoOffloads bool
	// Persist keeps the device when the switch closes it (TUNSETPERSIST).
	Persist bool
	// Attach opens the file side of an existing tap named name (made
	// persistent by `ip tuntap add` or by an earlier Persist) instead of
	// creating one; Close then leaves the device, its address and its
	// state alone. The tap's multiqueue mode must match.
	Attach bool
	// MTU sets the netdev's MTU when non-zero.
	MTU int
	// MAC sets the netdev's Ethernet address when non-nil (by default the
	// kernel picks a random one).
	MAC net.HardwareAddr
	// Down leaves the netdev down; by default Create brings it up.
	Down bool
}

func (o *Options) validate(name string) error {
	if o.Queues == 0 {
		o.Queues = 1
	}
	if o.Offloads == 0 {
		o.Offloads = DefaultOffloads
	}
	if o.NoOffloads {
		o.Offloads = 0
	}
	switch {
	case name == "" || len(name) >= unix.IFNAMSIZ:
		return fmt.Errorf("invalid interface name %q", name)
	case o.Queues < 1 || o.Queues > MaxQueues:
		return fmt.Errorf("queue count %d is outside [1, %d]", o.Queues, MaxQueues)
	case o.Offloads&^DefaultOffloads != 0:
		return fmt.Errorf("unknown offloads %v", o.Offloads&^DefaultOffloads)
	case o.MTU != 0 && (o.MTU < 68 || o.MTU > 65535):
		return fmt.Errorf("MTU %d is outside [68, 65535]", o.MTU)
	case o.MAC != nil && len(o.MAC) != 6:
		return fmt.Errorf("MAC %v is not an Ethernet address", o.MAC)
	case o.Attach && o.Persist:
		return errors.New("Attach and Persist are exclusive: an attached tap keeps its own persistence")
	}
	return nil
}

// Port is a tap device whose file side the switch holds.
type Port struct {
	name     string
	queues   []int // /dev/net/tun descriptors, one per queue
	epfd     int   // epoll over the queues when there are several, else -1
	ctl      int   // a socket in the tap's namespace for interface ioctls
	offloads Offloads

	rxMu sync.Mutex
	rxq  int // queue Read starts with, rotated for fairness
	rxH  [gso.VnetHdrLen]byte
	rxOv [1]byte // overflow byte: a frame reaching it did not fit
	rxIO [3]unix.Iovec

	txMu sync.Mutex
	txH  [gso.VnetHdrLen]byte
	txIO [2]unix.Iovec

	ctlMu  sync.Mutex
	closed atomic.Bool

	counters datapath.Counters
}

var (
	_ datapath.Port       = (*Port)(nil)
	_ datapath.LinkStater = (*Port)(nil)
	_ datapath.Offloader  = (*Port)(nil)
)

// Create makes the tap device name in the calling thread's network
// namespace (callers that switch namespaces must lock the OS thread),
// opens its queues non-blocking with virtio-net headers, negotiates
// offloads and brings it up. It fails if an interface of that name exists,
// unless opts.Attach. It needs CAP_NET_ADMIN.
func Create(name string, opts Options) (*Port, error) {
	p, err := create(name, opts)
	if err != nil {
		verb := "creating"
		if opts.Attach {
			verb = "attaching to"
		}
		return nil, fmt.Errorf("%s tap %q: %w", verb, name, err)
	}
	return p, nil
}

func create(name string, opts Options) (*Port, error) {
	if err := opts.validate(name); err != nil {
		return nil, err
	}
	ctl, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("creating control socket: %w", err)
	}
	p := &Port{name: name, epfd: -1, ctl: ctl}
	ok := false
	defer func() {
		if !ok {
			p.release()
		}
	}()
	if opts.Attach {
		if _, err := ifFlags(ctl, name); err != nil {
			return nil, fmt.Errorf("looking up the existing tap: %w", err)
		}
	}

	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if opts.Queues > 1 || opts.MultiQueue {
		flags |= unix.IFF_MULTI_QUEUE
	}
	for i := range opts.Queues {
		f := flags
		if i == 0 && !opts.Attach {
			f |= unix.IFF_TUN_EXCL // fail rather than join a tap someone else made
		}
		fd, err := openQueue(name, f)
		if err != nil {
			if i == 0 && errors.Is(err, unix.EBUSY) && !opts.Attach {
				err = fmt.Errorf("an interface of that name exists: %w", err)
			}
			return nil, fmt.Errorf("opening queue %d: %w", i, err)
		}
		p.queues = append(p.queues, fd)
	}
	q0 := p.queues[0]
	// 10 bytes, struct virtio_net_hdr: the switch needs nothing more. The
	// 12-byte form adds num_buffers for virtio 1.0 guests with mergeable
	// receive buffers, whose taps qemu/vhost-net hold, never the switch.
	if err := unix.IoctlSetPointerInt(q0, unix.TUNSETVNETHDRSZ, gso.VnetHdrLen); err != nil {
		return nil, fmt.Errorf("setting the virtio-net header size: %w", err)
	}
	p.offloads = negotiate(q0, opts.Offloads)
	if opts.Persist {
		if err := unix.IoctlSetInt(q0, unix.TUNSETPERSIST, 1); err != nil {
			return nil, fmt.Errorf("making it persistent: %w", err)
		}
	}
	if len(p.queues) > 1 {
		if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
			return nil, fmt.Errorf("creating epoll: %w", err)
		}
		for _, fd := range p.queues {
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
			if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				return nil, fmt.Errorf("adding queue to epoll: %w", err)
			}
		}
	}
	if opts.MAC != nil {
		if err := setMAC(ctl, name, opts.MAC); err != nil {
			return nil, fmt.Errorf("setting MAC %v: %w", opts.MAC, err)
		}
	}
	if opts.MTU != 0 {
		if err := setMTU(ctl, name, opts.MTU); err != nil {
			return nil, fmt.Errorf("setting MTU %d: %w", opts.MTU, err)
		}
	}
	if !opts.Down {
		if err := setUp(ctl, name); err != nil {
			return nil, fmt.Errorf("bringing it up: %w", err)
		}
	}
	p.rxIO[0].Base = &p.rxH[0]
	p.rxIO[0].SetLen(gso.VnetHdrLen)
	p.rxIO[2].Base = &p.rxOv[0]
	p.rxIO[2].SetLen(1)
	p.txIO[0].Base = &p.txH[0]
	p.txIO[0].SetLen(gso.VnetHdrLen)
	ok = true
	return p, nil
}

// openQueue opens /dev/net/tun and binds it to the tap name.
func openQueue(name string, flags uint16) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF: %w", err)
	}
	return fd, nil
}

// negotiate asks for want and steps down until the kernel agrees: without
// USO (older than 6.2), then checksum only, then nothing. It returns what
// was granted. Offloads are per device, so setting them on one queue sets
// them for all.
func negotiate(fd int, want Offloads) Offloads {
	if want&OffloadCsum == 0 {
		want = 0 // every segmentation offload implies partial checksums
	}
	if want&(OffloadUSO4|OffloadUSO6) != OffloadUSO4|OffloadUSO6 {
		want &^= OffloadUSO4 | OffloadUSO6 // the kernel takes both or neither
	}
	for _, o := range []Offloads{want, want &^ (OffloadUSO4 | OffloadUSO6), want & OffloadCsum, 0} {
		if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, int(o)) == nil {
			return o
		}
	}
	return 0
}

// Name returns the tap's name.
func (p *Port) Name() string { return p.name }

// Offloads returns the offloads the kernel granted: what may arrive in
// Read's GSO metadata.
func (p *Port) Offloads() Offloads { return p.offloads }

// Queues returns the number of queues the port reads.
func (p *Port) Queues() int { return len(p.queues) }

// AcceptsGSO reports true: a tap takes GSO and partial-checksum frames on
// its file side whatever offloads were negotiated for the other direction.
func (p *Port) AcceptsGSO() bool { return true }

// WaitFD returns a descriptor poll(2) reports readable when a frame is
// waiting: the queue's own with one queue, an epoll set over all queues
// otherwise. It returns -1 after Close.
func (p *Port) WaitFD() int {
	if p.closed.Load() {
		return -1
	}
	if p.epfd >= 0 {
		return p.epfd
	}
	return p.queues[0]
}

// Stats returns the port's counters.
func (p *Port) Stats() datapath.PortStats { return p.counters.Snapshot() }

// LinkUp reports whether the netdev is up and running (IFF_UP and
// IFF_RUNNING: someone brought it up and the switch holds its file side).
func (p *Port) LinkUp() bool {
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	if p.closed.Load() {
		return false
	}
	// Ask the tap for its current name, in case it was renamed.
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return false
	}
	if err := unix.IoctlIfreq(p.queues[0], unix.TUNGETIFF, ifr); err != nil {
		return false
	}
	if _, err := ifFlags(p.ctl, ifr.Name()); errors.Is(err, unix.ENODEV) {
		// The netdev was moved to another namespace (a container's or a
		// test host's): ask there.
		up, err := upInDevNetns(p.queues[0], ifr.Name())
		return err == nil && up
	}
	return link.Up(p.ctl, ifr.Name())
}

// Read reads up to len(pkts) frames without blocking, from each queue in
// turn until it has none waiting, into pkts after the headroom, and fills
// their GSO metadata from the virtio-net header. pkts and their buffers
// stay the caller's; Read only writes into them. A frame bigger than a
// packet's buffer is dropped and counted as RxDropped (the kernel would
// truncate it; an extra one-byte iovec shows when it did): give a tap with
// segmentation offloads packets that hold packet.MaxGSOSize. It
// returns net.ErrClosed after Close, and an error if the device was
// deleted under the port.
func (p *Port) Read(pkts []*packet.Packet) (int, error) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	n := 0
	var bytes, dropped, errs uint64
	var fail error
	nq := len(p.queues)
	for qi := 0; qi < nq && n < len(pkts); qi++ {
		fd := p.queues[(p.rxq+qi)%nq]
		for n < len(pkts) {
			buf := pkts[n].RecvBuf()
			p.rxIO[1].Base = &buf[0]
			p.rxIO[1].SetLen(len(buf))
			r, _, errno := unix.Syscall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&p.rxIO[0])), 3)
			if errno == unix.EAGAIN {
				break
			}
			if errno == unix.EINTR {
				continue
			}
			if errno == unix.EFAULT || errno == unix.EINVAL {
				dropped++ // the kernel could not copy the frame out
				continue
			}
			if errno != 0 {
				// EBADFD: the device is gone.
				errs++
				fail = fmt.Errorf("reading tap %q: %w", p.name, errno)
				break
			}
			if int(r) < gso.VnetHdrLen {
				errs++
				continue
			}
			size := int(r) - gso.VnetHdrLen
			if size > len(buf) {
				dropped++ // spilled into the overflow byte: truncated
				continue
			}
			pk := pkts[n]
			pk.SetFrame(size)
			pk.GSO = gso.DecodeVnetHdr(p.rxH[:])
			bytes += uint64(size)
			n++
		}
		if fail != nil {
			break
		}
	}
	p.rxIO[1].Base = nil
	if nq > 1 {
		p.rxq = (p.rxq + 1) % nq
	}
	p.counters.AddRx(uint64(n), bytes, dropped, errs)
	return n, fail
}

// Write writes each packet to the tap's first queue with a virtio-net
// header made from its GSO metadata; the host receives them on the netdev.
// (Which queue a frame is written to does not matter to the netdev, and a
// tap has no batched write: one writev per frame.)
// It borrows pkts until it returns and does not block. It returns how many
// the kernel took; each of the others is counted once, as TxDropped when
// the netdev cannot take frames (down: EIO) or as TxErrors when the kernel
// refused the frame (malformed or bad metadata). It returns net.ErrClosed
// after Close.
func (p *Port) Write(pkts []*packet.Packet) (int, error) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	fd := p.queues[0]
	sent := 0
	var bytes, dropped, errs uint64
	for i := 0; i < len(pkts); i++ {
		pk := pkts[i]
		data := pk.Data()
		if len(data) == 0 {
			errs++
			continue
		}
		gso.EncodeVnetHdr(p.txH[:], &pk.GSO)
		p.txIO[1].Base = &data[0]
		p.txIO[1].SetLen(len(data))
		_, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&p.txIO[0])), 2)
		switch errno {
		case 0:
			sent++
			bytes += uint64(len(data))
		case unix.EINTR:
			i--
		case unix.EIO, unix.EAGAIN, unix.EBADFD, unix.ENOBUFS:
			// Down, gone, or no room: the rest would fail alike.
			dropped += uint64(len(pkts) - i)
			i = len(pkts)
		default:
			errs++
		}
	}
	p.txIO[1].Base = nil
	p.counters.AddTx(uint64(sent), bytes, dropped, errs)
	return sent, nil
}

// Close closes the queues, after any Read or Write in progress returns. A
// tap that is neither persistent nor attached disappears with them. Later
// Read and Write return net.ErrClosed.
func (p *Port) Close() error {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	p.txMu.Lock()
	defer p.txMu.Unlock()
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	if p.closed.Swap(true) {
		return net.ErrClosed
	}
	if err := p.release(); err != nil {
		return fmt.Errorf("closing tap %q: %w", p.name, err)
	}
	return nil
}

func (p *Port) release() error {
	var errs []error
	for _, fd := range p.queues {
		errs = append(errs, unix.Close(fd))
	}
	p.queues = nil
	if p.epfd >= 0 {
		errs = append(errs, unix.Close(p.epfd))
		p.epfd = -1
	}
	errs = append(errs, unix.Close(p.ctl))
	return errors.Join(errs...)
}
