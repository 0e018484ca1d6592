package datapath

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/cache"
	"github.com/dvs-project/dvs/internal/feature/meter"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
)

// Datapath is one bridge's packet path: its ports, its flow cache and the
// batch processing that workers run. Ports are added and removed at any
// time; workers see a new port table at their next batch.
type Datapath struct {
	cache *cache.Cache

	mu    sync.Mutex // serializes port changes
	ports atomic.Pointer[portTable]

	// ToController receives packets sent to the controller; nil drops them.
	toController atomic.Pointer[func(ToController)]

	drops [action.NumDropReasons]atomic.Uint64

	meters atomic.Pointer[meter.Table] // nil: meters pass everything

	wakeFDs []int // the running workers' eventfds (under mu)

	injectMu sync.Mutex // serializes Inject
	injector *Worker    // Inject's worker, made on first use

	kernel atomic.Pointer[KernelPath] // a kernel fast path, or nil
}

// KernelPath is a fast path in the kernel beneath the workers (package
// datapath/offload): packets of the megaflows it took over no longer reach
// the workers.
type KernelPath interface {
	// Install asks the kernel to forward packets with key k, arriving on
	// interface in, to interface out while the pipeline's generation is
	// gen, on behalf of megaflow e; maxLen is the longest frame (not a GSO
	// packet) in accepts, 0 for any. Workers call it for packets of
	// megaflows Offloadable accepts; it must be cheap when the entry is
	// installed already.
	Install(e *cache.Entry, k *flow.Key, in, out, maxLen int, gen uint64)
}

// SetKernelPath sets the kernel fast path (nil: none).
func (d *Datapath) SetKernelPath(kp KernelPath) {
	if kp == nil {
		d.kernel.Store(nil)
		return
	}
	d.kernel.Store(&kp)
}

// ifindexer is a port on a kernel interface.
type ifindexer interface{ Ifindex() int }

// Offloadable says whether a kernel fast path could forward the packets of
// a megaflow with mask and actions arriving on port inPort, and if not,
// why. The mask must examine only what flow.L2Mask does and the actions
// must be one output to another port; both ports must be kernel interfaces
// and the output port must take frames of any size the input port does
// (no tunnel limit).
func (d *Datapath) Offloadable(inPort uint32, mask *flow.Mask, acts []action.Action) (in, out int, why string) {
	in, out, why = d.ports.Load().offloadable(inPort, flow.L2Mask.Covers(mask), acts)
	return in, out, why
}

func (t *portTable) offloadable(inPort uint32, l2 bool, acts []action.Action) (in, out int, why string) {
	switch {
	case !l2:
		return 0, 0, "the decision depends on more than in_port, Ethernet addresses, type and VLAN"
	case len(acts) != 1 || acts[0].Kind != action.Output:
		return 0, 0, "the actions are not a single output"
	case acts[0].Port == inPort:
		return 0, 0, "the output is the input port"
	}
	ip, op := t.get(inPort), t.get(acts[0].Port)
	if ip == nil || op == nil {
		return 0, 0, "a port is not attached"
	}
	ii, ok1 := ip.Port.(ifindexer)
	oi, ok2 := op.Port.(ifindexer)
	if !ok1 || !ok2 {
		return 0, 0, "a port is not a kernel interface"
	}
	if op.maxTx.Load() > 0 {
		return 0, 0, "the output port limits frame sizes"
	}
	return ii.Ifindex(), oi.Ifindex(), ""
}

// DPPort is a port attached to a datapath.
type DPPort struct {
	No   uint32
	Port Port
	gso  bool
	// maxFrame is the longest frame accepted from the port (0 = any).
	maxFrame atomic.Int64
	// maxTx is the longest frame the port can send (0 = any): a tunnel's
	// underlay MTU less the encapsulation. Longer frames that are not
	// offloaded super-packets are dropped as tunnel-mtu.
	maxTx atomic.Int64
	// txDropped counts packets the datapath could not hand to the port.
	txDropped atomic.Uint64
}

// portTable is an immutable snapshot of the ports; a change replaces it.
// A port's index is its position in list, which workers' transmit staging
// follows.
type portTable struct {
	small [256]int32 // index+1 of ports numbered below 256 (0: none), to avoid a map lookup
	byNo  map[uint32]int
	list  []*DPPort
}

