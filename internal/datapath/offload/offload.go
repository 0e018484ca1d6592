// Package offload is a kernel fast path beneath the userspace datapath: a
// tc (TCX) eBPF program on the ingress of every AF_PACKET port forwards
// packets of simple, already-decided megaflows in the kernel, so they skip
// the AF_PACKET ring, the workers and sendmmsg, and GSO super-packets stay
// whole skbs.
//
// # What is offloaded
//
// The datapath offers a megaflow when its mask covers only the in port,
// Ethernet addresses, VLAN and type, and its actions are one output to
// another AF_PACKET port (no header change, meter, controller, tunnel). The
// kernel's flows map has no masks: each packet of such a megaflow that
// reaches userspace installs an exact entry for its (in interface, VLAN,
// addresses, type), remembered per megaflow so the megaflow's retirement
// deletes it.
//
// # Staleness
//
// Every entry stores the pipeline generation its megaflow was validated at.
// The pipeline's generation counter lives in the memory of a BPF_F_MMAPABLE
// array map (NewGen): the programs read the very word the pipeline bumps,
// so a change is visible to the kernel the moment the bump completes and
// costs nothing extra. An entry behind the current generation forwards
// nothing: its packets go to userspace, which revalidates the megaflow (as
// for cached entries) and re-installs the entry at the new generation. So no
// packet is forwarded by a decision older than the last completed change,
// as in userspace.
//
// # AF_PACKET sees packets first
//
// A socket bound to ETH_P_ALL gets every received packet before tc ingress
// runs. Each port's socket therefore carries a socket filter that computes
// the same key and hides the packets the tc program will forward. The two
// programs read the map at slightly different times, so when an entry is
// installed or invalidated between them a packet can be seen by both (one
// duplicate, on install) or by neither (one loss, on invalidation); after
// that both agree.
//
// # Cost
//
// Measured on a 2-core VM shared with other jobs (bench/peer.sh, two
// network namespaces joined through the switch, three series of three
// runs): 64-byte UDP received at 0.99x to 1.43x the Linux bridge's rate
// (165 against 116 kpps in the least loaded series; userspace alone 107),
// single-stream TCP 0.99x to 1.17x the bridge (20-22 Gbit/s; userspace
// alone 9-13), ping 0.05-0.07 ms (userspace 1.3-1.4).
// One run of the tc program costs 78-91 ns (BenchmarkTCProgram). The
// packets a port receives also pass the socket filter on its AF_PACKET tap.
//
// # Counters
//
// The tc program adds to each entry's packet and byte counters with atomic
// adds. Sync (the cache calls it before every statistics push, so every
// second and before flow dumps and stats) credits the deltas to the
// megaflow (so rule counters, idle timeouts and MAC aging keep moving) and
// to the ports' rx and tx counters.
package offload

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/flow"
)

// Modes.
const (
	ModeTC   = "tc"
	ModeNone = "none"
)

// DefaultMaxEntries bounds the kernel entries of one bridge.
const DefaultMaxEntries = 65536

// Gen is a pipeline generation counter in the memory of a one-element
// BPF_F_MMAPABLE array map, which the programs read.
type Gen struct {
	m   *ebpf.Map
	mem []byte
}

// NewGen creates the generation map and maps it. It fails without BPF.
func NewGen() (*Gen, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "dvs_gen", Type: ebpf.Array, KeySize: 4, ValueSize: 8,
		MaxEntries: 1, Flags: unix.BPF_F_MMAPABLE})
	if err != nil {
		return nil, fmt.Errorf("creating the generation map: %w", err)
	}
	mem, err := unix.Mmap(m.FD(), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("mapping the generation map: %w", err)
	}
	return &Gen{m: m, mem: mem}, nil
}

// Counter returns the counter in the map's memory. It stays valid until
// Close.
func (g *Gen) Counter() *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&g.mem[0])) }

// Close unmaps the counter and releases the map; nothing may use Counter
// afterwards.
func (g *Gen) Close() error {
	err := unix.Munmap(g.mem)
	g.mem = nil
	return errors.Join(err, g.m.Close())
}

