package flow

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// Value is a field value or mask: big-endian, right-aligned in 16 bytes, so
// that a 48-bit MAC occupies bytes 10..15 and a 12-bit VID the low bits of
// bytes 14..15.
type Value [16]byte

// U64 returns the value's low 64 bits.
func (v Value) U64() uint64 { return binary.BigEndian.Uint64(v[8:]) }

// ValueOf returns x as a Value.
func ValueOf(x uint64) Value {
	var v Value
	binary.BigEndian.PutUint64(v[8:], x)
	return v
}

// ValueBytes returns b right-aligned in a Value; b must be at most 16 bytes.
func ValueBytes(b []byte) Value {
	var v Value
	copy(v[16-len(b):], b)
	return v
}

// And returns v & o.
func (v Value) And(o Value) Value {
	// Two words rather than 16 bytes: decoding a match does this for
	// every field of every flow added.
	binary.NativeEndian.PutUint64(v[:8], binary.NativeEndian.Uint64(v[:8])&binary.NativeEndian.Uint64(o[:8]))
	binary.NativeEndian.PutUint64(v[8:], binary.NativeEndian.Uint64(v[8:])&binary.NativeEndian.Uint64(o[8:]))
	return v
}

// Format says how a field's value is written.
type Format uint8

const (
	FormatDec Format = iota
	FormatHex
	FormatMAC
	FormatIPv4
	FormatIPv6
	FormatPort // an OpenFlow port number; reserved ports print by name
	FormatFrag // ip_frag: no, first, later, yes, not_later
)

// FieldID names a field in the registry.
type FieldID uint8

const (
	FieldInPort FieldID = iota
	FieldMetadata
	FieldReg0
	FieldReg1
	FieldReg2
	FieldReg3
	FieldReg4
	FieldReg5
	FieldReg6
	FieldReg7
	FieldTunID
	FieldTunSrc
	FieldTunDst
	FieldEthSrc
	FieldEthDst
	FieldEthType
	FieldVLANTCI
	FieldVLANVID
	FieldVLANPCP
	FieldIPProto
	FieldIPDSCP
	FieldIPECN
	FieldNwTTL
	FieldIPFrag
	FieldIPv4Src
	FieldIPv4Dst
	FieldARPOp
	FieldARPSPA
	FieldARPTPA
	FieldARPSHA
	FieldARPTHA
	FieldIPv6Src
	FieldIPv6Dst
	FieldIPv6Label
	FieldTpSrc // tcp, udp or sctp source port (ovs-ofctl's tp_src)
	FieldTpDst
	FieldTCPSrc
	FieldTCPDst
	FieldUDPSrc
	FieldUDPDst
	FieldSCTPSrc
	FieldSCTPDst
	FieldTCPFlags
	FieldICMPv4Type
	FieldICMPv4Code
	FieldICMPv6Type
	FieldICMPv6Code
	FieldNDTarget
	FieldNDSLL
	FieldNDTLL
	FieldMPLSLabel
	FieldMPLSTC
	FieldMPLSBoS
	FieldMPLSTTL
	NumFields
)

// Prereq is what a match must also match for a field to be matchable, as the
// OpenFlow 1.3 specification (section 7.2.3.8) lists them.
type Prereq struct {
	EthTypes   []uint16 // eth_type must be matched exactly to one of these
	Protos     []uint8  // ip_proto must be matched exactly to one of these
	ICMPv6Type []uint8  // icmpv6_type must be matched exactly to one of these
	VLAN       bool     // the match must require a VLAN tag to be present
}

// OXM classes.
const (
	OXMClassNXM0   = 0x0000
	OXMClassNXM1   = 0x0001
	OXMClassOFB    = 0x8000 // OpenFlow basic
	oxmUnspecified = 0xffff
)

// Field describes one matchable (and maybe writable) field.
type Field struct {
	ID       FieldID
	Name     string   // the ovs-ofctl name this field prints as
	Aliases  []string // other accepted names (OXM names, NXM names)
	OXMClass uint16
	OXMField uint8
	Bits     uint8 // width of the field value
	Maskable bool  // arbitrary bitmask (or prefix) allowed in a match
	Writable bool  // may be the target of set_field
	Prereq   Prereq
	Format   Format

	off   uintptr // byte offset of the containing Key member
	size  uintptr // size of that member: 1, 2, 4, 8 (integer) or 6, 16 (bytes)
	shift uint8   // for a sub-field of an integer member: its lowest bit
	ones  Value   // Ones(), computed once
}

