package resource

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeGood(t *testing.T) {
	in := `
apiVersion: dvs/v1
kind: Switch
metadata: {name: prod}
spec: {overlay: VXLAN, mtu: 1450}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: prod, vlan: 10}
---
# empty document
---
{"apiVersion": "dvs/v1", "kind": "PortGroup", "metadata": {"name": "trunk"}, "spec": {"switch": "prod", "trunk": [100, "200-299"]}}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm1}
spec: {portGroup: web, mac: "02:00:00:00:00:AA", host: h1, interface: tap-vm1, ips: [10.0.0.1, "fd00::1"]}
---
apiVersion: dvs/v1
kind: Uplink
metadata: {name: prod-h1}
spec: {switch: prod, host: h1, interfaces: [eth1, eth2]}
---
apiVersion: dvs/v1
kind: Host
metadata: {name: h1}
spec: {address: 127.0.0.1, uplinks: [eth1, eth2]}
`
	objs, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 6 {
		t.Fatalf("got %d objects, want 6", len(objs))
	}
	sw := objs[0].(*Switch)
	if sw.Spec.Overlay != OverlayVXLAN {
		t.Errorf("overlay %q, want normalized vxlan", sw.Spec.Overlay)
	}
	tr := objs[2].(*PortGroup)
	if got := tr.Spec.Trunk; len(got) != 2 || got[0] != (VLANRange{100, 100}) || got[1] != (VLANRange{200, 299}) {
		t.Errorf("trunk %v", got)
	}
	p := objs[3].(*Port)
	if p.Spec.MAC != "02:00:00:00:00:aa" || p.Spec.InterfaceType != InterfaceTap {
		t.Errorf("port not normalized: %+v", p.Spec)
	}
	u := objs[4].(*Uplink)
	if u.Spec.Policy != PolicyActiveBackup {
		t.Errorf("uplink policy %q, want the default", u.Spec.Policy)
	}
}

