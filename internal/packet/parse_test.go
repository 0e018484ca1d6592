package packet

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
)

type parseCase struct {
	name  string
	frame []byte
	want  flow.Key
	off   Offsets
}

func parseCases() []parseCase {
	var cases []parseCase
	add := func(name string, frame []byte, off Offsets, set func(k *flow.Key)) {
		k := flow.Key{InPort: testPort}
		if len(frame) >= EthernetLen {
			// The type after the tags; cases with more than two tags or
			// none of the frame's types set EthType themselves.
			typ, rest := Ethernet(frame).Type(), frame[EthernetLen:]
			for i := 0; i < 2 && (typ == flow.EthTypeVLAN || typ == flow.EthTypeQinQ); i++ {
				typ, rest = binary.BigEndian.Uint16(rest[2:4]), rest[4:]
			}
			k = base(typ)
		}
		if set != nil {
			set(&k)
		}
		cases = append(cases, parseCase{name, frame, k, off})
	}
	v4 := func(k *flow.Key, proto uint8) {
		k.NwSrc, k.NwDst, k.NwProto, k.NwTTL = ip4A, ip4B, proto, 64
	}
	v6 := func(k *flow.Key, proto uint8) {
		k.IPv6Src, k.IPv6Dst, k.NwProto, k.NwTTL = ip6A, ip6B, proto, 64
	}
	ports := func(k *flow.Key, src, dst uint16) { k.TpSrc, k.TpDst = src, dst }
	var zeroMAC [6]byte
	payload := []byte("0123456789abcdef")

	// IPv4.
	add("eth-ipv4-udp", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, tos: 0xb8, ttl: 64}.build(udp(5000, 53, payload))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 17); k.NwTOS = 0xb8; ports(k, 5000, 53) })
	add("eth-ipv4-tcp-flags", eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, ttl: 64}.build(
		// NS|ACK|SYN plus the three reserved bits, which the key keeps.
		tcp(40000, 443, 0x0e00|0x112, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, payload))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 6); ports(k, 40000, 443); k.TCPFlags = 0xf12 })
	add("eth-ipv4-icmp", eth(flow.EthTypeIPv4, ip4{proto: 1, src: ip4A, dst: ip4B, ttl: 64}.build(icmp(8, 0, 0x00010002, payload, true))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 1); ports(k, 8, 0) })
	add("eth-ipv4-icmp-unreach", eth(flow.EthTypeIPv4, ip4{proto: 1, src: ip4A, dst: ip4B, ttl: 64}.build(icmp(3, 4, 1400, payload, true))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 1); ports(k, 3, 4) })
	add("eth-ipv4-sctp", eth(flow.EthTypeIPv4, ip4{proto: 132, src: ip4A, dst: ip4B, ttl: 64}.build(sctp(2905, 2906))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 132); ports(k, 2905, 2906) })
	add("ipv4-options", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, opts: []byte{0x94, 4, 0, 0}}.build(udp(1, 2, nil))),
		Offsets{14, 38}, func(k *flow.Key) { v4(k, 17); ports(k, 1, 2) })
	add("ipv4-df", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, frag: IPv4DontFragment}.build(udp(1, 2, nil))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 17); ports(k, 1, 2) })
	add("ipv4-frag-first", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, frag: IPv4MoreFragments}.build(udp(1, 2, payload))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 17); ports(k, 1, 2); k.NwFrag = flow.FragAny })
	add("ipv4-frag-later", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, frag: IPv4MoreFragments | 185}.build(payload)),
		Offsets{14, 0}, func(k *flow.Key) { v4(k, 17); k.NwFrag = flow.FragAny | flow.FragLater })
	add("ipv4-frag-last", eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, ttl: 64, frag: 370}.build(payload)),
		Offsets{14, 0}, func(k *flow.Key) { v4(k, 6); k.NwFrag = flow.FragAny | flow.FragLater })
	add("ipv4-padded", pad(eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, nil)))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 17); ports(k, 1, 2) })
	// The total length, not the padded frame, bounds the UDP header.
	add("ipv4-totlen-cuts-l4", pad(eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, totLen: 24}.build(udp(1, 2, nil)))),
		Offsets{14, 0}, func(k *flow.Key) { v4(k, 17) })
	add("ipv4-totlen-below-ihl", pad(eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, totLen: 19}.build(udp(1, 2, nil)))),
		Offsets{}, nil)
	add("ipv4-ihl-4", pad(eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, ihl: 4}.build(udp(1, 2, nil)))),
		Offsets{}, nil)
	add("ipv4-ihl-past-end", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, ihl: 15}.build(udp(1, 2, nil))),
		Offsets{}, nil)
	add("ipv4-version-6", pad(eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, version: 6}.build(udp(1, 2, nil)))),
		Offsets{}, nil)
	// A frame cut short is parsed up to its end, not up to the total length.
	add("ipv4-totlen-past-end", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64, totLen: 1500}.build(udp(1, 2, nil))),
		Offsets{14, 34}, func(k *flow.Key) { v4(k, 17); ports(k, 1, 2) })
	tcpDoff4 := tcp(1, 2, 0x2, nil, nil)
	tcpDoff4[12] = 4 << 4
	add("tcp-doff-4", eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, ttl: 64}.build(tcpDoff4)),
		Offsets{14, 0}, func(k *flow.Key) { v4(k, 6) })
	tcpDoff15 := tcp(1, 2, 0x2, nil, payload)
	tcpDoff15[12] = 15 << 4
	add("tcp-doff-past-end", eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, ttl: 64}.build(tcpDoff15)),
		Offsets{14, 0}, func(k *flow.Key) { v4(k, 6) })
	add("ipv4-proto-icmpv6", eth(flow.EthTypeIPv4, ip4{proto: 58, src: ip4A, dst: ip4B, ttl: 64}.build(icmp(128, 0, 0, nil, false))),
		Offsets{14, 0}, func(k *flow.Key) { v4(k, 58) })
	add("ipv4-proto-other", eth(flow.EthTypeIPv4, ip4{proto: 47, src: ip4A, dst: ip4B, ttl: 64}.build(payload)),
		Offsets{14, 0}, func(k *flow.Key) { v4(k, 47) })

	// ARP.
	add("arp-request", pad(eth(flow.EthTypeARP, arp(1, macB, ip4A, zeroMAC, ip4B))),
		Offsets{14, 0}, func(k *flow.Key) { k.NwProto, k.NwSrc, k.NwDst, k.ArpSHA = 1, ip4A, ip4B, macB })
	add("arp-reply", pad(eth(flow.EthTypeARP, arp(2, macB, ip4A, macA, ip4B))),
		Offsets{14, 0}, func(k *flow.Key) { k.NwProto, k.NwSrc, k.NwDst, k.ArpSHA, k.ArpTHA = 2, ip4A, ip4B, macB, macA })
	add("rarp-request", pad(eth(flow.EthTypeRARP, arp(3, macB, 0, macB, 0))),
		Offsets{14, 0}, func(k *flow.Key) { k.NwProto, k.ArpSHA, k.ArpTHA = 3, macB, macB })
	add("arp-op-256", pad(eth(flow.EthTypeARP, arp(256, macB, ip4A, zeroMAC, ip4B))),
		Offsets{14, 0}, func(k *flow.Key) { k.NwSrc, k.NwDst, k.ArpSHA = ip4A, ip4B, macB })
	arpIB := arp(1, macB, ip4A, zeroMAC, ip4B)
	arpIB[1] = 32 // InfiniBand
	add("arp-not-ethernet", pad(eth(flow.EthTypeARP, arpIB)), Offsets{}, nil)

	// VLANs.
	add("vlan-ipv4-udp", eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(5000, 53, payload)), tag{0x8100, 0x2064}),
		Offsets{18, 38}, func(k *flow.Key) {
			k.VLANs[0] = flow.VLAN{TPID: 0x8100, TCI: 0x3064}
			v4(k, 17)
			ports(k, 5000, 53)
		})
	add("vlan-dei", eth(flow.EthTypeARP, arp(1, macB, ip4A, zeroMAC, ip4B), tag{0x8100, 0xf064}),
		Offsets{18, 0}, func(k *flow.Key) {
			k.VLANs[0] = flow.VLAN{TPID: 0x8100, TCI: 0xf064}
			k.NwProto, k.NwSrc, k.NwDst, k.ArpSHA = 1, ip4A, ip4B, macB
		})
	add("vlan-priority-tag", pad(eth(0x9000, nil, tag{0x8100, 0})),
		Offsets{}, func(k *flow.Key) { k.VLANs[0] = flow.VLAN{TPID: 0x8100, TCI: 0x1000} })
	add("qinq-ipv4-tcp", eth(flow.EthTypeIPv4, ip4{proto: 6, src: ip4A, dst: ip4B, ttl: 64}.build(tcp(1, 2, 0x11, nil, nil)), tag{0x88a8, 0x000a}, tag{0x8100, 0xa014}),
		Offsets{22, 42}, func(k *flow.Key) {
			k.VLANs = [2]flow.VLAN{{TPID: 0x88a8, TCI: 0x100a}, {TPID: 0x8100, TCI: 0xb014}}
			v4(k, 6)
			ports(k, 1, 2)
			k.TCPFlags = 0x11
		})
	add("qinq-8100-8100", eth(flow.EthTypeIPv6, nil, tag{0x8100, 0x000a}, tag{0x8100, 0x0014}),
		Offsets{}, func(k *flow.Key) {
			k.VLANs = [2]flow.VLAN{{TPID: 0x8100, TCI: 0x100a}, {TPID: 0x8100, TCI: 0x1014}}
		})
	// A third tag is not parsed: its TPID is the EthType.
	add("three-tags", pad(eth(flow.EthTypeIPv4, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, nil)), tag{0x88a8, 1}, tag{0x8100, 2}, tag{0x8100, 3})),
		Offsets{}, func(k *flow.Key) {
			k.EthType = 0x8100
			k.VLANs = [2]flow.VLAN{{TPID: 0x88a8, TCI: 0x1001}, {TPID: 0x8100, TCI: 0x1002}}
		})

	// 802.3.
	stp := cat([]byte{0x42, 0x42, 0x03}, make([]byte, 35))
	add("llc-stp", pad(eth(uint16(len(stp)), stp)), Offsets{}, func(k *flow.Key) { k.EthType = flow.EthTypeNone })
	snapIP := cat([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}, ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, nil)))
	add("snap-ipv4-udp", eth(uint16(len(snapIP)), snapIP), Offsets{22, 42}, func(k *flow.Key) {
		k.EthType = flow.EthTypeIPv4
		v4(k, 17)
		ports(k, 1, 2)
	})
	cdp := cat([]byte{0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0x00}, payload)
	add("snap-cisco-oui", pad(eth(uint16(len(cdp)), cdp)), Offsets{}, func(k *flow.Key) { k.EthType = flow.EthTypeNone })
	snapLen := cat([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x01, 0x00}, payload)
	add("snap-type-is-length", pad(eth(uint16(len(snapLen)), snapLen)), Offsets{}, func(k *flow.Key) { k.EthType = flow.EthTypeNone })
	add("vlan-llc", pad(eth(uint16(len(stp)), stp, tag{0x8100, 5})), Offsets{}, func(k *flow.Key) {
		k.EthType = flow.EthTypeNone
		k.VLANs[0] = flow.VLAN{TPID: 0x8100, TCI: 0x1005}
	})

	// IPv6.
	add("eth-ipv6-tcp", eth(flow.EthTypeIPv6, ip6{next: 6, src: ip6A, dst: ip6B, tc: 0xb9, label: 0x12345, hlim: 64}.build(tcp(40000, 22, 0x18, nil, payload), 6, 0)),
		Offsets{14, 54}, func(k *flow.Key) {
			v6(k, 6)
			k.NwTOS, k.IPv6Label = 0xb9, 0x12345
			ports(k, 40000, 22)
			k.TCPFlags = 0x18
		})
	add("eth-vlan-ipv6-tcp", eth(flow.EthTypeIPv6, ip6{next: 6, src: ip6A, dst: ip6B, label: 0xfffff, hlim: 64}.build(tcp(40000, 22, 0x10, nil, payload), 6, 0), tag{0x8100, 0x0064}),
		Offsets{18, 58}, func(k *flow.Key) {
			k.VLANs[0] = flow.VLAN{TPID: 0x8100, TCI: 0x1064}
			v6(k, 6)
			k.IPv6Label = 0xfffff
			ports(k, 40000, 22)
			k.TCPFlags = 0x10
		})
	add("ipv6-udp", eth(flow.EthTypeIPv6, ip6{next: 17, src: ip6A, dst: ip6B, hlim: 64}.build(udp(546, 547, payload), 17, 0)),
		Offsets{14, 54}, func(k *flow.Key) { v6(k, 17); ports(k, 546, 547) })
	add("ipv6-sctp", eth(flow.EthTypeIPv6, ip6{next: 132, src: ip6A, dst: ip6B, hlim: 64}.build(sctp(9, 10), 132, -1)),
		Offsets{14, 54}, func(k *flow.Key) { v6(k, 132); ports(k, 9, 10) })
	add("ipv6-hbh-frag-first-udp", eth(flow.EthTypeIPv6, ip6{next: 0, src: ip6A, dst: ip6B, hlim: 64}.build(
		cat(extHdr(44, 1), fragHdr(17, 0, true), udp(1, 2, payload)), 17, 16)),
		Offsets{14, 70}, func(k *flow.Key) { v6(k, 17); ports(k, 1, 2); k.NwFrag = flow.FragAny })
	add("ipv6-hbh-frag-later", eth(flow.EthTypeIPv6, ip6{next: 0, src: ip6A, dst: ip6B, hlim: 64}.build(
		cat(extHdr(44, 1), fragHdr(17, 1448, false), payload), 0, -1)),
		Offsets{14, 0}, func(k *flow.Key) { v6(k, IPProtoFragment); k.NwFrag = flow.FragAny | flow.FragLater })
	add("ipv6-atomic-frag", eth(flow.EthTypeIPv6, ip6{next: 44, src: ip6A, dst: ip6B, hlim: 64}.build(
		cat(fragHdr(6, 0, false), tcp(1, 2, 0x2, nil, nil)), 6, 8)),
		Offsets{14, 62}, func(k *flow.Key) { v6(k, 6); ports(k, 1, 2); k.TCPFlags = 2 })
	add("ipv6-ext-chain-tcp", eth(flow.EthTypeIPv6, ip6{next: 0, src: ip6A, dst: ip6B, hlim: 64}.build(
		cat(extHdr(43, 1), extHdr(60, 3), extHdr(51, 2), ahHdr(6), tcp(1, 2, 0x4, nil, nil)), 6, 8+24+16+24)),
		Offsets{14, 14 + 40 + 72}, func(k *flow.Key) { v6(k, 6); ports(k, 1, 2); k.TCPFlags = 4 })
	add("ipv6-esp", eth(flow.EthTypeIPv6, ip6{next: 50, src: ip6A, dst: ip6B, hlim: 64}.build(payload, 0, -1)),
		Offsets{14, 0}, func(k *flow.Key) { v6(k, 50) })
	add("ipv6-no-next", eth(flow.EthTypeIPv6, ip6{next: 59, src: ip6A, dst: ip6B, hlim: 64}.build(nil, 0, -1)),
		Offsets{14, 0}, func(k *flow.Key) { v6(k, 59) })
	// The payload length ends the chain inside the hop-by-hop header.
	add("ipv6-plen-cuts-chain", eth(flow.EthTypeIPv6, ip6{next: 0, src: ip6A, dst: ip6B, hlim: 64, plen: 8}.build(cat(extHdr(6, 2), tcp(1, 2, 0, nil, nil)), 0, -1)),
		Offsets{14, 0}, func(k *flow.Key) { v6(k, 0) })
	add("ipv6-plen-past-end", eth(flow.EthTypeIPv6, ip6{next: 17, src: ip6A, dst: ip6B, hlim: 64, plen: 1000}.build(udp(1, 2, nil), 0, -1)),
		Offsets{14, 54}, func(k *flow.Key) { v6(k, 17); ports(k, 1, 2) })
	add("ipv6-version-4", func() []byte {
		f := eth(flow.EthTypeIPv6, ip6{next: 17, src: ip6A, dst: ip6B, hlim: 64}.build(udp(1, 2, nil), 17, 0))
		f[14] = 0x45
		return f
	}(), Offsets{}, nil)
	add("ipv6-proto-icmpv4", eth(flow.EthTypeIPv6, ip6{next: 1, src: ip6A, dst: ip6B, hlim: 64}.build(icmp(8, 0, 0, nil, true), 0, -1)),
		Offsets{14, 0}, func(k *flow.Key) { v6(k, 1) })

	// ICMPv6 and neighbor discovery.
	icmp6 := func(m []byte) []byte {
		return eth(flow.EthTypeIPv6, ip6{next: 58, src: ip6A, dst: ip6Sol, hlim: 255}.build(m, 58, 0))
	}
	nd6 := func(k *flow.Key, typ, code uint16) {
		k.IPv6Src, k.IPv6Dst, k.NwProto, k.NwTTL = ip6A, ip6Sol, 58, 255
		ports(k, typ, code)
	}
	add("icmpv6-echo", icmp6(icmp(128, 0, 0x00010001, payload, false)),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 128, 0) })
	add("icmpv6-ns-sll", icmp6(nd(135, 0, ip6B, ndOpt(1, macB))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0); k.NDTarget, k.ArpSHA = ip6B, macB })
	add("icmpv6-ns-dad", icmp6(nd(135, 0, ip6B)),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0); k.NDTarget = ip6B })
	add("icmpv6-na-tll", icmp6(nd(136, 0, ip6B, ndOpt(2, macC))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 136, 0); k.NDTarget, k.ArpTHA = ip6B, macC })
	add("icmpv6-ns-nonce-sll", icmp6(nd(135, 0, ip6B, []byte{14, 1, 1, 2, 3, 4, 5, 6}, ndOpt(1, macB))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0); k.NDTarget, k.ArpSHA = ip6B, macB })
	add("icmpv6-ns-tll-ignored", icmp6(nd(135, 0, ip6B, ndOpt(2, macC))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0); k.NDTarget = ip6B })
	add("icmpv6-na-sll-ignored", icmp6(nd(136, 0, ip6B, ndOpt(1, macB), ndOpt(2, macC))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 136, 0); k.NDTarget, k.ArpTHA = ip6B, macC })
	add("icmpv6-ns-long-sll-ignored", icmp6(nd(135, 0, ip6B, cat([]byte{1, 2}, make([]byte, 14)))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0); k.NDTarget = ip6B })
	add("icmpv6-ns-zero-len-opt", icmp6(nd(135, 0, ip6B, ndOpt(1, macB), []byte{14, 0, 1, 2, 3, 4, 5, 6})),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0); k.NDTarget = ip6B })
	add("icmpv6-ns-dup-sll", icmp6(nd(135, 0, ip6B, ndOpt(1, macB), ndOpt(1, macC))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0); k.NDTarget = ip6B })
	add("icmpv6-na-opt-overrun", icmp6(nd(136, 0, ip6B, []byte{2, 2, 1, 2, 3, 4, 5, 6})),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 136, 0); k.NDTarget = ip6B })
	add("icmpv6-na-trailing-bytes", icmp6(nd(136, 0, ip6B, ndOpt(2, macC), []byte{1, 2, 3})),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 136, 0); k.NDTarget, k.ArpTHA = ip6B, macC })
	add("icmpv6-na-code-1", icmp6(nd(136, 1, ip6B, ndOpt(2, macC))),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 136, 1) })
	add("icmpv6-ns-no-target", icmp6(icmp(135, 0, 0, []byte{1, 2, 3, 4}, false)),
		Offsets{14, 54}, func(k *flow.Key) { nd6(k, 135, 0) })

	// Other.
	// MPLS: the top entry, and the IP packet behind a bottom-of-stack
	// entry, go into the key; offsets stay zero (actions do not rewrite
	// behind MPLS).
	lse := func(label uint32, tc uint32, bos bool, ttl uint32) []byte {
		v := label<<12 | tc<<9 | ttl
		if bos {
			v |= flow.MPLSBoS
		}
		return binary.BigEndian.AppendUint32(nil, v)
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	add("mpls", pad(eth(flow.EthTypeMPLS, []byte{0, 0x01, 0x41, 0x40})), Offsets{}, func(k *flow.Key) { k.MPLS = 0x00014140 })
	add("mpls-ipv4-udp", eth(flow.EthTypeMPLS, cat(lse(100, 3, true, 64), ip4{proto: 17, src: ip4A, dst: ip4B, tos: 0x20, ttl: 64}.build(udp(5000, 53, payload)))),
		Offsets{}, func(k *flow.Key) { k.MPLS = 100<<12 | 3<<9 | 0x100 | 64; v4(k, 17); k.NwTOS = 0x20; ports(k, 5000, 53) })
	add("mplsm-ipv6-tcp", eth(flow.EthTypeMPLSM, cat(lse(7, 0, true, 9), ip6{next: 6, src: ip6A, dst: ip6B, hlim: 64}.build(tcp(1, 2, 0x2, nil, nil), 6, 0))),
		Offsets{}, func(k *flow.Key) { k.MPLS = 7<<12 | 0x100 | 9; v6(k, 6); ports(k, 1, 2); k.TCPFlags = 2 })
	add("mpls-two-labels", eth(flow.EthTypeMPLS, cat(lse(203, 5, false, 127), lse(100, 3, true, 64), ip4{proto: 17, src: ip4A, dst: ip4B, ttl: 64}.build(udp(1, 2, nil)))),
		Offsets{}, func(k *flow.Key) { k.MPLS = 203<<12 | 5<<9 | 127 })
	add("vlan-mpls-arp", pad(eth(flow.EthTypeMPLS, cat(lse(1, 0, true, 0), arp(1, macB, ip4A, zeroMAC, ip4B)), tag{0x8100, 0x0005})),
		Offsets{}, func(k *flow.Key) {
			k.VLANs[0] = flow.VLAN{TPID: 0x8100, TCI: 0x1005}
			k.MPLS = 1<<12 | 0x100
			k.NwProto, k.NwSrc, k.NwDst, k.ArpSHA = 1, ip4A, ip4B, macB // the ARP behind the bottom label
		})
	add("short-13", eth(0, nil)[:13], Offsets{}, nil)
	add("empty", nil, Offsets{}, nil)
	add("eth-only", eth(flow.EthTypeIPv4, nil), Offsets{}, nil)
	return cases
}

