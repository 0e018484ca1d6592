package classifier_test

import (
	"math/rand/v2"

	"github.com/dvs-project/dvs/internal/flow"
)

// This file generates realistic random rules and packets for the
// differential tests and the benchmarks. Values come from small pools so
// that rules overlap and packets hit several of them.

type gen struct {
	rnd *rand.Rand
}

func newGen(seed uint64) *gen { return &gen{rnd: rand.New(rand.NewPCG(seed, seed^0x5eed))} }

func fld(id flow.FieldID) *flow.Field { return flow.FieldByID(id) }

func (g *gen) pick(vs ...uint64) uint64 { return vs[g.rnd.IntN(len(vs))] }

var macPool = [][6]byte{
	{0x02, 0, 0, 0, 0, 1}, {0x02, 0, 0, 0, 0, 2}, {0x02, 0, 0, 0, 1, 1},
	{0x52, 0x54, 0, 0x12, 0x34, 0x56}, {0x52, 0x54, 0, 0x12, 0x34, 0x57},
	{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x01, 0x00, 0x5e, 0, 0, 1}, {0x33, 0x33, 0, 0, 0, 1},
}

// value returns a pool value for field id.
func (g *gen) value(id flow.FieldID) flow.Value {
	r := g.rnd
	switch id {
	case flow.FieldInPort:
		return flow.ValueOf(uint64(1 + r.IntN(6)))
	case flow.FieldMetadata:
		return flow.ValueOf(g.pick(0, 1, 2, 0x100, 0xdead0000, 0xdead0001))
	case flow.FieldReg0, flow.FieldReg1, flow.FieldReg2:
		return flow.ValueOf(g.pick(0, 1, 2, 3, 0x10000, 0x10001))
	case flow.FieldTunID:
		return flow.ValueOf(g.pick(0, 5, 7, 1000))
	case flow.FieldEthSrc, flow.FieldEthDst:
		m := macPool[r.IntN(len(macPool))]
		if r.IntN(8) == 0 {
			m[5] = byte(r.Uint32())
		}
		return flow.ValueBytes(m[:])
	case flow.FieldEthType:
		return flow.ValueOf(g.pick(flow.EthTypeIPv4, flow.EthTypeIPv4, flow.EthTypeIPv6, flow.EthTypeARP))
	case flow.FieldVLANTCI:
		return flow.ValueOf(g.pick(0, flow.TCIPresent|1, flow.TCIPresent|10, flow.TCIPresent|100, 3<<flow.TCIPCPShift|flow.TCIPresent|10))
	case flow.FieldIPv4Src, flow.FieldIPv4Dst:
		base := g.pick(0x0a000000, 0x0a000100, 0xc0a80100, 0xac100000, 0x0a010000)
		return flow.ValueOf(base | g.pick(1, 2, 3, 254, uint64(r.IntN(256))))
	case flow.FieldIPv6Src, flow.FieldIPv6Dst:
		v := flow.Value{0x20, 0x01, 0x0d, 0xb8}
		v[5] = byte(r.IntN(3))
		v[15] = byte(g.pick(1, 2, 3, uint64(r.IntN(256))))
		if r.IntN(4) == 0 {
			v = flow.Value{0xfe, 0x80}
			v[15] = byte(r.IntN(4))
		}
		return v
	case flow.FieldIPProto:
		return flow.ValueOf(g.pick(flow.IPProtoTCP, flow.IPProtoTCP, flow.IPProtoUDP, flow.IPProtoICMP))
	case flow.FieldIPDSCP:
		return flow.ValueOf(g.pick(0, 0, 10, 46))
	case flow.FieldNwTTL:
		return flow.ValueOf(g.pick(64, 1, 255))
	case flow.FieldTpSrc, flow.FieldTpDst:
		return flow.ValueOf(g.pick(22, 53, 80, 443, 8080, 1024+uint64(r.IntN(64)), uint64(r.IntN(65536))))
	case flow.FieldTCPFlags:
		return flow.ValueOf(g.pick(0x002, 0x010, 0x012, 0x004, 0x011))
	}
	panic("no pool for field")
}

