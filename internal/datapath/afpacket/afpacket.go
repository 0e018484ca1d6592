// Package afpacket attaches the switch to an existing Linux interface (a
// NIC, a veth end, the netdev of a tap that qemu holds) through an AF_PACKET
// socket: a TPACKET_V3 memory-mapped ring for receiving and batched
// sendmmsg(2) for transmitting, with virtio-net headers so that GSO
// super-packets and partial checksums cross the socket intact.
//
// # Receive
//
// The kernel fills ring blocks with frames and hands a block to user space
// when it is full or when its BlockTimeout timer fires. Read copies frames
// out of the handed-over blocks and returns them to the kernel. Frames are
// only visible once their block is handed over, so a lone frame waits up
// to BlockTimeout (with the 1 ms default, Linux 6.18 delivered a lone frame
// after 0.2 to 1.3 ms, 0.85 ms median): that is the price of V3's packing
// of variable-size frames, which is what lets one ring hold both 64 KiB
// GSO frames and thousands of small ones. Under load blocks fill and are
// handed over at once.
//
// The kernel strips VLAN tags into ring metadata on receive; Read puts them
// back into the frame, so ports see frames as they were on the wire.
//
// # Transmit
//
// Write uses sendmmsg: one system call per batch, frames of any size up to
// 64 KiB GSO without a fixed slot size, and a per-frame error. A
// PACKET_TX_RING saves no copy (the frame is copied into the ring instead
// of into an skb), needs fixed slots as big as the largest GSO frame (64 KiB
// times the slot count of pinned memory per port), and frees a slot only
// when the driver completes the frame, so the ring's state depends on the
// device. Measured on a veth pair (CPU per frame, including the peer's
// receive softirq), a TPACKET_V2 TX ring with 2 KiB slots cost about
// 1.45 us for 64-byte frames against 0.8 to 1.3 us for sendmmsg, and
// about 0.9 us against 0.9 to 1.4 us for 1500-byte frames: no clear gain
// for the small frames that dominate packet rates, and no GSO.
//
// # Offloads
//
// With PACKET_VNET_HDR (on unless Options.NoVnetHdr) every frame carries a
// struct virtio_net_hdr, mapped to packet.GSO: received frames may be GSO
// super-packets up to 64 KiB or carry partial checksums, and Write accepts
// the same. Without it the socket sees such packets as frames with bad
// checksums and lengths above the MTU, which cannot be forwarded correctly;
// the port then reports AcceptsGSO false and the switch must segment and
// checksum (package gso) before writing to it.
//
// # Kernel fast path
//
// Most of the cost of this path is the kernel's: the tap that copies each
// frame into the ring, the wake-up, sendmmsg and the copies, not the
// switch's own code (about 2% of the samples in a profile of 64-byte UDP).
// Package offload removes it for simple megaflows: a tc program on the
// interface's ingress forwards their packets in the kernel, and a socket
// filter (SetFilter) hides those packets from this socket. Counters keeps
// the port's counters whole by crediting what the kernel forwarded.
package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/link"
)

// Defaults for Options.
const (
	DefaultBlockSize    = 256 << 10 // holds three 64 KiB GSO frames or ~1800 small ones
	DefaultBlockCount   = 16        // 4 MiB of ring per port
	DefaultBlockTimeout = time.Millisecond
	DefaultSendBuffer   = 4 << 20
)

// minGSOBlockSize is the smallest block that holds a 64 KiB GSO frame with
// the block and frame headers and the virtio-net header.
const minGSOBlockSize = 72 << 10

// minBlockSize holds a 9 KiB jumbo frame.
const minBlockSize = 16 << 10

// Options configure Open. The zero value is the recommended configuration.
type Options struct {
	// BlockSize is the size of one receive ring block, a multiple of the
	// page size; default DefaultBlockSize. With virtio-net headers it must
	// hold a 64 KiB GSO frame (at least 72 KiB).
	BlockSize int
	// BlockCount is the number of blocks; default DefaultBlockCount.
	BlockCount int
	// BlockTimeout is how long the kernel keeps a partly filled block
	// before handing it over; the latency floor for sparse traffic.
	// Default DefaultBlockTimeout; the kernel works in milliseconds.
	BlockTimeout time.Duration
	// NoVnetHdr turns off virtio-net headers even where the kernel has them.
	NoVnetHdr bool
	// NoPromisc leaves the interface's promiscuous mode alone. A switch port
	// normally wants every frame on the wire, so the default turns it on.
	NoPromisc bool
	// QdiscBypass sends straight to the driver, skipping the interface's
	// qdisc (PACKET_QDISC_BYPASS): faster, but traffic shaping and the
	// qdisc's queue no longer apply and the driver's queue-full drops
	// become tx drops.
	QdiscBypass bool
	// SendBuffer is the socket send buffer in bytes; default
	// DefaultSendBuffer. It bounds the frames in flight to the driver; a
	// full buffer drops the rest of a batch (Write never blocks).
	SendBuffer int
}