func (t *portTable) index(no uint32) (int, bool) {
	if no < uint32(len(t.small)) {
		i := t.small[no]
		return int(i) - 1, i != 0
	}
	i, ok := t.byNo[no]
	return i, ok
}

func (t *portTable) get(no uint32) *DPPort {
	if i, ok := t.index(no); ok {
		return t.list[i]
	}
	return nil
}

// New returns a datapath with no ports in front of c.
func New(c *cache.Cache) *Datapath {
	d := &Datapath{cache: c}
	d.ports.Store(&portTable{byNo: map[uint32]int{}})
	return d
}

// Cache returns the datapath's flow cache.
func (d *Datapath) Cache() *cache.Cache { return d.cache }

// ToController is a packet a Controller action sends to the OpenFlow
// channel, with what its packet-in reports.
type ToController struct {
	InPort   uint32
	Reason   action.PacketInReason
	Table    uint8
	Cookie   uint64
	Metadata uint64
	MaxLen   uint16
	// Frame is borrowed: it may live in a port's receive ring and is
	// rewritten by later actions.
	Frame []byte
}

// SetController sets the function packets for the controller go to. It is
// called on packet workers and must not block; it borrows the frame until it
// returns and must copy what it keeps.
func (d *Datapath) SetController(fn func(ToController)) {
	d.toController.Store(&fn)
}

// Attach adds port p as OpenFlow port no. The caller adds it to the
// pipeline too (which decides how traffic is switched).
func (d *Datapath) Attach(no uint32, p Port) (*DPPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.ports.Load()
	if old.get(no) != nil {
		return nil, fmt.Errorf("port number %d is in use", no)
	}
	dp := &DPPort{No: no, Port: p}
	if o, ok := p.(Offloader); ok {
		dp.gso = o.AcceptsGSO()
	}
	next := &portTable{byNo: make(map[uint32]int, len(old.byNo)+1)}
	for _, q := range old.list {
		next.add(q)
	}
	next.add(dp)
	if l, ok := p.(TxLimiter); ok {
		dp.maxTx.Store(int64(l.MaxTxFrame()))
	}
	d.ports.Store(next)
	d.kickLocked()
	return dp, nil
}

// RefreshTxLimit re-reads the largest frame port no can send, for ports
// that have a limit (TxLimiter): a tunnel's underlay MTU may change.
func (d *Datapath) RefreshTxLimit(no uint32) {
	if p := d.Port(no); p != nil {
		if l, ok := p.Port.(TxLimiter); ok {
			p.maxTx.Store(int64(l.MaxTxFrame()))
		}
	}
}

// CountDrop counts a packet dropped for reason r outside a worker's batch
// (a port's receive path: a tunnel datagram no port claims).
func (d *Datapath) CountDrop(r action.DropReason) { d.drops[r].Add(1) }

// Detach removes port no and returns it (nil if absent). The caller closes
// the port once no worker reads it.
func (d *Datapath) Detach(no uint32) *DPPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.ports.Load()
	gone := old.get(no)
	if gone == nil {
		return nil
	}
	next := &portTable{byNo: make(map[uint32]int, len(old.byNo))}
	for _, q := range old.list {
		if q != gone {
			next.add(q)
		}
	}
	d.ports.Store(next)
	d.kickLocked()
	return gone
}

// kickLocked wakes sleeping workers so they pick up a new port table.
func (d *Datapath) kickLocked() {
	kick(d.wakeFDs)
}

func (t *portTable) add(p *DPPort) {
	i := len(t.list)
	t.byNo[p.No] = i
	if p.No < uint32(len(t.small)) {
		t.small[p.No] = int32(i + 1)
	}
	t.list = append(t.list, p)
}

// Ports returns the attached ports.
func (d *Datapath) Ports() []*DPPort { return d.ports.Load().list }

// Port returns port no, or nil.
func (d *Datapath) Port(no uint32) *DPPort { return d.ports.Load().get(no) }

// TxDropped returns packets the datapath dropped on the way to the port.
func (p *DPPort) TxDropped() uint64 { return p.txDropped.Load() }

// Drops returns the packets dropped by reason.
func (d *Datapath) Drops() map[string]uint64 {
	m := map[string]uint64{}
	for i := range d.drops {
		if n := d.drops[i].Load(); n > 0 {
			m[action.DropReason(i).String()] = n
		}
	}
	return m
}

