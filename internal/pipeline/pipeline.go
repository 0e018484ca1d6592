// Package pipeline is the slow path: OpenFlow 1.3 flow tables, the ports and
// MAC table NORMAL switching uses, and translation, which walks a packet's
// key through the tables and produces the datapath action list and the
// megaflow mask (the key bits the decision depended on) that the caches
// store. Tracing is translation with a trace sink attached.
//
// Every change that can alter a translation (a rule added, modified or
// removed, a MAC learned, moved or expired, a port changed) bumps Gen after
// it takes effect; caches compare the generation an entry was translated at
// with Gen and revalidate entries that are behind.
package pipeline

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/classifier"
	"github.com/dvs-project/dvs/internal/feature/l2"
	"github.com/dvs-project/dvs/internal/flow"
)

// Pipeline is one bridge's flow tables, ports and MAC table. Translate may
// be called from many goroutines; changes are serialized internally.
type Pipeline struct {
	mu     sync.Mutex // serializes changes
	tables [flow.MaxTables]atomic.Pointer[classifier.Classifier]
	gen    *atomic.Uint64 // Config.Gen or the pipeline's own
	ports  atomic.Pointer[portMap]
	macs   *l2.Table
	now    func() time.Time

	timed  map[*flow.Rule]struct{}  // rules with a timeout, for Expire
	groups atomic.Pointer[groupMap] // group.go

	// failOpen makes every packet go to NORMAL, ignoring the tables (an
	// OpenFlow bridge in standalone fail mode that lost its controllers).
	failOpen atomic.Bool
	// invalidTTL sends packets whose TTL expires to the controller (as
	// packet-ins with reason invalid_ttl) instead of only dropping them.
	invalidTTL atomic.Bool

	// Counters.
	translations atomic.Uint64
	lookups      [flow.MaxTables]atomic.Uint64
	matched      [flow.MaxTables]atomic.Uint64
}

// Config configures a pipeline.
type Config struct {
	MAC l2.Config
	// Now returns the current time; tests substitute a fake clock.
	Now func() time.Time
	// Gen is where the generation is counted (a kernel fast path maps it
	// into its programs, package datapath/offload); nil: the pipeline's
	// own. The pipeline sets it to 1.
	Gen *atomic.Uint64
}

// New returns a pipeline with empty tables (every packet misses and is
// dropped) and no ports.
func New(cfg Config) *Pipeline {
	p := &Pipeline{macs: l2.New(cfg.MAC), now: cfg.Now, timed: make(map[*flow.Rule]struct{}), gen: cfg.Gen}
	if p.gen == nil {
		p.gen = new(atomic.Uint64)
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.ports.Store(&portMap{byNo: map[uint32]*Port{}})
	p.gen.Store(1)
	return p
}

// Gen returns the current generation.
func (p *Pipeline) Gen() uint64 { return p.gen.Load() }

// Invalidate bumps the generation, so every cached translation is
// revalidated before its next use. Call it after a change outside the
// pipeline that can alter translations has taken effect.
func (p *Pipeline) Invalidate() { p.gen.Add(1) }

// SetFailOpen switches fail-open mode on or off: while on, every packet is
// switched by NORMAL and the flow tables are not consulted.
func (p *Pipeline) SetFailOpen(on bool) {
	if p.failOpen.Swap(on) != on {
		p.gen.Add(1)
	}
}

// SetInvalidTTLToController makes dec_ttl and dec_mpls_ttl send packets
// whose TTL would reach zero to the controller.
func (p *Pipeline) SetInvalidTTLToController(on bool) {
	if p.invalidTTL.Swap(on) != on {
		p.gen.Add(1)
	}
}

// FailOpen reports whether fail-open mode is on.
func (p *Pipeline) FailOpen() bool { return p.failOpen.Load() }

// MACs returns the MAC learning table.
func (p *Pipeline) MACs() *l2.Table { return p.macs }

// Now returns the pipeline clock's time.
func (p *Pipeline) Now() time.Time { return p.now() }

func (p *Pipeline) table(id uint8) *classifier.Classifier { return p.tables[id].Load() }

// tableForWrite returns table id, creating it. Callers hold p.mu.
func (p *Pipeline) tableForWrite(id uint8) *classifier.Classifier {
	if c := p.tables[id].Load(); c != nil {
		return c
	}
	c := classifier.New()
	p.tables[id].Store(c)
	return c
}

// Errors returned by rule changes.
var (
	ErrBadTable  = errors.New("bad table id")
	ErrBadGoto   = errors.New("goto_table must go to a later table")
	ErrOverlap   = errors.New("overlapping rule with the same priority exists (check_overlap)")
	ErrBadAction = errors.New("bad action")
	// More specific kinds of ErrBadAction (errors.Is matches both).
	ErrBadOutPort        = fmt.Errorf("%w: bad output port", ErrBadAction)
	ErrBadArgument       = fmt.Errorf("%w: bad argument", ErrBadAction)
	ErrMatchInconsistent = fmt.Errorf("%w: inconsistent with the match", ErrBadAction)
	ErrBadSetField       = fmt.Errorf("%w: bad set_field", ErrBadAction)
	ErrBadMatch          = errors.New("bad match")
	ErrNoSuchRule        = errors.New("no such rule")
)

// validate checks a rule before it enters a table.
func validate(r *flow.Rule) error {
	r.Match.Normalize()
	if err := r.Match.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMatch, err)
	}
	return validateNotMatch(r)
}

