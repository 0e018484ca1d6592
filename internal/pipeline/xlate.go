package pipeline

import (
	"reflect"
	"sync"

	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/feature/l2"
	"github.com/dvs-project/dvs/internal/flow"
)

// Translation of one packet:
//
//  1. Start at table 0 with the packet's key as the current flow. Every
//     lookup ORs the key bits it examined into the megaflow mask.
//  2. For the matching rule run its instructions in OpenFlow order: meter,
//     apply-actions (executed at once on the current flow), clear-actions,
//     write-actions (merged into the action set), write-metadata, goto-table.
//     A miss ends the walk (OpenFlow 1.3: drop).
//  3. After the last table, run the action set.
//  4. Actions edit the current flow; an output first "commits" the
//     difference between the current flow and what the packet on the wire
//     already carries as datapath actions (pop/push/set tags, set fields),
//     then appends the output. So the datapath program is flat and holds no
//     OpenFlow semantics.
//
// NORMAL is an output to the built-in learning switch (normal.go).

// maxTables bounds goto chains (goto is forward-only, so this is the table
// count) and recursion through groups and NORMAL.
const maxDepth = 64

// Options adjust a translation.
type Options struct {
	// NoLearn disables MAC learning (traces and cache checks).
	NoLearn bool
	// Trace, if set, receives a report of every step.
	Trace *Trace
}

// Learned is a MAC NORMAL learned (or refreshed) while translating; caches
// keep it so that traffic they forward keeps the entry alive.
type Learned struct {
	l2.Key
	Port uint32
}

// Result is a translation's outcome.
type Result struct {
	Actions []action.Action
	// Mask is the megaflow mask: every key bit the result depends on.
	Mask flow.Mask
	// Gen is the pipeline generation the result is valid at.
	Gen uint64
	// Rules are the rules the packet hit, to be credited with its counts.
	Rules []*flow.Rule
	// Counters are the group and bucket counters the packet passed, to be
	// credited with its counts like Rules.
	Counters []*Counter
	// Learned lists MACs whose entries the packet's traffic refreshes.
	Learned []Learned
	// Drop is why the packet is dropped when Actions has no output.
	Drop action.DropReason
}

type xlate struct {
	p    *Pipeline
	opts Options
	tr   *Trace

	flow      flow.Key // current flow, as actions left it
	committed flow.Key // what the packet carries after the actions emitted so far
	wc        flow.Mask

	ports     *portMap
	rule      *flow.Rule // the rule whose actions run now (nil in packet-out)
	actionSet actionSet
	res       *Result
	outputs   int
	stop      bool // a dec_ttl failure or similar ended translation
	depth     int

	// MPLS state (mpls.go): the label stack entry bits actions wrote
	// since the last commit, and whether the top entry is unknown because
	// a non-bottom entry was popped (the key holds only one).
	mplsDirty   uint32
	mplsUnknown bool
}

var xlatePool = sync.Pool{New: func() any { return new(xlate) }}

// Translate walks key k through the pipeline and returns what to do with
// the packet. It learns MACs unless opts.NoLearn.
func (p *Pipeline) Translate(k *flow.Key, opts Options) *Result {
	return p.translate(k, nil, opts)
}

// TranslateActions translates an OpenFlow action list run on k, as a
// packet-out does: output:table sends the packet through the tables from
// table 0. The result is for this packet only and is not cached.
func (p *Pipeline) TranslateActions(k *flow.Key, acts []flow.Action, opts Options) *Result {
	return p.translate(k, &acts, opts)
}

// resultTail holds a Result's lists in the usual case, so that they take
// one allocation: up to four rules, one action (an output or a drop) and
// one learned MAC. Longer lists move to the heap as they grow. Caches keep
// the lists but not the Result, so the tail is apart from it: a cached
// translation holds 144 bytes, as much as the three lists allocated apart
// did.
type resultTail struct {
	rules   [4]*flow.Rule
	actions [1]action.Action
	learned [1]Learned
}

