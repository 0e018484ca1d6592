package action

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
)

// Outputter receives the packets an action list outputs, and runs its
// meters. Its methods borrow p until they return: they copy what they
// keep, because later actions go on rewriting p.
type Outputter interface {
	// Output sends p to port. When last is true the output is the list's
	// last action, so Execute neither reads nor rewrites p after it: the
	// outputter may keep p itself instead of a copy, for as long as the
	// caller of Execute lets it (the datapath: until it writes its batch,
	// before Process returns).
	Output(port uint32, p *packet.Packet, last bool)
	Controller(p *packet.Packet, a *Action)
	// Meter measures p against meter id (without changing p) and says
	// what to do with it. It must not allocate.
	Meter(id uint32, p *packet.Packet) MeterVerdict
}

// MeterVerdict is what a meter decides for one packet: pass it unchanged
// (the zero MeterVerdict), drop it, or raise its DSCP drop precedence by
// PrecLevel (a dscp_remark band).
type MeterVerdict struct {
	Drop      bool
	PrecLevel uint8
}

// Execute runs acts on p, rewriting it in place, and returns the drop
// reason if the list ends in a drop (DropNone otherwise). It never
// allocates.
func Execute(p *packet.Packet, acts []Action, out Outputter) DropReason {
	var lay layout
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case Output:
			out.Output(a.Port, p, i == len(acts)-1)
		case PushVLAN:
			if gap, ok := p.Insert(12, 4); ok {
				binary.BigEndian.PutUint16(gap[0:2], a.TPID)
				binary.BigEndian.PutUint16(gap[2:4], a.TCI&^flow.TCIPresent)
			}
			lay.valid = false
		case PopVLAN:
			if d := p.Data(); len(d) >= 18 && isTPID(binary.BigEndian.Uint16(d[12:14])) {
				p.Remove(12, 4)
			}
			lay.valid = false
		case SetVLAN:
			if d := p.Data(); len(d) >= 18 && isTPID(binary.BigEndian.Uint16(d[12:14])) {
				binary.BigEndian.PutUint16(d[14:16], a.TCI&^flow.TCIPresent)
			}
		case PushMPLS:
			if off, ok := l2End(p.Data()); ok {
				if gap, ok := p.Insert(off, packet.MPLSLen); ok {
					binary.BigEndian.PutUint32(gap, a.LSE)
					binary.BigEndian.PutUint16(p.Data()[off-2:off], a.EthType)
				}
			}
			lay.valid = false
		case PopMPLS:
			if off, ok := l2End(p.Data()); ok && isMPLS(p.Data(), off) && p.Len() >= off+packet.MPLSLen {
				binary.BigEndian.PutUint16(p.Data()[off-2:off], a.EthType)
				p.Remove(off, packet.MPLSLen)
			}
			lay.valid = false
		case SetMPLS:
			if off, ok := l2End(p.Data()); ok && isMPLS(p.Data(), off) && p.Len() >= off+packet.MPLSLen {
				h := p.Data()[off : off+packet.MPLSLen]
				binary.BigEndian.PutUint32(h, binary.BigEndian.Uint32(h)&^a.LSEMask|a.LSE&a.LSEMask)
			}
		case Set:
			if !lay.valid {
				lay.compute(p.Data())
			}
			setField(p, &lay, a)
		case SetTunnel:
			p.Tun.ID = a.TunID
		case Controller:
			out.Controller(p, a)
		case Drop:
			return a.Reason
		case Meter:
			v := out.Meter(a.Port, p)
			if v.Drop {
				return DropMeter
			}
			if v.PrecLevel != 0 {
				if !lay.valid {
					lay.compute(p.Data())
				}
				remarkDSCP(p, &lay, v.PrecLevel)
			}
		}
	}
	return DropNone
}

// remarkDSCP raises the drop precedence of an IP packet's DSCP by n
// levels, as a meter's dscp_remark band asks. Drop precedence is defined
// for the Assured Forwarding codepoints (RFC 2597: AFcd is class c, drop
// precedence d, both 1-4 and 1-3), so AFcd becomes AFc(min(d+n, 3)) and
// other codepoints are left alone, as are non-IP packets.
func remarkDSCP(p *packet.Packet, l *layout, n uint8) {
	if l.l3 == 0 {
		return
	}
	h := p.Data()[l.l3:]
	var tos uint8
	switch l.ethType {
	case flow.EthTypeIPv4:
		tos = packet.IPv4(h).TOS()
	case flow.EthTypeIPv6:
		tos = packet.IPv6(h).TrafficClass()
	default:
		return
	}
	dscp := tos >> 2
	class, prec := dscp>>3, dscp>>1&3
	if class < 1 || class > 4 || prec == 0 || dscp&1 != 0 {
		return
	}
	prec = uint8(min(int(prec)+int(n), 3))
	nt := (class<<3|prec<<1)<<2 | tos&3
	if l.ethType == flow.EthTypeIPv6 {
		packet.IPv6(h).SetTrafficClass(nt)
		return
	}
	old := binary.BigEndian.Uint16(h[0:2])
	ip := packet.IPv4(h)
	ip.SetTOS(nt)
	ip.SetChecksum(packet.UpdateChecksum16(ip.Checksum(), old, binary.BigEndian.Uint16(h[0:2])))
}

