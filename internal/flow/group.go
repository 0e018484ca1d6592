package flow

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
	GroupAny uint32 = 0xffffffff // "all groups" in deletes and requests
)

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
