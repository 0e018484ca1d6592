package pipeline

import (
	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/feature/l2"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flow"
)

// normal is the NORMAL action: a VLAN-aware learning switch.
//
//  1. The input port's VLAN mode decides which VLAN the frame belongs to
//     (access, trunk with allowed list and native VLAN, QinQ), or drops it.
//  2. The source MAC is learned in that VLAN (unless multicast: dropped).
//  3. A known unicast destination goes to its port (never back out of the
//     input port unless it does reflective relay); anything else floods to
//     every up port in the VLAN.
//  4. Each output gets the tags the output port's VLAN mode calls for.
func (x *xlate) normal() {
	k := &x.flow
	x.wc.InPort = ^uint32(0)
	x.wc.VLANs[0] = flow.VLAN{TPID: 0xffff, TCI: 0xffff}
	x.wc.EthSrc = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	x.wc.EthDst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	in := x.ports.get(k.InPort)
	if in == nil {
		x.dropped(action.DropUnknownPort)
		if x.tr != nil {
			x.tr.drop(x.depth, action.DropUnknownPort, "NORMAL: input port %d is not on the bridge", k.InPort)
		}
		return
	}
	if in.VLAN.Mode == vlan.QinQ || in.VLAN.Mode == vlan.Access {
		x.wc.VLANs[1].TCI |= flow.TCIPresent
	}
	fr, why := in.VLAN.Ingress(k.VLANs)
	if why != "" {
		x.dropped(action.DropVLAN)
		if x.tr != nil {
			x.tr.drop(x.depth, action.DropVLAN, "NORMAL: %s %s", in.Name, why)
		}
		return
	}
	vid := fr.VID()
	if k.EthSrc[0]&1 != 0 {
		x.dropped(action.DropSourceMAC)
		if x.tr != nil {
			x.tr.drop(x.depth, action.DropSourceMAC, "NORMAL: source MAC %s is multicast", macString(k.EthSrc))
		}
		return
	}

	if !x.opts.NoLearn {
		switch ch := x.p.macs.Learn(vid, k.EthSrc, in.No, x.p.now()); ch {
		case l2.Learned, l2.Moved:
			x.macChanged()
			if x.tr != nil {
				x.trace("NORMAL: %s %s on port %d (%s) in VLAN %d%s", ch, macString(k.EthSrc), in.No, in.Name, vid, announce(k))
			}
		case l2.Refused:
			if x.tr != nil {
				x.trace("NORMAL: not learning %s on port %d in VLAN %d: MAC limit reached", macString(k.EthSrc), in.No, vid)
			}
		}
		x.res.Learned = append(x.res.Learned, Learned{Key: l2.Key{VLAN: vid, MAC: k.EthSrc}, Port: in.No})
	}

	if k.EthDst[0]&1 == 0 {
		if no, ok := x.p.macs.Lookup(vid, k.EthDst); ok {
			out := x.ports.get(no)
			switch {
			case out == nil || !out.VLAN.Carries(vid):
				if x.tr != nil {
					x.trace("NORMAL: learned port %d for %s no longer carries VLAN %d, flooding", no, macString(k.EthDst), vid)
				}
			case no == in.No && !in.ReflectiveRelay:
				x.dropped(action.DropHairpin)
				if x.tr != nil {
					x.tr.drop(x.depth, action.DropHairpin, "NORMAL: %s is on the input port %d (%s)", macString(k.EthDst), no, in.Name)
				}
				return
			case !out.Live():
				x.dropped(action.DropPortDown)
				if x.tr != nil {
					x.tr.drop(x.depth, action.DropPortDown, "NORMAL: %s is on port %d (%s), which is down", macString(k.EthDst), no, out.Name)
				}
				return
			default:
				if x.tr != nil {
					x.trace("NORMAL: %s learned on port %d (%s) in VLAN %d", macString(k.EthDst), no, out.Name, vid)
				}
				x.normalOutput(out, fr)
				return
			}
		} else if x.tr != nil {
			x.trace("NORMAL: %s not learned in VLAN %d, flooding", macString(k.EthDst), vid)
		}
	} else if x.tr != nil {
		x.trace("NORMAL: %s is multicast/broadcast, flooding in VLAN %d", macString(k.EthDst), vid)
	}

	// Flood, untagged outputs first so the tag is pushed once for the rest.
	// The ports are listed only for a trace.
	var sent []uint32
	n := 0
	for pass := 0; pass < 2; pass++ {
		for _, q := range x.ports.sorted {
			if (q.No == in.No && !in.ReflectiveRelay) || !q.Live() || q.NoFlood || !q.VLAN.Carries(vid) {
				continue
			}
			if tagged := q.VLAN.Egress(fr)[0].TCI != 0; tagged != (pass == 1) {
				continue
			}
			x.normalOutput(q, fr)
			n++
			if x.tr != nil {
				sent = append(sent, q.No)
			}
		}
	}
	if n == 0 {
		x.dropped(action.DropNoOutput)
		if x.tr != nil {
			x.tr.drop(x.depth, action.DropNoOutput, "NORMAL: no other port in VLAN %d", vid)
		}
		return
	}
	if x.tr != nil {
		x.trace("NORMAL: flooded to ports %v", sent)
	}
}

// normalOutput outputs the frame to q with q's egress tags, leaving the
// current flow's tags as they were for later actions.
func (x *xlate) normalOutput(q *Port, fr vlan.Frame) {
	saved := x.flow.VLANs
	x.flow.VLANs = q.VLAN.Egress(fr)
	x.emitOutput(q.No, "")
	x.flow.VLANs = saved
}

// macChanged bumps the generation for a MAC table change made by this
// translation. If nothing else changed since the translation began, its
// result stays valid at the new generation (the change is its own).
func (x *xlate) macChanged() {
	if x.p.gen.CompareAndSwap(x.res.Gen, x.res.Gen+1) {
		x.res.Gen++
		return
	}
	x.p.gen.Add(1)
}

// announce notes gratuitous ARP and RARP announcements in traces: a VM that
// moved announces its MAC this way and is learned on its new port at once.
func announce(k *flow.Key) string {
	switch {
	case k.EthType == flow.EthTypeRARP:
		return " (RARP announcement)"
	case k.EthType == flow.EthTypeARP && k.NwSrc == k.NwDst:
		return " (gratuitous ARP)"
	}
	return ""
}

func macString(m [6]byte) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[c>>4], hex[c&15])
	}
	return string(b)
}