// l2End returns the offset just past the ethertype that follows the
// Ethernet header and its VLAN tags: where an MPLS label stack starts.
func l2End(d []byte) (int, bool) {
	off := 12
	for len(d) >= off+2 && isTPID(binary.BigEndian.Uint16(d[off:off+2])) {
		off += packet.VLANTagLen
	}
	if len(d) < off+2 {
		return 0, false
	}
	return off + 2, true
}

// isMPLS reports whether the ethertype before off is an MPLS one.
func isMPLS(d []byte, off int) bool {
	t := binary.BigEndian.Uint16(d[off-2 : off])
	return t == flow.EthTypeMPLS || t == flow.EthTypeMPLSM
}

func isTPID(t uint16) bool { return t == flow.EthTypeVLAN || t == flow.EthTypeQinQ }

// layout is where a frame's L3 and L4 headers are, found once per action
// list that rewrites fields and again after a tag push or pop.
type layout struct {
	valid   bool
	l3, l4  int
	ethType uint16
	proto   uint8
	frag    uint8
}

func (l *layout) compute(data []byte) {
	var k flow.Key
	o := packet.ParseOffsets(data, 0, &k)
	*l = layout{valid: true, l3: o.L3, l4: o.L4, ethType: k.EthType, proto: k.NwProto, frag: k.NwFrag}
}

// csumPartial reports whether the L4 checksum field holds only the
// pseudo-header sum because the packet's checksum is offloaded (virtio
// NEEDS_CSUM): the receiver finishes it over the segment as it is then.
func csumPartial(p *packet.Packet) bool {
	return p.GSO.Flags&packet.VirtioNetHdrFNeedsCsum != 0
}

// setField writes one field into the frame and repairs the checksums that
// cover it.
func setField(p *packet.Packet, l *layout, a *Action) {
	d := p.Data()
	v := a.Value
	switch a.Field {
	case flow.FieldEthDst:
		copy(d[0:6], maskBytes(d[0:6], v[10:16], a.Mask[10:16]))
		return
	case flow.FieldEthSrc:
		copy(d[6:12], maskBytes(d[6:12], v[10:16], a.Mask[10:16]))
		return
	}
	if l.l3 == 0 {
		return
	}
	h := d[l.l3:]
	switch l.ethType {
	case flow.EthTypeIPv4:
		setIPv4(p, l, h, a)
	case flow.EthTypeIPv6:
		setIPv6(p, l, h, a)
	case flow.EthTypeARP, flow.EthTypeRARP:
		setARP(h, a)
	}
}

func maskBytes(old, v, m []byte) []byte {
	var out [16]byte
	for i := range old {
		out[i] = old[i]&^m[i] | v[i]&m[i]
	}
	return out[:len(old)]
}

func merge32(old uint32, a *Action) uint32 {
	m := uint32(a.Mask.U64())
	return old&^m | uint32(a.Value.U64())&m
}

func merge16(old uint16, a *Action) uint16 {
	m := uint16(a.Mask.U64())
	return old&^m | uint16(a.Value.U64())&m
}

func setIPv4(p *packet.Packet, l *layout, h []byte, a *Action) {
	ip := packet.IPv4(h)
	switch a.Field {
	case flow.FieldIPv4Src, flow.FieldIPv4Dst:
		off := 12
		if a.Field == flow.FieldIPv4Dst {
			off = 16
		}
		old := binary.BigEndian.Uint32(h[off:])
		nv := merge32(old, a)
		binary.BigEndian.PutUint32(h[off:], nv)
		ip.SetChecksum(packet.UpdateChecksum32(ip.Checksum(), old, nv))
		pseudo32(p, l, old, nv)
	case flow.FieldIPDSCP, flow.FieldIPECN:
		old := binary.BigEndian.Uint16(h[0:2])
		tos := h[1]
		h[1] = tosMerge(tos, a)
		ip.SetChecksum(packet.UpdateChecksum16(ip.Checksum(), old, binary.BigEndian.Uint16(h[0:2])))
	case flow.FieldNwTTL:
		old := binary.BigEndian.Uint16(h[8:10])
		h[8] = byte(a.Value.U64())
		ip.SetChecksum(packet.UpdateChecksum16(ip.Checksum(), old, binary.BigEndian.Uint16(h[8:10])))
	case flow.FieldIPProto:
		old := binary.BigEndian.Uint16(h[8:10])
		h[9] = byte(a.Value.U64())
		ip.SetChecksum(packet.UpdateChecksum16(ip.Checksum(), old, binary.BigEndian.Uint16(h[8:10])))
	default:
		setL4(p, l, a)
	}
}

