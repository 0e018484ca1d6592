package packet

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

// TestViewSetters sets each field through a view on a patterned buffer and
// checks that the getter reads it back and that exactly the field's bytes
// (want, at off) changed.
func TestViewSetters(t *testing.T) {
	mac := [6]byte{1, 2, 3, 4, 5, 6}
	addr := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 9}
	tests := []struct {
		name string
		set  func(b []byte)
		get  func(b []byte) any
		val  any
		off  int
		want []byte
	}{
		{"Ethernet.Dst", func(b []byte) { Ethernet(b).SetDst(mac) }, func(b []byte) any { return Ethernet(b).Dst() }, mac, 0, mac[:]},
		{"Ethernet.Src", func(b []byte) { Ethernet(b).SetSrc(mac) }, func(b []byte) any { return Ethernet(b).Src() }, mac, 6, mac[:]},
		{"Ethernet.Type", func(b []byte) { Ethernet(b).SetType(0x86dd) }, func(b []byte) any { return Ethernet(b).Type() }, uint16(0x86dd), 12, []byte{0x86, 0xdd}},
		{"VLANTag.TPID", func(b []byte) { VLANTag(b).SetTPID(0x88a8) }, func(b []byte) any { return VLANTag(b).TPID() }, uint16(0x88a8), 0, []byte{0x88, 0xa8}},
		{"VLANTag.TCI", func(b []byte) { VLANTag(b).SetTCI(0x2064) }, func(b []byte) any { return VLANTag(b).TCI() }, uint16(0x2064), 2, []byte{0x20, 0x64}},
		{"ARP.Op", func(b []byte) { ARP(b).SetOp(2) }, func(b []byte) any { return ARP(b).Op() }, uint16(2), 6, []byte{0, 2}},
		{"ARP.SHA", func(b []byte) { ARP(b).SetSHA(mac) }, func(b []byte) any { return ARP(b).SHA() }, mac, 8, mac[:]},
		{"ARP.SPA", func(b []byte) { ARP(b).SetSPA(0xcb007101) }, func(b []byte) any { return ARP(b).SPA() }, uint32(0xcb007101), 14, []byte{203, 0, 113, 1}},
		{"ARP.THA", func(b []byte) { ARP(b).SetTHA(mac) }, func(b []byte) any { return ARP(b).THA() }, mac, 18, mac[:]},
		{"ARP.TPA", func(b []byte) { ARP(b).SetTPA(0xcb007102) }, func(b []byte) any { return ARP(b).TPA() }, uint32(0xcb007102), 24, []byte{203, 0, 113, 2}},
		{"IPv4.TOS", func(b []byte) { IPv4(b).SetTOS(0xb8) }, func(b []byte) any { return IPv4(b).TOS() }, uint8(0xb8), 1, []byte{0xb8}},
		{"IPv4.TotalLen", func(b []byte) { IPv4(b).SetTotalLen(1500) }, func(b []byte) any { return IPv4(b).TotalLen() }, uint16(1500), 2, []byte{0x05, 0xdc}},
		{"IPv4.ID", func(b []byte) { IPv4(b).SetID(7) }, func(b []byte) any { return IPv4(b).ID() }, uint16(7), 4, []byte{0, 7}},
		{"IPv4.FragOff", func(b []byte) { IPv4(b).SetFragOff(IPv4MoreFragments | 3) }, func(b []byte) any { return IPv4(b).FragOff() }, uint16(0x2003), 6, []byte{0x20, 3}},
		{"IPv4.TTL", func(b []byte) { IPv4(b).SetTTL(63) }, func(b []byte) any { return IPv4(b).TTL() }, uint8(63), 8, []byte{63}},
		{"IPv4.Protocol", func(b []byte) { IPv4(b).SetProtocol(6) }, func(b []byte) any { return IPv4(b).Protocol() }, uint8(6), 9, []byte{6}},
		{"IPv4.Checksum", func(b []byte) { IPv4(b).SetChecksum(0xbeef) }, func(b []byte) any { return IPv4(b).Checksum() }, uint16(0xbeef), 10, []byte{0xbe, 0xef}},
		{"IPv4.Src", func(b []byte) { IPv4(b).SetSrc(0x0a000001) }, func(b []byte) any { return IPv4(b).Src() }, uint32(0x0a000001), 12, []byte{10, 0, 0, 1}},
		{"IPv4.Dst", func(b []byte) { IPv4(b).SetDst(0x0a000002) }, func(b []byte) any { return IPv4(b).Dst() }, uint32(0x0a000002), 16, []byte{10, 0, 0, 2}},
		{"IPv6.TrafficClass", func(b []byte) { IPv6(b).SetTrafficClass(0xb9) }, func(b []byte) any { return IPv6(b).TrafficClass() }, uint8(0xb9), 0, []byte{0xab, 0x95}},
		{"IPv6.FlowLabel", func(b []byte) { IPv6(b).SetFlowLabel(0xf12345) }, func(b []byte) any { return IPv6(b).FlowLabel() }, uint32(0x12345), 1, []byte{0xa1, 0x23, 0x45}},
		{"IPv6.PayloadLen", func(b []byte) { IPv6(b).SetPayloadLen(20) }, func(b []byte) any { return IPv6(b).PayloadLen() }, uint16(20), 4, []byte{0, 20}},
		{"IPv6.NextHeader", func(b []byte) { IPv6(b).SetNextHeader(58) }, func(b []byte) any { return IPv6(b).NextHeader() }, uint8(58), 6, []byte{58}},
		{"IPv6.HopLimit", func(b []byte) { IPv6(b).SetHopLimit(255) }, func(b []byte) any { return IPv6(b).HopLimit() }, uint8(255), 7, []byte{255}},
		{"IPv6.Src", func(b []byte) { IPv6(b).SetSrc(addr) }, func(b []byte) any { return IPv6(b).Src() }, addr, 8, addr[:]},
		{"IPv6.Dst", func(b []byte) { IPv6(b).SetDst(addr) }, func(b []byte) any { return IPv6(b).Dst() }, addr, 24, addr[:]},
		{"TCP.SrcPort", func(b []byte) { TCP(b).SetSrcPort(443) }, func(b []byte) any { return TCP(b).SrcPort() }, uint16(443), 0, []byte{1, 0xbb}},
		{"TCP.DstPort", func(b []byte) { TCP(b).SetDstPort(80) }, func(b []byte) any { return TCP(b).DstPort() }, uint16(80), 2, []byte{0, 80}},
		{"TCP.Seq", func(b []byte) { TCP(b).SetSeq(0x01020304) }, func(b []byte) any { return TCP(b).Seq() }, uint32(0x01020304), 4, []byte{1, 2, 3, 4}},
		{"TCP.Flags", func(b []byte) { TCP(b).SetFlags(0xf012) }, func(b []byte) any { return TCP(b).Flags() }, uint16(0x012), 12, []byte{0xa0, 0x12}},
		{"TCP.Checksum", func(b []byte) { TCP(b).SetChecksum(0x1234) }, func(b []byte) any { return TCP(b).Checksum() }, uint16(0x1234), 16, []byte{0x12, 0x34}},
		{"UDP.SrcPort", func(b []byte) { UDP(b).SetSrcPort(53) }, func(b []byte) any { return UDP(b).SrcPort() }, uint16(53), 0, []byte{0, 53}},
		{"UDP.DstPort", func(b []byte) { UDP(b).SetDstPort(67) }, func(b []byte) any { return UDP(b).DstPort() }, uint16(67), 2, []byte{0, 67}},
		{"UDP.Length", func(b []byte) { UDP(b).SetLength(8) }, func(b []byte) any { return UDP(b).Length() }, uint16(8), 4, []byte{0, 8}},
		{"UDP.Checksum", func(b []byte) { UDP(b).SetChecksum(0xffff) }, func(b []byte) any { return UDP(b).Checksum() }, uint16(0xffff), 6, []byte{0xff, 0xff}},
		{"SCTP.SrcPort", func(b []byte) { SCTP(b).SetSrcPort(1) }, func(b []byte) any { return SCTP(b).SrcPort() }, uint16(1), 0, []byte{0, 1}},
		{"SCTP.DstPort", func(b []byte) { SCTP(b).SetDstPort(2) }, func(b []byte) any { return SCTP(b).DstPort() }, uint16(2), 2, []byte{0, 2}},
		{"SCTP.Checksum", func(b []byte) { SCTP(b).SetChecksum(0x01020304) }, func(b []byte) any { return SCTP(b).Checksum() }, uint32(0x01020304), 8, []byte{4, 3, 2, 1}},
		{"ICMP.Type", func(b []byte) { ICMP(b).SetType(3) }, func(b []byte) any { return ICMP(b).Type() }, uint8(3), 0, []byte{3}},
		{"ICMP.Code", func(b []byte) { ICMP(b).SetCode(4) }, func(b []byte) any { return ICMP(b).Code() }, uint8(4), 1, []byte{4}},
		{"ICMP.Checksum", func(b []byte) { ICMP(b).SetChecksum(0xabcd) }, func(b []byte) any { return ICMP(b).Checksum() }, uint16(0xabcd), 2, []byte{0xab, 0xcd}},
		{"ND.Target", func(b []byte) { ND(b).SetTarget(addr) }, func(b []byte) any { return ND(b).Target() }, addr, 8, addr[:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xa5}, 64)
			want := bytes.Clone(b)
			copy(want[tt.off:], tt.want)
			tt.set(b)
			if got := tt.get(b); got != tt.val {
				t.Errorf("get after set (-want +got):\n-%#v\n+%#v", tt.val, got)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("bytes (-want +got):\n-% x\n+% x", want, b)
			}
		})
	}
}