var (
	ipAny    = []uint16{EthTypeIPv4, EthTypeIPv6}
	ipv4Only = []uint16{EthTypeIPv4}
	ipv6Only = []uint16{EthTypeIPv6}
	arpOnly  = []uint16{EthTypeARP, EthTypeRARP}
	mplsAny  = []uint16{EthTypeMPLS, EthTypeMPLSM}
	tcpUDPSC = []uint8{IPProtoTCP, IPProtoUDP, IPProtoSCTP}
)

var k Key

// fields is the registry, indexed by FieldID. Where several fields share a
// key member (tcp_src, udp_src, icmp_type all live in TpSrc) the one listed
// first is preferred when printing a match whose prerequisites fit it.
var fields = [NumFields]Field{
	FieldInPort:   {Name: "in_port", OXMClass: OXMClassOFB, OXMField: 0, Bits: 32, Format: FormatPort, off: unsafe.Offsetof(k.InPort), size: 4},
	FieldMetadata: {Name: "metadata", OXMClass: OXMClassOFB, OXMField: 2, Bits: 64, Maskable: true, Writable: true, Format: FormatHex, off: unsafe.Offsetof(k.Metadata), size: 8},
	FieldReg0:     reg(0),
	FieldReg1:     reg(1),
	FieldReg2:     reg(2),
	FieldReg3:     reg(3),
	FieldReg4:     reg(4),
	FieldReg5:     reg(5),
	FieldReg6:     reg(6),
	FieldReg7:     reg(7),
	FieldTunID:    {Name: "tun_id", Aliases: []string{"tunnel_id"}, OXMClass: OXMClassOFB, OXMField: 38, Bits: 64, Maskable: true, Writable: true, Format: FormatHex, off: unsafe.Offsetof(k.TunID), size: 8},
	FieldTunSrc:   {Name: "tun_src", OXMClass: OXMClassNXM1, OXMField: 31, Bits: 32, Maskable: true, Writable: true, Format: FormatIPv4, off: unsafe.Offsetof(k.TunSrc), size: 4},
	FieldTunDst:   {Name: "tun_dst", OXMClass: OXMClassNXM1, OXMField: 32, Bits: 32, Maskable: true, Writable: true, Format: FormatIPv4, off: unsafe.Offsetof(k.TunDst), size: 4},
	FieldEthSrc:   {Name: "dl_src", Aliases: []string{"eth_src"}, OXMClass: OXMClassOFB, OXMField: 4, Bits: 48, Maskable: true, Writable: true, Format: FormatMAC, off: unsafe.Offsetof(k.EthSrc), size: 6},
	FieldEthDst:   {Name: "dl_dst", Aliases: []string{"eth_dst"}, OXMClass: OXMClassOFB, OXMField: 3, Bits: 48, Maskable: true, Writable: true, Format: FormatMAC, off: unsafe.Offsetof(k.EthDst), size: 6},
	FieldEthType:  {Name: "dl_type", Aliases: []string{"eth_type"}, OXMClass: OXMClassOFB, OXMField: 5, Bits: 16, Format: FormatHex, off: unsafe.Offsetof(k.EthType), size: 2},
	// vlan_tci is the whole tag control information with TCIPresent; it is
	// how a match on the outer tag is stored and printed. vlan_vid and
	// vlan_pcp are the OpenFlow 1.3 views of parts of it.
	FieldVLANTCI: {Name: "vlan_tci", OXMClass: OXMClassNXM0, OXMField: 4, Bits: 16, Maskable: true, Writable: true, Format: FormatHex, off: unsafe.Offsetof(k.VLANs) + 2, size: 2},
	FieldVLANVID: {Name: "vlan_vid", OXMClass: OXMClassOFB, OXMField: 6, Bits: 13, Maskable: true, Writable: true, Format: FormatDec, off: unsafe.Offsetof(k.VLANs) + 2, size: 2},
	FieldVLANPCP: {Name: "vlan_pcp", Aliases: []string{"dl_vlan_pcp"}, OXMClass: OXMClassOFB, OXMField: 7, Bits: 3, Writable: true, Prereq: Prereq{VLAN: true}, Format: FormatDec, off: unsafe.Offsetof(k.VLANs) + 2, size: 2, shift: TCIPCPShift},
	FieldIPProto: {Name: "nw_proto", Aliases: []string{"ip_proto"}, OXMClass: OXMClassOFB, OXMField: 10, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: ipAny}, Format: FormatDec, off: unsafe.Offsetof(k.NwProto), size: 1},
	FieldIPDSCP:  {Name: "ip_dscp", OXMClass: OXMClassOFB, OXMField: 8, Bits: 6, Writable: true, Prereq: Prereq{EthTypes: ipAny}, Format: FormatDec, off: unsafe.Offsetof(k.NwTOS), size: 1, shift: 2},
	FieldIPECN:   {Name: "nw_ecn", Aliases: []string{"ip_ecn"}, OXMClass: OXMClassOFB, OXMField: 9, Bits: 2, Writable: true, Prereq: Prereq{EthTypes: ipAny}, Format: FormatDec, off: unsafe.Offsetof(k.NwTOS), size: 1},
	FieldNwTTL:   {Name: "nw_ttl", OXMClass: OXMClassNXM1, OXMField: 29, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: ipAny}, Format: FormatDec, off: unsafe.Offsetof(k.NwTTL), size: 1},
	FieldIPFrag:  {Name: "nw_frag", Aliases: []string{"ip_frag"}, OXMClass: OXMClassNXM1, OXMField: 26, Bits: 2, Maskable: true, Prereq: Prereq{EthTypes: ipAny}, Format: FormatFrag, off: unsafe.Offsetof(k.NwFrag), size: 1},
	FieldIPv4Src: {Name: "nw_src", Aliases: []string{"ipv4_src", "ip_src"}, OXMClass: OXMClassOFB, OXMField: 11, Bits: 32, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv4Only}, Format: FormatIPv4, off: unsafe.Offsetof(k.NwSrc), size: 4},
	FieldIPv4Dst: {Name: "nw_dst", Aliases: []string{"ipv4_dst", "ip_dst"}, OXMClass: OXMClassOFB, OXMField: 12, Bits: 32, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv4Only}, Format: FormatIPv4, off: unsafe.Offsetof(k.NwDst), size: 4},
	// arp_op is 16 bits on the wire; the key keeps its low byte, as Open
	// vSwitch does, so opcodes above 255 cannot be matched.
	FieldARPOp:      {Name: "arp_op", OXMClass: OXMClassOFB, OXMField: 21, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: arpOnly}, Format: FormatDec, off: unsafe.Offsetof(k.NwProto), size: 1},
	FieldARPSPA:     {Name: "arp_spa", OXMClass: OXMClassOFB, OXMField: 22, Bits: 32, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: arpOnly}, Format: FormatIPv4, off: unsafe.Offsetof(k.NwSrc), size: 4},
	FieldARPTPA:     {Name: "arp_tpa", OXMClass: OXMClassOFB, OXMField: 23, Bits: 32, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: arpOnly}, Format: FormatIPv4, off: unsafe.Offsetof(k.NwDst), size: 4},
	FieldARPSHA:     {Name: "arp_sha", OXMClass: OXMClassOFB, OXMField: 24, Bits: 48, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: arpOnly}, Format: FormatMAC, off: unsafe.Offsetof(k.ArpSHA), size: 6},
	FieldARPTHA:     {Name: "arp_tha", OXMClass: OXMClassOFB, OXMField: 25, Bits: 48, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: arpOnly}, Format: FormatMAC, off: unsafe.Offsetof(k.ArpTHA), size: 6},
	FieldIPv6Src:    {Name: "ipv6_src", OXMClass: OXMClassOFB, OXMField: 26, Bits: 128, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv6Only}, Format: FormatIPv6, off: unsafe.Offsetof(k.IPv6Src), size: 16},
	FieldIPv6Dst:    {Name: "ipv6_dst", OXMClass: OXMClassOFB, OXMField: 27, Bits: 128, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv6Only}, Format: FormatIPv6, off: unsafe.Offsetof(k.IPv6Dst), size: 16},
	FieldIPv6Label:  {Name: "ipv6_label", Aliases: []string{"ipv6_flabel"}, OXMClass: OXMClassOFB, OXMField: 28, Bits: 20, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv6Only}, Format: FormatHex, off: unsafe.Offsetof(k.IPv6Label), size: 4},
	FieldTpSrc:      {Name: "tp_src", Bits: 16, Maskable: true, Writable: true, OXMClass: oxmUnspecified, Prereq: Prereq{EthTypes: ipAny, Protos: tcpUDPSC}, Format: FormatDec, off: unsafe.Offsetof(k.TpSrc), size: 2},
	FieldTpDst:      {Name: "tp_dst", Bits: 16, Maskable: true, Writable: true, OXMClass: oxmUnspecified, Prereq: Prereq{EthTypes: ipAny, Protos: tcpUDPSC}, Format: FormatDec, off: unsafe.Offsetof(k.TpDst), size: 2},
	FieldTCPSrc:     l4port("tcp_src", 13, IPProtoTCP, unsafe.Offsetof(k.TpSrc)),
	FieldTCPDst:     l4port("tcp_dst", 14, IPProtoTCP, unsafe.Offsetof(k.TpDst)),
	FieldUDPSrc:     l4port("udp_src", 15, IPProtoUDP, unsafe.Offsetof(k.TpSrc)),
	FieldUDPDst:     l4port("udp_dst", 16, IPProtoUDP, unsafe.Offsetof(k.TpDst)),
	FieldSCTPSrc:    l4port("sctp_src", 17, IPProtoSCTP, unsafe.Offsetof(k.TpSrc)),
	FieldSCTPDst:    l4port("sctp_dst", 18, IPProtoSCTP, unsafe.Offsetof(k.TpDst)),
	FieldTCPFlags:   {Name: "tcp_flags", OXMClass: OXMClassNXM1, OXMField: 34, Bits: 12, Maskable: true, Prereq: Prereq{EthTypes: ipAny, Protos: []uint8{IPProtoTCP}}, Format: FormatHex, off: unsafe.Offsetof(k.TCPFlags), size: 2},
	FieldICMPv4Type: {Name: "icmp_type", Aliases: []string{"icmpv4_type"}, OXMClass: OXMClassOFB, OXMField: 19, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: ipv4Only, Protos: []uint8{IPProtoICMP}}, Format: FormatDec, off: unsafe.Offsetof(k.TpSrc), size: 2},
	FieldICMPv4Code: {Name: "icmp_code", Aliases: []string{"icmpv4_code"}, OXMClass: OXMClassOFB, OXMField: 20, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: ipv4Only, Protos: []uint8{IPProtoICMP}}, Format: FormatDec, off: unsafe.Offsetof(k.TpDst), size: 2},
	FieldICMPv6Type: {Name: "icmpv6_type", OXMClass: OXMClassOFB, OXMField: 29, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: ipv6Only, Protos: []uint8{IPProtoICMPv6}}, Format: FormatDec, off: unsafe.Offsetof(k.TpSrc), size: 2},
	FieldICMPv6Code: {Name: "icmpv6_code", OXMClass: OXMClassOFB, OXMField: 30, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: ipv6Only, Protos: []uint8{IPProtoICMPv6}}, Format: FormatDec, off: unsafe.Offsetof(k.TpDst), size: 2},
	FieldNDTarget:   {Name: "nd_target", Aliases: []string{"ipv6_nd_target"}, OXMClass: OXMClassOFB, OXMField: 31, Bits: 128, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv6Only, Protos: []uint8{IPProtoICMPv6}, ICMPv6Type: []uint8{ICMPv6NeighborSolicit, ICMPv6NeighborAdvert}}, Format: FormatIPv6, off: unsafe.Offsetof(k.NDTarget), size: 16},
	FieldNDSLL:      {Name: "nd_sll", Aliases: []string{"ipv6_nd_sll"}, OXMClass: OXMClassOFB, OXMField: 32, Bits: 48, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv6Only, Protos: []uint8{IPProtoICMPv6}, ICMPv6Type: []uint8{ICMPv6NeighborSolicit}}, Format: FormatMAC, off: unsafe.Offsetof(k.ArpSHA), size: 6},
	FieldNDTLL:      {Name: "nd_tll", Aliases: []string{"ipv6_nd_tll"}, OXMClass: OXMClassOFB, OXMField: 33, Bits: 48, Maskable: true, Writable: true, Prereq: Prereq{EthTypes: ipv6Only, Protos: []uint8{IPProtoICMPv6}, ICMPv6Type: []uint8{ICMPv6NeighborAdvert}}, Format: FormatMAC, off: unsafe.Offsetof(k.ArpTHA), size: 6},
	// The top MPLS label stack entry's fields. OpenFlow 1.3 makes none of
	// them maskable; mpls_ttl is Open vSwitch's NXM field.
	FieldMPLSLabel: {Name: "mpls_label", OXMClass: OXMClassOFB, OXMField: 34, Bits: 20, Writable: true, Prereq: Prereq{EthTypes: mplsAny}, Format: FormatDec, off: unsafe.Offsetof(k.MPLS), size: 4, shift: MPLSLabelShift},
	FieldMPLSTC:    {Name: "mpls_tc", OXMClass: OXMClassOFB, OXMField: 35, Bits: 3, Writable: true, Prereq: Prereq{EthTypes: mplsAny}, Format: FormatDec, off: unsafe.Offsetof(k.MPLS), size: 4, shift: MPLSTCShift},
	FieldMPLSBoS:   {Name: "mpls_bos", OXMClass: OXMClassOFB, OXMField: 36, Bits: 1, Writable: true, Prereq: Prereq{EthTypes: mplsAny}, Format: FormatDec, off: unsafe.Offsetof(k.MPLS), size: 4, shift: 8},
	FieldMPLSTTL:   {Name: "mpls_ttl", OXMClass: OXMClassNXM1, OXMField: 30, Bits: 8, Writable: true, Prereq: Prereq{EthTypes: mplsAny}, Format: FormatDec, off: unsafe.Offsetof(k.MPLS), size: 4},
}