// validateNotMatch is validate without the checks of the match.
func validateNotMatch(r *flow.Rule) error {
	if int(r.Table) >= flow.MaxTables {
		return fmt.Errorf("table %d: %w (0..%d)", r.Table, ErrBadTable, flow.MaxTables-1)
	}
	in := &r.Instructions
	if in.HasGoto && in.GotoTable <= r.Table {
		return fmt.Errorf("table %d to %d: %w", r.Table, in.GotoTable, ErrBadGoto)
	}
	if in.HasGoto && int(in.GotoTable) >= flow.MaxTables {
		return fmt.Errorf("goto_table:%d: %w", in.GotoTable, ErrBadTable)
	}
	for _, list := range [][]flow.Action{in.Apply, in.Write} {
		// push_mpls and pop_mpls change the ethertype that the set_fields
		// after them see, as in Open vSwitch.
		m := r.Match
		for _, a := range list {
			if err := validateAction(a, &m); err != nil {
				return err
			}
			switch a := a.(type) {
			case flow.PushMPLS:
				m.Set(flow.FieldByID(flow.FieldEthType), flow.ValueOf(uint64(a.EthType)))
			case flow.PopMPLS:
				m.Set(flow.FieldByID(flow.FieldEthType), flow.ValueOf(uint64(a.EthType)))
			}
		}
	}
	return nil
}

func validateAction(a flow.Action, m *flow.Match) error {
	switch a := a.(type) {
	case flow.Output:
		if a.Port == flow.PortAny || a.Port == 0 || (a.Port > flow.PortMax && a.Port < flow.PortInPort) {
			return fmt.Errorf("output to port %d: %w", a.Port, ErrBadOutPort)
		}
	case flow.PushVLAN:
		if a.EthType != flow.EthTypeVLAN && a.EthType != flow.EthTypeQinQ {
			return fmt.Errorf("push_vlan ethertype %#04x (want 0x8100 or 0x88a8): %w", a.EthType, ErrBadArgument)
		}
	case flow.PushMPLS:
		if a.EthType != flow.EthTypeMPLS && a.EthType != flow.EthTypeMPLSM {
			return fmt.Errorf("push_mpls ethertype %#04x (want 0x8847 or 0x8848): %w", a.EthType, ErrBadArgument)
		}
	case flow.SetField:
		if int(a.Field) >= int(flow.NumFields) {
			return fmt.Errorf("set_field of field %d: %w", a.Field, ErrBadSetField)
		}
		f := flow.FieldByID(a.Field)
		if !f.Writable {
			return fmt.Errorf("set_field: field %s is not writable: %w", f.Name, ErrBadSetField)
		}
		// A set_field's prerequisites must be guaranteed by the match, except
		// for VLAN fields, which push a tag when there is none (as
		// ovs-ofctl's mod_vlan_vid does).
		if a.Field != flow.FieldVLANVID && a.Field != flow.FieldVLANPCP && a.Field != flow.FieldVLANTCI {
			if err := m.CheckPrereq(f); err != nil {
				return fmt.Errorf("set_field %s: %v: %w", f.Name, err, ErrMatchInconsistent)
			}
		}
	}
	return nil
}