// Worker processes batches. Each worker goroutine owns one: its exact-match
// cache, its parse scratch and its per-port transmit staging.
type Worker struct {
	d     *Datapath
	cw    *cache.Worker
	keys  [packet.BatchSize]flow.Key
	hash  [packet.BatchSize]uint64 // keys[i].Hash()
	table *portTable
	stage []txStage
	now   int64 // wall time of the batch (Unix nanoseconds)
	clock wallClock
	// mono is the monotonic time meters measure with, read at the first
	// metered packet of a batch (monoAt is the now it was read for).
	mono, monoAt int64
}

// txStage is the packets waiting to be written to one port: copies in the
// stage's own buffers, and packets of the batch being processed whose last
// action was the output (kept, not copied; the batch is written before
// Process returns them).
type txStage struct {
	port *DPPort
	pkts []*packet.Packet // len = staged count; cap = BatchSize
	bufs []*packet.Packet // preallocated buffers for copies
	nbuf int              // bufs in use
	max  int              // the largest frame a buffer holds
}

// NewWorker returns a worker for d.
func (d *Datapath) NewWorker() *Worker {
	return &Worker{d: d, cw: d.cache.NewWorker()}
}

// CacheStats returns the worker's cache lookup counters.
func (w *Worker) CacheStats() cache.WorkerStats { return w.cw.Stats() }

func (w *Worker) refreshTable() {
	t := w.d.ports.Load()
	if t == w.table {
		return
	}
	w.table = t
	stage := make([]txStage, len(t.list))
	for i, p := range t.list {
		// Reuse the buffers of a port that was already staged.
		for j := range w.stage {
			if w.stage[j].port == p {
				stage[i].bufs = w.stage[j].bufs
			}
		}
		if stage[i].bufs == nil {
			stage[i].bufs = make([]*packet.Packet, packet.BatchSize)
			for k := range stage[i].bufs {
				stage[i].bufs[k] = packet.New(packet.DefaultBufSize)
			}
		}
		stage[i].port = p
		stage[i].pkts = make([]*packet.Packet, 0, packet.BatchSize)
		stage[i].max = stage[i].bufs[0].Cap()
	}
	w.stage = stage
}

// Process runs a batch of packets received on port inPort through the
// caches and actions, then writes what they output. It borrows pkts, which
// may be longer than BatchSize (it works through them in batches), and
// leaves them changed: actions rewrite packets in place, and a packet whose
// last action is an output goes to the port's Write itself, which may push
// an encapsulation in front of it.
//
// Each batch goes in stages: parse every packet, then hash and look up
// every key, then run every packet's actions. Besides keeping each loop
// small, this lets the parser's many small stores into a key retire before
// the hash and the cache compare read the key back as whole words.
func (w *Worker) Process(inPort uint32, pkts []*packet.Packet) {
	w.refreshTable()
	w.now = w.clock.now()
	for len(pkts) > 0 {
		n := min(len(pkts), packet.BatchSize)
		w.process(inPort, pkts[:n])
		pkts = pkts[n:]
	}
	w.Flush()
	w.cw.Publish()
}

func (w *Worker) process(inPort uint32, pkts []*packet.Packet) {
	keys, hashes := w.keys[:len(pkts)], w.hash[:len(pkts)]
	// The batch's entries live on the stack, where storing a pointer
	// needs no write barrier and nothing needs clearing afterwards.
	var ents [packet.BatchSize]*cache.Entry
	maxFrame := 0
	if in := w.table.get(inPort); in != nil {
		maxFrame = int(in.maxFrame.Load())
	}
	for i, p := range pkts {
		k := &keys[i]
		off, h := packet.ParsePacket(p, inPort, k)
		hashes[i] = h
		// A frame with an L3 header is no runt, has at most two tags and
		// is not malformed: only its size can be wrong.
		if off.L3 == 0 || maxFrame > 0 {
			if r := sanity(p, k, off, maxFrame); r != action.DropNone {
				w.d.drops[r].Add(1)
				ents[i] = &rejected
			}
		}
	}
	w.cw.LookupBatch(keys, hashes, ents[:len(pkts)])
	// The kernel path as the batch starts: offloading is only a hint.
	kp := w.d.kernel.Load()
	// Packets of one megaflow next to each other (a run) are counted with
	// one update and their actions looked at once, as Open vSwitch batches
	// packets per flow.
	for start := 0; start < len(pkts); {
		e, end := ents[start], start+1
		for end < len(pkts) && ents[end] == e {
			end++
		}
		if e != &rejected {
			w.run(inPort, e, pkts[start:end], keys[start:end], kp)
		}
		start = end
	}
}