func reg(i int) Field {
	return Field{Name: fmt.Sprintf("reg%d", i), OXMClass: OXMClassNXM1, OXMField: uint8(i), Bits: 32, Maskable: true, Writable: true, Format: FormatHex,
		off: unsafe.Offsetof(k.Regs) + uintptr(4*i), size: 4}
}

func l4port(name string, oxm uint8, proto uint8, off uintptr) Field {
	return Field{Name: name, OXMClass: OXMClassOFB, OXMField: oxm, Bits: 16, Maskable: true, Writable: true,
		Prereq: Prereq{EthTypes: ipAny, Protos: []uint8{proto}}, Format: FormatDec, off: off, size: 2}
}

var byName = map[string]*Field{}

func init() {
	for i := range fields {
		f := &fields[i]
		f.ID = FieldID(i)
		f.ones = onesOf(f.Bits)
		if f.Name == "" {
			panic(fmt.Sprintf("flow: field %d has no entry", i))
		}
		byName[f.Name] = f
		for _, a := range f.Aliases {
			byName[a] = f
		}
	}
}

// Fields returns the registry, indexed by FieldID. Callers must not modify it.
func Fields() []Field { return fields[:] }

// FieldByID returns the field with the given id.
func FieldByID(id FieldID) *Field { return &fields[id] }