// AddRule adds r to its table with OpenFlow 1.3 add semantics: a rule with
// the same match and priority is replaced (its counters carry over unless
// r has FlagResetCounts), and with
// FlagCheckOverlap an overlapping rule of the same priority is an error.
func (p *Pipeline) AddRule(r *flow.Rule) error {
	return p.AddRules([]*flow.Rule{r})
}

// AddRules adds rules as AddRule does; all of them become visible to
// translation at once. On error nothing is added.
func (p *Pipeline) AddRules(rules []*flow.Rule) error { return p.addRules(rules, true) }

// CheckRule checks r as AddRules does, except for what depends on the
// pipeline's state (the groups r names, overlaps with the rules of its
// table), and normalizes r.Match. A rule that passed may be added with
// AddCheckedRules.
func CheckRule(r *flow.Rule) error { return validate(r) }

// CheckDecodedRule is CheckRule for a rule whose match is known to be
// normalized and valid (flow.Match.Validate), as openflow.DecodeMatch
// returns it: it checks the rest of the rule, without checking the match
// a second time.
func CheckDecodedRule(r *flow.Rule) error { return validateNotMatch(r) }

// AddCheckedRules is AddRules for rules that passed CheckRule and have not
// changed since: it skips those checks. An OpenFlow bundle checks its flows
// as they arrive, so that its commit only inserts them.
func (p *Pipeline) AddCheckedRules(rules []*flow.Rule) error { return p.addRules(rules, false) }

func (p *Pipeline) addRules(rules []*flow.Rule, check bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(rules) == 0 {
		return nil
	}
	// One pass over the rules before the insert (a bundle's 100,000 rules
	// are as many cache misses each time): check them, stamp them, note
	// the timed ones and whether they all go to one table.
	now := p.now()
	var timed []*flow.Rule
	oneTable := true
	for _, r := range rules {
		if check {
			if err := validate(r); err != nil {
				return err
			}
		}
		if err := p.checkGroupRefs(r); err != nil {
			return err
		}
		if r.Flags&flow.FlagCheckOverlap != 0 {
			if c := p.table(r.Table); c != nil && p.overlaps(c, r) {
				return fmt.Errorf("priority %d in table %d: %w", r.Priority, r.Table, ErrOverlap)
			}
		}
		r.Stats.Created = now
		if r.IdleTimeout != 0 || r.HardTimeout != 0 {
			timed = append(timed, r)
		}
		oneTable = oneTable && r.Table == rules[0].Table
	}
	var gone []*flow.Rule
	// A rule with the match and priority of one in its table (or earlier
	// in rules) replaces it and, as OpenFlow 1.3 says, inherits its
	// counters unless it asks for them to be reset.
	replaced := func(old, r *flow.Rule) {
		if r.Flags&flow.FlagResetCounts == 0 {
			r.Stats.Packets.Store(old.Stats.Packets.Load())
			r.Stats.Bytes.Store(old.Stats.Bytes.Load())
			r.Stats.SetUsed(old.Stats.Used())
		}
		gone = append(gone, old)
	}
	batches := [][]*flow.Rule{rules}
	if !oneTable {
		batches = byTable(rules)
	}
	var err error
	applied := [flow.MaxTables]bool{}
	for _, batch := range batches {
		// Upsert fails only for a rule already in its table, before it
		// changes that table; the tables before it stay changed.
		if err = p.tableForWrite(batch[0].Table).Upsert(batch, replaced); err != nil {
			break
		}
		applied[batch[0].Table] = true
	}
	for _, r := range timed {
		if applied[r.Table] {
			p.timed[r] = struct{}{}
		}
	}
	if err != nil {
		return err
	}
	for _, r := range gone {
		delete(p.timed, r)
	}
	p.gen.Add(1)
	return nil
}

