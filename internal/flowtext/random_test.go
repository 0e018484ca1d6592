package flowtext

import (
	"math/rand/v2"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// protocols a random match may be built on: dl_type, nw_proto (0: none)
// and, for ICMPv6, a type.
var randomProtocols = []struct {
	ethType uint16
	proto   uint8
	hasEth  bool
}{
	{0, 0, false},
	{flow.EthTypeIPv4, 0, true},
	{flow.EthTypeIPv6, 0, true},
	{flow.EthTypeIPv4, flow.IPProtoTCP, true},
	{flow.EthTypeIPv4, flow.IPProtoUDP, true},
	{flow.EthTypeIPv4, flow.IPProtoSCTP, true},
	{flow.EthTypeIPv4, flow.IPProtoICMP, true},
	{flow.EthTypeIPv4, 47, true},
	{flow.EthTypeIPv6, flow.IPProtoTCP, true},
	{flow.EthTypeIPv6, flow.IPProtoUDP, true},
	{flow.EthTypeIPv6, flow.IPProtoSCTP, true},
	{flow.EthTypeIPv6, flow.IPProtoICMPv6, true},
	{flow.EthTypeIPv6, 1, true},
	{flow.EthTypeARP, 0, true},
	{flow.EthTypeRARP, 0, true},
	{flow.EthTypeMPLS, 0, true},
	{0x88cc, 0, true},
	{0x05ff, 0, true},
}

func randValue(rnd *rand.Rand, f *flow.Field) flow.Value {
	var v flow.Value
	for i := range v {
		v[i] = byte(rnd.Uint32())
	}
	if rnd.IntN(4) == 0 {
		v = flow.Value{}
	}
	return v.And(f.Ones())
}

// randMask returns all ones, a prefix or random bits, as the field allows.
func randMask(rnd *rand.Rand, f *flow.Field) flow.Value {
	if !f.Maskable || rnd.IntN(3) == 0 {
		return f.Ones()
	}
	if (f.Format == flow.FormatIPv4 || f.Format == flow.FormatIPv6) && rnd.IntN(2) == 0 {
		return prefixMask(rnd.IntN(int(f.Bits)+1), int(f.Bits))
	}
	return randValue(rnd, f)
}

var randomPorts = []uint32{1, 2, 7, 100, maxPortNumber, flow.PortInPort, flow.PortTable, flow.PortNormal,
	flow.PortFlood, flow.PortAll, flow.PortController, flow.PortLocal}

// randomMatch builds a valid match on random fields of a random protocol.
func randomMatch(rnd *rand.Rand) flow.Match {
	var m flow.Match
	set := func(id flow.FieldID) {
		f := flow.FieldByID(id)
		m.SetMasked(f, randValue(rnd, f), randMask(rnd, f))
	}
	maybe := func(ids ...flow.FieldID) {
		for _, id := range ids {
			if rnd.IntN(3) == 0 {
				set(id)
			}
		}
	}
	p := randomProtocols[rnd.IntN(len(randomProtocols))]
	if p.hasEth {
		m.Set(fEthType, flow.ValueOf(uint64(p.ethType)))
	}
	if p.proto != 0 {
		m.Set(fIPProto, flow.ValueOf(uint64(p.proto)))
	}
	if rnd.IntN(3) == 0 {
		m.Set(flow.FieldByID(flow.FieldInPort), flow.ValueOf(uint64(randomPorts[rnd.IntN(len(randomPorts))])))
	}
	maybe(flow.FieldMetadata, flow.FieldReg0, flow.FieldReg5, flow.FieldTunID, flow.FieldTunSrc, flow.FieldTunDst,
		flow.FieldEthSrc, flow.FieldEthDst, flow.FieldVLANTCI)
	switch p.ethType {
	case flow.EthTypeIPv4:
		maybe(flow.FieldIPv4Src, flow.FieldIPv4Dst)
	case flow.EthTypeIPv6:
		maybe(flow.FieldIPv6Src, flow.FieldIPv6Dst, flow.FieldIPv6Label)
	case flow.EthTypeARP, flow.EthTypeRARP:
		maybe(flow.FieldARPOp, flow.FieldARPSPA, flow.FieldARPTPA, flow.FieldARPSHA, flow.FieldARPTHA)
	}
	if p.ethType == flow.EthTypeIPv4 || p.ethType == flow.EthTypeIPv6 {
		maybe(flow.FieldIPDSCP, flow.FieldIPECN, flow.FieldNwTTL, flow.FieldIPFrag)
		if !p.hasEth || p.proto == 0 {
			maybe(flow.FieldIPProto)
		}
	}
	switch {
	case p.proto == flow.IPProtoTCP:
		maybe(flow.FieldTCPSrc, flow.FieldTpDst, flow.FieldTCPFlags)
	case p.proto == flow.IPProtoUDP || p.proto == flow.IPProtoSCTP:
		maybe(flow.FieldTpSrc, flow.FieldTpDst)
	case p.proto == flow.IPProtoICMP && p.ethType == flow.EthTypeIPv4:
		maybe(flow.FieldICMPv4Type, flow.FieldICMPv4Code)
	case p.proto == flow.IPProtoICMPv6 && p.ethType == flow.EthTypeIPv6:
		switch rnd.IntN(3) {
		case 0:
			m.Set(flow.FieldByID(flow.FieldICMPv6Type), flow.ValueOf(flow.ICMPv6NeighborSolicit))
			maybe(flow.FieldNDTarget, flow.FieldNDSLL)
		case 1:
			m.Set(flow.FieldByID(flow.FieldICMPv6Type), flow.ValueOf(flow.ICMPv6NeighborAdvert))
			maybe(flow.FieldNDTarget, flow.FieldNDTLL)
		default:
			maybe(flow.FieldICMPv6Type)
		}
		maybe(flow.FieldICMPv6Code)
	}
	return m
}

func randomAction(rnd *rand.Rand) flow.Action {
	switch rnd.IntN(9) {
	case 0:
		p := randomPorts[rnd.IntN(len(randomPorts))]
		var maxLen uint16
		if p == flow.PortController || rnd.IntN(5) == 0 {
			maxLen = uint16(rnd.Uint32())
		}
		return flow.Output{Port: p, MaxLen: maxLen}
	case 1:
		return flow.PushVLAN{EthType: []uint16{flow.EthTypeVLAN, flow.EthTypeQinQ}[rnd.IntN(2)]}
	case 2:
		return flow.PopVLAN{}
	case 3:
		return flow.DecTTL{}
	case 4:
		return flow.SetTTL{TTL: uint8(rnd.Uint32())}
	case 5:
		return flow.Group{ID: rnd.Uint32N(maxGroup + 1)}
	case 6:
		return flow.SetQueue{ID: rnd.Uint32()}
	}
	for {
		f := &flow.Fields()[rnd.IntN(int(flow.NumFields))]
		if !f.Writable {
			continue
		}
		mask := f.Ones()
		if f.Maskable && rnd.IntN(3) == 0 {
			mask = randMask(rnd, f)
		}
		return flow.SetField{Field: f.ID, Value: randValue(rnd, f).And(mask), Mask: mask}
	}
}

func randomActions(rnd *rand.Rand) []flow.Action {
	var list []flow.Action
	for range rnd.IntN(5) {
		list = append(list, randomAction(rnd))
	}
	return list
}

func randomRule(rnd *rand.Rand) *flow.Rule {
	r := &flow.Rule{
		Table:    uint8(rnd.IntN(flow.MaxTables)),
		Priority: uint16(rnd.Uint32()),
		Match:    randomMatch(rnd),
	}
	if rnd.IntN(2) == 0 {
		r.Cookie = rnd.Uint64()
	}
	if rnd.IntN(3) == 0 {
		r.IdleTimeout = uint16(rnd.Uint32())
		r.HardTimeout = uint16(rnd.Uint32())
	}
	r.Flags = flow.RuleFlags(rnd.IntN(32))
	in := &r.Instructions
	if rnd.IntN(4) == 0 {
		in.Meter = 1 + rnd.Uint32N(maxMeter)
	}
	in.Apply = randomActions(rnd)
	in.ClearActions = rnd.IntN(4) == 0
	if rnd.IntN(4) == 0 {
		in.HasWrite, in.Write = true, randomActions(rnd)
	}
	if rnd.IntN(4) == 0 {
		in.MetadataMask = rnd.Uint64() | 1
		in.Metadata = rnd.Uint64() & in.MetadataMask
	}
	if int(r.Table) < flow.MaxTables-1 && rnd.IntN(3) == 0 {
		in.HasGoto = true
		in.GotoTable = r.Table + 1 + uint8(rnd.IntN(flow.MaxTables-1-int(r.Table)))
	}
	return r
}

// TestRandomRulesRoundTrip prints random valid rules and reads them back.
func TestRandomRulesRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	n := 5000
	if testing.Short() {
		n = 500
	}
	for i := range n {
		r := randomRule(rnd)
		if err := r.Match.Validate(); err != nil {
			t.Fatalf("rule %d: the generator made an invalid match %s: %v", i, FormatMatch(&r.Match), err)
		}
		if _, err := roundTrip(r, FormatOptions{}); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
		if _, err := roundTrip(r, FormatOptions{Stats: true}); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
	}
}

// TestRandomPacketsRoundTrip prints the keys of random packets and reads
// them back.
func TestRandomPacketsRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		// The key of a random match is a packet with random fields; FormatKey
		// shows those meaningful for its protocols.
		m := randomMatch(rnd)
		k := m.Key
		if k.VLANs[0].TCI != 0 {
			k.VLANs[0].TCI |= flow.TCIPresent
			k.VLANs[0].TPID = flow.EthTypeVLAN
		}
		text := FormatKey(&k)
		back, err := ParsePacket(text)
		if err != nil {
			t.Fatalf("packet %d: ParsePacket(%q): %v", i, text, err)
		}
		if again := FormatKey(&back); again != text {
			t.Fatalf("packet %d: FormatKey(ParsePacket(%q)) = %q", i, text, again)
		}
		again, err := ParsePacket(text)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffKeys(&back, &again); d != "" {
			t.Fatalf("packet %d: ParsePacket(%q) is not stable (-want +got):\n%s", i, text, d)
		}
	}
}