// run counts and executes a run of packets that hit entry e.
func (w *Worker) run(inPort uint32, e *cache.Entry, pkts []*packet.Packet, keys []flow.Key, kp *KernelPath) {
	acts := e.Actions
	if kp != nil && e.L2Only() && len(acts) == 1 {
		for i := range keys {
			w.offload(*kp, inPort, &keys[i], e)
		}
	}
	// The commonest list, one output, skips the interpreter (and counts
	// the bytes as it goes).
	if len(acts) == 1 && acts[0].Kind == action.Output {
		e.Hit(uint64(len(pkts)), w.outputLast(acts[0].Port, pkts), w.now)
		return
	}
	var bytes uint64
	for _, p := range pkts {
		bytes += uint64(p.Len())
	}
	e.Hit(uint64(len(pkts)), bytes, w.now)
	for _, p := range pkts {
		if r := action.Execute(p, acts, w); r != action.DropNone {
			w.d.drops[r].Add(1)
		}
	}
}

// offload hands the megaflow of a packet that reached userspace to the
// kernel path if it can take it.
func (w *Worker) offload(kp KernelPath, inPort uint32, k *flow.Key, e *cache.Entry) {
	in, out, why := w.table.offloadable(inPort, true, e.Actions)
	if why != "" || e.Dead() {
		return
	}
	// Frames longer than either port's limit go to userspace, which drops
	// them as oversize on the way in or as a tx drop on the way out (a
	// bpf_redirect_peer would deliver them).
	maxLen := int64(0)
	for _, no := range [2]uint32{inPort, e.Actions[0].Port} {
		if p := w.table.get(no); p != nil {
			if m := p.maxFrame.Load(); m > 0 && (maxLen == 0 || m < maxLen) {
				maxLen = m
			}
		}
	}
	kp.Install(e, k, in, out, int(maxLen), e.Gen())
}

// rejected marks packets dropped before classification.
var rejected cache.Entry

// sanity decides whether a frame is fit to switch, or why not: hostile or
// broken frames are dropped and counted by reason before they reach the
// caches.
func sanity(p *packet.Packet, k *flow.Key, off packet.Offsets, maxFrame int) action.DropReason {
	switch {
	case p.Len() < packet.EthernetLen:
		return action.DropRunt
	case maxFrame > 0 && p.GSO.Type == packet.VirtioNetHdrGSONone && p.Len() > maxFrame:
		return action.DropOversize
	case k.EthType == flow.EthTypeVLAN || k.EthType == flow.EthTypeQinQ:
		return action.DropTags // a third tag (or a tag cut short)
	case off.L3 == 0 && (k.EthType == flow.EthTypeIPv4 || k.EthType == flow.EthTypeIPv6 ||
		k.EthType == flow.EthTypeARP || k.EthType == flow.EthTypeRARP):
		return action.DropMalformed
	}
	return action.DropNone
}

// SetMTU sets the largest frame port no may receive: its MTU plus an
// Ethernet header and two VLAN tags. Longer frames (that are not
// offloaded super-packets) are dropped as oversize. 0 disables the check.
func (d *Datapath) SetMTU(no uint32, mtu int) {
	if p := d.Port(no); p != nil {
		n := int64(0)
		if mtu > 0 {
			n = int64(mtu + packet.EthernetLen + 2*packet.VLANTagLen)
		}
		if p.maxFrame.Swap(n) != n && d.kernel.Load() != nil {
			// Kernel entries carry the old limit: make them stale.
			d.cache.Pipeline().Invalidate()
		}
	}
}