// Port is what the kernel path needs of an AF_PACKET port.
type Port interface {
	Ifindex() int
	// SetFilter attaches the BPF socket filter prog to the port's socket
	// (-1: detaches it).
	SetFilter(prog int) error
	// Counters are the port's counters, credited with forwarded traffic.
	Counters() *datapath.Counters
}

// Stats are the kernel path's counters.
type Stats struct {
	Mode     string `json:"mode"`
	Entries  int    `json:"entries"`  // kernel flow entries
	Ports    int    `json:"ports"`    // ports with the programs attached
	Installs uint64 `json:"installs"` // entries written
	Failed   uint64 `json:"failed"`   // installs the kernel refused (map full)
	Packets  uint64 `json:"packets"`  // packets forwarded in the kernel
	Bytes    uint64 `json:"bytes"`
	// ByIfindex counts the entries from or to each attached interface.
	ByIfindex map[int]int `json:"by_ifindex,omitempty"`
	// Orphans counts entries from or to an interface the programs are not
	// attached to (a bug: detaching deletes them).
	Orphans int `json:"orphans"`
	// Peer counts the entries that hand packets straight to a veth peer
	// (FlagPeer).
	Peer int `json:"peer"`
}

// Path is one bridge's kernel fast path: its flows map, its two programs
// and the ports they are attached to.
type Path struct {
	gen   *Gen
	flows *ebpf.Map
	tc    *ebpf.Program
	sock  *ebpf.Program

	mu       sync.Mutex
	ports    map[int]*port // by ifindex
	keys     map[Key]*keyState
	entries  map[*cache.Entry][]Key
	installs uint64
	failed   uint64

	batchKeys []Key // Sync's buffers
	batchVals []Value
	packets   uint64
	bytes     uint64
}

type port struct {
	p    Port
	link link.Link
	peer peer
}

// keyState is what userspace remembers of a kernel entry.
type keyState struct {
	e       *cache.Entry
	in, out int
	gen     uint64
	failed  bool   // the kernel refused it at gen
	flags   uint32 // Value.Flags
	packets uint64 // the entry's counters at the last sync
	bytes   uint64
}

// Config configures a Path.
type Config struct {
	MaxEntries int // default DefaultMaxEntries
}

// New loads the programs for a bridge whose pipeline counts generations
// in gen. It fails if the kernel lacks what they need.
func New(gen *Gen, cfg Config) (*Path, error) {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	flows, err := ebpf.NewMap(&ebpf.MapSpec{Name: "dvs_flows", Type: ebpf.Hash, KeySize: KeySize,
		ValueSize: uint32(unsafe.Sizeof(Value{})), MaxEntries: uint32(cfg.MaxEntries)})
	if err != nil {
		return nil, fmt.Errorf("creating the flows map: %w", err)
	}
	p := &Path{gen: gen, flows: flows, ports: map[int]*port{}, keys: map[Key]*keyState{}, entries: map[*cache.Entry][]Key{}}
	p.tc, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "dvs_tc", Type: ebpf.SchedCLS, License: "GPL",
		Instructions: tcProgram(flows.FD(), gen.m.FD())})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("loading the tc program: %w", err)
	}
	p.sock, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "dvs_sock", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: filterProgram(flows.FD(), gen.m.FD())})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("loading the socket filter: %w", err)
	}
	return p, nil
}

// Close detaches the programs from every port and releases them and the
// flows map (not the generation map, which the pipeline uses).
func (p *Path) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for ifindex := range p.ports {
		errs = append(errs, p.detachLocked(ifindex))
	}
	if p.tc != nil {
		errs = append(errs, p.tc.Close())
	}
	if p.sock != nil {
		errs = append(errs, p.sock.Close())
	}
	errs = append(errs, p.flows.Close())
	p.keys, p.entries = map[Key]*keyState{}, map[*cache.Entry][]Key{}
	return errors.Join(errs...)
}

