package manager

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dvs-project/dvs/internal/resource"
)

// Delta is what changed in a host's share between two revisions. Objects
// in the upsert lists replace (or add) the one of the same name; Del*
// name the ones that left the share. Address is always the host's VTEP.
type Delta struct {
	Address       string                `json:"address"`
	Switches      []*resource.Switch    `json:"switches,omitempty"`
	DelSwitches   []string              `json:"delSwitches,omitempty"`
	PortGroups    []*resource.PortGroup `json:"portGroups,omitempty"`
	DelPortGroups []string              `json:"delPortGroups,omitempty"`
	Uplinks       []*resource.Uplink    `json:"uplinks,omitempty"`
	DelUplinks    []string              `json:"delUplinks,omitempty"`
	Ports         []*resource.Port      `json:"ports,omitempty"`
	DelPorts      []string              `json:"delPorts,omitempty"`
	Remote        []RemoteUpdate        `json:"remote,omitempty"`
	DelRemote     []string              `json:"delRemote,omitempty"` // remote lists gone
}

// RemoteUpdate changes one port group's remote list. With Replace, Hosts
// is the whole list (the group is new to the host); otherwise Hosts
// replace or add entries by host and DelHosts remove entries. Entries are
// the same for every host carrying the group, so they may include the
// receiving host itself, which the agent leaves out of its share.
type RemoteUpdate struct {
	PortGroup string       `json:"portGroup"`
	Replace   bool         `json:"replace,omitempty"`
	Hosts     []RemoteHost `json:"hosts,omitempty"`
	DelHosts  []string     `json:"delHosts,omitempty"`
}

// kindRemote names remote-list entries in itemKey: name is the port group
// and host the host of the entry.
const kindRemote resource.Kind = "remote"

// itemKey names one piece of a share that a delta can carry on its own:
// a switch, port group, uplink or port, or one remote-list entry.
type itemKey struct {
	kind resource.Kind
	name string
	host string
}

// encodeItem returns the JSON of item k as shares carry it in ix, or nil
// if ix has no such item.
func (ix *index) encodeItem(k itemKey) []byte {
	s := ix.st
	switch k.kind {
	case resource.KindSwitch:
		if sw := s.switches[k.name]; sw != nil {
			return mustJSON(sharedSwitch(sw))
		}
	case resource.KindPortGroup:
		if pg := s.pgs[k.name]; pg != nil {
			return mustJSON(sharedPortGroup(pg))
		}
	case resource.KindUplink:
		if u := s.uplinks[k.name]; u != nil {
			return mustJSON(u)
		}
	case resource.KindPort:
		if p := s.ports[k.name]; p != nil && p.Spec.Host != "" {
			return mustJSON(ix.sharedPort(p))
		}
	case kindRemote:
		if e, ok := ix.remoteEntry(k.name, k.host); ok {
			return mustJSON(e)
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("manager: encoding a share: %v", err))
	}
	return b
}

// changes is one commit seen as changed share pieces: it encodes every
// piece once, however many hosts receive it. It is used by one goroutine.
type changes struct {
	o, n *index
	// items holds the pieces that differ between o and n: their JSON in
	// n, nil for the ones gone.
	items map[itemKey][]byte
	// remote holds, per port group, its changed remote-list entries.
	remote map[string]*remoteChange
	enc    map[itemKey][]byte // JSON in n of unchanged pieces, memo
	full   map[string][]byte  // JSON in n of whole remote lists, memo
}

type remoteChange struct {
	set []byte // JSON entries, comma-separated
	del []string
}

// newChanges finds the pieces the changes to refs may have changed (like
// affected, it may look at too many) and keeps the ones that did.
func newChanges(o, n *index, refs []resource.Ref) *changes {
	c := &changes{o: o, n: n, items: map[itemKey][]byte{}, remote: map[string]*remoteChange{},
		enc: map[itemKey][]byte{}, full: map[string][]byte{}}
	cand := map[itemKey]bool{}
	for _, ix := range []*index{o, n} {
		s := ix.st
		for _, r := range refs {
			switch r.Kind {
			case resource.KindSwitch, resource.KindUplink:
				cand[itemKey{kind: r.Kind, name: r.Name}] = true
			case resource.KindPortGroup:
				cand[itemKey{kind: r.Kind, name: r.Name}] = true
				for _, p := range ix.portsByPG[r.Name] { // they carry the group's switch
					cand[itemKey{kind: resource.KindPort, name: p.Metadata.Name}] = true
				}
			case resource.KindHost:
				for _, pg := range ix.pgsByHost[r.Name] { // they carry the host's VTEP
					cand[itemKey{kind: kindRemote, name: pg, host: r.Name}] = true
				}
			case resource.KindPort:
				cand[itemKey{kind: r.Kind, name: r.Name}] = true
				if p := s.ports[r.Name]; p != nil && p.Spec.Host != "" {
					cand[itemKey{kind: kindRemote, name: p.Spec.PortGroup, host: p.Spec.Host}] = true
				}
			}
		}
	}
	byGroup := map[string][]itemKey{}
	for k := range cand {
		before, after := o.encodeItem(k), n.encodeItem(k)
		if bytes.Equal(before, after) {
			continue
		}
		c.items[k] = after
		if k.kind == kindRemote {
			byGroup[k.name] = append(byGroup[k.name], k)
		}
	}
	for pg, ks := range byGroup {
		slices.SortFunc(ks, func(a, b itemKey) int { return strings.Compare(a.host, b.host) })
		rc := &remoteChange{}
		for _, k := range ks {
			if e := c.items[k]; e != nil {
				if len(rc.set) > 0 {
					rc.set = append(rc.set, ',')
				}
				rc.set = append(rc.set, e...)
			} else {
				rc.del = append(rc.del, k.host)
			}
		}
		c.remote[pg] = rc
	}
	return c
}