// byTable splits rules by table, keeping their order within each.
func byTable(rules []*flow.Rule) [][]*flow.Rule {
	var out [][]*flow.Rule
	at := map[uint8]int{}
	for _, r := range rules {
		i, ok := at[r.Table]
		if !ok {
			i = len(out)
			at[r.Table] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

// overlaps reports whether some rule of r's priority in c could match a
// packet r matches.
func (p *Pipeline) overlaps(c *classifier.Classifier, r *flow.Rule) bool {
	found := false
	c.Rules(func(o *flow.Rule) bool {
		if o.Priority != r.Priority {
			return true
		}
		common := o.Match.Mask
		common.And(&r.Match.Mask)
		if o.Match.Key.EqualMasked(&r.Match.Key, &common) {
			found = true
			return false
		}
		return true
	})
	return found
}

// Filter selects rules for modify, delete and dump, as an OpenFlow
// flow_mod or flow-stats request does.
type Filter struct {
	Table      uint8 // flow.TableAll for every table
	Match      flow.Match
	Strict     bool   // match and priority must be identical
	Priority   uint16 // with Strict
	Cookie     uint64
	CookieMask uint64
	OutPort    uint32 // flow.PortAny for no constraint
	OutGroup   uint32 // flow.GroupAny for no constraint (0 is also none)
}

// FilterAll selects every rule.
func FilterAll() Filter {
	return Filter{Table: flow.TableAll, OutPort: flow.PortAny, OutGroup: flow.GroupAny}
}

func (f *Filter) selects(r *flow.Rule) bool {
	if f.Table != flow.TableAll && f.Table != r.Table {
		return false
	}
	if (r.Cookie^f.Cookie)&f.CookieMask != 0 {
		return false
	}
	if f.Strict {
		if r.Priority != f.Priority || r.Match != f.Match {
			return false
		}
	} else {
		// Loose: r must be at least as specific as the filter.
		if !r.Match.Mask.Covers(&f.Match.Mask) || !r.Match.Key.EqualMasked(&f.Match.Key, &f.Match.Mask) {
			return false
		}
	}
	if f.OutPort != flow.PortAny && !outputsTo(&r.Instructions, f.OutPort) {
		return false
	}
	if f.OutGroup != flow.GroupAny && f.OutGroup != 0 && !usesGroup(&r.Instructions, f.OutGroup) {
		return false
	}
	return true
}

// usesGroup reports whether in sends packets to group id.
func usesGroup(in *flow.Instructions, id uint32) bool {
	for _, list := range [][]flow.Action{in.Apply, in.Write} {
		for _, a := range list {
			if g, ok := a.(flow.Group); ok && g.ID == id {
				return true
			}
		}
	}
	return false
}

func outputsTo(in *flow.Instructions, port uint32) bool {
	for _, list := range [][]flow.Action{in.Apply, in.Write} {
		for _, a := range list {
			if o, ok := a.(flow.Output); ok && o.Port == port {
				return true
			}
		}
	}
	return false
}

// Rules returns the rules f selects, ordered by table, then priority
// (highest first).
func (p *Pipeline) Rules(f Filter) []*flow.Rule {
	var out []*flow.Rule
	for id := 0; id < flow.MaxTables; id++ {
		if f.Table != flow.TableAll && int(f.Table) != id {
			continue
		}
		c := p.table(uint8(id))
		if c == nil {
			continue
		}
		start := len(out)
		c.Rules(func(r *flow.Rule) bool {
			if f.selects(r) {
				out = append(out, r)
			}
			return true
		})
		seg := out[start:]
		sort.SliceStable(seg, func(i, j int) bool {
			if seg[i].Priority != seg[j].Priority {
				return seg[i].Priority > seg[j].Priority
			}
			return seg[i].Stats.Created.Before(seg[j].Stats.Created)
		})
	}
	return out
}

// ModifyRules replaces the instructions of the rules f selects, keeping
// their counters unless resetCounts. It returns how many it changed (none
// is not an error, as OpenFlow 1.3 says).
func (p *Pipeline) ModifyRules(f Filter, ins flow.Instructions, resetCounts bool) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var adds []*flow.Rule
	var olds []*flow.Rule
	for _, old := range p.Rules(f) {
		r := &flow.Rule{Table: old.Table, Priority: old.Priority, Match: old.Match, Cookie: old.Cookie,
			IdleTimeout: old.IdleTimeout, HardTimeout: old.HardTimeout, Flags: old.Flags, Instructions: ins}
		if err := validate(r); err != nil {
			return 0, err
		}
		if err := p.checkGroupRefs(r); err != nil {
			return 0, err
		}
		r.Stats.Created = old.Stats.Created
		if !resetCounts {
			r.Stats.Packets.Store(old.Stats.Packets.Load())
			r.Stats.Bytes.Store(old.Stats.Bytes.Load())
			r.Stats.SetUsed(old.Stats.Used())
		}
		adds = append(adds, r)
		olds = append(olds, old)
	}
	for i, r := range adds {
		p.tables[r.Table].Load().Apply([]*flow.Rule{r}, []*flow.Rule{olds[i]})
		if _, ok := p.timed[olds[i]]; ok {
			delete(p.timed, olds[i])
			p.timed[r] = struct{}{}
		}
	}
	if len(adds) > 0 {
		p.gen.Add(1)
	}
	return len(adds), nil
}

// DeleteRuleList removes the given rules (those still in their tables)
// and returns them.
func (p *Pipeline) DeleteRuleList(rules []*flow.Rule) []*flow.Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	var present []*flow.Rule
	for _, r := range rules {
		if c := p.table(r.Table); c != nil && c.Find(&r.Match, r.Priority) == r {
			present = append(present, r)
		}
	}
	return p.deleteLocked(present)
}

// DeleteRules removes the rules f selects and returns them.
func (p *Pipeline) DeleteRules(f Filter) []*flow.Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deleteLocked(p.Rules(f))
}