func TestViewGetters(t *testing.T) {
	f := eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, tos: 0x10, ttl: 64, frag: IPv4DontFragment, opts: []byte{1, 1, 1, 0}}.build(
		tcp(1, 2, 0x18, []byte{1, 1, 1, 0}, []byte("data"))))
	ip := IPv4(f[EthernetLen:])
	tp := TCP(ip.Payload())
	got := fmt.Sprint(ip.Version(), ip.HeaderLen(), ip.TotalLen(), ip.FragOff(), tp.DataOffset(), tp.Flags(), tp.Seq(), tp.Ack(), tp.Window(), len(ip.Payload()), len(Ethernet(f).Payload()))
	want := fmt.Sprint(4, 24, 24+24+4, IPv4DontFragment, 24, 0x18, 1000, 2000, 65535, 24+4, len(f)-14)
	if got != want {
		t.Errorf("getters (-want +got):\n-%s\n+%s", want, got)
	}
	// Payload stops at the total length, before Ethernet padding.
	p := pad(eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B}.build(udp(1, 2, nil))))
	if n := len(IPv4(p[EthernetLen:]).Payload()); n != UDPLen {
		t.Errorf("padded IPv4 payload is %d bytes, want %d", n, UDPLen)
	}
	a := ARP(arp(1, macA, 1, macB, 2))
	if !a.IsEthernetIPv4() || a.HType() != 1 || a.PType() != 0x800 || a.HLen() != 6 || a.PLen() != 4 {
		t.Errorf("ARP fixed fields wrong: % x", []byte(a))
	}
}

