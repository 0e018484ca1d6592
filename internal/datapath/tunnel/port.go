package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/gso"
	"github.com/dvs-project/dvs/internal/packet"
)

// Config is a validated tunnel port configuration.
type Config struct {
	Name    string
	Kind    Kind
	Remote  netip.Addr // the other tunnel endpoint (IPv4)
	Local   netip.Addr // the address to bind; invalid = any
	KeyFlow bool       // the VNI is the packet's tun_id (key=flow)
	VNI     uint32     // the fixed VNI unless KeyFlow
	DstPort uint16     // the UDP port, sent to and bound; 0 = the default
	// OFPort is the port's OpenFlow number, which received packets carry
	// (tunnel ports share sockets, so the port that reads a datagram is
	// not always the one it arrived on).
	OFPort uint32
}

// Registry holds one bridge's tunnel sockets. Ports of the same kind,
// local address and UDP port share a socket.
type Registry struct {
	mu   sync.Mutex
	eps  map[epKey]*endpoint
	drop func(action.DropReason)
}

type epKey struct {
	kind  Kind
	local netip.Addr
	port  uint16
}

// NewRegistry returns an empty registry. drop counts datagrams dropped
// before they belong to a port (unknown source, bad header); nil ignores
// them.
func NewRegistry(drop func(action.DropReason)) *Registry {
	if drop == nil {
		drop = func(action.DropReason) {}
	}
	return &Registry{eps: map[epKey]*endpoint{}, drop: drop}
}

// endpoint is a shared UDP socket and the ports behind it.
type endpoint struct {
	key   epKey
	fd    int
	refs  int                              // ports using it (under Registry.mu)
	peers atomic.Pointer[map[uint32]*Port] // remote IPv4 (host order) -> port
	local uint32                           // the bound address (0 = any)
}

// Port is a VXLAN or Geneve tunnel port.
type Port struct {
	cfg    Config
	reg    *Registry
	ep     *endpoint
	remote uint32
	dst    unix.RawSockaddrInet4

	counters datapath.Counters
	closed   atomic.Bool

	rx rxBatch

	txMu sync.Mutex
	tx   txBatch
}

var (
	_ datapath.Port      = (*Port)(nil)
	_ datapath.TxLimiter = (*Port)(nil)
)

// Open validates cfg and opens a tunnel port, sharing the socket of
// another port of the same kind, local address and UDP port.
func (r *Registry) Open(cfg Config) (*Port, error) {
	if cfg.Kind != VXLAN && cfg.Kind != Geneve {
		return nil, errors.New("unknown tunnel type")
	}
	if !cfg.Remote.Is4() || cfg.Remote.IsUnspecified() || cfg.Remote.IsMulticast() {
		return nil, fmt.Errorf("remote IP %v: want a unicast IPv4 address", cfg.Remote)
	}
	if cfg.Local.IsValid() && (!cfg.Local.Is4() || cfg.Local.IsMulticast()) {
		return nil, fmt.Errorf("local IP %v: want an IPv4 address", cfg.Local)
	}
	if cfg.Local.IsValid() && cfg.Local.IsUnspecified() {
		cfg.Local = netip.Addr{}
	}
	if !cfg.KeyFlow && cfg.VNI > MaxVNI {
		return nil, fmt.Errorf("key %d: a VNI has 24 bits (0-%d)", cfg.VNI, MaxVNI)
	}
	if cfg.DstPort == 0 {
		cfg.DstPort = cfg.Kind.DefaultPort()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := epKey{kind: cfg.Kind, local: cfg.Local, port: cfg.DstPort}
	ep := r.eps[k]
	remote := ip4(cfg.Remote)
	if ep != nil {
		if q := (*ep.peers.Load())[remote]; q != nil {
			return nil, fmt.Errorf("tunnel port %s already has remote %v on UDP port %d", q.cfg.Name, cfg.Remote, cfg.DstPort)
		}
	} else {
		var err error
		if ep, err = listen(k); err != nil {
			return nil, err
		}
		r.eps[k] = ep
	}
	p := &Port{cfg: cfg, reg: r, ep: ep, remote: remote,
		dst: unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: cfg.Remote.As4()}}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&p.dst.Port))[:], cfg.DstPort)
	p.rx.init()
	p.tx.init(&p.dst)
	ep.refs++
	next := map[uint32]*Port{remote: p}
	for a, q := range *ep.peers.Load() {
		next[a] = q
	}
	ep.peers.Store(&next)
	return p, nil
}

