package bridge

import (
	"net/netip"
	"testing"

	"github.com/dvs-project/dvs/internal/datapath/tunnel"
)

func TestTunnelConfig(t *testing.T) {
	good := []struct {
		spec PortSpec
		want tunnel.Config
	}{
		{PortSpec{Name: "vx", Type: TypeVXLAN, RemoteIP: "203.0.113.2", Key: "100"},
			tunnel.Config{Name: "vx", Kind: tunnel.VXLAN, Remote: netip.MustParseAddr("203.0.113.2"), VNI: 100}},
		{PortSpec{Name: "g", Type: TypeGeneve, RemoteIP: "203.0.113.2", LocalIP: "203.0.113.1", Key: "flow", DstPort: 7000},
			tunnel.Config{Name: "g", Kind: tunnel.Geneve, Remote: netip.MustParseAddr("203.0.113.2"),
				Local: netip.MustParseAddr("203.0.113.1"), KeyFlow: true, DstPort: 7000}},
		{PortSpec{Name: "eth0"}, tunnel.Config{}},
	}
	for _, c := range good {
		got, err := c.spec.TunnelConfig()
		if err != nil || got != c.want {
			t.Errorf("%+v: got %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
	for _, s := range []PortSpec{
		{Name: "vx", Type: TypeVXLAN},
		{Name: "vx", Type: TypeVXLAN, RemoteIP: "2001:db8::1"},
		{Name: "vx", Type: TypeVXLAN, RemoteIP: "bogus"},
		{Name: "vx", Type: TypeVXLAN, RemoteIP: "0.0.0.0"},
		{Name: "vx", Type: TypeVXLAN, RemoteIP: "203.0.113.2", Key: "16777216"},
		{Name: "vx", Type: TypeVXLAN, RemoteIP: "203.0.113.2", Key: "flo"},
		{Name: "vx", Type: TypeVXLAN, RemoteIP: "203.0.113.2", LocalIP: "x"},
		{Name: "vx", Type: TypeGeneve, RemoteIP: "203.0.113.2", DstPort: 70000},
		{Name: "eth0", Type: TypeAFPacket, RemoteIP: "203.0.113.2"},
	} {
		if _, err := s.TunnelConfig(); err == nil {
			t.Errorf("%+v: accepted", s)
		}
	}
}
