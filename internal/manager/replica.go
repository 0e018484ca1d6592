package manager

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dvs-project/dvs/internal/resource"
)

// ErrOutOfSync is returned by Replica.Apply for a message that does not
// follow from the replica's revision. The agent should watch again from
// scratch (since=0).
var ErrOutOfSync = errors.New("watch message does not follow from the share the agent has")

// Replica is an agent's copy of its host's share, kept up to date from the
// watch stream's snapshots and deltas. It is not safe for concurrent use.
type Replica struct {
	host     string
	rev      int64
	address  string
	switches map[string]*resource.Switch
	pgs      map[string]*resource.PortGroup
	uplinks  map[string]*resource.Uplink
	ports    map[string]*resource.Port
	remote   map[string]replicaGroup
}

// replicaGroup is one port group's remote list as a Share has it: in
// host order, without the replica's own host. Shares handed out point to
// it, so it is replaced, never modified.
type replicaGroup []RemoteHost

// NewReplica returns an empty replica of host's share (revision 0).
func NewReplica(host string) *Replica {
	r := &Replica{host: host}
	r.clear()
	return r
}

func (r *Replica) clear() {
	r.address = ""
	r.switches = map[string]*resource.Switch{}
	r.pgs = map[string]*resource.PortGroup{}
	r.uplinks = map[string]*resource.Uplink{}
	r.ports = map[string]*resource.Port{}
	r.remote = map[string]replicaGroup{}
}

// Revision returns the revision of the share the replica holds.
func (r *Replica) Revision() int64 { return r.rev }

// Reset makes the replica hold sh at revision rev. The replica keeps
// pointers into sh, which must not be modified afterwards.
func (r *Replica) Reset(rev int64, sh *Share) {
	r.clear()
	r.rev = rev
	r.address = sh.Address
	upsert(r.switches, sh.Switches, nil)
	upsert(r.pgs, sh.PortGroups, nil)
	upsert(r.uplinks, sh.Uplinks, nil)
	upsert(r.ports, sh.Ports, nil)
	for _, g := range sh.Remote {
		r.remote[g.PortGroup] = r.update(nil, g.Hosts, nil)
	}
}

// update returns rg with the entries of set added or replaced and those
// of del removed, leaving out the replica's own host.
func (r *Replica) update(rg replicaGroup, set []RemoteHost, del []string) replicaGroup {
	byHost := func(a, b RemoteHost) int { return strings.Compare(a.Host, b.Host) }
	if len(set) == 0 && len(del) == 0 && rg != nil {
		return rg
	}
	if len(rg) == 0 && len(del) == 0 && slices.IsSortedFunc(set, byHost) {
		// A whole list, as snapshots and replacements carry it.
		self := func(e RemoteHost) bool { return e.Host == r.host }
		if slices.ContainsFunc(set, self) {
			set = slices.DeleteFunc(slices.Clone(set), self)
		}
		if set == nil {
			set = replicaGroup{}
		}
		return set
	}
	m := make(map[string]RemoteHost, len(rg)+len(set))
	for _, e := range rg {
		m[e.Host] = e
	}
	for _, e := range set {
		m[e.Host] = e
	}
	for _, h := range del {
		delete(m, h)
	}
	delete(m, r.host)
	out := make(replicaGroup, 0, len(m))
	for _, h := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[h])
	}
	return out
}

// Apply brings the replica to msg: a snapshot replaces it, a delta changes
// it and "current" confirms it; keepalives change nothing. It returns
// ErrOutOfSync (and leaves the replica as it was) if msg does not follow
// from the replica's revision.
func (r *Replica) Apply(msg *Message) error {
	switch msg.Type {
	case MsgSnapshot:
		if msg.Share == nil {
			return fmt.Errorf("%w: snapshot without a share", ErrOutOfSync)
		}
		r.Reset(msg.Revision, msg.Share)
	case MsgCurrent:
		if r.rev == 0 || r.rev < msg.Revision {
			return fmt.Errorf("%w: the manager says revision %d is current, the agent has %d", ErrOutOfSync, msg.Revision, r.rev)
		}
	case MsgDelta:
		if msg.Delta == nil || r.rev == 0 || r.rev < msg.Base || r.rev >= msg.Revision {
			return fmt.Errorf("%w: delta from %d to %d, the agent has %d", ErrOutOfSync, msg.Base, msg.Revision, r.rev)
		}
		r.apply(msg.Delta)
		r.rev = msg.Revision
	}
	return nil
}

func (r *Replica) apply(d *Delta) {
	r.address = d.Address
	upsert(r.switches, d.Switches, d.DelSwitches)
	upsert(r.pgs, d.PortGroups, d.DelPortGroups)
	upsert(r.uplinks, d.Uplinks, d.DelUplinks)
	upsert(r.ports, d.Ports, d.DelPorts)
	for _, pg := range d.DelRemote {
		delete(r.remote, pg)
	}
	for _, u := range d.Remote {
		rg := r.remote[u.PortGroup]
		if u.Replace {
			rg = nil
		}
		r.remote[u.PortGroup] = r.update(rg, u.Hosts, u.DelHosts)
	}
}

// upsert adds set to m (skipping null entries) and deletes del.
func upsert[T any, P interface {
	*T
	resource.Object
}](m map[string]P, set []P, del []string) {
	for _, o := range set {
		if o != nil {
			m[o.Head().Metadata.Name] = o
		}
	}
	for _, n := range del {
		delete(m, n)
	}
}

// Share returns the share the replica holds. It shares objects with the
// replica and with earlier and later results: treat it as read-only.
func (r *Replica) Share() *Share {
	sh := &Share{
		Host:       r.host,
		Address:    r.address,
		Switches:   sortedValues(r.switches),
		PortGroups: sortedValues(r.pgs),
		Uplinks:    sortedValues(r.uplinks),
		Ports:      sortedValues(r.ports),
		Remote:     make([]RemoteGroup, 0, len(r.remote)),
	}
	for _, pg := range slices.Sorted(maps.Keys(r.remote)) {
		g := RemoteGroup{PortGroup: pg, Hosts: r.remote[pg]}
		if p := r.pgs[pg]; p != nil {
			g.Switch, g.VNI = p.Spec.Switch, p.Status.VNI
		}
		sh.Remote = append(sh.Remote, g)
	}
	return sh
}

func sortedValues[T any](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}
