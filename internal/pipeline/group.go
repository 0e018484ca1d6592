package pipeline

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/flowtext"
)

// Groups are OpenFlow 1.3 groups. The table is an immutable map replaced
// on every change (under p.mu), so translation reads it without locking;
// every change bumps the generation. A group's counters live outside the
// map and survive a modify; its buckets' counters start from zero.
//
// Translation of a group action:
//
//   - all: every bucket, each on a copy of the flow as it was at the group
//     action (a bucket's rewrites reach neither the next bucket nor the
//     actions after the group; the datapath program undoes them with
//     further set actions where needed).
//   - select: one live bucket of non-zero weight, chosen by weighted
//     rendezvous hashing over the L2/L3/L4 addresses, so the same flow
//     always takes the same bucket and a bucket going down moves only its
//     own flows. The hashed fields join the megaflow mask.
//   - indirect: the single bucket.
//   - fast failover: the first live bucket.
//
// A bucket is live when its watch port (if any) is up and its watch group
// (if any) has a live bucket. Bucket actions run in list order.

// Errors returned by group changes. The OpenFlow glue maps them to the
// OFPET_GROUP_MOD_FAILED codes named beside them.
var (
	ErrGroupExists      = errors.New("group exists")                                    // GROUP_EXISTS
	ErrBadGroup         = errors.New("invalid group")                                   // INVALID_GROUP
	ErrUnknownGroup     = errors.New("no such group")                                   // UNKNOWN_GROUP
	ErrGroupLoop        = errors.New("group chaining loop")                             // LOOP
	ErrChainedGroup     = errors.New("another group forwards to or watches this group") // CHAINED_GROUP
	ErrBadGroupType     = errors.New("bad group type")                                  // BAD_TYPE
	ErrBadBucket        = errors.New("bad bucket")                                      // BAD_BUCKET
	ErrBadWatch         = errors.New("bad watch port or group")                         // BAD_WATCH
	ErrWatchUnsupported = errors.New("watch in a group type without liveness")          // WATCH_UNSUPPORTED
)

// ErrBadOutGroup is a group action (in a rule or a bucket) naming a group
// that does not exist: OFPET_BAD_ACTION/OFPBAC_BAD_OUT_GROUP. It is a kind
// of ErrUnknownGroup, so check for it first when mapping errors.
var ErrBadOutGroup = fmt.Errorf("%w: group action to a nonexistent group", ErrUnknownGroup)

// Counter counts packets and bytes. Groups and their buckets have one
// each; Result.Counters lists those a packet passed so that caches credit
// cached traffic to them as they credit Result.Rules.
type Counter struct {
	packets, bytes atomic.Uint64
}

// Add counts packets totalling bytes.
func (c *Counter) Add(packets, bytes uint64) {
	if packets == 0 {
		return
	}
	c.packets.Add(packets)
	c.bytes.Add(bytes)
}

// Load returns the counts.
func (c *Counter) Load() (packets, bytes uint64) { return c.packets.Load(), c.bytes.Load() }

// group is one group table entry; immutable but for its counters.
type group struct {
	spec    flow.GroupSpec
	created time.Time
	stats   *Counter  // kept across modifies
	buckets []Counter // one per bucket
}

type groupMap map[uint32]*group

func (p *Pipeline) groupTable() groupMap {
	if m := p.groups.Load(); m != nil {
		return *m
	}
	return nil
}

// storeGroups publishes m and bumps the generation. Callers hold p.mu.
func (p *Pipeline) storeGroups(m groupMap) {
	p.groups.Store(&m)
	p.gen.Add(1)
}

func (m groupMap) with(g *group) groupMap {
	next := make(groupMap, len(m)+1)
	for id, o := range m {
		next[id] = o
	}
	next[g.spec.ID] = g
	return next
}

// AddGroup adds group g (OFPGC_ADD).
func (p *Pipeline) AddGroup(g flow.GroupSpec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.groupTable()
	if g.ID > flow.GroupMax {
		return fmt.Errorf("adding group %d: id above %d: %w", g.ID, flow.GroupMax, ErrBadGroup)
	}
	if old[g.ID] != nil {
		return fmt.Errorf("adding group %d: %w", g.ID, ErrGroupExists)
	}
	ng := &group{spec: g.Clone(), created: p.now(), stats: new(Counter), buckets: make([]Counter, len(g.Buckets))}
	next := old.with(ng)
	if err := checkGroup(&ng.spec, next); err != nil {
		return fmt.Errorf("adding group %d: %w", g.ID, err)
	}
	p.storeGroups(next)
	return nil
}