// keyDiff lists the fields of two keys that differ, one "-want" and one
// "+got" line each, or returns "".
func keyDiff(want, got flow.Key) string {
	var b strings.Builder
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range w.NumField() {
		if !w.Type().Field(i).IsExported() {
			continue
		}
		wf, gf := w.Field(i).Interface(), g.Field(i).Interface()
		if !reflect.DeepEqual(wf, gf) {
			name := w.Type().Field(i).Name
			fmt.Fprintf(&b, "-%s: %#v\n+%s: %#v\n", name, wf, name, gf)
		}
	}
	return b.String()
}

func TestParse(t *testing.T) {
	for _, c := range parseCases() {
		t.Run(c.name, func(t *testing.T) {
			var k flow.Key
			off := ParseOffsets(c.frame, testPort, &k)
			if d := keyDiff(c.want, k); d != "" {
				t.Errorf("key mismatch (-want +got):\n%s", d)
			}
			if off != c.off {
				t.Errorf("offsets (-want +got):\n-%+v\n+%+v", c.off, off)
			}
			if err := checkOffsets(c.frame, &k, off); err != nil {
				t.Error(err)
			}
			// Parse resets whatever the key held.
			dirty := flow.Key{Metadata: 1, Regs: [8]uint32{2}, TunID: 3, NwSrc: 4, NDTarget: [16]byte{5}, TCPFlags: 6, NwFrag: 3}
			Parse(c.frame, testPort, &dirty)
			if d := keyDiff(k, dirty); d != "" {
				t.Errorf("parse into a used key (-want +got):\n%s", d)
			}
		})
	}
}