// masks are the masks a template may use for a field; nil means exact.
var fieldMasks = map[flow.FieldID][]uint64{
	flow.FieldMetadata: {^uint64(0), 0xffff, 0xffff0000},
	flow.FieldReg0:     {0xffffffff, 0xffff, 1},
	flow.FieldReg1:     {0xffffffff, 0xffff0000},
	flow.FieldVLANTCI:  {0x1fff, flow.TCIPresent, 0xffff, 0xefff},
	flow.FieldTpSrc:    {0xffff, 0xff00, 0xfffe, 0xfff0},
	flow.FieldTpDst:    {0xffff, 0xffff, 0xff00, 0xfffe, 0xfc00},
	flow.FieldTCPFlags: {0x012, 0xfff, 0x004},
}

// fieldMask returns a random mask for field id.
func (g *gen) fieldMask(id flow.FieldID) flow.Value {
	f := fld(id)
	switch id {
	case flow.FieldEthSrc, flow.FieldEthDst:
		switch g.rnd.IntN(4) {
		case 0:
			return flow.ValueBytes([]byte{1, 0, 0, 0, 0, 0})
		case 1:
			return flow.ValueBytes([]byte{0xff, 0xff, 0xff, 0, 0, 0})
		}
		return f.Ones()
	case flow.FieldIPv4Src, flow.FieldIPv4Dst:
		n := g.pick(8, 16, 24, 24, 32, 32)
		return flow.ValueOf(^uint64(0) << (32 - n) & 0xffffffff)
	case flow.FieldIPv6Src, flow.FieldIPv6Dst:
		var v flow.Value
		n := int(g.pick(16, 32, 48, 64, 128))
		for i := range n / 8 {
			v[i] = 0xff
		}
		return v
	}
	if ms := fieldMasks[id]; ms != nil {
		return flow.ValueOf(ms[g.rnd.IntN(len(ms))])
	}
	return f.Ones()
}

// template is a shape of rules: the fields they match, with fixed masks,
// and the fields whose values all its rules share (eth_type, nw_proto).
type template struct {
	fields []flow.FieldID
	masks  []flow.Value
	fixed  flow.Match
}

func (g *gen) template() template {
	var t template
	add := func(id flow.FieldID) {
		t.fields = append(t.fields, id)
		t.masks = append(t.masks, g.fieldMask(id))
	}
	maybe := func(p int, id flow.FieldID) {
		if g.rnd.IntN(100) < p {
			add(id)
		}
	}
	// Pipeline state and ingress.
	maybe(30, flow.FieldInPort)
	maybe(15, flow.FieldMetadata)
	maybe(15, flow.FieldReg0)
	maybe(5, flow.FieldReg1)
	maybe(5, flow.FieldTunID)
	switch g.rnd.IntN(4) {
	case 0: // L2
		maybe(50, flow.FieldEthDst)
		maybe(30, flow.FieldEthSrc)
		maybe(30, flow.FieldVLANTCI)
		maybe(20, flow.FieldEthType)
	case 1, 2: // IPv4
		t.fixed.Set(fld(flow.FieldEthType), flow.ValueOf(flow.EthTypeIPv4))
		maybe(20, flow.FieldEthDst)
		maybe(20, flow.FieldVLANTCI)
		maybe(50, flow.FieldIPv4Src)
		maybe(60, flow.FieldIPv4Dst)
		maybe(10, flow.FieldIPDSCP)
		if g.rnd.IntN(100) < 60 {
			proto := g.pick(flow.IPProtoTCP, flow.IPProtoTCP, flow.IPProtoUDP, flow.IPProtoICMP)
			t.fixed.Set(fld(flow.FieldIPProto), flow.ValueOf(proto))
			if proto != flow.IPProtoICMP {
				maybe(30, flow.FieldTpSrc)
				maybe(70, flow.FieldTpDst)
			}
			if proto == flow.IPProtoTCP {
				maybe(15, flow.FieldTCPFlags)
			}
		}
	case 3: // IPv6 or ARP
		if g.rnd.IntN(2) == 0 {
			t.fixed.Set(fld(flow.FieldEthType), flow.ValueOf(flow.EthTypeIPv6))
			maybe(50, flow.FieldIPv6Src)
			maybe(60, flow.FieldIPv6Dst)
			if g.rnd.IntN(2) == 0 {
				t.fixed.Set(fld(flow.FieldIPProto), flow.ValueOf(flow.IPProtoTCP))
				maybe(70, flow.FieldTpDst)
			}
		} else {
			t.fixed.Set(fld(flow.FieldEthType), flow.ValueOf(flow.EthTypeARP))
			maybe(50, flow.FieldIPv4Dst) // arp_tpa
			maybe(30, flow.FieldIPv4Src) // arp_spa
		}
	}
	return t
}

