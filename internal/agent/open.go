package agent

import (
	"fmt"
	"net"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/afpacket"
	"github.com/dvs-project/dvs/internal/datapath/tap"
)

// OpenPort is the agent's default bridge.Opener: it maps a port type to
// its backend.
//
//   - afpacket: an existing interface (NIC, veth end, a VM's tap netdev),
//     attached through an AF_PACKET socket.
//   - tap: a new tap device whose file side the switch holds.
//   - internal: a new tap device the host addresses (like the bridge's own
//     interface).
func OpenPort(spec bridge.PortSpec) (datapath.Port, error) {
	switch spec.Type {
	case bridge.TypeAFPacket, "":
		// Checked here so that the common mistake gets a plain answer
		// rather than a socket error.
		if _, err := net.InterfaceByName(spec.Name); err != nil {
			return nil, fmt.Errorf("interface %s does not exist", spec.Name)
		}
		p, err := afpacket.Open(spec.Name, afpacket.Options{})
		if err != nil {
			return nil, err
		}
		return p, nil
	case bridge.TypeTap:
		if _, err := net.InterfaceByName(spec.Name); err == nil {
			return nil, fmt.Errorf("interface %s already exists (use --type afpacket to attach to it)", spec.Name)
		}
		p, err := tap.Create(spec.Name, tap.Options{})
		if err != nil {
			return nil, err
		}
		return p, nil
	case bridge.TypeInternal:
		if _, err := net.InterfaceByName(spec.Name); err == nil {
			return nil, fmt.Errorf("interface %s already exists", spec.Name)
		}
		p, err := tap.CreateInternal(spec.Name, tap.Options{})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("unknown port type %q (want afpacket, tap or internal)", spec.Type)
}
