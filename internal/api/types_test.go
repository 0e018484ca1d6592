package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseDatapathID(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{in: "1", want: 1},
		{in: "0000aabbccddeeff", want: 0xaabbccddeeff},
		{in: "0xAABBCCDDEEFF0011", want: 0xaabbccddeeff0011},
		{in: "0X10", want: 0x10},
		{in: "ffffffffffffffff", want: ^uint64(0)},
		{in: "", wantErr: "give 1 to 16 hex digits"},
		{in: "0x", wantErr: "give 1 to 16 hex digits"},
		{in: "0", wantErr: "zero is not a valid datapath id"},
		{in: "0000000000000000", wantErr: "zero"},
		{in: "1ffffffffffffffff", wantErr: "more than 16 hex digits"},
		{in: "00:11:22", wantErr: "not a hex number"},
		{in: "xyz", wantErr: "not a hex number"},
		{in: "-1", wantErr: "not a hex number"},
		{in: "+1", wantErr: "not a hex number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDatapathID(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDatapathID(%q) = %#x, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDatapathID(%q) = %#x, %v; want %#x", tt.in, got, err, tt.want)
			}
			if back, err := ParseDatapathID(FormatDatapathID(got)); err != nil || back != got {
				t.Errorf("round trip through %q: %#x, %v", FormatDatapathID(got), back, err)
			}
		})
	}
}

// A spec saved or sent before OpenFlow existed has neither field; one
// without OpenFlow settings does not send an empty object.
func TestBridgeSpecJSON(t *testing.T) {
	var spec BridgeSpec
	if err := json.Unmarshal([]byte(`{"name":"br0","workers":2}`), &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Name != "br0" || spec.DatapathID != "" || len(spec.OpenFlow.Controllers) != 0 {
		t.Errorf("old spec decoded as %+v", spec)
	}
	data, err := json.Marshal(BridgeSpec{Name: "br0"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"name":"br0"}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	data, err = json.Marshal(BridgeSpec{Name: "br0", DatapathID: "0000000000000001",
		OpenFlow: OpenFlowConfig{Controllers: []string{"tcp:127.0.0.1:6653"}, FailMode: "secure"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"br0","datapath_id":"0000000000000001","openflow":{"controllers":["tcp:127.0.0.1:6653"],"fail_mode":"secure"}}`
	if string(data) != want {
		t.Errorf("Marshal = %s, want %s", data, want)
	}
}

// An empty list in a patch is sent (it removes every controller); a nil
// one is not.
func TestBridgePatchJSON(t *testing.T) {
	none := []string{}
	data, err := json.Marshal(BridgePatch{Controllers: &none})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"controllers":[]}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	if !(BridgePatch{}).IsZero() || (BridgePatch{Controllers: &none}).IsZero() {
		t.Error("IsZero is wrong")
	}
}