// validate fills in defaults and checks the values.
func (o *Options) validate(vnet bool) error {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.BlockCount == 0 {
		o.BlockCount = DefaultBlockCount
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = DefaultBlockTimeout
	}
	if o.SendBuffer == 0 {
		o.SendBuffer = DefaultSendBuffer
	}
	page := os.Getpagesize()
	switch {
	case o.BlockSize < 0 || o.BlockSize%page != 0:
		return fmt.Errorf("block size %d is not a multiple of the page size %d", o.BlockSize, page)
	case o.BlockSize < minBlockSize:
		return fmt.Errorf("block size %d is below the minimum %d", o.BlockSize, minBlockSize)
	case vnet && o.BlockSize < minGSOBlockSize:
		return fmt.Errorf("block size %d cannot hold a 64 KiB GSO frame (minimum %d, or set NoVnetHdr)", o.BlockSize, minGSOBlockSize)
	case o.BlockCount < 2 || o.BlockCount > 1<<16:
		return fmt.Errorf("block count %d is outside [2, 65536]", o.BlockCount)
	case o.BlockSize*o.BlockCount > 1<<30:
		return fmt.Errorf("ring of %d x %d bytes exceeds 1 GiB", o.BlockCount, o.BlockSize)
	case o.BlockTimeout < 0 || o.BlockTimeout > time.Second:
		return fmt.Errorf("block timeout %v is outside (0, 1s]", o.BlockTimeout)
	case o.SendBuffer < 0:
		return fmt.Errorf("send buffer %d is negative", o.SendBuffer)
	}
	return nil
}

// Port is an AF_PACKET attachment to one interface.
type Port struct {
	name    string
	ifindex int
	fd      int
	vnet    bool

	// Receive side, guarded by rxMu (one reader at a time; Close waits).
	rxMu sync.Mutex
	ring []byte
	rx   rxRing

	// Transmit side, guarded by txMu.
	txMu sync.Mutex
	tx   txBatch

	// ctlMu serializes control calls (Stats, LinkUp) with Close.
	ctlMu  sync.Mutex
	closed atomic.Bool

	counters datapath.Counters
}

var (
	_ datapath.Port       = (*Port)(nil)
	_ datapath.LinkStater = (*Port)(nil)
	_ datapath.Offloader  = (*Port)(nil)
)

// Open attaches to the interface ifname in the calling thread's network
// namespace (callers that switch namespaces must lock the OS thread; the
// socket stays in that namespace for its life). It needs CAP_NET_RAW.
func Open(ifname string, opts Options) (*Port, error) {
	p, err := open(ifname, opts)
	if err != nil {
		return nil, fmt.Errorf("opening AF_PACKET port %q: %w", ifname, err)
	}
	return p, nil
}

func open(ifname string, opts Options) (*Port, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	// Protocol 0: the socket receives nothing until bind, so no frame from
	// another interface slips in while the ring is set up.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("creating socket: %w", err)
	}
	p := &Port{name: ifname, ifindex: ifi.Index, fd: fd}
	ok := false
	defer func() {
		if !ok {
			p.release()
		}
	}()

	// The header must be switched on before the ring exists.
	if !opts.NoVnetHdr {
		p.vnet = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil
	}
	if err := opts.validate(p.vnet); err != nil {
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("selecting TPACKET_V3: %w", err)
	}
	// Frames other senders put on the interface are not the port's input.
	// Older kernels lack the option; Read skips outgoing frames anyway.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if opts.QdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return nil, fmt.Errorf("bypassing the qdisc: %w", err)
		}
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, opts.SendBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opts.SendBuffer)
	}

	req := unix.TpacketReq3{
		Block_size:     uint32(opts.BlockSize),
		Block_nr:       uint32(opts.BlockCount),
		Frame_size:     frameSizeHint,
		Frame_nr:       uint32(opts.BlockSize / frameSizeHint * opts.BlockCount),
		Retire_blk_tov: uint32(max(1, opts.BlockTimeout.Milliseconds())),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("setting up the receive ring: %w", err)
	}
	ring, err := unix.Mmap(fd, 0, opts.BlockSize*opts.BlockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mapping the receive ring: %w", err)
	}
	p.ring = ring
	p.rx = rxRing{blockSize: opts.BlockSize, blockCount: opts.BlockCount}

	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("binding: %w", err)
	}
	if !opts.NoPromisc {
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, fmt.Errorf("entering promiscuous mode: %w", err)
		}
	}
	p.tx.init(p.vnet)
	ok = true
	return p, nil
}