// ModifyGroup replaces the type and buckets of group g.ID (OFPGC_MODIFY).
// The group keeps its counters and creation time; rules that use it stay.
func (p *Pipeline) ModifyGroup(g flow.GroupSpec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.groupTable()
	prev := old[g.ID]
	if prev == nil {
		return fmt.Errorf("modifying group %d: %w", g.ID, ErrUnknownGroup)
	}
	ng := &group{spec: g.Clone(), created: prev.created, stats: prev.stats, buckets: make([]Counter, len(g.Buckets))}
	next := old.with(ng)
	if err := checkGroup(&ng.spec, next); err != nil {
		return fmt.Errorf("modifying group %d: %w", g.ID, err)
	}
	p.storeGroups(next)
	return nil
}

// DeleteGroup removes group id, or every group for flow.GroupIDAll (or
// flow.GroupAny), with the rules that use them (in apply or write
// actions), and returns those rules so the caller can report them removed
// (OFPRR_GROUP_DELETE). Deleting a missing group is not an error; deleting
// a group another group forwards to or watches is ErrChainedGroup.
func (p *Pipeline) DeleteGroup(id uint32) (removed []*flow.Rule, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.groupTable()
	next := groupMap{}
	if id != flow.GroupIDAll && id != flow.GroupAny {
		if old[id] == nil {
			return nil, nil
		}
		for oid, o := range old {
			if oid != id && refersTo(&o.spec, id) {
				return nil, fmt.Errorf("deleting group %d: group %d: %w", id, oid, ErrChainedGroup)
			}
		}
		for oid, o := range old {
			if oid != id {
				next[oid] = o
			}
		}
	}
	var rules []*flow.Rule
	for _, r := range p.Rules(FilterAll()) {
		if ruleUsesGroup(r, func(g uint32) bool { return old[g] != nil && next[g] == nil }) {
			rules = append(rules, r)
		}
	}
	p.deleteLocked(rules)
	p.storeGroups(next)
	return rules, nil
}

// refersTo reports whether g forwards to or watches group id.
func refersTo(g *flow.GroupSpec, id uint32) bool {
	for i := range g.Buckets {
		b := &g.Buckets[i]
		if b.WatchGroup == id {
			return true
		}
		for _, a := range b.Actions {
			if ga, ok := a.(flow.Group); ok && ga.ID == id {
				return true
			}
		}
	}
	return false
}

func ruleUsesGroup(r *flow.Rule, match func(uint32) bool) bool {
	for _, list := range [][]flow.Action{r.Instructions.Apply, r.Instructions.Write} {
		for _, a := range list {
			if g, ok := a.(flow.Group); ok && match(g.ID) {
				return true
			}
		}
	}
	return false
}

// checkGroupRefs checks that every group action of r names an existing
// group. Callers hold p.mu.
func (p *Pipeline) checkGroupRefs(r *flow.Rule) error {
	m := p.groupTable()
	for _, list := range [][]flow.Action{r.Instructions.Apply, r.Instructions.Write} {
		for _, a := range list {
			if g, ok := a.(flow.Group); ok && m[g.ID] == nil {
				return fmt.Errorf("group:%d: %w", g.ID, ErrBadOutGroup)
			}
		}
	}
	return nil
}