func (p *Pipeline) translate(k *flow.Key, acts *[]flow.Action, opts Options) *Result {
	p.translations.Add(1)
	tail := new(resultTail)
	res := &Result{Gen: p.gen.Load(), Rules: tail.rules[:0], Actions: tail.actions[:0], Learned: tail.learned[:0]}
	x := xlatePool.Get().(*xlate)
	*x = xlate{p: p, opts: opts, tr: opts.Trace, flow: *k, committed: *k, ports: p.ports.Load(), res: res,
		actionSet: actionSet{list: x.actionSet.list[:0]}}
	// Like Open vSwitch, always examine in_port and the ethertype: the
	// datapath's field rewrites depend on the frame's protocol.
	x.wc.InPort = ^uint32(0)
	x.wc.EthType = 0xffff

	if x.tr != nil {
		x.tr.Flow = *k
	}
	if q := x.ports.get(k.InPort); q != nil && q.Config&PortNoRecv != 0 {
		x.drop(action.DropPortDown, "input port %d (%s) has no-recv set", q.No, q.Name)
	} else if p.failOpen.Load() {
		x.trace("fail-open: no controller connected, switching with NORMAL")
		x.normal()
	} else if acts != nil {
		x.doActions(*acts)
	} else {
		x.walk(0)
		if !x.stop {
			x.runActionSet()
		}
	}
	if x.outputs == 0 {
		if res.Drop == action.DropNone {
			res.Drop = action.DropNoOutput
		}
		res.Actions = append(res.Actions, action.Action{Kind: action.Drop, Reason: res.Drop})
	}
	res.Mask = x.wc
	// Empty lists are nil, as they were before the tail.
	if len(res.Rules) == 0 {
		res.Rules = nil
	}
	if len(res.Learned) == 0 {
		res.Learned = nil
	}
	if x.tr != nil {
		x.tr.FinalFlow = x.flow
		x.tr.Mask = x.wc
		x.tr.Actions = res.Actions
		x.tr.Drop = res.Drop
	}
	x.res, x.p, x.tr, x.ports, x.rule = nil, nil, nil, nil, nil
	xlatePool.Put(x)
	return res
}

func (x *xlate) trace(format string, args ...any) {
	if x.tr != nil {
		x.tr.note(x.depth, format, args...)
	}
}

// drop records reason as why the packet is dropped, unless an earlier
// reason was recorded, and notes it in the trace. Where the note's
// arguments would cost allocations when nobody traces (boxed strings and
// numbers), call dropped and, if x.tr != nil, x.tr.drop instead.
func (x *xlate) drop(reason action.DropReason, format string, args ...any) {
	x.dropped(reason)
	if x.tr != nil {
		x.tr.drop(x.depth, reason, format, args...)
	}
}

// dropped records reason as drop does, without a note.
func (x *xlate) dropped(reason action.DropReason) {
	if x.res.Drop == action.DropNone {
		x.res.Drop = reason
	}
}

// walk runs the tables starting at id.
func (x *xlate) walk(id uint8) {
	for !x.stop {
		c := x.p.table(id)
		x.p.lookups[id].Add(1)
		var r *flow.Rule
		if c != nil {
			r = c.Lookup(&x.flow, &x.wc)
		}
		if x.tr != nil {
			x.tr.table(id, r)
		}
		if r == nil {
			x.drop(action.DropNoMatch, "no rule matched in table %d", id)
			return
		}
		x.p.matched[id].Add(1)
		x.res.Rules = append(x.res.Rules, r)
		x.rule = r
		in := &r.Instructions
		if in.Meter != 0 {
			x.res.Actions = append(x.res.Actions, action.Action{Kind: action.Meter, Port: in.Meter})
			if x.tr != nil {
				x.trace("meter:%d", in.Meter)
			}
		}
		x.doActions(in.Apply)
		if in.ClearActions {
			x.actionSet.clear()
			x.trace("clear_actions")
		}
		if in.HasWrite {
			for _, a := range in.Write {
				x.actionSet.write(a)
			}
			if x.tr != nil {
				x.trace("write_actions (action set now %d actions)", len(x.actionSet.list))
			}
		}
		if in.MetadataMask != 0 {
			x.flow.Metadata = x.flow.Metadata&^in.MetadataMask | in.Metadata&in.MetadataMask
			if x.tr != nil {
				x.trace("write_metadata:0x%x/0x%x", in.Metadata, in.MetadataMask)
			}
		}
		if !in.HasGoto {
			if len(in.Apply) == 0 && !in.HasWrite && x.res.Drop == action.DropNone {
				x.res.Drop = action.DropRule
			}
			return
		}
		if x.tr != nil {
			x.trace("goto_table:%d", in.GotoTable)
		}
		id = in.GotoTable
	}
}