// Output implements action.Outputter: it stages p for port no, a copy
// unless the output is p's last action.
func (w *Worker) Output(no uint32, p *packet.Packet, last bool) {
	i, ok := w.table.index(no)
	if !ok {
		return
	}
	s := &w.stage[i]
	dp := s.port
	if lim := dp.maxTx.Load(); lim > 0 && p.GSO.Type == packet.VirtioNetHdrGSONone && int64(p.Len()) > lim {
		w.d.drops[action.DropTunnelMTU].Add(1)
		return
	}
	if p.Len() > s.max || (p.GSO.Type != packet.VirtioNetHdrGSONone && !dp.gso) {
		// Too big to stage (an offloaded super-packet): write it now;
		// Write borrows p only until it returns.
		w.writeLarge(dp, p)
		return
	}
	if len(s.pkts) == cap(s.pkts) {
		w.flushStage(s)
	}
	// A packet no action touches any more is written as it is, if it has
	// the headroom a port's Write may push an encapsulation into.
	if last && p.Headroom() >= keepHeadroom {
		s.pkts = append(s.pkts, p)
		return
	}
	b := s.bufs[s.nbuf]
	s.nbuf++
	b.CopyFrom(p)
	s.pkts = append(s.pkts, b)
}

// outputLast is Output(no, p, true) for each of pkts, with what does not
// depend on the packet looked up once, and returns the bytes of pkts.
// When every packet can be staged as it is and the stage has room, they
// are checked in a loop without calls and staged with one copy; otherwise
// each goes its own way (stageEach).
func (w *Worker) outputLast(no uint32, pkts []*packet.Packet) (bytes uint64) {
	i, ok := w.table.index(no)
	if !ok {
		for _, p := range pkts {
			bytes += uint64(p.Len())
		}
		return bytes
	}
	s := &w.stage[i]
	limit := s.max
	if lim := int(s.port.maxTx.Load()); lim > 0 && lim < limit {
		limit = lim
	}
	bytes, plain := plainBytes(pkts, limit)
	if plain && len(s.pkts)+len(pkts) <= cap(s.pkts) {
		s.pkts = append(s.pkts, pkts...)
	} else {
		w.stageEach(s, no, limit, pkts)
	}
	return bytes
}

// plainBytes returns the bytes of pkts and whether every one can be staged
// as it is: not an offloaded super-packet, at most limit bytes, with the
// headroom to keep. It is a call of its own so that its loop has the
// registers to itself.
//
//go:noinline
func plainBytes(pkts []*packet.Packet, limit int) (bytes uint64, plain bool) {
	plain = true
	for _, p := range pkts {
		n := p.Len()
		bytes += uint64(n)
		if p.GSO.Type != packet.VirtioNetHdrGSONone || n > limit || p.Headroom() < keepHeadroom {
			plain = false
		}
	}
	return bytes, plain
}

// stageEach is outputLast's way for a run with a packet that needs more
// than staging as it is (a drop, a copy or a write of its own, which
// Output does), or that does not fit in the stage.
func (w *Worker) stageEach(s *txStage, no uint32, limit int, pkts []*packet.Packet) {
	staged := s.pkts // kept in a register; s.pkts is current around calls
	for _, p := range pkts {
		if p.GSO.Type != packet.VirtioNetHdrGSONone || p.Len() > limit || p.Headroom() < keepHeadroom {
			s.pkts = staged
			w.Output(no, p, true)
			staged = s.pkts
			continue
		}
		if len(staged) == cap(staged) {
			s.pkts = staged
			w.flushStage(s)
			staged = s.pkts
		}
		staged = append(staged, p)
	}
	s.pkts = staged
}

// keepHeadroom is the headroom a packet needs to be written as it is
// rather than copied: the most a port's Write pushes in front of a frame
// (a tunnel's 8-byte header), with room to spare. Frames read into the
// ports' own buffers have packet.Headroom; frames in an AF_PACKET ring
// have the ring's frame header in front, a little less.
const keepHeadroom = 64

// writeLarge writes an offloaded packet to dp, segmenting it in software
// when the port cannot take offloaded packets.
func (w *Worker) writeLarge(dp *DPPort, p *packet.Packet) {
	if p.GSO.Type != packet.VirtioNetHdrGSONone && !dp.gso {
		if segmentFn == nil {
			dp.txDropped.Add(1)
			return
		}
		if !segmentFn(p, func(seg []*packet.Packet) { w.writeLimited(dp, seg) }) {
			dp.txDropped.Add(1)
		}
		return
	}
	one := [1]*packet.Packet{p}
	w.write(dp, one[:])
}

