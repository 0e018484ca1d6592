package flow

import "fmt"

// GroupType is an OpenFlow 1.3 group type (ofp_group_type).
type GroupType uint8

const (
	GroupAll          GroupType = 0 // every bucket
	GroupSelect       GroupType = 1 // one bucket, chosen by a hash over the flow
	GroupIndirect     GroupType = 2 // the single bucket
	GroupFastFailover GroupType = 3 // the first live bucket
)

// Group ids.
const (
	GroupMax uint32 = 0xffffff00 // highest group id
	// GroupIDAll (OFPG_ALL) names every group in group deletes and group
	// stats requests.
	GroupIDAll uint32 = 0xfffffffc
	// GroupAny (OFPG_ANY) is "no group": a bucket's unset watch group, a
	// flow-stats request's unrestricted out_group.
	GroupAny uint32 = 0xffffffff
)

func (t GroupType) String() string {
	switch t {
	case GroupAll:
		return "all"
	case GroupSelect:
		return "select"
	case GroupIndirect:
		return "indirect"
	case GroupFastFailover:
		return "fast_failover"
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// HasWatch reports whether the bucket has a watch port or watch group.
func (b *Bucket) HasWatch() bool { return b.WatchPort != PortAny || b.WatchGroup != GroupAny }

// Bucket is one bucket of a group.
type Bucket struct {
	Weight     uint16 // select groups: share of the hash space
	WatchPort  uint32 // fast-failover: the bucket is live while this port is up (PortAny = none)
	WatchGroup uint32 // fast-failover: ... and while this group has a live bucket (GroupAny = none)
	Actions    []Action
}

// GroupSpec is a group's configuration, as a group_mod carries it.
type GroupSpec struct {
	ID      uint32
	Type    GroupType
	Buckets []Bucket
}

// Clone returns a copy of g that shares nothing with it but the actions
// themselves (which are values).
func (g *GroupSpec) Clone() GroupSpec {
	c := *g
	c.Buckets = make([]Bucket, len(g.Buckets))
	for i, b := range g.Buckets {
		b.Actions = append([]Action(nil), b.Actions...)
		c.Buckets[i] = b
	}
	return c
}