// match returns a random match of shape t.
func (g *gen) match(t *template) flow.Match {
	m := t.fixed
	for i, id := range t.fields {
		m.SetMasked(fld(id), g.value(id), t.masks[i])
	}
	m.Normalize()
	return m
}

// packetFields are the fields a random packet sets.
var packetFields = []flow.FieldID{
	flow.FieldInPort, flow.FieldMetadata, flow.FieldReg0, flow.FieldReg1, flow.FieldTunID,
	flow.FieldEthSrc, flow.FieldEthDst, flow.FieldEthType, flow.FieldVLANTCI,
	flow.FieldIPv4Src, flow.FieldIPv4Dst, flow.FieldIPv6Src, flow.FieldIPv6Dst,
	flow.FieldIPProto, flow.FieldIPDSCP, flow.FieldNwTTL,
	flow.FieldTpSrc, flow.FieldTpDst, flow.FieldTCPFlags,
}

// packet returns a random packet built from the pools.
func (g *gen) packet() flow.Key {
	var k flow.Key
	for _, id := range packetFields {
		if id == flow.FieldMetadata || id == flow.FieldReg1 || id == flow.FieldTunID {
			if g.rnd.IntN(2) == 0 {
				continue
			}
		}
		fld(id).Set(&k, g.value(id))
	}
	return k
}

// packetFor returns a packet that matches m on its examined bits and
// random pool values elsewhere, perturbed with probability pPerturb%.
func (g *gen) packetFor(m *flow.Match, pPerturb int) flow.Key {
	k := g.packet()
	kw, mw, vw := k.Words(), m.Mask.Words(), m.Key.Words()
	for i := range kw {
		kw[i] = kw[i]&^mw[i] | vw[i]
	}
	if g.rnd.IntN(100) < pPerturb {
		g.perturb(&k)
	}
	return k
}

// perturb changes one field to another pool value or flips one bit.
func (g *gen) perturb(k *flow.Key) {
	if g.rnd.IntN(2) == 0 {
		id := packetFields[g.rnd.IntN(len(packetFields))]
		fld(id).Set(k, g.value(id))
		return
	}
	w := g.rnd.IntN(flow.KeyWords)
	k.Words()[w] ^= 1 << g.rnd.IntN(64)
}

// randomKey returns a key with every bit random.
func (g *gen) randomKey() flow.Key {
	var k flow.Key
	for i := range k.Words() {
		k.Words()[i] = g.rnd.Uint64()
	}
	return k
}

// blend returns a key equal to k on the bits of wc and to o elsewhere.
func blend(k, o *flow.Key, wc *flow.Mask) flow.Key {
	var x flow.Key
	xw, kw, ow, mw := x.Words(), k.Words(), o.Words(), wc.Words()
	for i := range xw {
		xw[i] = kw[i]&mw[i] | ow[i]&^mw[i]
	}
	return x
}