func TestNDLinkAddr(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		typ  uint8
		want []byte // nil: no address
	}{
		{"sll", nd(135, 0, ip6B, ndOpt(1, macB)), NDOptSourceLinkAddr, macB[:]},
		{"tll-after-nonce", nd(136, 0, ip6B, []byte{14, 1, 0, 0, 0, 0, 0, 0}, ndOpt(2, macC)), NDOptTargetLinkAddr, macC[:]},
		{"absent", nd(135, 0, ip6B, ndOpt(2, macC)), NDOptSourceLinkAddr, nil},
		{"no-options", nd(135, 0, ip6B), NDOptSourceLinkAddr, nil},
		{"zero-length", nd(135, 0, ip6B, ndOpt(1, macB), []byte{3, 0, 0, 0, 0, 0, 0, 0}), NDOptSourceLinkAddr, nil},
		{"overrun", nd(135, 0, ip6B, ndOpt(1, macB), []byte{3, 4, 0, 0, 0, 0, 0, 0}), NDOptSourceLinkAddr, nil},
		{"duplicate", nd(135, 0, ip6B, ndOpt(1, macB), ndOpt(1, macC)), NDOptSourceLinkAddr, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ND(tt.msg).LinkAddr(tt.typ)
			if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("LinkAddr (-want +got):\n-% x\n+% x", tt.want, got)
			}
			if got != nil {
				copy(got, macA[:]) // writes through to the message
				if again := ND(tt.msg).LinkAddr(tt.typ); !bytes.Equal(again, macA[:]) {
					t.Errorf("after rewrite LinkAddr = % x, want % x", again, macA[:])
				}
			}
		})
	}
}

