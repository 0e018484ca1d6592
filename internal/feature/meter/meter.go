// Package meter is the switch's OpenFlow 1.3 meter table: per-meter token
// buckets that workers consult, lock-free, for every packet that a rule's
// meter instruction sends through them, and the counters meter stats report.
package meter

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/flow"
)

// Limits, as meter features report them.
const (
	MaxMeters = 65536 // meters in one table
	MaxBands  = 8     // bands in one meter
)

// Validation errors. Each maps to one OFPET_METER_MOD_FAILED code (named
// after the sentinel).
var (
	ErrMeterExists  = errors.New("meter exists")              // OFPMMFC_METER_EXISTS
	ErrInvalidMeter = errors.New("invalid meter id")          // OFPMMFC_INVALID_METER
	ErrUnknownMeter = errors.New("unknown meter")             // OFPMMFC_UNKNOWN_METER
	ErrBadFlags     = errors.New("bad meter flags")           // OFPMMFC_BAD_FLAGS
	ErrBadRate      = errors.New("bad band rate")             // OFPMMFC_BAD_RATE
	ErrBadBand      = errors.New("unsupported band type")     // OFPMMFC_BAD_BAND
	ErrBadBandValue = errors.New("bad band value")            // OFPMMFC_BAD_BAND_VALUE
	ErrOutOfMeters  = errors.New("meter table is full")       // OFPMMFC_OUT_OF_METERS
	ErrOutOfBands   = errors.New("too many bands in a meter") // OFPMMFC_OUT_OF_BANDS
)