func TestDecodeBad(t *testing.T) {
	const sw = "apiVersion: dvs/v1\nkind: Switch\nmetadata: {name: prod}\n"
	const pg = "apiVersion: dvs/v1\nkind: PortGroup\nmetadata: {name: web}\n"
	const port = "apiVersion: dvs/v1\nkind: Port\nmetadata: {name: vm1}\n"
	const host = "apiVersion: dvs/v1\nkind: Host\nmetadata: {name: h1}\n"
	const up = "apiVersion: dvs/v1\nkind: Uplink\nmetadata: {name: u1}\n"
	tests := []struct {
		name, in, want string
	}{
		{"invalid yaml", "kind: [Switch\n", "document 1"},
		{"tab yaml", "kind: Switch\n\tspec: {}\n", "document 1"},
		{"duplicate key", sw + "spec: {overlay: vxlan}\nspec: {overlay: vlan}\n", `key "spec" already set`},
		{"no kind", "apiVersion: dvs/v1\nmetadata: {name: x}\n", "missing kind"},
		{"unknown kind", "apiVersion: dvs/v1\nkind: Router\nmetadata: {name: x}\n", `unknown kind "Router"`},
		{"bad apiVersion", "apiVersion: v2\nkind: Switch\nmetadata: {name: x}\n", `apiVersion must be "dvs/v1"`},
		{"unknown top field", sw + "spec: {overlay: vxlan}\nextra: 1\n", `unknown field "extra"`},
		{"unknown spec field", sw + "spec: {overlay: vxlan, speed: 10}\n", `unknown field "speed"`},
		{"unknown metadata field", "apiVersion: dvs/v1\nkind: Switch\nmetadata: {name: x, labels: {}}\nspec: {overlay: vxlan}\n", `unknown field "labels"`},
		{"wrong type", sw + "spec: {overlay: vxlan, mtu: big}\n", "spec.mtu"},
		{"no name", "apiVersion: dvs/v1\nkind: Switch\nmetadata: {}\nspec: {overlay: vxlan}\n", "metadata.name is required"},
		{"bad name", "apiVersion: dvs/v1\nkind: Switch\nmetadata: {name: Prod!}\nspec: {overlay: vxlan}\n", "metadata.name"},
		{"no overlay", sw + "spec: {}\n", "spec.overlay is required"},
		{"bad overlay", sw + "spec: {overlay: gre}\n", `spec.overlay "gre"`},
		{"mtu range", sw + "spec: {overlay: vxlan, mtu: 100}\n", "spec.mtu 100 is out of range"},
		{"vlan 0 trunk", pg + "spec: {switch: prod, trunk: [0]}\n", "spec.trunk[0] 0 is out of range (1..4094)"},
		{"vlan 4095", pg + "spec: {switch: prod, vlan: 4095}\n", "spec.vlan 4095 is out of range (1..4094)"},
		{"vlan negative", pg + "spec: {switch: prod, vlan: -1}\n", "spec.vlan -1 is out of range"},
		{"trunk range", pg + "spec: {switch: prod, trunk: [\"10-5000\"]}\n", "spec.trunk[0] 5000 is out of range"},
		{"trunk backwards", pg + "spec: {switch: prod, trunk: [\"20-10\"]}\n", "backwards"},
		{"trunk syntax", pg + "spec: {switch: prod, trunk: [\"a-b\"]}\n", "VLAN range"},
		{"vlan and trunk", pg + "spec: {switch: prod, vlan: 10, trunk: [20]}\n", "exclude each other"},
		{"vni 0", pg + "spec: {switch: prod, vni: -5}\n", "spec.vni -5 is out of range (1..16777215)"},
		{"vni big", pg + "spec: {switch: prod, vni: 16777216}\n", "spec.vni 16777216 is out of range (1..16777215)"},
		{"pg no switch", pg + "spec: {vlan: 10}\n", "spec.switch is required"},
		{"port no mac", port + "spec: {portGroup: web}\n", "spec.mac is required"},
		{"port bad mac", port + "spec: {portGroup: web, mac: 02:00:00:00:01}\n", "six hex pairs"},
		{"port multicast mac", port + "spec: {portGroup: web, mac: \"01:00:5e:00:00:01\"}\n", "multicast"},
		{"port zero mac", port + "spec: {portGroup: web, mac: \"00:00:00:00:00:00\"}\n", "zero"},
		{"port bad ip", port + "spec: {portGroup: web, mac: \"02:00:00:00:00:01\", ips: [10.0.0.300]}\n", "spec.ips[0]"},
		{"port host no iface", port + "spec: {portGroup: web, mac: \"02:00:00:00:00:01\", host: h1}\n", "spec.host needs spec.interface"},
		{"port iface no host", port + "spec: {portGroup: web, mac: \"02:00:00:00:00:01\", interface: tap0}\n", "spec.interface needs spec.host"},
		{"port bad iface type", port + "spec: {portGroup: web, mac: \"02:00:00:00:00:01\", host: h1, interface: tap0, interfaceType: macvtap}\n", "want tap or veth"},
		{"port long iface", port + "spec: {portGroup: web, mac: \"02:00:00:00:00:01\", host: h1, interface: a-very-long-interface}\n", "not a valid interface name"},
		{"host no address", host + "spec: {}\n", "spec.address"},
		{"host bad address", host + "spec: {address: nowhere}\n", "not an IP address"},
		{"uplink none", up + "spec: {switch: prod, host: h1}\n", "spec.interface"},
		{"uplink both", up + "spec: {switch: prod, host: h1, interface: eth0, interfaces: [eth1, eth2]}\n", "exclude each other"},
		{"uplink policy", up + "spec: {switch: prod, host: h1, interfaces: [eth1, eth2], policy: balance-slb}\n", "only active-backup"},
		{"second doc bad", sw + "spec: {overlay: vxlan}\n---\n" + sw + "spec: {overlay: vxlan, x: 1}\n", "document 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{
		"switch": KindSwitch, "Switches": KindSwitch, "pg": KindPortGroup, "PortGroups": KindPortGroup,
		"host": KindHost, "HOSTS": KindHost, "uplink": KindUplink, "ports": KindPort,
	} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseKind("router"); err == nil {
		t.Error("ParseKind(router) succeeded")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("apiVersion: dvs/v1\nkind: Port\nmetadata: {name: vm1}\nspec: {portGroup: web, mac: \"02:00:00:00:00:01\"}\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode(data)
		if err != nil {
			return
		}
		for _, o := range objs {
			if err := o.Validate(); err != nil {
				t.Fatalf("decoded object does not validate: %v", err)
			}
		}
	})
}