// checkGroup validates g against the group table m, which already holds g.
func checkGroup(g *flow.GroupSpec, m groupMap) error {
	switch g.Type {
	case flow.GroupAll, flow.GroupSelect, flow.GroupIndirect, flow.GroupFastFailover:
	default:
		return fmt.Errorf("type %d: %w", g.Type, ErrBadGroupType)
	}
	if g.Type == flow.GroupIndirect && len(g.Buckets) != 1 {
		return fmt.Errorf("indirect group with %d buckets (want 1): %w", len(g.Buckets), ErrBadGroup)
	}
	for i := range g.Buckets {
		b := &g.Buckets[i]
		if b.Weight != 0 && g.Type != flow.GroupSelect {
			return fmt.Errorf("bucket %d: weight in a %s group: %w", i, g.Type, ErrBadGroup)
		}
		switch {
		case b.HasWatch() && (g.Type == flow.GroupAll || g.Type == flow.GroupIndirect):
			return fmt.Errorf("bucket %d: watch in a %s group: %w", i, g.Type, ErrWatchUnsupported)
		case !b.HasWatch() && g.Type == flow.GroupFastFailover:
			return fmt.Errorf("bucket %d: fast-failover bucket without watch port or group: %w", i, ErrBadWatch)
		case b.WatchPort == 0 || (b.WatchPort > flow.PortMax && b.WatchPort != flow.PortAny):
			return fmt.Errorf("bucket %d: watch port %#x: %w", i, b.WatchPort, ErrBadWatch)
		case b.WatchGroup == g.ID:
			return fmt.Errorf("bucket %d: watches its own group: %w", i, ErrGroupLoop)
		case b.WatchGroup != flow.GroupAny && m[b.WatchGroup] == nil:
			return fmt.Errorf("bucket %d: watch group %d does not exist: %w", i, b.WatchGroup, ErrBadWatch)
		}
		for _, a := range b.Actions {
			if err := validateBucketAction(a); err != nil {
				return fmt.Errorf("bucket %d: %w", i, err)
			}
			ga, ok := a.(flow.Group)
			if !ok {
				continue
			}
			if ga.ID == g.ID {
				return fmt.Errorf("bucket %d: group:%d is its own group: %w", i, ga.ID, ErrGroupLoop)
			}
			if m[ga.ID] == nil {
				return fmt.Errorf("bucket %d: group:%d: %w", i, ga.ID, ErrBadOutGroup)
			}
		}
	}
	// The table was loop-free before g changed, so a new loop passes
	// through g.
	if reaches(m, g.ID, g.ID, map[uint32]bool{}) {
		return fmt.Errorf("group %d reaches itself: %w", g.ID, ErrGroupLoop)
	}
	return nil
}

// reaches reports whether group from forwards to or watches target,
// directly or through other groups.
func reaches(m groupMap, from, target uint32, seen map[uint32]bool) bool {
	g := m[from]
	if g == nil || seen[from] {
		return false
	}
	seen[from] = true
	for i := range g.spec.Buckets {
		b := &g.spec.Buckets[i]
		next := []uint32{}
		if b.WatchGroup != flow.GroupAny {
			next = append(next, b.WatchGroup)
		}
		for _, a := range b.Actions {
			if ga, ok := a.(flow.Group); ok {
				next = append(next, ga.ID)
			}
		}
		for _, n := range next {
			if n == target || reaches(m, n, target, seen) {
				return true
			}
		}
	}
	return false
}

// validateBucketAction checks a bucket's action as validateAction checks a
// rule's, except that a set_field's prerequisites are checked against the
// packet when the bucket runs: a bucket has no match to guarantee them.
func validateBucketAction(a flow.Action) error {
	if sf, ok := a.(flow.SetField); ok {
		if int(sf.Field) >= int(flow.NumFields) || !flow.FieldByID(sf.Field).Writable {
			return fmt.Errorf("set_field of field %d: %w", sf.Field, ErrBadSetField)
		}
		return nil
	}
	return validateAction(a, &flow.Match{})
}

// GroupInfo is a group's configuration and counters.
type GroupInfo struct {
	flow.GroupSpec
	Created  time.Time
	Duration time.Duration // since Created, by the pipeline clock
	// RefCount is how many rules and other groups forward to the group.
	RefCount       uint32
	Packets, Bytes uint64
	BucketStats    []BucketStats // one per bucket
}

// BucketStats are one bucket's counters.
type BucketStats struct{ Packets, Bytes uint64 }