// TestParseTruncated parses every prefix of every test frame: none may
// panic, and each key must agree with the whole frame's key.
func TestParseTruncated(t *testing.T) {
	for _, c := range parseCases() {
		t.Run(c.name, func(t *testing.T) {
			for n := range len(c.frame) {
				var k flow.Key
				p := c.frame[:n:n] // no capacity to read past the end through
				off := ParseOffsets(p, testPort, &k)
				if err := checkPrefix(&c.want, &k, n); err != nil {
					t.Errorf("first %d bytes: %v", n, err)
				}
				if err := checkOffsets(p, &k, off); err != nil {
					t.Errorf("first %d bytes: %v", n, err)
				}
				if off.L3 != 0 && off.L3 != c.off.L3 || off.L4 != 0 && off.L4 != c.off.L4 {
					t.Errorf("first %d bytes: offsets %+v, whole frame %+v", n, off, c.off)
				}
			}
		})
	}
}

// checkPrefix reports whether got, the key of the first n bytes of a frame,
// is consistent with full, the key of the whole frame: each field is either
// full's or zero, with the exceptions the parser documents.
func checkPrefix(full, got *flow.Key, n int) error {
	if got.InPort != full.InPort {
		return fmt.Errorf("InPort %d, want %d", got.InPort, full.InPort)
	}
	if n < EthernetLen {
		if *got != (flow.Key{InPort: full.InPort}) {
			return fmt.Errorf("short frame parsed as %+v", *got)
		}
		return nil
	}
	if got.EthDst != full.EthDst || got.EthSrc != full.EthSrc {
		return fmt.Errorf("MACs %x %x, want %x %x", got.EthDst, got.EthSrc, full.EthDst, full.EthSrc)
	}
	for i, v := range got.VLANs {
		if v != full.VLANs[i] && v != (flow.VLAN{}) {
			return fmt.Errorf("VLANs[%d] = %+v, want %+v or none", i, v, full.VLANs[i])
		}
	}
	if got.EthType != full.EthType {
		// A tag or SNAP header cut short ends parsing at its type.
		switch got.EthType {
		case flow.EthTypeVLAN, flow.EthTypeQinQ, flow.EthTypeNone:
		default:
			return fmt.Errorf("EthType %#x, want %#x", got.EthType, full.EthType)
		}
		l2 := flow.Key{InPort: got.InPort, EthDst: got.EthDst, EthSrc: got.EthSrc, EthType: got.EthType, VLANs: got.VLANs}
		if *got != l2 {
			return fmt.Errorf("fields past an unparsed EthType %#x: %+v", got.EthType, *got)
		}
		return nil
	}
	g, f := reflect.ValueOf(*got), reflect.ValueOf(*full)
	for i := range g.NumField() {
		name := g.Type().Field(i).Name
		if name == "VLANs" || !g.Type().Field(i).IsExported() {
			continue
		}
		gf, ff := g.Field(i), f.Field(i)
		if gf.IsZero() || reflect.DeepEqual(gf.Interface(), ff.Interface()) {
			continue
		}
		// A second fragment header, cut off, may have held FragLater.
		if name == "NwFrag" && got.NwFrag&^full.NwFrag == 0 {
			continue
		}
		// A malformed ND option after a good one invalidates the
		// address, but a prefix that ends before it keeps it.
		if (name == "ArpSHA" || name == "ArpTHA") && full.NwProto == flow.IPProtoICMPv6 {
			continue
		}
		return fmt.Errorf("%s = %v, want %v or zero", name, gf.Interface(), ff.Interface())
	}
	return nil
}