// item returns the JSON of k in n.
func (c *changes) item(k itemKey) []byte {
	if e, ok := c.items[k]; ok {
		return e
	}
	e, ok := c.enc[k]
	if !ok {
		e = c.n.encodeItem(k)
		c.enc[k] = e
	}
	return e
}

// fullList returns the JSON entries (comma-separated) of pg's whole remote
// list in n.
func (c *changes) fullList(pg string) []byte {
	if b, ok := c.full[pg]; ok {
		return b
	}
	var b []byte
	for _, h := range c.n.hostsByPG[pg] {
		if e := c.item(itemKey{kind: kindRemote, name: pg, host: h}); e != nil {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, e...)
		}
	}
	c.full[pg] = b
	return b
}

// delta returns host h's delta message from base (the revision its share
// last changed at) to rev, or nil if h's share did not change.
func (c *changes) delta(h string, base, rev int64) []byte {
	o, n := c.o, c.n
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":%q,"revision":%d,"base":%d,"delta":{"address":`, MsgDelta, rev, base)
	b.Write(mustJSON(n.address(h)))
	empty := o.address(h) == n.address(h)

	// section writes the upserts and deletions of one kind of object,
	// given the names h holds in o and in n (sorted).
	section := func(kind resource.Kind, field, delField string, before, after []string) {
		first := true
		for _, name := range after {
			k := itemKey{kind: kind, name: name}
			_, changed := c.items[k]
			if _, had := slices.BinarySearch(before, name); had && !changed {
				continue
			}
			if first {
				fmt.Fprintf(&b, `,%q:[`, field)
				first = false
			} else {
				b.WriteByte(',')
			}
			b.Write(c.item(k))
		}
		if !first {
			b.WriteByte(']')
			empty = false
		}
		var del []string
		for _, name := range before {
			if _, has := slices.BinarySearch(after, name); !has {
				del = append(del, name)
			}
		}
		if del != nil {
			fmt.Fprintf(&b, `,%q:`, delField)
			b.Write(mustJSON(del))
			empty = false
		}
	}
	section(resource.KindSwitch, "switches", "delSwitches", o.switchesOf(h), n.switchesOf(h))
	section(resource.KindPortGroup, "portGroups", "delPortGroups", o.pgsOf(h), n.pgsOf(h))
	section(resource.KindUplink, "uplinks", "delUplinks", objectNames(o.uplinksByHost[h]), objectNames(n.uplinksByHost[h]))
	section(resource.KindPort, "ports", "delPorts", objectNames(o.portsByHost[h]), objectNames(n.portsByHost[h]))

	before, after := o.groupsOf(h), n.groupsOf(h)
	first := true
	open := func(pg string) {
		if first {
			b.WriteString(`,"remote":[`)
			first = false
		} else {
			b.WriteByte(',')
		}
		b.WriteString(`{"portGroup":`)
		b.Write(mustJSON(pg))
	}
	for _, pg := range after {
		if _, had := slices.BinarySearch(before, pg); !had {
			open(pg)
			b.WriteString(`,"replace":true,"hosts":[`)
			b.Write(c.fullList(pg))
			b.WriteString("]}")
			continue
		}
		rc := c.remote[pg]
		if rc == nil {
			continue
		}
		open(pg)
		if len(rc.set) > 0 {
			b.WriteString(`,"hosts":[`)
			b.Write(rc.set)
			b.WriteByte(']')
		}
		if rc.del != nil {
			b.WriteString(`,"delHosts":`)
			b.Write(mustJSON(rc.del))
		}
		b.WriteByte('}')
	}
	if !first {
		b.WriteByte(']')
		empty = false
	}
	var del []string
	for _, pg := range before {
		if _, has := slices.BinarySearch(after, pg); !has {
			del = append(del, pg)
		}
	}
	if del != nil {
		b.WriteString(`,"delRemote":`)
		b.Write(mustJSON(del))
		empty = false
	}
	if empty {
		return nil
	}
	b.WriteString("}}\n")
	return b.Bytes()
}

func objectNames[T resource.Object](objs []T) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Head().Metadata.Name
	}
	return out
}

// encodeSnapshot encodes a snapshot message (one line).
func encodeSnapshot(sh *Share, rev int64) []byte {
	body := mustJSON(sh)
	var b bytes.Buffer
	b.Grow(len(body) + 64)
	b.WriteString(`{"type":"` + MsgSnapshot + `","revision":` + strconv.FormatInt(rev, 10) + `,"share":`)
	b.Write(body)
	b.WriteString("}\n")
	return b.Bytes()
}