// tosMerge applies a DSCP (bits 2..7) or ECN (bits 0..1) set to a TOS byte.
func tosMerge(tos uint8, a *Action) uint8 {
	v, m := uint8(a.Value.U64()), uint8(a.Mask.U64())
	if a.Field == flow.FieldIPDSCP {
		return tos&^(m<<2) | (v&m)<<2
	}
	return tos&^(m&3) | v&m&3
}

func setIPv6(p *packet.Packet, l *layout, h []byte, a *Action) {
	switch a.Field {
	case flow.FieldIPv6Src, flow.FieldIPv6Dst:
		off := 8
		if a.Field == flow.FieldIPv6Dst {
			off = 24
		}
		old := [16]byte(h[off : off+16])
		copy(h[off:off+16], maskBytes(h[off:off+16], a.Value[:], a.Mask[:]))
		pseudo128(p, l, old, [16]byte(h[off:off+16]))
	case flow.FieldIPv6Label:
		w := binary.BigEndian.Uint32(h[0:4])
		m := uint32(a.Mask.U64()) & 0xfffff
		binary.BigEndian.PutUint32(h[0:4], w&^m|uint32(a.Value.U64())&m)
	case flow.FieldIPDSCP, flow.FieldIPECN:
		tc := packet.IPv6(h).TrafficClass()
		packet.IPv6(h).SetTrafficClass(tosMerge(tc, a))
	case flow.FieldNwTTL:
		h[7] = byte(a.Value.U64())
	case flow.FieldIPProto:
		if l.l4 == l.l3+40 { // no extension headers: the next header is the protocol
			h[6] = byte(a.Value.U64())
		}
	case flow.FieldNDTarget:
		if l.l4 == 0 || len(p.Data()) < l.l4+24 {
			return
		}
		icmp := p.Data()[l.l4:]
		old := [16]byte(icmp[8:24])
		copy(icmp[8:24], maskBytes(icmp[8:24], a.Value[:], a.Mask[:]))
		csum := binary.BigEndian.Uint16(icmp[2:4])
		binary.BigEndian.PutUint16(icmp[2:4], packet.UpdateChecksum128(csum, old, [16]byte(icmp[8:24])))
	case flow.FieldNDSLL, flow.FieldNDTLL:
		setNDOption(p, l, a)
	default:
		setL4(p, l, a)
	}
}

// setNDOption rewrites the source (NS) or target (NA) link-layer address
// option of a neighbor discovery message.
func setNDOption(p *packet.Packet, l *layout, a *Action) {
	d := p.Data()
	if l.l4 == 0 || len(d) < l.l4+24 {
		return
	}
	want := byte(1)
	if a.Field == flow.FieldNDTLL {
		want = 2
	}
	icmp := d[l.l4:]
	for off := 24; off+8 <= len(icmp); {
		n := int(icmp[off+1]) * 8
		if n == 0 || off+n > len(icmp) {
			return
		}
		if icmp[off] == want && n == 8 {
			mac := icmp[off+2 : off+8]
			var old [6]byte
			copy(old[:], mac)
			copy(mac, maskBytes(mac, a.Value[10:16], a.Mask[10:16]))
			csum := binary.BigEndian.Uint16(icmp[2:4])
			for i := 0; i < 6; i += 2 {
				csum = packet.UpdateChecksum16(csum, binary.BigEndian.Uint16(old[i:]), binary.BigEndian.Uint16(mac[i:]))
			}
			binary.BigEndian.PutUint16(icmp[2:4], csum)
			return
		}
		off += n
	}
}

func setARP(h []byte, a *Action) {
	arp := packet.ARP(h)
	if len(h) < 28 {
		return
	}
	switch a.Field {
	case flow.FieldARPOp:
		arp.SetOp(merge16(arp.Op(), a))
	case flow.FieldARPSPA:
		arp.SetSPA(merge32(arp.SPA(), a))
	case flow.FieldARPTPA:
		arp.SetTPA(merge32(arp.TPA(), a))
	case flow.FieldARPSHA:
		copy(h[8:14], maskBytes(h[8:14], a.Value[10:16], a.Mask[10:16]))
	case flow.FieldARPTHA:
		copy(h[18:24], maskBytes(h[18:24], a.Value[10:16], a.Mask[10:16]))
	}
}

