package ofswitch

import (
	"net"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/openflow"
	"github.com/dvs-project/dvs/internal/pipeline"
)

// packetIn is a packet on its way to the controllers.
type packetIn struct {
	datapath.ToController
	totalLen int
}

// toController runs on packet workers: it copies the packet (truncated to
// max_len, as Open vSwitch does; the switch never buffers) and queues it
// without blocking. A full queue drops the packet-in and counts it.
func (s *Switch) toController(tc datapath.ToController) {
	n := len(tc.Frame)
	if tc.MaxLen != openflow.ControllerMaxLenNoBuffer && int(tc.MaxLen) < n {
		n = int(tc.MaxLen)
	}
	pi := packetIn{ToController: tc, totalLen: len(tc.Frame)}
	pi.Frame = append([]byte(nil), tc.Frame[:n]...)
	select {
	case s.pins <- pi:
	default:
		s.pinDrop.Add(1)
	}
}

// sendPacketIns encodes queued packet-ins and hands them to the channel.
func (s *Switch) sendPacketIns() {
	defer s.done.Done()
	for {
		select {
		case <-s.stop:
			return
		case pi := <-s.pins:
			m := openflow.PacketIn{BufferID: openflow.NoBuffer, TotalLen: uint16(min(pi.totalLen, 0xffff)),
				Reason: uint8(pi.Reason), TableID: pi.Table, Cookie: pi.Cookie, Data: pi.Frame}
			m.Match.Key.InPort = pi.InPort
			m.Match.Mask.InPort = ^uint32(0)
			if pi.Metadata != 0 {
				m.Match.Key.Metadata = pi.Metadata
				m.Match.Mask.Metadata = ^uint64(0)
			}
			s.ch.Send(m.Encode(0))
			s.pinSent.Add(1)
		}
	}
}

// portChanged sends port-status messages.
func (s *Switch) portChanged(reason bridge.PortReason, info bridge.PortInfo) {
	ps := openflow.PortStatus{Reason: uint8(reason), Port: ofPort(info)}
	s.ch.Send(ps.Encode(0))
}

// ofPort describes a bridge port as an ofp_port.
func ofPort(info bridge.PortInfo) openflow.Port {
	p := openflow.Port{PortNo: info.OFPort, Name: info.Spec.Name, Config: uint32(info.Config & pipeline.PortConfigMask)}
	if mac, err := net.ParseMAC(info.MAC); err == nil && len(mac) == 6 {
		copy(p.HWAddr[:], mac)
	}
	if !info.Up {
		p.State |= openflow.PortStateLinkDown
	} else if info.Config&pipeline.PortDown == 0 {
		p.State |= openflow.PortStateLive
	}
	// Virtual links have no real speed; report 10 Gb/s full duplex over
	// copper, as the kernel and Open vSwitch do for veth and tap.
	const f10GBFD, fCopper = 1 << 6, 1 << 11
	p.Curr, p.Supported = f10GBFD|fCopper, f10GBFD|fCopper
	p.CurrSpeed, p.MaxSpeed = 10_000_000, 10_000_000
	return p
}

// portExists reports whether no is a port of the bridge.
func (s *Switch) portExists(no uint32) bool {
	_, ok := s.b.Pipeline().Port(no)
	return ok
}
