// Package gso does in software what a NIC does for offloaded packets: it
// splits GSO super-packets (the virtio_net_hdr kind that taps and AF_PACKET
// sockets with vnet headers carry) into MTU-sized frames and completes
// checksums left partial. The switch uses it when such a packet must leave
// through a port that does not accept offloads, or when it has to look at
// the individual segments. It also holds the virtio_net_hdr codec shared by
// those port backends.
//
// Nothing here allocates: callers provide the output packets.
package gso

import (
	"encoding/binary"

	"github.com/dvs-project/dvs/internal/packet"
)

// Ethernet types and IP protocol numbers the segmenter parses.
const (
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	etherTypeQinQ2 = 0x9100

	protoTCP       = 6
	protoUDP       = 17
	protoHopByHop  = 0
	protoRouting   = 43
	protoDestOpts  = 60
	maxVLANTags    = 4
	maxIPv6ExtHdrs = 8
)

// TCP flags that differ between segments.
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// headers locates the layers of an offloaded packet.
type headers struct {
	l3    int  // offset of the IP header
	l4    int  // offset of the TCP/UDP header
	hlen  int  // length of all headers, replicated in every segment
	ipv4  bool // IPv4, else IPv6
	proto uint8
}

// parse finds the headers of data, following VLAN tags and IPv6 extension
// headers. It reports false for anything it cannot segment: non-IP, IPv4
// fragments, IPv6 fragment headers, truncated headers.
func parse(data []byte) (h headers, ok bool) {
	off := 12
	for tags := 0; ; tags++ {
		if len(data) < off+2 {
			return h, false
		}
		et := binary.BigEndian.Uint16(data[off:])
		off += 2
		switch et {
		case etherTypeVLAN, etherTypeQinQ, etherTypeQinQ2:
			if tags == maxVLANTags {
				return h, false
			}
			off += 2
			continue
		case etherTypeIPv4:
			h.ipv4 = true
		case etherTypeIPv6:
		default:
			return h, false
		}
		break
	}
	h.l3 = off
	if h.ipv4 {
		if len(data) < off+20 || data[off]>>4 != 4 {
			return h, false
		}
		ihl := int(data[off]&0x0f) * 4
		if ihl < 20 || len(data) < off+ihl {
			return h, false
		}
		if binary.BigEndian.Uint16(data[off+6:])&0x3fff != 0 { // MF or a fragment offset
			return h, false
		}
		h.proto = data[off+9]
		h.l4 = off + ihl
	} else {
		if len(data) < off+40 || data[off]>>4 != 6 {
			return h, false
		}
		nh := data[off+6]
		off += 40
		for i := 0; ; i++ {
			if nh != protoHopByHop && nh != protoRouting && nh != protoDestOpts {
				break
			}
			if i == maxIPv6ExtHdrs || len(data) < off+8 {
				return h, false
			}
			nh = data[off]
			off += (int(data[off+1]) + 1) * 8
		}
		h.proto = nh
		h.l4 = off
	}
	switch h.proto {
	case protoTCP:
		if len(data) < h.l4+20 {
			return h, false
		}
		thl := int(data[h.l4+12]>>4) * 4
		if thl < 20 {
			return h, false
		}
		h.hlen = h.l4 + thl
	case protoUDP:
		h.hlen = h.l4 + 8
	default:
		return h, false
	}
	return h, len(data) >= h.hlen
}