// FieldByName returns the field with the given name or alias, or nil.
func FieldByName(name string) *Field { return byName[name] }

// String returns the field's name.
func (f *Field) String() string { return f.Name }

// Ones returns the value with all of the field's bits set.
func (f *Field) Ones() Value { return f.ones }

func onesOf(bits uint8) Value {
	var v Value
	n := int(bits)
	for i := 15; n > 0; i-- {
		if n >= 8 {
			v[i] = 0xff
		} else {
			v[i] = byte(1<<n - 1)
		}
		n -= 8
	}
	return v
}

// IsUint reports whether f lives in an integer member of the key, so that
// its value fits a uint64 and GetUint, OnesUint and Match.SetMaskedUint
// apply: they are the allocation-free, array-free forms decoding uses.
func (f *Field) IsUint() bool {
	switch f.size {
	case 1, 2, 4, 8:
		return true
	}
	return false
}

// OnesUint is Ones for an IsUint field.
func (f *Field) OnesUint() uint64 { return f.intMask() }

// GetUint is Get for an IsUint field.
func (f *Field) GetUint(k *Key) uint64 {
	p := f.ptr(k)
	switch f.size {
	case 1:
		return uint64(*(*uint8)(p)) >> f.shift & f.intMask()
	case 2:
		return uint64(*(*uint16)(p)) >> f.shift & f.intMask()
	case 4:
		return uint64(*(*uint32)(p)) >> f.shift & f.intMask()
	}
	return *(*uint64)(p)
}