// TestRewrite does what the action executor does for set_field: rewrite a
// header through a view, update checksums incrementally, and checks that
// the packet then verifies and parses to the new value.
func TestRewrite(t *testing.T) {
	newIP4 := uint32(0x0a000063)
	newIP6 := [16]byte{0xfd, 0x00, 15: 0x63}
	tests := []struct {
		name    string
		frame   []byte
		rewrite func(f []byte, o Offsets, k *flow.Key)
		check   func(k *flow.Key) bool
	}{
		{"ipv4-src-tcp", eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, ttl: 64}.build(tcp(1, 2, 0x10, nil, []byte("abc")))),
			func(f []byte, o Offsets, k *flow.Key) {
				ip, th := IPv4(f[o.L3:]), TCP(f[o.L4:])
				old := ip.Src()
				ip.SetSrc(newIP4)
				ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, newIP4))
				th.SetChecksum(UpdateChecksum32(th.Checksum(), old, newIP4))
			}, func(k *flow.Key) bool { return k.NwSrc == newIP4 }},
		{"ipv4-dst-udp", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, []byte("abcde")))),
			func(f []byte, o Offsets, k *flow.Key) {
				ip, uh := IPv4(f[o.L3:]), UDP(f[o.L4:])
				old := ip.Dst()
				ip.SetDst(newIP4)
				ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, newIP4))
				uh.SetChecksum(UpdateUDPChecksum32(uh.Checksum(), old, newIP4))
			}, func(k *flow.Key) bool { return k.NwDst == newIP4 }},
		{"ipv4-ttl-tos", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, nil))),
			func(f []byte, o Offsets, k *flow.Key) {
				ip := IPv4(f[o.L3:])
				c := UpdateChecksum16(ip.Checksum(), uint16(ip.TTL())<<8, 63<<8)
				ip.SetTTL(63)
				ip.SetChecksum(UpdateChecksum16(c, uint16(ip.TOS()), 0x2e<<2))
				ip.SetTOS(0x2e << 2)
			}, func(k *flow.Key) bool { return k.NwTTL == 63 && k.NwTOS == 0xb8 }},
		{"udp-ports", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, []byte("x")))),
			func(f []byte, o Offsets, k *flow.Key) {
				uh := UDP(f[o.L4:])
				uh.SetChecksum(UpdateUDPChecksum16(uh.Checksum(), uh.SrcPort(), 5353))
				uh.SetSrcPort(5353)
			}, func(k *flow.Key) bool { return k.TpSrc == 5353 }},
		{"ipv6-dst-tcp", eth(flow.EthTypeIPv6, ip6{next: 6, src: ip6A, dst: ip6B, hlim: 64}.build(tcp(1, 2, 0x10, nil, []byte("abc")), 6, 0)),
			func(f []byte, o Offsets, k *flow.Key) {
				ip, th := IPv6(f[o.L3:]), TCP(f[o.L4:])
				old := ip.Dst()
				ip.SetDst(newIP6)
				th.SetChecksum(UpdateChecksum128(th.Checksum(), old, newIP6))
			}, func(k *flow.Key) bool { return k.IPv6Dst == newIP6 }},
		{"nd-target-and-sll", eth(flow.EthTypeIPv6, ip6{next: 58, src: ip6A, dst: ip6Sol, hlim: 255}.build(nd(135, 0, ip6B, ndOpt(1, macB)), 58, 0)),
			func(f []byte, o Offsets, k *flow.Key) {
				m := ND(f[o.L4:])
				c := UpdateChecksum128(ICMP(m).Checksum(), m.Target(), newIP6)
				m.SetTarget(newIP6)
				a := m.LinkAddr(NDOptSourceLinkAddr)
				// The address sits at an even offset: three 16-bit words.
				for i := 0; i < 6; i += 2 {
					c = UpdateChecksum16(c, uint16(a[i])<<8|uint16(a[i+1]), uint16(macC[i])<<8|uint16(macC[i+1]))
				}
				copy(a, macC[:])
				ICMP(m).SetChecksum(c)
			}, func(k *flow.Key) bool { return k.NDTarget == newIP6 && k.ArpSHA == macC }},
		{"sctp-port", eth(flow.EthTypeIPv4, ip4{proto: 132, src: ip4A, dst: ip4B, ttl: 64}.build(sctp(1, 2))),
			func(f []byte, o Offsets, k *flow.Key) {
				s := SCTP(f[o.L4:])
				s.SetDstPort(9)
				s.SetChecksum(s.CalculateChecksum())
			}, func(k *flow.Key) bool { return k.TpDst == 9 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bytes.Clone(tt.frame)
			var k flow.Key
			o := ParseOffsets(f, testPort, &k)
			tt.rewrite(f, o, &k)
			if ParseOffsets(f, testPort, &k) != o || !tt.check(&k) {
				t.Errorf("rewritten frame parses to %+v", k)
			}
			if err := checksumsOK(f); err != "" {
				t.Error(err)
			}
		})
	}
	// A UDP checksum of 0 (none) stays 0.
	f := eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, nil)))
	uh := UDP(f[34:])
	uh.SetChecksum(0)
	uh.SetChecksum(UpdateUDPChecksum32(uh.Checksum(), ip4A, newIP4))
	if uh.Checksum() != 0 {
		t.Errorf("UDP checksum 0 became %#04x", uh.Checksum())
	}
}