// l4CsumOffset returns where the L4 checksum is (relative to the L4
// header) and whether it is a UDP checksum (0 = none); -1 if the protocol
// has none we update incrementally.
func l4CsumOffset(proto uint8) (off int, udp bool) {
	switch proto {
	case flow.IPProtoTCP:
		return 16, false
	case flow.IPProtoUDP:
		return 6, true
	case flow.IPProtoICMPv6:
		return 2, false
	}
	return -1, false
}

// pseudo32 repairs the L4 checksum after an IPv4 address in the pseudo
// header changed.
func pseudo32(p *packet.Packet, l *layout, old, nv uint32) {
	off, udp := l4CsumOffset(l.proto)
	d := p.Data()
	if l.l4 == 0 || off < 0 || l.proto == flow.IPProtoICMPv6 || len(d) < l.l4+off+2 {
		return
	}
	c := binary.BigEndian.Uint16(d[l.l4+off:])
	switch {
	case csumPartial(p):
		c = ^packet.UpdateChecksum32(^c, old, nv)
	case udp:
		c = packet.UpdateUDPChecksum32(c, old, nv)
	default:
		c = packet.UpdateChecksum32(c, old, nv)
	}
	binary.BigEndian.PutUint16(d[l.l4+off:], c)
}

func pseudo128(p *packet.Packet, l *layout, old, nv [16]byte) {
	off, udp := l4CsumOffset(l.proto)
	d := p.Data()
	if l.l4 == 0 || off < 0 || len(d) < l.l4+off+2 {
		return
	}
	c := binary.BigEndian.Uint16(d[l.l4+off:])
	switch {
	case csumPartial(p):
		c = ^packet.UpdateChecksum128(^c, old, nv)
	case udp:
		c = packet.UpdateUDPChecksum128(c, old, nv)
	default:
		c = packet.UpdateChecksum128(c, old, nv)
	}
	binary.BigEndian.PutUint16(d[l.l4+off:], c)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// setL4 rewrites transport ports or ICMP type/code.
func setL4(p *packet.Packet, l *layout, a *Action) {
	d := p.Data()
	if l.l4 == 0 || len(d) < l.l4+4 {
		return
	}
	h := d[l.l4:]
	switch a.Field {
	case flow.FieldTpSrc, flow.FieldTpDst, flow.FieldTCPSrc, flow.FieldTCPDst,
		flow.FieldUDPSrc, flow.FieldUDPDst, flow.FieldSCTPSrc, flow.FieldSCTPDst:
		off := 0
		switch a.Field {
		case flow.FieldTpDst, flow.FieldTCPDst, flow.FieldUDPDst, flow.FieldSCTPDst:
			off = 2
		}
		old := binary.BigEndian.Uint16(h[off:])
		nv := merge16(old, a)
		binary.BigEndian.PutUint16(h[off:], nv)
		switch l.proto {
		case flow.IPProtoTCP:
			if len(h) >= 18 && !csumPartial(p) {
				binary.BigEndian.PutUint16(h[16:], packet.UpdateChecksum16(binary.BigEndian.Uint16(h[16:]), old, nv))
			}
		case flow.IPProtoUDP:
			if len(h) >= 8 && !csumPartial(p) {
				binary.BigEndian.PutUint16(h[6:], packet.UpdateUDPChecksum16(binary.BigEndian.Uint16(h[6:]), old, nv))
			}
		case flow.IPProtoSCTP:
			if len(h) >= 12 {
				// SCTP's checksum is a CRC32c of the whole packet. As
				// Open vSwitch does, carry over whatever error the old
				// checksum had, so a switch never makes a broken packet
				// look good.
				sum := binary.LittleEndian.Uint32(h[8:12])
				binary.LittleEndian.PutUint32(h[8:12], 0)
				binary.BigEndian.PutUint16(h[off:], old)
				sum ^= crc32.Checksum(h, castagnoli)
				binary.BigEndian.PutUint16(h[off:], nv)
				sum ^= crc32.Checksum(h, castagnoli)
				binary.LittleEndian.PutUint32(h[8:12], sum)
			}
		}
	case flow.FieldICMPv4Type, flow.FieldICMPv6Type, flow.FieldICMPv4Code, flow.FieldICMPv6Code:
		old := binary.BigEndian.Uint16(h[0:2])
		if a.Field == flow.FieldICMPv4Type || a.Field == flow.FieldICMPv6Type {
			h[0] = byte(a.Value.U64())
		} else {
			h[1] = byte(a.Value.U64())
		}
		binary.BigEndian.PutUint16(h[2:], packet.UpdateChecksum16(binary.BigEndian.Uint16(h[2:]), old, binary.BigEndian.Uint16(h[0:2])))
	}
}