func (p *Pipeline) deleteLocked(rules []*flow.Rule) []*flow.Rule {
	per := map[uint8][]*flow.Rule{}
	for _, r := range rules {
		per[r.Table] = append(per[r.Table], r)
		delete(p.timed, r)
	}
	for id, rem := range per {
		p.tables[id].Load().Apply(nil, rem)
	}
	if len(rules) > 0 {
		p.gen.Add(1)
	}
	return rules
}

// Expired is a rule removed by Expire and why.
type Expired struct {
	Rule   *flow.Rule
	Reason string // "idle" or "hard"
}

// Expire removes rules whose idle or hard timeout has passed at now. Rule
// counters must be up to date (the caller pushes cache statistics first),
// since idle timeouts depend on when a rule last saw a packet.
func (p *Pipeline) Expire(now time.Time) []Expired {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Expired
	var rules []*flow.Rule
	for r := range p.timed {
		if reason, ok := r.Expired(now); ok {
			out = append(out, Expired{r, reason})
			rules = append(rules, r)
		}
	}
	p.deleteLocked(rules)
	return out
}

// TableStats are one table's counters.
type TableStats struct {
	ID      uint8
	Rules   int
	Lookups uint64 // slow-path lookups (cached packets are not looked up)
	Matched uint64
}

// TableStats returns the counters of every table that has rules or was
// looked up.
func (p *Pipeline) TableStats() []TableStats {
	var out []TableStats
	for id := 0; id < flow.MaxTables; id++ {
		c := p.table(uint8(id))
		n := 0
		if c != nil {
			n = c.Len()
		}
		l := p.lookups[id].Load()
		if n == 0 && l == 0 {
			continue
		}
		out = append(out, TableStats{ID: uint8(id), Rules: n, Lookups: l, Matched: p.matched[id].Load()})
	}
	return out
}

// Translations returns how many translations ran.
func (p *Pipeline) Translations() uint64 { return p.translations.Load() }