// Attach attaches the programs to port q: the socket filter to its socket
// and the tc program to its interface's ingress. The TCX link is owned by
// this process: it goes away with it, even after a crash.
func (p *Path) Attach(q Port) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ifindex := q.Ifindex()
	if _, ok := p.ports[ifindex]; ok {
		return nil
	}
	if err := q.SetFilter(p.sock.FD()); err != nil {
		return fmt.Errorf("attaching the socket filter: %w", err)
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: p.tc, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		_ = q.SetFilter(-1)
		return fmt.Errorf("attaching the tc program to ifindex %d: %w", ifindex, err)
	}
	p.ports[ifindex] = &port{p: q, link: l, peer: peerOf(ifindex)}
	return nil
}

// Detach detaches the programs from the port on ifindex and deletes every
// entry from or to it, crediting their last counts.
func (p *Path) Detach(ifindex int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.detachLocked(ifindex)
}

func (p *Path) detachLocked(ifindex int) error {
	q, ok := p.ports[ifindex]
	if !ok {
		return nil
	}
	now := time.Now().UnixNano()
	for k, ks := range p.keys {
		if ks.in == ifindex || ks.out == ifindex {
			p.deleteLocked(k, ks, now)
			p.entries[ks.e] = removeKey(p.entries[ks.e], k)
			if len(p.entries[ks.e]) == 0 {
				delete(p.entries, ks.e)
			}
		}
	}
	delete(p.ports, ifindex)
	return errors.Join(q.link.Close(), q.p.SetFilter(-1))
}

func removeKey(ks []Key, k Key) []Key {
	for i := range ks {
		if ks[i] == k {
			return append(ks[:i], ks[i+1:]...)
		}
	}
	return ks
}

// Attached reports whether the programs are attached to ifindex.
func (p *Path) Attached(ifindex int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.ports[ifindex]
	return ok
}

// Install makes the kernel forward packets with flow key k, which arrived
// on interface in, to interface out while the pipeline's generation is gen,
// on behalf of megaflow e; maxLen is the longest frame (not a GSO packet)
// in accepts (0: any). Workers call it for packets of offloadable
// megaflows that reached userspace; an entry already installed at gen costs
// a map lookup in memory.
func (p *Path) Install(e *cache.Entry, k *flow.Key, in, out, maxLen int, gen uint64) {
	key, ok := KeyOf(k, in)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports[in] == nil || p.ports[out] == nil || e.Dead() {
		return
	}
	ks := p.keys[key]
	if ks != nil && ks.e == e && ks.gen == gen && ks.out == out {
		return // installed (or refused) already; this packet raced it
	}
	now := time.Now().UnixNano()
	if ks != nil {
		// Settle what the old entry counted before it is overwritten.
		p.settleLocked(key, ks, now)
		if ks.e != e {
			p.entries[ks.e] = removeKey(p.entries[ks.e], key)
			if len(p.entries[ks.e]) == 0 {
				delete(p.entries, ks.e)
			}
			ks = nil
		}
	}
	if ks == nil {
		ks = &keyState{e: e}
		p.keys[key] = ks
		p.entries[e] = append(p.entries[e], key)
	}
	ks.in, ks.out, ks.gen = in, out, gen
	ks.packets, ks.bytes = 0, 0
	p.installs++
	v := Value{Out: uint32(out), MaxLen: uint32(maxLen), Gen: gen}
	if pr := p.ports[out].peer; pr.ok && k.EthDst == pr.mac {
		v.Flags |= FlagPeer
	}
	ks.flags = v.Flags
	ks.failed = p.put(key, v) != nil
	if ks.failed {
		p.failed++
	}
}

// put writes an entry. Its copies of key and v escape (to the map's
// marshaling), so that Install's do not: a packet racing an installed
// entry costs no allocation.
func (p *Path) put(key Key, v Value) error { return p.flows.Put(&key, &v) }