func (x *xlate) doActions(list []flow.Action) {
	for _, a := range list {
		if x.stop {
			return
		}
		x.doAction(a)
	}
}

func (x *xlate) doAction(a flow.Action) {
	switch a := a.(type) {
	case flow.Output:
		x.output(a.Port, a.MaxLen)
	case flow.PushVLAN:
		x.pushVLAN(a.EthType)
	case flow.PopVLAN:
		x.wc.VLANs[0].TCI |= flow.TCIPresent
		if x.flow.VLANs[0].TCI == 0 {
			x.trace("pop_vlan: no tag to pop")
			return
		}
		x.flow.VLANs = [2]flow.VLAN{x.flow.VLANs[1], {}}
		x.trace("pop_vlan")
	case flow.SetField:
		x.setField(a)
	case flow.DecTTL:
		x.decTTL()
	case flow.SetTTL:
		if !x.flow.IsIP() {
			x.trace("mod_nw_ttl: not an IP packet, ignored")
			return
		}
		x.flow.NwTTL = a.TTL
		x.wc.NwTTL = 0xff
	case flow.PushMPLS:
		x.pushMPLS(a.EthType)
	case flow.PopMPLS:
		x.popMPLS(a.EthType)
	case flow.SetMPLSTTL:
		x.setMPLSTTL(a.TTL)
	case flow.DecMPLSTTL:
		x.decMPLSTTL()
	case flow.Group:
		x.group(a.ID)
	case flow.SetQueue:
		x.trace("set_queue:%d (queues are not implemented; ignored)", a.ID)
	default:
		x.drop(action.DropUnsupported, "action %T is not supported", a)
	}
}

func (x *xlate) pushVLAN(tpid uint16) {
	x.wc.VLANs[0].TCI = 0xffff
	x.wc.VLANs[1].TCI |= flow.TCIPresent
	if x.flow.VLANs[1].TCI != 0 {
		x.drop(action.DropUnsupported, "push_vlan: the packet already has two tags")
		x.stop = true
		return
	}
	// The new tag copies VID and PCP from the tag it covers (OpenFlow 1.3).
	tci := x.flow.VLANs[0].TCI | flow.TCIPresent
	x.flow.VLANs = [2]flow.VLAN{{TPID: tpid, TCI: tci}, x.flow.VLANs[0]}
	if x.tr != nil {
		x.trace("push_vlan:0x%04x", tpid)
	}
}