// checksumsOK verifies every checksum of a whole (not truncated, not
// fragmented) frame and says what fails, or "".
func checksumsOK(f []byte) string {
	var k flow.Key
	o := ParseOffsets(f, 0, &k)
	var l4 []byte
	switch k.EthType {
	case flow.EthTypeIPv4:
		h := IPv4(f[o.L3:])
		if Checksum(h[:h.HeaderLen()]) != 0 {
			return "IPv4 header checksum does not verify"
		}
		l4 = h.Payload()
	case flow.EthTypeIPv6:
		l4 = f[o.L4:ipEnd(f, &k, o)]
	default:
		return ""
	}
	if o.L4 == 0 {
		return ""
	}
	var c uint16
	switch k.NwProto {
	case flow.IPProtoICMP:
		c = Checksum(l4)
	case flow.IPProtoSCTP:
		if SCTP(l4).CalculateChecksum() != SCTP(l4).Checksum() {
			return "SCTP checksum does not verify"
		}
	default:
		if k.EthType == flow.EthTypeIPv4 {
			c = L4ChecksumIPv4(k.NwSrc, k.NwDst, k.NwProto, l4)
		} else {
			c = L4ChecksumIPv6(k.IPv6Src, k.IPv6Dst, k.NwProto, l4)
		}
		if k.NwProto == flow.IPProtoUDP && c == 0xffff {
			c = 0
		}
	}
	if c != 0 {
		return fmt.Sprintf("protocol %d checksum verifies to %#04x", k.NwProto, c)
	}
	return ""
}
