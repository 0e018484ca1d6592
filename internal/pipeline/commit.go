package pipeline

import (
	"github.com/dvs-project/dvs/internal/action"
	"github.com/dvs-project/dvs/internal/flow"
)

// commitFields are the packet fields a datapath Set can rewrite, one per
// key location, with the protocol each applies to. Fields sharing bits
// (tp_src, icmp_type) are told apart by the current flow's protocol.
var commitFields = []struct {
	id      flow.FieldID
	applies func(k *flow.Key) bool
}{
	{flow.FieldEthDst, always},
	{flow.FieldEthSrc, always},
	{flow.FieldIPv4Src, isIPv4},
	{flow.FieldIPv4Dst, isIPv4},
	{flow.FieldARPOp, isARP},
	{flow.FieldARPSPA, isARP},
	{flow.FieldARPTPA, isARP},
	{flow.FieldARPSHA, isARP},
	{flow.FieldARPTHA, isARP},
	{flow.FieldIPv6Src, isIPv6},
	{flow.FieldIPv6Dst, isIPv6},
	{flow.FieldIPv6Label, isIPv6},
	{flow.FieldIPDSCP, isIP},
	{flow.FieldIPECN, isIP},
	{flow.FieldNwTTL, isIP},
	{flow.FieldIPProto, isIP},
	{flow.FieldTpSrc, hasPorts},
	{flow.FieldTpDst, hasPorts},
	{flow.FieldICMPv4Type, isICMPv4},
	{flow.FieldICMPv4Code, isICMPv4},
	{flow.FieldICMPv6Type, isICMPv6},
	{flow.FieldICMPv6Code, isICMPv6},
	{flow.FieldNDTarget, isND},
	{flow.FieldNDSLL, isND},
	{flow.FieldNDTLL, isND},
}

func always(*flow.Key) bool     { return true }
func isIPv4(k *flow.Key) bool   { return k.EthType == flow.EthTypeIPv4 }
func isIPv6(k *flow.Key) bool   { return k.EthType == flow.EthTypeIPv6 }
func isIP(k *flow.Key) bool     { return k.IsIP() }
func isARP(k *flow.Key) bool    { return k.EthType == flow.EthTypeARP || k.EthType == flow.EthTypeRARP }
func isICMPv4(k *flow.Key) bool { return isIPv4(k) && k.NwProto == flow.IPProtoICMP }
func isICMPv6(k *flow.Key) bool { return isIPv6(k) && k.NwProto == flow.IPProtoICMPv6 }
func isND(k *flow.Key) bool {
	return isICMPv6(k) && (k.TpSrc == flow.ICMPv6NeighborSolicit || k.TpSrc == flow.ICMPv6NeighborAdvert)
}
func hasPorts(k *flow.Key) bool {
	return k.IsIP() && (k.NwProto == flow.IPProtoTCP || k.NwProto == flow.IPProtoUDP || k.NwProto == flow.IPProtoSCTP)
}

// commit appends the datapath actions that turn the packet as it is now
// (x.committed) into the current flow, then records the flow as committed.
func (x *xlate) commit() {
	x.commitVLANs()
	x.commitMPLS()
	// Most outputs change nothing on the wire: compare the whole key first,
	// without the pipeline-only state (metadata, registers), which never
	// reaches the wire and which pipelines change all the time.
	c := x.committed
	c.Metadata, c.Regs = x.flow.Metadata, x.flow.Regs
	if c == x.flow {
		x.committed = x.flow
		return
	}
	for _, cf := range commitFields {
		if !cf.applies(&x.committed) {
			continue
		}
		f := flow.FieldByID(cf.id)
		v := f.Get(&x.flow)
		if v == f.Get(&x.committed) {
			continue
		}
		x.res.Actions = append(x.res.Actions, action.Action{Kind: action.Set, Field: cf.id, Value: v, Mask: f.Ones()})
		f.Set(&x.committed, v)
	}
	// The tunnel ID travels with the packet as metadata, for a tunnel port
	// with key=flow to encapsulate with. (tun_src and tun_dst are not
	// carried: a tunnel port's addresses are its own configuration.)
	if x.flow.TunID != x.committed.TunID {
		x.res.Actions = append(x.res.Actions, action.Action{Kind: action.SetTunnel, TunID: x.flow.TunID})
	}
	// Other pipeline-only state (metadata, registers) never reaches the
	// wire.
	x.committed = x.flow
}

// commitVLANs turns the committed tag stack into the current flow's with
// the fewest pops and pushes: tags at the bottom that both stacks share
// stay; a changed outer tag with the same depth and TPID is rewritten.
func (x *xlate) commitVLANs() {
	c, n := x.committed.VLANs, x.flow.VLANs
	if c == n {
		return
	}
	cc, nc := depth(c), depth(n)
	if cc == nc && cc > 0 && c[0].TPID == n[0].TPID && c[1] == n[1] {
		x.res.Actions = append(x.res.Actions, action.Action{Kind: action.SetVLAN, TCI: n[0].TCI})
		x.committed.VLANs = n
		return
	}
	common := 0
	for common < cc && common < nc && c[cc-1-common] == n[nc-1-common] {
		common++
	}
	for i := 0; i < cc-common; i++ {
		x.res.Actions = append(x.res.Actions, action.Action{Kind: action.PopVLAN})
	}
	for i := nc - common - 1; i >= 0; i-- {
		x.res.Actions = append(x.res.Actions, action.Action{Kind: action.PushVLAN, TPID: n[i].TPID, TCI: n[i].TCI})
	}
	x.committed.VLANs = n
}

func depth(v [2]flow.VLAN) int {
	switch {
	case v[0].TCI == 0:
		return 0
	case v[1].TCI == 0:
		return 1
	}
	return 2
}