// Groups returns every group, by id. Counters are as up to date as the
// caches' last statistics push.
func (p *Pipeline) Groups() []GroupInfo {
	m := p.groupTable()
	refs := map[uint32]uint32{}
	for _, r := range p.Rules(FilterAll()) {
		for id := range m {
			if ruleUsesGroup(r, func(g uint32) bool { return g == id }) {
				refs[id]++
			}
		}
	}
	for _, g := range m {
		for id := range m {
			if id != g.spec.ID && forwardsTo(&g.spec, id) {
				refs[id]++
			}
		}
	}
	now := p.now()
	out := make([]GroupInfo, 0, len(m))
	for id, g := range m {
		gi := GroupInfo{GroupSpec: g.spec, Created: g.created, Duration: now.Sub(g.created), RefCount: refs[id]}
		gi.Packets, gi.Bytes = g.stats.Load()
		gi.BucketStats = make([]BucketStats, len(g.buckets))
		for i := range g.buckets {
			gi.BucketStats[i].Packets, gi.BucketStats[i].Bytes = g.buckets[i].Load()
		}
		out = append(out, gi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// forwardsTo reports whether a bucket of g has a group action to id.
func forwardsTo(g *flow.GroupSpec, id uint32) bool {
	for i := range g.Buckets {
		for _, a := range g.Buckets[i].Actions {
			if ga, ok := a.(flow.Group); ok && ga.ID == id {
				return true
			}
		}
	}
	return false
}

// Translation.

// group runs group action id.
func (x *xlate) group(id uint32) {
	g := x.p.groupTable()[id]
	if g == nil {
		// Deleted after the rule was translated against it: the rule goes
		// with it, but a packet-out or a racing translation can see this.
		x.drop(action.DropNoOutput, "group:%d: no such group", id)
		return
	}
	if x.depth >= maxDepth {
		x.drop(action.DropLoop, "group:%d: groups nested more than %d deep", id, maxDepth)
		return
	}
	x.res.Counters = append(x.res.Counters, g.stats)
	buckets := g.spec.Buckets
	x.trace("group:%d (%s, %d buckets)", id, g.spec.Type, len(buckets))
	switch g.spec.Type {
	case flow.GroupAll:
		for i := range buckets {
			x.runBucket(g, i)
		}
	case flow.GroupIndirect:
		x.runBucket(g, 0)
	case flow.GroupSelect:
		if i := x.selectBucket(g); i >= 0 {
			x.runBucket(g, i)
		} else {
			x.drop(action.DropPortDown, "group:%d: no live bucket with a non-zero weight", id)
		}
	case flow.GroupFastFailover:
		for i := range buckets {
			if x.bucketLive(&buckets[i], x.depth) {
				x.runBucket(g, i)
				return
			}
			if x.tr != nil {
				x.trace("bucket %d is not live (%s)", i, x.watchText(&buckets[i]))
			}
		}
		x.drop(action.DropPortDown, "group:%d: no live bucket", id)
	}
}

// runBucket runs bucket i of g on a copy of the current flow. What the
// bucket emitted stays committed: the next output commits the difference
// back.
func (x *xlate) runBucket(g *group, i int) {
	b := &g.spec.Buckets[i]
	x.res.Counters = append(x.res.Counters, &g.buckets[i])
	saved := x.flow
	x.depth++
	if x.tr != nil {
		x.trace("bucket %d: actions=%s", i, flowtext.FormatActions(&flow.Instructions{Apply: b.Actions}))
	}
	x.depth++ // the bucket's actions indent under it
	for _, a := range b.Actions {
		if x.stop {
			break
		}
		if sf, ok := a.(flow.SetField); ok && !x.prereqsMet(flow.FieldByID(sf.Field)) {
			x.trace("set_field:%s skipped: the packet lacks its prerequisites", flow.FieldByID(sf.Field).Name)
			continue
		}
		x.doAction(a)
	}
	x.depth -= 2
	// A failure inside a bucket (dec_ttl reaching zero) ends that bucket
	// only, as if it ran on its own copy of the packet.
	x.stop = false
	x.flow = saved
}

// prereqsMet reports whether the current flow satisfies f's
// prerequisites, adding the bits it examined to the megaflow mask. VLAN
// fields need none: setting them pushes a tag.
func (x *xlate) prereqsMet(f *flow.Field) bool {
	switch f.ID {
	case flow.FieldVLANVID, flow.FieldVLANPCP, flow.FieldVLANTCI:
		return true
	}
	pr := &f.Prereq
	if len(pr.EthTypes) > 0 && !contains(pr.EthTypes, x.flow.EthType) {
		return false // EthType is always in the mask
	}
	if len(pr.Protos) > 0 {
		x.wc.NwProto = 0xff
		if !contains(pr.Protos, x.flow.NwProto) {
			return false
		}
	}
	if len(pr.ICMPv6Type) > 0 {
		x.wc.TpSrc = 0xffff
		if !contains(pr.ICMPv6Type, uint8(x.flow.TpSrc)) || x.flow.TpSrc > 0xff {
			return false
		}
	}
	if pr.VLAN {
		x.wc.VLANs[0].TCI |= flow.TCIPresent
		if x.flow.VLANs[0].TCI == 0 {
			return false
		}
	}
	return true
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// bucketLive reports whether b's watch port is up and its watch group has
// a live bucket. Liveness depends on port state, not on the packet: port
// changes bump the generation.
func (x *xlate) bucketLive(b *flow.Bucket, depth int) bool {
	if b.WatchPort != flow.PortAny {
		if q := x.ports.get(b.WatchPort); q == nil || !q.Up {
			return false
		}
	}
	if b.WatchGroup != flow.GroupAny {
		return x.groupLive(x.p.groupTable()[b.WatchGroup], depth+1)
	}
	return true
}

func (x *xlate) groupLive(g *group, depth int) bool {
	if g == nil || depth >= maxDepth {
		return false
	}
	for i := range g.spec.Buckets {
		if x.bucketLive(&g.spec.Buckets[i], depth) {
			return true
		}
	}
	return false
}

func (x *xlate) watchText(b *flow.Bucket) string {
	s := ""
	if b.WatchPort != flow.PortAny {
		state := "down"
		if q := x.ports.get(b.WatchPort); q == nil {
			state = "missing"
		} else if q.Up {
			state = "up"
		}
		s = fmt.Sprintf("watch port %d %s", b.WatchPort, state)
	}
	if b.WatchGroup != flow.GroupAny {
		if s != "" {
			s += ", "
		}
		state := "dead"
		if x.groupLive(x.p.groupTable()[b.WatchGroup], x.depth+1) {
			state = "live"
		}
		s += fmt.Sprintf("watch group %d %s", b.WatchGroup, state)
	}
	return s
}

// selectBucket picks a select group's bucket for the current flow by
// weighted rendezvous hashing: every live bucket of non-zero weight w gets
// the score w / -ln(u), u uniform in (0,1) from a hash of the flow and the
// bucket's index, and the highest score wins. Each bucket wins the share
// of flows its weight gives it, and a bucket going down moves only the
// flows it carried. It returns -1 if no bucket qualifies.
func (x *xlate) selectBucket(g *group) int {
	h := x.selectHash()
	best, bestScore := -1, 0.0
	for i := range g.spec.Buckets {
		b := &g.spec.Buckets[i]
		if b.Weight == 0 {
			continue
		}
		if !x.bucketLive(b, x.depth) {
			if x.tr != nil {
				x.trace("bucket %d is not live (%s)", i, x.watchText(b))
			}
			continue
		}
		u := (float64(mix64(h^uint64(i+1)*0x9e3779b97f4a7c15)>>11) + 0.5) / (1 << 53)
		score := float64(b.Weight) / -math.Log(u)
		if best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	if best >= 0 {
		x.trace("selected bucket %d (hash 0x%016x)", best, h)
	}
	return best
}

// Select hashing covers the Ethernet addresses and type, the IP addresses
// and protocol, and the TCP/UDP/SCTP ports, as far as the packet has them.
var (
	hashL2        = selectMask()
	hashIPv4      = selectMask(flow.FieldIPv4Src, flow.FieldIPv4Dst, flow.FieldIPProto)
	hashIPv4Ports = selectMask(flow.FieldIPv4Src, flow.FieldIPv4Dst, flow.FieldIPProto, flow.FieldTpSrc, flow.FieldTpDst)
	hashIPv6      = selectMask(flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPProto)
	hashARP       = selectMask(flow.FieldARPSPA, flow.FieldARPTPA)
	hashIPv6Ports = selectMask(flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPProto, flow.FieldTpSrc, flow.FieldTpDst)
)

type hashFields struct {
	mask flow.Mask
	h    flow.MaskedHasher
}

func selectMask(ids ...flow.FieldID) *hashFields {
	var k flow.Key
	for _, id := range append([]flow.FieldID{flow.FieldEthSrc, flow.FieldEthDst, flow.FieldEthType}, ids...) {
		f := flow.FieldByID(id)
		f.Set(&k, f.Ones())
	}
	hf := &hashFields{mask: flow.Mask(k)}
	hf.h = flow.NewMaskedHasher(&hf.mask)
	return hf
}

// selectHash hashes the current flow's select fields and adds them to the
// megaflow mask.
func (x *xlate) selectHash() uint64 {
	var hf *hashFields
	switch {
	case x.flow.EthType == flow.EthTypeIPv4 && hasPorts(&x.flow):
		hf = hashIPv4Ports
	case x.flow.EthType == flow.EthTypeIPv4:
		hf = hashIPv4
	case x.flow.EthType == flow.EthTypeIPv6 && hasPorts(&x.flow):
		hf = hashIPv6Ports
	case x.flow.EthType == flow.EthTypeIPv6:
		hf = hashIPv6
	case x.flow.EthType == flow.EthTypeARP:
		hf = hashARP // the addresses ARP is about, as for IP
	default:
		hf = hashL2
	}
	if hf != hashL2 && hf != hashARP {
		x.wc.NwProto = 0xff // hasPorts looked at it
	}
	x.wc.Or(&hf.mask)
	return hf.h.Hash(&x.flow)
}

// mix64 is a 64-bit finalizer (splitmix64's).
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