// checkOffsets checks that the offsets are in the frame and that the headers
// there, read through the views, say what the key says.
func checkOffsets(data []byte, k *flow.Key, o Offsets) error {
	if o.L3 == 0 {
		if o.L4 != 0 {
			return fmt.Errorf("L4 offset %d without L3", o.L4)
		}
		return nil
	}
	if o.L3 < EthernetLen || o.L3 > len(data) || o.L4 != 0 && (o.L4 <= o.L3 || o.L4 > len(data)) {
		return fmt.Errorf("offsets %+v out of a %d-byte frame", o, len(data))
	}
	l3 := data[o.L3:]
	switch k.EthType {
	case flow.EthTypeIPv4:
		h := IPv4(l3)
		if len(h) < IPv4MinLen || len(h) < h.HeaderLen() || h.Src() != k.NwSrc || h.Dst() != k.NwDst || h.Protocol() != k.NwProto {
			return fmt.Errorf("IPv4 header at %d does not match the key", o.L3)
		}
	case flow.EthTypeIPv6:
		h := IPv6(l3)
		if len(h) < IPv6Len || h.Src() != k.IPv6Src || h.Dst() != k.IPv6Dst || h.FlowLabel() != k.IPv6Label || h.TrafficClass() != k.NwTOS {
			return fmt.Errorf("IPv6 header at %d does not match the key", o.L3)
		}
	case flow.EthTypeARP, flow.EthTypeRARP:
		h := ARP(l3)
		if len(h) < ARPLen || h.SPA() != k.NwSrc || h.TPA() != k.NwDst || h.SHA() != k.ArpSHA || h.THA() != k.ArpTHA {
			return fmt.Errorf("ARP header at %d does not match the key", o.L3)
		}
	default:
		return fmt.Errorf("L3 offset %d for EthType %#x", o.L3, k.EthType)
	}
	if o.L4 == 0 {
		if k.TpSrc != 0 || k.TpDst != 0 || k.TCPFlags != 0 {
			return fmt.Errorf("transport fields without an L4 offset")
		}
		return nil
	}
	l4 := data[o.L4:]
	var src, dst uint16
	switch k.NwProto {
	case flow.IPProtoTCP:
		h := TCP(l4)
		if len(h) < TCPMinLen || len(h) < h.DataOffset() || h.Flags() != k.TCPFlags {
			return fmt.Errorf("TCP header at %d does not match the key", o.L4)
		}
		src, dst = h.SrcPort(), h.DstPort()
	case flow.IPProtoUDP:
		if len(l4) < UDPLen {
			return fmt.Errorf("short UDP header at %d", o.L4)
		}
		src, dst = UDP(l4).SrcPort(), UDP(l4).DstPort()
	case flow.IPProtoSCTP:
		if len(l4) < SCTPLen {
			return fmt.Errorf("short SCTP header at %d", o.L4)
		}
		src, dst = SCTP(l4).SrcPort(), SCTP(l4).DstPort()
	case flow.IPProtoICMP, flow.IPProtoICMPv6:
		if len(l4) < ICMPLen {
			return fmt.Errorf("short ICMP header at %d", o.L4)
		}
		src, dst = uint16(ICMP(l4).Type()), uint16(ICMP(l4).Code())
	default:
		return fmt.Errorf("L4 offset %d for protocol %d", o.L4, k.NwProto)
	}
	if src != k.TpSrc || dst != k.TpDst {
		return fmt.Errorf("L4 header at %d says %d/%d, key %d/%d", o.L4, src, dst, k.TpSrc, k.TpDst)
	}
	return nil
}