func ip4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// listen opens the UDP socket of an endpoint: non-blocking, with large
// buffers, the destination address of each datagram (IP_PKTINFO), no
// UDP checksum on transmit (RFC 7348 section 5 and RFC 8926 section 3.3
// allow zero over IPv4; the inner frame has its own) and the DF bit set,
// since the datapath already keeps frames within the underlay MTU.
func listen(k epKey) (*endpoint, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("tunnel socket: %w", err)
	}
	for _, o := range []struct{ force, plain int }{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.force, 8<<20) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.plain, 8<<20)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunnel socket: IP_PKTINFO: %w", err)
	}
	sa := &unix.SockaddrInet4{Port: int(k.port)}
	if k.local.IsValid() {
		sa.Addr = k.local.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding %s UDP %v:%d: %w", k.kind, netip.AddrFrom4(sa.Addr), k.port, err)
	}
	ep := &endpoint{key: k, fd: fd}
	if k.local.IsValid() {
		ep.local = ip4(k.local)
	}
	empty := map[uint32]*Port{}
	ep.peers.Store(&empty)
	return ep, nil
}

// Name implements datapath.Port.
func (p *Port) Name() string { return p.cfg.Name }

// Config returns the port's configuration (DstPort filled in).
func (p *Port) Config() Config { return p.cfg }

// WaitFD implements datapath.Port: the shared socket.
func (p *Port) WaitFD() int {
	if p.closed.Load() {
		return -1
	}
	return p.ep.fd
}

// Stats implements datapath.Port.
func (p *Port) Stats() datapath.PortStats { return p.counters.Snapshot() }

// AcceptsGSO implements datapath.Offloader: offloaded packets are
// segmented before encapsulation.
func (p *Port) AcceptsGSO() bool { return false }

// MaxTxFrame implements datapath.TxLimiter: the path MTU towards the
// remote (the route's or the device's MTU, as the kernel knows it) less
// the encapsulation.
func (p *Port) MaxTxFrame() int {
	mtu := 1500
	if m, err := pathMTU(p.cfg); err == nil && m > 0 {
		mtu = m
	}
	return mtu - Overhead
}

// pathMTU asks the kernel for the MTU towards cfg.Remote with a
// connected UDP socket (IP_MTU).
func pathMTU(cfg Config) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(cfg.DstPort), Addr: cfg.Remote.As4()}); err != nil {
		return 0, err
	}
	return unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU)
}

// Close implements datapath.Port. The socket closes with the last port
// that uses it.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	r := p.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	ep := p.ep
	next := map[uint32]*Port{}
	for a, q := range *ep.peers.Load() {
		if q != p {
			next[a] = q
		}
	}
	ep.peers.Store(&next)
	if ep.refs--; ep.refs == 0 {
		delete(r.eps, ep.key)
		p.txMu.Lock()
		unix.Close(ep.fd)
		p.txMu.Unlock()
	}
	return nil
}

// cmsgSpace is the control buffer of one received datagram: an
// IP_PKTINFO message.
var cmsgSpace = unix.CmsgSpace(unix.SizeofInet4Pktinfo)

// rxBatch holds recvmmsg's arguments, allocated once per port.
type rxBatch struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	cmsgs []byte
}

func (b *rxBatch) init() {
	n := packet.BatchSize
	b.msgs = make([]unix.Mmsghdr, n)
	b.iovs = make([]unix.Iovec, n)
	b.names = make([]unix.RawSockaddrInet4, n)
	b.cmsgs = make([]byte, n*cmsgSpace)
}

// Read implements datapath.Port: it receives datagrams from the shared
// socket, strips their tunnel header and returns the inner frames with
// their tunnel metadata (Tun.Port names the port each arrived on, which
// need not be p). Datagrams from no port's remote, with a bad header or,
// on a port with a fixed key, another VNI are dropped and counted. Read
// may reorder the packets in pkts (they are the caller's buffers, all
// alike). It never blocks.
func (p *Port) Read(pkts []*packet.Packet) (int, error) {
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	b := &p.rx
	n := min(len(pkts), len(b.msgs))
	if n == 0 {
		return 0, nil
	}
	for i := 0; i < n; i++ {
		buf := pkts[i].RecvBuf()
		b.iovs[i].Base = &buf[0]
		b.iovs[i].SetLen(len(buf))
		h := &b.msgs[i].Hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Control = &b.cmsgs[i*cmsgSpace]
		h.SetControllen(cmsgSpace)
		h.Flags = 0
		b.msgs[i].Len = 0
	}
	r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.ep.fd), uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(n),
		unix.MSG_DONTWAIT, 0, 0)
	for i := 0; i < n; i++ {
		b.iovs[i].Base = nil
	}
	if errno != 0 {
		if errno == unix.EAGAIN || errno == unix.EINTR {
			return 0, nil
		}
		return 0, errno
	}
	peers := *p.ep.peers.Load()
	got := 0
	for i := 0; i < int(r); i++ {
		m := &b.msgs[i]
		size := int(m.Len)
		src := binary.BigEndian.Uint32(b.names[i].Addr[:])
		q := peers[src]
		if q == nil {
			p.reg.drop(action.DropTunnelSource)
			continue
		}
		pk := pkts[i]
		data := pk.RecvBuf()[:size]
		vni, hdr, ok := q.cfg.Kind.decap(data)
		if !ok || m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.reg.drop(action.DropTunnelHeader)
			q.counters.AddRx(0, 0, 0, 1)
			continue
		}
		if !q.cfg.KeyFlow && vni != q.cfg.VNI {
			p.reg.drop(action.DropTunnelVNI)
			q.counters.AddRx(0, 0, 1, 0)
			continue
		}
		dst := p.ep.local
		if d, ok := pktinfoDst(b.cmsgs[i*cmsgSpace:(i+1)*cmsgSpace], int(m.Hdr.Controllen)); ok {
			dst = d
		}
		pk.SetFrameAt(hdr, size-hdr)
		pk.Tun = packet.Tunnel{ID: uint64(vni), Src: src, Dst: dst, Port: q.cfg.OFPort}
		q.counters.AddRx(1, uint64(size-hdr), 0, 0)
		pkts[got], pkts[i] = pkts[i], pkts[got]
		got++
	}
	return got, nil
}

