package tunnel

import (
	"sync"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/gso"
	"github.com/dvs-project/dvs/internal/packet"
)

// Tunnel ports take no offloaded packets: a TCP super-packet from a veth or
// a VM is cut into wire-sized segments before each is encapsulated. The
// datapath's software segmentation is installed here, with the segment
// buffers in a pool shared by the workers.
func init() { datapath.SetSegmenter(segment) }

// maxSegs bounds the segments of one packet (64 KiB at an MSS of 512).
const maxSegs = 130

// segHeaders is room for a segment's headers (Ethernet, tags, IP with
// options or extension headers, TCP with options).
const segHeaders = 256

type segSet struct{ pkts []*packet.Packet }

var segPool = sync.Pool{New: func() any { return &segSet{} }}

// segment splits p into segments and emits them, carrying p's tunnel
// metadata (the VNI for a key=flow port). It reports false if p is not a
// packet Segment handles.
func segment(p *packet.Packet, emit func([]*packet.Packet)) bool {
	g := p.GSO
	if g.Size == 0 {
		return false
	}
	n := (p.Len() + int(g.Size) - 1) / int(g.Size)
	if n > maxSegs {
		return false
	}
	need := int(g.Size) + segHeaders
	set := segPool.Get().(*segSet)
	defer segPool.Put(set)
	for len(set.pkts) < n {
		set.pkts = append(set.pkts, nil)
	}
	for i := 0; i < n; i++ {
		if set.pkts[i] == nil || set.pkts[i].Cap() < need {
			set.pkts[i] = packet.New(packet.Headroom + need)
		}
	}
	k, ok := gso.Segment(p, set.pkts[:n])
	if !ok {
		return false
	}
	for _, s := range set.pkts[:k] {
		s.Tun = p.Tun
	}
	emit(set.pkts[:k])
	return true
}