// setUint is SetMasked for an IsUint field.
func (f *Field) setUint(k *Key, v, mask uint64) {
	p := f.ptr(k)
	m := mask & f.intMask() << f.shift
	x := v << f.shift & m
	switch f.size {
	case 1:
		*(*uint8)(p) = *(*uint8)(p)&^uint8(m) | uint8(x)
	case 2:
		*(*uint16)(p) = *(*uint16)(p)&^uint16(m) | uint16(x)
	case 4:
		*(*uint32)(p) = *(*uint32)(p)&^uint32(m) | uint32(x)
	default:
		*(*uint64)(p) = *(*uint64)(p)&^mask | v&mask
	}
}

// SameStorage reports whether f and o live in the same bits of a Key.
func (f *Field) SameStorage(o *Field) bool {
	return f.off == o.off && f.size == o.size && f.shift == o.shift && f.Bits == o.Bits
}

func (f *Field) ptr(k *Key) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(k), f.off)
}

func (f *Field) intMask() uint64 { return 1<<f.Bits - 1 }

// Get returns the field's value in k.
func (f *Field) Get(k *Key) Value {
	p := f.ptr(k)
	switch f.size {
	case 1:
		return ValueOf(uint64(*(*uint8)(p)) >> f.shift & f.intMask())
	case 2:
		return ValueOf(uint64(*(*uint16)(p)) >> f.shift & f.intMask())
	case 4:
		return ValueOf(uint64(*(*uint32)(p)) >> f.shift & f.intMask())
	case 8:
		return ValueOf(*(*uint64)(p))
	default:
		return ValueBytes(unsafe.Slice((*byte)(p), f.size))
	}
}

