package agent

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/flow"
)

// When a VM's port arrives on this host (a new port or a migration), the
// agent announces the VM's MAC as the hypervisor does after a live
// migration: a RARP, and a gratuitous ARP for each IPv4 address the port
// is known to have, with the VM's MAC as source, injected as if the VM had
// sent them. They go through the flow tables like the VM's own traffic, so
// the port group's floods carry them to the other hosts and the uplinks,
// where physical switches and learning bridges move the MAC. (The other
// dvs hosts need no announcement: the manager's share tells them.)

// announcement is what to announce for a local port.
type announcement struct {
	MAC string
	IPs []string // IPv4 only are announced
}

const (
	etherTypeARP  = 0x0806
	etherTypeRARP = 0x8035
)

// announceFrames returns the frames announcing mac: one RARP (bridge.RARP,
// as QEMU sends it) and one gratuitous ARP request per IPv4 address of ips.
func announceFrames(mac string, ips []string) ([][]byte, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("bad MAC %q", mac)
	}
	garp := func(ip [4]byte) []byte {
		b := make([]byte, 60) // minimum frame size, zero padded
		copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(b[6:12], hw)
		binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
		a := b[14:]
		binary.BigEndian.PutUint16(a[0:2], 1)      // Ethernet
		binary.BigEndian.PutUint16(a[2:4], 0x0800) // IPv4
		a[4], a[5] = 6, 4
		binary.BigEndian.PutUint16(a[6:8], 1) // request
		copy(a[8:14], hw)
		copy(a[14:18], ip[:])
		copy(a[24:28], ip[:])
		return b
	}
	frames := [][]byte{bridge.RARP([6]byte(hw), 0)}
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			if p, perr := netip.ParsePrefix(s); perr == nil {
				a, err = p.Addr(), nil
			}
		}
		if err != nil || !a.Is4() {
			continue
		}
		frames = append(frames, garp(a.As4()))
	}
	return frames, nil
}

// announce injects the announcement of a port that just arrived on br as
// if received from port no, through the flow tables.
func announce(br *bridge.Bridge, no uint32, an announcement) error {
	frames, err := announceFrames(an.MAC, an.IPs)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := br.Inject(no, f, []flow.Action{flow.Output{Port: flow.PortTable}}); err != nil {
			return err
		}
	}
	return nil
}