func (x *xlate) setField(a flow.SetField) {
	f := flow.FieldByID(a.Field)
	switch a.Field {
	case flow.FieldVLANVID, flow.FieldVLANPCP, flow.FieldVLANTCI:
		// As ovs-ofctl's mod_vlan_vid and mod_vlan_pcp: push a tag if the
		// packet has none.
		x.wc.VLANs[0].TCI = 0xffff
		if x.flow.VLANs[0].TCI == 0 {
			if x.flow.VLANs[1].TCI != 0 {
				x.stop = true
				return
			}
			x.flow.VLANs[0] = flow.VLAN{TPID: flow.EthTypeVLAN, TCI: flow.TCIPresent}
		}
		f.SetMasked(&x.flow, a.Value, a.Mask)
		x.flow.VLANs[0].TCI |= flow.TCIPresent
	case flow.FieldMPLSLabel, flow.FieldMPLSTC, flow.FieldMPLSBoS, flow.FieldMPLSTTL:
		if !x.flow.IsMPLS() {
			x.trace("set_field:%s: not an MPLS packet, ignored", f.Name)
			return
		}
		var bits flow.Key
		f.SetMasked(&bits, a.Mask, a.Mask)
		f.SetMasked(&x.flow, a.Value, a.Mask)
		x.mplsDirty |= bits.MPLS
		x.wc.MPLS |= bits.MPLS
	default:
		f.SetMasked(&x.flow, a.Value, a.Mask)
		// The datapath rewrite is emitted only if the value differs from
		// the packet's, so the packet's value matters.
		var ones flow.Key
		f.Set(&ones, f.Ones())
		x.wc.Or((*flow.Mask)(&ones))
	}
	if x.tr != nil {
		x.trace("set_field:%s", f.Name)
	}
}

// invalidTTL sends a packet whose TTL expired to the controllers, if the
// OpenFlow switch asked for that (SetInvalidTTLToController).
func (x *xlate) invalidTTL() {
	if !x.p.invalidTTL.Load() {
		return
	}
	x.commit()
	a := action.Action{Kind: action.Controller, In: action.InInvalidTTL, MaxLen: 0xffff, Metadata: x.flow.Metadata}
	if r := x.rule; r != nil {
		a.Table, a.Cookie = r.Table, r.Cookie
	}
	x.wc.Metadata = ^uint64(0)
	x.res.Actions = append(x.res.Actions, a)
	x.outputs++
	x.trace("invalid TTL: to the controller")
}

func (x *xlate) decTTL() {
	x.wc.NwTTL = 0xff
	if !x.flow.IsIP() {
		x.trace("dec_ttl: not an IP packet, ignored")
		return
	}
	if x.flow.NwTTL <= 1 {
		x.drop(action.DropInvalidTTL, "dec_ttl: TTL %d would reach zero", x.flow.NwTTL)
		x.invalidTTL()
		x.stop = true
		return
	}
	x.flow.NwTTL--
	if x.tr != nil {
		x.trace("dec_ttl: TTL now %d", x.flow.NwTTL)
	}
}

// output sends the current flow to port (possibly reserved).
func (x *xlate) output(port uint32, maxLen uint16) {
	in := x.flow.InPort
	switch port {
	case flow.PortNormal:
		x.normal()
	case flow.PortInPort:
		x.emitOutput(in, "in_port")
	case flow.PortFlood, flow.PortAll:
		var sent []uint32 // for a trace
		for _, q := range x.ports.sorted {
			if q.No == in || !q.Live() || q.Config&PortNoFwd != 0 || (port == flow.PortFlood && q.NoFlood) {
				continue
			}
			x.emitOutput(q.No, "")
			if x.tr != nil {
				sent = append(sent, q.No)
			}
		}
		if x.tr != nil {
			name := "flood"
			if port == flow.PortAll {
				name = "all"
			}
			x.trace("%s: to ports %v", name, sent)
		}
	case flow.PortController:
		if q := x.ports.get(in); q != nil && q.Config&PortNoPacketIn != 0 {
			x.trace("output:controller skipped: input port %d (%s) has no-packet-in set", in, q.Name)
			return
		}
		x.commit()
		a := action.Action{Kind: action.Controller, In: action.InAction, MaxLen: maxLen, Metadata: x.flow.Metadata}
		if r := x.rule; r != nil {
			a.Table, a.Cookie = r.Table, r.Cookie
			if r.IsTableMiss() {
				a.In = action.InNoMatch
			}
		}
		x.wc.Metadata = ^uint64(0)
		x.res.Actions = append(x.res.Actions, a)
		x.outputs++
		if x.tr != nil {
			x.trace("output:controller (reason %s, max_len %d)", a.In, maxLen)
		}
	case flow.PortTable:
		if x.rule != nil || x.depth > 0 {
			x.trace("output:table is only valid in packet-out; ignored")
			return
		}
		x.trace("output:table: through the tables from table 0")
		saved := x.actionSet.list
		x.actionSet.list = nil
		x.depth++
		x.walk(0)
		if !x.stop {
			x.runActionSet()
		}
		x.depth--
		x.actionSet.list = saved
		x.rule = nil
	default:
		if port == in {
			x.trace("output:%d skipped: it is the input port (use in_port)", port)
			return
		}
		x.emitOutput(port, "")
	}
}