// Set writes v into the field in k; bits of v beyond the field's width are
// ignored.
func (f *Field) Set(k *Key, v Value) { f.SetMasked(k, v, f.Ones()) }

// SetMasked writes the bits of v selected by mask into the field in k.
func (f *Field) SetMasked(k *Key, v, mask Value) {
	p := f.ptr(k)
	switch f.size {
	case 1, 2, 4:
		m := mask.U64() & f.intMask() << f.shift
		x := v.U64() << f.shift & m
		switch f.size {
		case 1:
			*(*uint8)(p) = *(*uint8)(p)&^uint8(m) | uint8(x)
		case 2:
			*(*uint16)(p) = *(*uint16)(p)&^uint16(m) | uint16(x)
		case 4:
			*(*uint32)(p) = *(*uint32)(p)&^uint32(m) | uint32(x)
		}
	case 8:
		m := mask.U64()
		*(*uint64)(p) = *(*uint64)(p)&^m | v.U64()&m
	default:
		b := unsafe.Slice((*byte)(p), f.size)
		off := 16 - int(f.size)
		for i := range b {
			b[i] = b[i]&^mask[off+i] | v[off+i]&mask[off+i]
		}
	}
}

// GetMask returns the field's bits of m.
func (f *Field) GetMask(m *Mask) Value { return f.Get((*Key)(m)) }

// IsWildcard reports whether m examines none of the field's bits.
func (f *Field) IsWildcard(m *Mask) bool { return f.GetMask(m) == Value{} }

// IsExact reports whether m examines all of the field's bits.
func (f *Field) IsExact(m *Mask) bool { return f.GetMask(m) == f.Ones() }
