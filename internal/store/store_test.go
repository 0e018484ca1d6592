package store

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/ofswitch"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dvs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	br0 := Bridge{
		Config: BridgeConfig{Name: "br0", Workers: 2, MACAgingSeconds: 60, MACLimit: 100,
			DatapathID: "00000000000000aa", OpenFlow: ofswitch.Config{Controllers: []string{"tcp:127.0.0.1:6653"},
				Listen: []string{"ptcp:6634:127.0.0.1"}, FailMode: "secure", InactivityProbe: 3 * time.Second}},
		Ports: []bridge.PortSpec{
			{Name: "veth1", Type: "afpacket", OFPort: 1, VLAN: 10},
			{Name: "veth2", Type: "tap", OFPort: 2, Trunks: "10,20-30", Native: 10},
		},
		Flows: []string{"priority=100,in_port=1 actions=output:2", "actions=NORMAL"},
	}
	br1 := Bridge{Config: BridgeConfig{Name: "br1"}, Ports: []bridge.PortSpec{}}
	for _, b := range []Bridge{br1, br0} {
		if err := s.SaveBridge(b); err != nil {
			t.Fatal(err)
		}
	}
	// Saving again replaces, it does not merge.
	br0.Flows = br0.Flows[:1]
	if err := s.SaveBridge(br0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Bridges()
	if err != nil {
		t.Fatal(err)
	}
	want := []Bridge{br0, br1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Bridges() = %+v\nwant %+v", got, want)
	}

	if err := s.DeleteBridge("br0"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBridge("nope"); err != nil {
		t.Fatalf("deleting an unknown bridge: %v", err)
	}
	got, err = s.Bridges()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Config.Name != "br1" {
		t.Fatalf("after delete: %+v", got)
	}
}

func TestRejectsMultilineFlow(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "dvs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SaveBridge(Bridge{Config: BridgeConfig{Name: "br0"}, Flows: []string{"a\nb"}}); err == nil {
		t.Fatal("a flow with a newline was saved")
	}
}

func TestSecondOpenFails(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the open timeout")
	}
	path := filepath.Join(t.TempDir(), "dvs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}