// frameSizeHint satisfies the kernel's V1/V2 bookkeeping of tpacket_req,
// which V3 still validates; V3 packs frames of any size into blocks.
const frameSizeHint = 2048

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Name returns the interface name given to Open.
func (p *Port) Name() string { return p.name }

// Ifindex returns the interface index the socket is bound to.
func (p *Port) Ifindex() int { return p.ifindex }

// VnetHdr reports whether frames carry virtio-net headers.
func (p *Port) VnetHdr() bool { return p.vnet }

// AcceptsGSO reports whether Write takes GSO and partial-checksum packets:
// true when virtio-net headers are on.
func (p *Port) AcceptsGSO() bool { return p.vnet }

// WaitFD returns the socket, which poll(2) reports readable (POLLIN) when
// the kernel has handed a ring block over, and POLLERR when the link went
// down (Read clears that). It returns -1 after Close. Close does not wake a
// poll already sleeping on it: stop waiting (or wait with a timeout) before
// closing.
func (p *Port) WaitFD() int {
	if p.closed.Load() {
		return -1
	}
	return p.fd
}

// Stats returns the port's counters. RxDropped includes the frames the
// kernel dropped because the ring was full, fetched here and in Read.
func (p *Port) Stats() datapath.PortStats {
	p.ctlMu.Lock()
	if !p.closed.Load() {
		p.fetchKernelDrops()
	}
	p.ctlMu.Unlock()
	return p.counters.Snapshot()
}

// fetchKernelDrops adds the kernel's ring-full drops to RxDropped. Reading
// PACKET_STATISTICS resets the kernel's counters, so every drop is added
// once whichever goroutine reads them.
func (p *Port) fetchKernelDrops() {
	st, err := unix.GetsockoptTpacketStatsV3(p.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err == nil && st.Drops != 0 {
		p.counters.RxDropped.Add(uint64(st.Drops))
	}
}

// LinkUp reports whether the interface is administratively up and its
// operational state lets traffic through (IFF_UP and IFF_RUNNING). It asks
// the kernel each time, by ifindex, so renames do not fool it.
func (p *Port) LinkUp() bool {
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	if p.closed.Load() {
		return false
	}
	name, err := linkName(p.fd, p.ifindex)
	return err == nil && link.Up(p.fd, name)
}

// linkName returns the current name of ifindex (it may have been renamed)
// in fd's network namespace.
func linkName(fd, ifindex int) (string, error) {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return "", err
	}
	ifr.SetUint32(uint32(ifindex))
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr); err != nil {
		return "", err
	}
	return ifr.Name(), nil
}

// Close unmaps the ring and closes the socket, after any Read or Write in
// progress returns. Later Read and Write return net.ErrClosed.
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
	return p.release()
}

func (p *Port) release() error {
	var errs []error
	if p.ring != nil {
		errs = append(errs, unix.Munmap(p.ring))
		p.ring = nil
	}
	errs = append(errs, unix.Close(p.fd))
	p.tx.clear()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing AF_PACKET port %q: %w", p.name, err)
	}
	return nil
}

// SetFilter attaches the BPF socket filter program prog (a file
// descriptor) to the socket, or detaches the attached one if prog < 0. A
// kernel fast path uses it to hide from the socket the packets it forwards
// itself (package offload).
func (p *Port) SetFilter(prog int) error {
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	if p.closed.Load() {
		return net.ErrClosed
	}
	if prog < 0 {
		err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_DETACH_BPF, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	return unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog)
}

// Counters returns the counters Stats reports, for traffic a kernel fast
// path forwarded on the port's behalf.
func (p *Port) Counters() *datapath.Counters { return &p.counters }

// u32 reads a native-endian uint32 at b[off] as the kernel wrote it.
func u32(b []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[off]))
}