// settleLocked credits e and the ports with what the kernel entry counted
// since the last sync.
func (p *Path) settleLocked(key Key, ks *keyState, now int64) {
	if ks.failed {
		return
	}
	var v Value
	if p.flows.Lookup(&key, &v) != nil {
		return
	}
	p.creditLocked(ks, v, now)
}

func (p *Path) creditLocked(ks *keyState, v Value, now int64) {
	dp, db := v.Packets-ks.packets, v.Bytes-ks.bytes
	if dp == 0 {
		return
	}
	ks.packets, ks.bytes = v.Packets, v.Bytes
	ks.e.Hit(dp, db, now)
	p.packets += dp
	p.bytes += db
	if q := p.ports[ks.in]; q != nil {
		q.p.Counters().AddRx(dp, db, 0, 0)
	}
	if q := p.ports[ks.out]; q != nil {
		q.p.Counters().AddTx(dp, db, 0, 0)
	}
}

// deleteLocked removes a kernel entry, crediting its last counts.
func (p *Path) deleteLocked(key Key, ks *keyState, now int64) {
	var v Value
	if !ks.failed && p.flows.LookupAndDelete(&key, &v) == nil {
		p.creditLocked(ks, v, now)
	}
	delete(p.keys, key)
}

// Retire deletes megaflow e's kernel entries, crediting their last counts
// to e. The cache calls it when it removes or replaces e.
func (p *Path) Retire(e *cache.Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys, ok := p.entries[e]
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	for _, k := range keys {
		if ks := p.keys[k]; ks != nil && ks.e == e {
			p.deleteLocked(k, ks, now)
		}
	}
	delete(p.entries, e)
}

// Sync credits megaflows and ports with the traffic the kernel forwarded
// since the last call. It also re-reads the ports' veth peers: if one
// changed its MAC, it bumps the generation so that every entry is
// reinstalled with FlagPeer set right.
func (p *Path) Sync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now().UnixNano()
	if !p.syncBatchLocked(now) {
		for k, ks := range p.keys {
			p.settleLocked(k, ks, now)
		}
	}
	changed := false
	for ifindex, q := range p.ports {
		if pr := peerOf(ifindex); pr != q.peer {
			q.peer, changed = pr, true
		}
	}
	if changed {
		p.gen.Counter().Add(1)
	}
}

// syncBatch is how many entries one BPF_MAP_LOOKUP_BATCH call reads.
const syncBatch = 256

// syncBatchLocked credits every entry from batched reads of the map (a
// system call per syncBatch entries rather than per entry). It reports
// false if the kernel cannot batch, and Sync reads entry by entry.
func (p *Path) syncBatchLocked(now int64) bool {
	if len(p.keys) == 0 {
		return true
	}
	if p.batchKeys == nil {
		p.batchKeys, p.batchVals = make([]Key, syncBatch), make([]Value, syncBatch)
	}
	var cursor ebpf.MapBatchCursor
	for {
		n, err := p.flows.BatchLookup(&cursor, p.batchKeys, p.batchVals, nil)
		for i := range n {
			if ks := p.keys[p.batchKeys[i]]; ks != nil && !ks.failed {
				p.creditLocked(ks, p.batchVals[i], now)
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return true
		}
		if err != nil {
			return false // entries credited so far stay credited: their last counts moved
		}
	}
}

// Stats returns the kernel path's counters as of the last Sync.
func (p *Path) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, orphans, peers := 0, 0, 0
	by := make(map[int]int, len(p.ports))
	for ifindex := range p.ports {
		by[ifindex] = 0
	}
	for _, ks := range p.keys {
		if p.ports[ks.in] == nil || p.ports[ks.out] == nil {
			orphans++
		}
		if !ks.failed {
			n++
			if ks.flags&FlagPeer != 0 {
				peers++
			}
			by[ks.in]++
			if ks.out != ks.in {
				by[ks.out]++
			}
		}
	}
	return Stats{Mode: ModeTC, Entries: n, Ports: len(p.ports), Installs: p.installs, Failed: p.failed,
		Packets: p.packets, Bytes: p.bytes, ByIfindex: by, Orphans: orphans, Peer: peers}
}