func TestParseAllocs(t *testing.T) {
	for _, c := range parseCases() {
		t.Run(c.name, func(t *testing.T) {
			var k flow.Key
			if n := testing.AllocsPerRun(100, func() { Parse(c.frame, testPort, &k) }); n != 0 {
				t.Errorf("Parse: %v allocations per run, want 0", n)
			}
			if n := testing.AllocsPerRun(100, func() { ParseOffsets(c.frame, testPort, &k) }); n != 0 {
				t.Errorf("ParseOffsets: %v allocations per run, want 0", n)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range parseCases() {
		f.Add(c.frame, uint32(testPort))
	}
	f.Fuzz(func(t *testing.T, data []byte, inPort uint32) {
		var k, again flow.Key
		data = data[:len(data):len(data)]
		off, h := ParseHash(data, inPort, &k)
		if h != k.Hash() {
			t.Fatalf("ParseHash's hash %#x, want the key's Hash %#x", h, k.Hash())
		}
		again = flow.Key{Metadata: ^uint64(0), TunDst: 1, ArpTHA: [6]byte{1}, NwFrag: 0xff}
		if ParseOffsets(data, inPort, &again) != off || again != k {
			t.Fatalf("Parse is not deterministic or does not reset the key (-first +second):\n%s", keyDiff(k, again))
		}
		var ref flow.Key
		if parseAny(data, inPort, &ref) != off || ref != k {
			t.Fatalf("ParseOffsets and parseAny differ (-parseAny +ParseOffsets):\n%s", keyDiff(ref, k))
		}
		if k.InPort != inPort {
			t.Fatalf("InPort %d, want %d", k.InPort, inPort)
		}
		if k.Metadata != 0 || k.Regs != [flow.NumRegs]uint32{} || k.TunID != 0 || k.TunSrc != 0 || k.TunDst != 0 {
			t.Fatalf("pipeline or tunnel fields set: %+v", k)
		}
		for i, v := range k.VLANs {
			if (v.TPID == 0) != (v.TCI == 0) || v.TPID != 0 && v.TCI&flow.TCIPresent == 0 {
				t.Fatalf("VLANs[%d] = %+v", i, v)
			}
		}
		if k.VLANs[0] == (flow.VLAN{}) && k.VLANs[1] != (flow.VLAN{}) {
			t.Fatalf("inner tag without outer: %+v", k.VLANs)
		}
		if len(data) >= EthernetLen && k.EthType < flow.EthTypeNone {
			t.Fatalf("EthType %#x", k.EthType)
		}
		if k.NwFrag&^flow.FragMask != 0 || k.NwFrag == flow.FragLater {
			t.Fatalf("NwFrag %#x", k.NwFrag)
		}
		if k.IPv6Label > 0xfffff || k.TCPFlags > 0xfff {
			t.Fatalf("IPv6Label %#x TCPFlags %#x", k.IPv6Label, k.TCPFlags)
		}
		if err := checkOffsets(data, &k, off); err != nil {
			t.Fatal(err)
		}
		// Check a few prefixes rather than all, to keep each run cheap.
		for _, n := range []int{len(data) - 1, len(data) / 2, EthernetLen + 4, 33, 53} {
			if n < 0 || n >= len(data) {
				continue
			}
			var p flow.Key
			ParseOffsets(data[:n:n], inPort, &p)
			if err := checkPrefix(&k, &p, n); err != nil {
				t.Fatalf("first %d bytes: %v", n, err)
			}
		}
	})
}

// BenchmarkParse times Parse, which includes hashing the key (the
// exact-match cache's hash): plain IPv4 keys are hashed as they are built,
// the others (ARP, IPv6) with the runtime's memory hash after parsing, about
// 20-30 ns of their time here.
func BenchmarkParse(b *testing.B) {
	cases := map[string]parseCase{}
	for _, c := range parseCases() {
		cases[c.name] = c
	}
	for _, name := range []string{"eth-ipv4-udp", "eth-vlan-ipv6-tcp", "qinq-ipv4-tcp", "arp-request", "icmpv6-ns-sll", "ipv6-ext-chain-tcp"} {
		c := cases[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var k flow.Key
			for b.Loop() {
				Parse(c.frame, testPort, &k)
			}
		})
	}
}

// TestParseShortcutMatchesParseAny checks ParseHash, which parses plain
// IPv4 TCP and UDP itself, against parseAny, which parses anything: on the
// frames of the parse cases and on random mutations and cuts of their
// Ethernet, IP and transport headers, both must give the same key and
// offsets, and ParseHash the key's hash.
func TestParseShortcutMatchesParseAny(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	common := 0
	for _, c := range parseCases() {
		for i := 0; i < 2000; i++ {
			data := append([]byte(nil), c.frame...)
			// Mutate a few bytes where the shortcut looks (an 802.1Q tag,
			// IPv4 and TCP headers), sometimes cut the frame.
			for j := rng.IntN(3); i > 0 && j >= 0 && len(data) > 12; j-- {
				p := 12 + rng.IntN(min(len(data)-12, 2+VLANTagLen+IPv4MinLen+TCPMinLen))
				data[p] = []byte{0, 0x45, 0x46, 6, 17, 0x50, 0x40, 0x81, 0x08, 0xff, byte(rng.Uint32())}[rng.IntN(11)]
			}
			if i > 0 && rng.IntN(4) == 0 {
				data = data[:rng.IntN(len(data)+1)]
			}
			var fast, general flow.Key
			fo, h := ParseHash(data, testPort, &fast)
			gen := parseAny(data, testPort, &general)
			if h != general.Hash() {
				t.Fatalf("%s: ParseHash's hash of %x is %#x, want the key's Hash %#x", c.name, data, h, general.Hash())
			}
			if fast != general || fo != gen {
				t.Fatalf("%s: ParseHash and parseAny differ on %x (offsets %+v, %+v; -parseAny +ParseHash):\n%s",
					c.name, data, gen, fo, keyDiff(general, fast))
			}
			if fast.EthType == flow.EthTypeIPv4 && fo.L4 != 0 && (fast.NwProto == 6 || fast.NwProto == 17) {
				common++
			}
		}
	}
	// Plenty of frames must be of the kind the shortcut parses, or this
	// test proves little.
	if common < 10000 {
		t.Errorf("only %d frames were plain IPv4 TCP or UDP", common)
	}
}

// TestParsePacket checks that ParsePacket takes a packet's port from its
// Tun.Port when set, puts its tunnel metadata in the key and hashes the
// whole key, on plain IPv4 frames (which it parses itself) and others.
func TestParsePacket(t *testing.T) {
	for _, c := range parseCases() {
		for _, tun := range []Tunnel{{}, {ID: 5000, Src: 0xc6336401, Dst: 0xc6336402}, {ID: 7, Port: 9}, {Dst: 1}} {
			p := FromBytes(c.frame)
			p.Tun = tun
			var k flow.Key
			off, h := ParsePacket(p, testPort, &k)
			wantPort := uint32(testPort)
			if tun.Port != 0 {
				wantPort = tun.Port
			}
			var want flow.Key
			wantOff := parseAny(c.frame, wantPort, &want)
			want.TunID, want.TunSrc, want.TunDst = tun.ID, tun.Src, tun.Dst
			if k != want || off != wantOff {
				t.Fatalf("%s, tunnel %+v: offsets %+v, want %+v; key (-want +got):\n%s", c.name, tun, off, wantOff, keyDiff(want, k))
			}
			if h != want.Hash() {
				t.Errorf("%s, tunnel %+v: hash %#x, want %#x", c.name, tun, h, want.Hash())
			}
			if p.InPort != wantPort {
				t.Errorf("%s, tunnel %+v: InPort %d, want %d", c.name, tun, p.InPort, wantPort)
			}
		}
	}
}