// Segment splits the GSO packet p into out[0:n], each holding a copy of p's
// headers and at most p.GSO.Size bytes of its payload, with everything a
// NIC doing TSO/USO would fix up: IP total/payload length, IPv4 IDs counting
// up from p's and header checksums, TCP sequence numbers, FIN and PSH only
// on the last segment and CWR only on the first, UDP lengths, and complete
// TCP/UDP checksums. The segments carry no GSO metadata and p's InPort.
//
// It handles TCPv4, TCPv6 and UDP segmentation offload (GSO type UDP_L4),
// behind up to four VLAN tags and over IPv6 extension headers. It reports
// false, with out's frames in an undefined state, if p is not such a
// packet, if its headers disagree with its GSO metadata, if out has fewer
// than the needed packets or one is too small. p is only read; the caller
// owns p and out throughout.
//
// A packet that only needs its checksum (no GSO type) is not for Segment:
// call CompleteChecksum on it in place.
func Segment(p *packet.Packet, out []*packet.Packet) (n int, ok bool) {
	g := &p.GSO
	var wantProto uint8
	switch g.Type &^ packet.VirtioNetHdrGSOECN {
	case packet.VirtioNetHdrGSOTCPv4, packet.VirtioNetHdrGSOTCPv6:
		wantProto = protoTCP
	case packet.VirtioNetHdrGSOUDPL4:
		wantProto = protoUDP
	default:
		return 0, false
	}
	mss := int(g.Size)
	if mss == 0 {
		return 0, false
	}
	data := p.Data()
	h, ok := parse(data)
	if !ok || h.proto != wantProto {
		return 0, false
	}
	switch g.Type &^ packet.VirtioNetHdrGSOECN {
	case packet.VirtioNetHdrGSOTCPv4:
		ok = h.ipv4
	case packet.VirtioNetHdrGSOTCPv6:
		ok = !h.ipv4
	}
	if !ok || (g.Flags&packet.VirtioNetHdrFNeedsCsum != 0 && int(g.CsumStart) != h.l4) {
		return 0, false
	}

	payload := data[h.hlen:]
	n = (len(payload) + mss - 1) / mss
	if n == 0 {
		n = 1
	}
	if n > len(out) {
		return 0, false
	}
	for i := range n {
		seg := min(mss, len(payload)-i*mss)
		if out[i].Cap() < h.hlen+seg {
			return 0, false
		}
	}

	// The part of the pseudo-header common to all segments: the addresses
	// and the protocol.
	var pseudo uint16
	if h.ipv4 {
		pseudo = sum(data[h.l3+12 : h.l3+20])
	} else {
		pseudo = sum(data[h.l3+8 : h.l3+40])
	}
	pseudo = add(pseudo, uint16(h.proto))

	var id uint16
	if h.ipv4 {
		id = binary.BigEndian.Uint16(data[h.l3+4:])
	}
	var seq uint32
	var flags uint8
	if h.proto == protoTCP {
		seq = binary.BigEndian.Uint32(data[h.l4+4:])
		flags = data[h.l4+13]
	}

	for i := range n {
		chunk := payload[i*mss : i*mss+min(mss, len(payload)-i*mss)]
		s := out[i]
		buf := s.RecvBuf()
		copy(buf, data[:h.hlen])
		copy(buf[h.hlen:], chunk)
		flen := h.hlen + len(chunk)
		s.SetFrame(flen)
		s.InPort = p.InPort
		f := s.Data()

		if h.ipv4 {
			ip := f[h.l3:h.l4]
			binary.BigEndian.PutUint16(ip[2:], uint16(flen-h.l3))
			binary.BigEndian.PutUint16(ip[4:], id+uint16(i))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:], ^sum(ip[:h.l4-h.l3]))
		} else {
			binary.BigEndian.PutUint16(f[h.l3+4:], uint16(flen-h.l3-40))
		}

		l4 := f[h.l4:]
		var csumOff int
		if h.proto == protoTCP {
			binary.BigEndian.PutUint32(l4[4:], seq+uint32(i*mss))
			fl := flags
			if i != n-1 {
				fl &^= tcpFIN | tcpPSH
			}
			if i != 0 {
				fl &^= tcpCWR
			}
			l4[13] = fl
			csumOff = 16
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
			csumOff = 6
		}
		l4[csumOff], l4[csumOff+1] = 0, 0
		c := ^add(add(pseudo, uint16(len(l4))), sum(l4))
		if c == 0 && h.proto == protoUDP {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[csumOff:], c)
	}
	return n, true
}