// emitOutput commits pending changes and appends an output to port no.
func (x *xlate) emitOutput(no uint32, why string) {
	q := x.ports.get(no)
	if q == nil {
		x.trace("output:%d skipped: no such port", no)
		return
	}
	if q.Config&PortNoFwd != 0 {
		x.trace("output:%d skipped: port %s has no-fwd set", no, q.Name)
		return
	}
	if !q.Live() {
		x.trace("output:%d skipped: port %s is down", no, q.Name)
		if x.res.Drop == action.DropNone {
			x.res.Drop = action.DropPortDown
		}
		return
	}
	x.commit()
	x.res.Actions = append(x.res.Actions, action.Action{Kind: action.Output, Port: no})
	x.outputs++
	if why != "" && x.tr != nil {
		x.trace("output:%s -> %d (%s)", why, no, q.Name)
	}
}

// actionSet is the OpenFlow action set: at most one action of each type,
// run at the end of the pipeline in the specification's order.
type actionSet struct {
	list []flow.Action
}

func (s *actionSet) clear() { s.list = s.list[:0] }

func (s *actionSet) write(a flow.Action) {
	for i, o := range s.list {
		if sameSlot(o, a) {
			s.list[i] = a
			return
		}
	}
	s.list = append(s.list, a)
}

// sameSlot reports whether a and b occupy the same action-set slot: one
// per action type, and one per field for set_field.
func sameSlot(a, b flow.Action) bool {
	switch a := a.(type) {
	case flow.SetField:
		bs, ok := b.(flow.SetField)
		return ok && flow.FieldByID(a.Field).SameStorage(flow.FieldByID(bs.Field))
	default:
		return reflect.TypeOf(a) == reflect.TypeOf(b)
	}
}

// setOrder is the order OpenFlow 1.3 (5.10) runs the action set in: tag
// pops, push-MPLS, push-VLAN, TTL decrements, sets, queue, group, output.
func setOrder(a flow.Action) int {
	switch a.(type) {
	case flow.PopVLAN, flow.PopMPLS:
		return 1
	case flow.PushMPLS:
		return 2
	case flow.PushVLAN:
		return 3
	case flow.DecTTL, flow.DecMPLSTTL:
		return 4
	case flow.SetField, flow.SetTTL, flow.SetMPLSTTL:
		return 5
	case flow.SetQueue:
		return 6
	case flow.Group:
		return 7
	case flow.Output:
		return 8
	}
	return setOrderLast
}

const setOrderLast = 9

func (x *xlate) runActionSet() {
	if len(x.actionSet.list) == 0 {
		return
	}
	x.trace("action set:")
	hasGroup := false
	for _, a := range x.actionSet.list {
		if _, ok := a.(flow.Group); ok {
			hasGroup = true
		}
	}
	for order := 1; order <= setOrderLast; order++ {
		for _, a := range x.actionSet.list {
			if setOrder(a) != order {
				continue
			}
			if _, ok := a.(flow.Output); ok && hasGroup {
				continue // a group in the action set overrides output
			}
			if x.stop {
				return
			}
			x.doAction(a)
		}
	}
}