// MeterModFailedCode returns the OFPET_METER_MOD_FAILED code that answers
// err, an error from Validate, Add, Modify or Delete (0, OFPMMFC_UNKNOWN,
// for any other).
func MeterModFailedCode(err error) uint16 {
	for _, c := range []struct {
		err  error
		code uint16
	}{
		{ErrMeterExists, 1}, {ErrInvalidMeter, 2}, {ErrUnknownMeter, 3}, {ErrBadFlags, 5}, {ErrBadRate, 6},
		{ErrBadBand, 8}, {ErrBadBandValue, 9}, {ErrOutOfMeters, 10}, {ErrOutOfBands, 11},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return 0
}

// Verdict is what a meter decides for one packet: pass it unchanged (the
// zero Verdict), drop it, or raise its DSCP drop precedence by PrecLevel.
// It has action.MeterVerdict's layout, so the datapath converts one into
// the other.
type Verdict struct {
	Drop      bool
	PrecLevel uint8
}

// Validate checks that spec describes a meter this table can run.
func Validate(spec *flow.MeterSpec) error {
	if spec.ID == 0 || spec.ID > flow.MeterMax {
		return fmt.Errorf("meter %d: %w", spec.ID, ErrInvalidMeter)
	}
	const known = flow.MeterKbps | flow.MeterPktps | flow.MeterBurst | flow.MeterStats
	units := spec.Flags & (flow.MeterKbps | flow.MeterPktps)
	if spec.Flags&^known != 0 || units == 0 || units == flow.MeterKbps|flow.MeterPktps {
		return fmt.Errorf("meter %d: flags %#x: %w", spec.ID, spec.Flags, ErrBadFlags)
	}
	if len(spec.Bands) > MaxBands {
		return fmt.Errorf("meter %d: %d bands: %w", spec.ID, len(spec.Bands), ErrOutOfBands)
	}
	for i, b := range spec.Bands {
		switch b.Type {
		case flow.BandDrop:
		case flow.BandDSCPRemark:
			if b.PrecLevel == 0 {
				return fmt.Errorf("meter %d band %d: prec_level 0: %w", spec.ID, i, ErrBadBandValue)
			}
		default:
			return fmt.Errorf("meter %d band %d: type %d: %w", spec.ID, i, b.Type, ErrBadBand)
		}
		if b.Rate == 0 {
			return fmt.Errorf("meter %d band %d: %w", spec.ID, i, ErrBadRate)
		}
	}
	return nil
}

// Stats are one meter's counters (ofp_meter_stats).
type Stats struct {
	ID uint32
	// FlowCount is the number of rules that use the meter; the table does
	// not know them, so the caller fills it in.
	FlowCount uint32
	Packets   uint64 // packets that went through the meter
	Bytes     uint64
	Duration  time.Duration // since the meter was added
	Bands     []BandStats   // in the order of the spec's bands
}

// BandStats counts the packets a band applied to.
type BandStats struct {
	Packets, Bytes uint64
}

// Table is a switch's meters. Control-plane calls (Add, Modify, Delete,
// Stats, Configs) are serialized among themselves; Apply runs on any
// number of workers at once: it finds the meter without locks and holds
// only that meter's lock, briefly.
type Table struct {
	clock func() int64

	mu   sync.Mutex // serializes changes
	root atomic.Pointer[node]
	n    int // meters (under mu)
}

// The meters are a radix tree over the id's bytes, most significant first,
// whose slots are atomic pointers: a change stores one pointer (creating
// the nodes on the way), so readers never lock and a change costs the same
// however many meters there are. Deleting every meter replaces the root.
type node struct {
	kids   [256]atomic.Pointer[node]  // levels 0-2
	meters [256]atomic.Pointer[meter] // level 3
}

func (t *Table) get(id uint32) *meter {
	n := t.root.Load()
	for shift := 24; shift > 0; shift -= 8 {
		if n = n.kids[byte(id>>shift)].Load(); n == nil {
			return nil
		}
	}
	return n.meters[byte(id)].Load()
}

// set stores m (nil: none) as meter id. The caller holds t.mu.
func (t *Table) set(id uint32, m *meter) {
	n := t.root.Load()
	for shift := 24; shift > 0; shift -= 8 {
		k := n.kids[byte(id>>shift)].Load()
		if k == nil {
			if m == nil {
				return
			}
			k = new(node)
			n.kids[byte(id>>shift)].Store(k)
		}
		n = k
	}
	old := n.meters[byte(id)].Swap(m)
	switch {
	case old == nil && m != nil:
		t.n++
	case old != nil && m == nil:
		t.n--
	}
}

// each calls fn for every meter, by id.
func (n *node) each(level int, fn func(*meter)) {
	for i := range 256 {
		if level == 3 {
			if m := n.meters[i].Load(); m != nil {
				fn(m)
			}
		} else if k := n.kids[i].Load(); k != nil {
			k.each(level+1, fn)
		}
	}
}

var monoBase = time.Now()

// Mono returns t as the monotonic nanoseconds Apply takes (t must carry a
// monotonic reading, as time.Now's results do).
func Mono(t time.Time) int64 { return int64(t.Sub(monoBase)) }

// Now returns the current monotonic time in nanoseconds, for Apply.
func Now() int64 { return Mono(time.Now()) }

// New returns an empty table. clock returns monotonic nanoseconds, the
// time base of Apply's now; nil means Now.
func New(clock func() int64) *Table {
	if clock == nil {
		clock = Now
	}
	t := &Table{clock: clock}
	t.root.Store(new(node))
	return t
}

// Add adds a meter.
func (t *Table) Add(spec flow.MeterSpec) error {
	if err := Validate(&spec); err != nil {
		return fmt.Errorf("adding meter: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.get(spec.ID) != nil {
		return fmt.Errorf("adding meter %d: %w", spec.ID, ErrMeterExists)
	}
	if t.n >= MaxMeters {
		return fmt.Errorf("adding meter %d: %w", spec.ID, ErrOutOfMeters)
	}
	now := t.clock()
	t.set(spec.ID, newMeter(spec, now, now))
	return nil
}

// Modify replaces a meter's configuration. As in Open vSwitch's userspace
// datapath, the meter starts afresh: full buckets and zeroed packet, byte
// and band counters; its duration still counts from when it was added.
func (t *Table) Modify(spec flow.MeterSpec) error {
	if err := Validate(&spec); err != nil {
		return fmt.Errorf("modifying meter: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.get(spec.ID)
	if m == nil {
		return fmt.Errorf("modifying meter %d: %w", spec.ID, ErrUnknownMeter)
	}
	t.set(spec.ID, newMeter(spec, m.created, t.clock()))
	return nil
}

// Delete removes meter id, or every meter for flow.MeterAll. Removing the
// rules that use it is the caller's job.
func (t *Table) Delete(id uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == flow.MeterAll {
		t.root.Store(new(node))
		t.n = 0
		return nil
	}
	if t.get(id) == nil {
		return fmt.Errorf("deleting meter %d: %w", id, ErrUnknownMeter)
	}
	t.set(id, nil)
	return nil
}

// Exists reports whether meter id is in the table.
func (t *Table) Exists(id uint32) bool {
	return id != flow.MeterAll && t.get(id) != nil
}

// Len returns the number of meters.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// selected returns meter id, or every meter for flow.MeterAll, by id.
func (t *Table) selected(id uint32) []*meter {
	var ms []*meter
	if id != flow.MeterAll {
		if m := t.get(id); m != nil {
			ms = append(ms, m)
		}
		return ms
	}
	t.root.Load().each(0, func(m *meter) { ms = append(ms, m) })
	return ms
}

// Stats returns the counters of meter id, or of every meter for
// flow.MeterAll, by id; none if it does not exist. Meters without the
// MeterStats flag report zero counts.
func (t *Table) Stats(id uint32) []Stats {
	now := t.clock()
	ms := t.selected(id)
	out := make([]Stats, len(ms))
	for i, m := range ms {
		s := &out[i]
		s.ID = m.spec.ID
		s.Duration = time.Duration(max(now-m.created, 0))
		s.Bands = make([]BandStats, len(m.bands))
		m.mu.Lock()
		s.Packets, s.Bytes = m.packets, m.bytes
		for j := range m.bands {
			b := &m.bands[m.order[j]]
			s.Bands[j] = BandStats{Packets: b.packets, Bytes: b.bytes}
		}
		m.mu.Unlock()
	}
	return out
}

// Configs returns the configuration of meter id, or of every meter for
// flow.MeterAll, by id.
func (t *Table) Configs(id uint32) []flow.MeterSpec {
	ms := t.selected(id)
	out := make([]flow.MeterSpec, len(ms))
	for i, m := range ms {
		out[i] = m.spec
		out[i].Bands = slices.Clone(m.spec.Bands)
	}
	return out
}

// Token buckets count in units that make both kinds of rate add exactly
// rate units per nanosecond: a kb/s rate adds rate µbit/ns, a packet/s
// rate adds rate nano-packets/ns. So a bit costs bitCost units, a packet
// pktCost, and a burst of B kilobits or B packets holds B*1e9 units
// (at most 2^32*1e9, well inside an int64).
const (
	bitCost = 1_000_000
	pktCost = 1_000_000_000
	// burstUnits is one burst unit (a kilobit or a packet).
	burstUnits = 1_000_000_000
	// defaultBurst is how long a band's rate fills its bucket when the
	// meter has no MeterBurst flag (or the band's burst is 0, as Open
	// vSwitch allows): 100 ms, but at least a full-size frame.
	defaultBurst = 100 * time.Millisecond
	minBurstBits = 1518 * 8
)

// meter is a meter at run time, made from a validated spec.
type meter struct {
	spec    flow.MeterSpec
	created int64 // when it was added (Modify keeps it)
	pktps   bool
	stats   bool

	// mu guards the buckets and counters: one short critical section per
	// packet, which measured faster than per-band atomics, even with
	// workers contending, and makes a packet's pass over the bands atomic.
	mu      sync.Mutex
	last    int64 // time of the last refill
	packets uint64
	bytes   uint64
	bands   []band // by rate, highest first
	order   []int  // order[i] is the index in bands of the spec's band i
}

// band is one band's token bucket and counters.
type band struct {
	rate     int64 // units per nanosecond
	capacity int64 // units
	verdict  Verdict

	tokens  int64 // below zero after an oversize packet
	packets uint64
	bytes   uint64
}

func newMeter(spec flow.MeterSpec, created, now int64) *meter {
	spec.Bands = slices.Clone(spec.Bands)
	m := &meter{
		spec:    spec,
		created: created,
		pktps:   spec.Flags&flow.MeterPktps != 0,
		stats:   spec.Flags&flow.MeterStats != 0,
		bands:   make([]band, len(spec.Bands)),
		order:   make([]int, len(spec.Bands)),
	}
	m.last = now
	idx := make([]int, len(spec.Bands))
	for i := range idx {
		idx[i] = i
	}
	// Highest rate first; equal rates keep the spec's order.
	slices.SortStableFunc(idx, func(a, b int) int {
		ra, rb := spec.Bands[a].Rate, spec.Bands[b].Rate
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return 0
	})
	for pos, i := range idx {
		sb := spec.Bands[i]
		m.order[i] = pos
		b := &m.bands[pos]
		b.rate = int64(sb.Rate)
		if spec.Flags&flow.MeterBurst != 0 && sb.Burst != 0 {
			b.capacity = int64(sb.Burst) * burstUnits
		} else {
			b.capacity = b.rate * int64(defaultBurst)
			if m.pktps {
				b.capacity = max(b.capacity, pktCost)
			} else {
				b.capacity = max(b.capacity, minBurstBits*bitCost)
			}
		}
		b.tokens = b.capacity // start full
		if sb.Type == flow.BandDrop {
			b.verdict.Drop = true
		} else {
			b.verdict.PrecLevel = sb.PrecLevel
		}
	}
	return m
}

// Apply measures a packet of size bytes against meter id at time now
// (monotonic nanoseconds, see Now) and says what to do with it. segs is the
// number of wire packets it stands for: 1, or an offloaded super-packet's
// segment count (size then counts every segment's headers). A missing
// meter passes everything.
//
// Following OpenFlow 1.3 and Open vSwitch, every band has a token bucket
// that fills at its rate; the packet takes its cost from each bucket that
// holds it, and the band that applies is the one with the highest rate
// among those whose bucket could not: the highest rate below the measured
// one. A packet costlier than a whole bucket needs a full bucket, so that
// a large offloaded packet is limited rather than always dropped.
//
// Apply never allocates; it finds the meter without locks and holds the
// meter's own lock for a few nanoseconds.
func (t *Table) Apply(id uint32, size, segs int, now int64) Verdict {
	m := t.get(id)
	if m == nil {
		return Verdict{}
	}
	return m.apply(size, segs, now)
}

func (m *meter) apply(size, segs int, now int64) Verdict {
	cost := int64(size) * 8 * bitCost
	if m.pktps {
		cost = int64(segs) * pktCost
	}
	hit := -1
	m.mu.Lock()
	// Workers' clocks are read per batch, so now may be a little behind
	// another worker's: time never runs backwards for the buckets.
	d := now - m.last
	if d > 0 {
		m.last = now
	}
	for i := range m.bands {
		b := &m.bands[i]
		if d > 0 {
			b.refill(d)
		}
		// A packet costlier than the whole bucket needs a full bucket.
		if b.tokens >= min(cost, b.capacity) {
			b.tokens -= cost
		} else if hit < 0 {
			hit = i // bands are by rate, highest first
		}
	}
	if m.stats {
		m.packets += uint64(segs)
		m.bytes += uint64(size)
		if hit >= 0 {
			m.bands[hit].packets += uint64(segs)
			m.bands[hit].bytes += uint64(size)
		}
	}
	m.mu.Unlock()
	if hit < 0 {
		return Verdict{}
	}
	return m.bands[hit].verdict
}

// refill credits d nanoseconds at the band's rate, up to its capacity.
func (b *band) refill(d int64) {
	if b.tokens >= b.capacity {
		return
	}
	if d > (b.capacity-b.tokens)/b.rate {
		b.tokens = b.capacity
		return
	}
	b.tokens += d * b.rate // at most capacity: no overflow
}