// pktinfoDst returns the destination address from an IP_PKTINFO control
// message in c (n bytes used).
func pktinfoDst(c []byte, n int) (uint32, bool) {
	n = min(n, len(c))
	for off := 0; off+unix.SizeofCmsghdr <= n; {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&c[off]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || off+l > n {
			return 0, false
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet4Pktinfo) {
			info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&c[off+unix.CmsgLen(0)]))
			return binary.BigEndian.Uint32(info.Addr[:]), true
		}
		off += unix.CmsgSpace(l - unix.CmsgLen(0))
	}
	return 0, false
}

// txBatch holds sendmmsg's arguments, allocated once per port. Between
// calls no entry points at a caller's buffer.
type txBatch struct {
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
	pkts []*packet.Packet // the packets whose headroom holds a header now
}

func (t *txBatch) init(dst *unix.RawSockaddrInet4) {
	n := packet.BatchSize
	t.msgs = make([]unix.Mmsghdr, n)
	t.iovs = make([]unix.Iovec, n)
	t.pkts = make([]*packet.Packet, n)
	for i := range t.msgs {
		h := &t.msgs[i].Hdr
		h.Iov = &t.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(dst))
		h.Namelen = unix.SizeofSockaddrInet4
	}
}

// Write implements datapath.Port: it encapsulates each frame (the tunnel
// header goes into the packet's headroom, and comes out again before
// Write returns) with the port's VNI, or the packet's tun_id with key=flow,
// and sends the batch to the remote with sendmmsg; the kernel adds the
// outer IP and UDP headers. A frame whose checksum was left to offload is
// completed first. Write borrows pkts until it returns. Frames the kernel
// did not take are counted as TxDropped (no buffer room) or TxErrors.
func (p *Port) Write(pkts []*packet.Packet) (int, error) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	t := &p.tx
	sent := 0
	var bytes, dropped, errs uint64
	for len(pkts) > 0 {
		m, k := 0, 0
		for ; k < len(pkts) && m < len(t.msgs); k++ {
			pk := pkts[k]
			if pk.Len() == 0 || pk.GSO.Type != packet.VirtioNetHdrGSONone || !gso.CompleteChecksum(pk) {
				errs++
				continue
			}
			vni := p.cfg.VNI
			if p.cfg.KeyFlow {
				vni = uint32(pk.Tun.ID) & MaxVNI
			}
			h, ok := pk.Insert(0, HeaderLen)
			if !ok {
				errs++
				continue
			}
			p.cfg.Kind.put(h, vni)
			data := pk.Data()
			t.iovs[m].Base = &data[0]
			t.iovs[m].SetLen(len(data))
			t.pkts[m] = pk
			m++
		}
		pkts = pkts[k:]
		for i := 0; i < m; {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.ep.fd), uintptr(unsafe.Pointer(&t.msgs[i])), uintptr(m-i),
				unix.MSG_DONTWAIT, 0, 0)
			errno := e
			if errno == 0 && r == 0 {
				errno = unix.EAGAIN
			}
			if errno == 0 {
				for _, pk := range t.pkts[i : i+int(r)] {
					bytes += uint64(pk.Len() - HeaderLen)
				}
				sent += int(r)
				i += int(r)
				continue
			}
			switch errno {
			case unix.EINTR:
			case unix.ENOBUFS, unix.EAGAIN:
				dropped += uint64(m - i)
				i = m
			default:
				// EMSGSIZE (the path MTU shrank), no route, ...: this one.
				errs++
				i++
			}
		}
		for i := 0; i < m; i++ {
			t.pkts[i].Remove(0, HeaderLen)
			t.pkts[i] = nil
			t.iovs[i].Base = nil
		}
	}
	p.counters.AddTx(uint64(sent), bytes, dropped, errs)
	return sent, nil
}