// writeLimited writes the segments of an offloaded packet, dropping as
// tunnel-mtu those too big for the port (segments of a TCP stream whose MSS
// ignores the tunnel's overhead).
func (w *Worker) writeLimited(dp *DPPort, pkts []*packet.Packet) {
	lim := int(dp.maxTx.Load())
	start := 0
	for i, p := range pkts {
		if lim > 0 && p.Len() > lim {
			if i > start {
				w.write(dp, pkts[start:i])
			}
			w.d.drops[action.DropTunnelMTU].Add(1)
			start = i + 1
		}
	}
	if start < len(pkts) {
		w.write(dp, pkts[start:])
	}
}

// segmentFn splits an offloaded packet into frames; set by the gso
// package's registration so the datapath does not depend on it here.
var segmentFn func(p *packet.Packet, emit func([]*packet.Packet)) bool

// SetSegmenter installs the software segmentation used for ports that do
// not accept offloaded packets. fn emits the segments of p (borrowed until
// emit returns) and reports false if p cannot be segmented.
func SetSegmenter(fn func(p *packet.Packet, emit func([]*packet.Packet)) bool) { segmentFn = fn }

// Controller implements action.Outputter.
func (w *Worker) Controller(p *packet.Packet, a *action.Action) {
	fn := w.d.toController.Load()
	if fn == nil || *fn == nil {
		w.d.drops[action.DropNoOutput].Add(1)
		return
	}
	(*fn)(ToController{InPort: p.InPort, Reason: a.In, Table: a.Table, Cookie: a.Cookie, Metadata: a.Metadata,
		MaxLen: a.MaxLen, Frame: p.Data()})
}

// SetMeters sets the meter table that Meter actions consult (nil: every
// meter passes every packet). Workers see it from their next packet.
func (d *Datapath) SetMeters(t *meter.Table) { d.meters.Store(t) }

// Meter implements action.Outputter: it measures p against meter id. An
// offloaded super-packet counts as the wire packets it will become.
func (w *Worker) Meter(id uint32, p *packet.Packet) action.MeterVerdict {
	t := w.d.meters.Load()
	if t == nil {
		return action.MeterVerdict{}
	}
	if w.monoAt != w.now || w.mono == 0 {
		w.mono, w.monoAt = meter.Now(), w.now
	}
	size, segs := p.Len(), 1
	if g := p.GSO; g.Type != packet.VirtioNetHdrGSONone && g.Size > 0 && size > int(g.HdrLen) {
		payload := size - int(g.HdrLen)
		segs = (payload + int(g.Size) - 1) / int(g.Size)
		size += (segs - 1) * int(g.HdrLen)
	}
	return action.MeterVerdict(t.Apply(id, size, segs, w.mono))
}

// Flush writes every staged packet.
func (w *Worker) Flush() {
	for i := range w.stage {
		if len(w.stage[i].pkts) > 0 {
			w.flushStage(&w.stage[i])
		}
	}
}

func (w *Worker) flushStage(s *txStage) {
	w.write(s.port, s.pkts)
	clear(s.pkts) // drop the batch's packets
	s.pkts, s.nbuf = s.pkts[:0], 0
}

func (w *Worker) write(dp *DPPort, pkts []*packet.Packet) {
	n, err := dp.Port.Write(pkts)
	if n < len(pkts) {
		dp.txDropped.Add(uint64(len(pkts) - n))
	}
	_ = err // counted by the port as a tx error
}

// Inject runs acts on a copy of frame as if it had arrived on inPort (an
// OpenFlow packet-out) and writes what they output. Injections are
// serialized on one worker of their own; they do not go through the caches.
// It returns the drop reason if acts end in a drop.
func (d *Datapath) Inject(inPort uint32, frame []byte, acts []action.Action) action.DropReason {
	d.injectMu.Lock()
	defer d.injectMu.Unlock()
	if d.injector == nil {
		d.injector = d.NewWorker()
	}
	w := d.injector
	w.refreshTable()
	w.now = time.Now().UnixNano()
	p := packet.FromBytes(frame)
	p.InPort = inPort
	r := action.Execute(p, acts, w)
	if r != action.DropNone {
		d.drops[r].Add(1)
	}
	w.Flush()
	return r
}
