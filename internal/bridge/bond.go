package bridge

import (
	"encoding/binary"
	"fmt"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/bond"
	"github.com/dvs-project/dvs/internal/feature/vlan"
	"github.com/dvs-project/dvs/internal/flow"
)

// A bond port (type bond) is an active-backup bond of afpacket members:
// see package datapath/bond. The bridge opens the members with its opener,
// follows their links with the other ports' (netlink wakes it at once), and
// after a failover sends a gratuitous RARP out of the new active member for
// every MAC it has learned behind its other ports, in that MAC's VLAN, so
// the physical switches move those MACs to the new member's link.

// openBond opens members as afpacket ports and joins them into bond name.
func (b *Bridge) openBond(name string, members []string) (datapath.Port, error) {
	var ports []datapath.Port
	for _, m := range members {
		p, err := b.open(PortSpec{Name: m, Type: TypeAFPacket})
		if err != nil {
			for _, q := range ports {
				q.Close()
			}
			return nil, fmt.Errorf("member %s: %w", m, err)
		}
		ports = append(ports, p)
	}
	return bond.New(name, ports)
}

// failover is a bond whose active member changed.
type failover struct {
	bond   string
	no     uint32
	active string
	vlan   vlan.Config
}

// announceFailover sends, out of the bond's new active member, a RARP for
// each MAC learned on another port in a VLAN the bond carries, tagged as
// the bond sends that VLAN.
func (b *Bridge) announceFailover(f failover) {
	for _, e := range b.pipe.MACs().Entries(0) {
		if e.Port == f.no || !f.vlan.Carries(e.VLAN) {
			continue
		}
		var vid uint16
		if f.vlan.Mode == vlan.Trunk && e.VLAN != f.vlan.Native {
			vid = e.VLAN
		}
		// In from the MAC's own port, so the output to the bond is not
		// an output to the input port.
		_ = b.Inject(e.Port, RARP(e.MAC, vid), []flow.Action{flow.Output{Port: f.no}})
	}
	if b.cfg.OnFailover != nil {
		b.cfg.OnFailover(f.bond, f.active)
	}
}

// RARP returns the frame that announces mac as QEMU does after a
// migration: a broadcast reverse ARP request whose sender and target
// hardware addresses are mac. A vid other than 0 tags it with an 802.1Q
// header. It is zero padded to the minimum Ethernet frame (64 bytes with
// the tag).
func RARP(mac [6]byte, vid uint16) []byte {
	b := make([]byte, 0, 64)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, mac[:]...)
	if vid != 0 {
		b = binary.BigEndian.AppendUint16(b, flow.EthTypeVLAN)
		b = binary.BigEndian.AppendUint16(b, vid&0x0fff)
	}
	b = binary.BigEndian.AppendUint16(b, flow.EthTypeRARP)
	b = binary.BigEndian.AppendUint16(b, 1)      // hardware: Ethernet
	b = binary.BigEndian.AppendUint16(b, 0x0800) // protocol: IPv4
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, 3) // request reverse
	b = append(b, mac[:]...)
	b = append(b, 0, 0, 0, 0)
	b = append(b, mac[:]...)
	b = append(b, 0, 0, 0, 0)
	// The minimum frame size, plus the tag when there is one, so that a
	// switch that strips the tag still has a full-size frame.
	min := 60
	if vid != 0 {
		min += 4
	}
	for len(b) < min {
		b = append(b, 0)
	}
	return b
}
