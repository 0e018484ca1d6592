package agent

import (
	"bytes"
	"testing"

	"github.com/dvs-project/dvs/internal/flow"
	"github.com/dvs-project/dvs/internal/packet"
)

func TestAnnounceFrames(t *testing.T) {
	frames, err := announceFrames("02:00:00:00:00:0a", []string{"198.51.100.7", "198.51.100.8/24", "2001:db8::1", "junk"})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 {
		t.Fatalf("got %d frames, want a RARP and two gratuitous ARPs", len(frames))
	}
	mac := []byte{2, 0, 0, 0, 0, 0x0a}
	for i, f := range frames {
		var k flow.Key
		packet.Parse(f, 5, &k)
		if !bytes.Equal(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) || !bytes.Equal(f[6:12], mac) {
			t.Errorf("frame %d: dst %x src %x, want broadcast from the VM's MAC", i, f[0:6], f[6:12])
		}
		a := packet.ARP(f[14:])
		if sha := a.SHA(); !bytes.Equal(sha[:], mac) {
			t.Errorf("frame %d: sender hardware address %x", i, sha)
		}
		switch i {
		case 0:
			if et := uint16(f[12])<<8 | uint16(f[13]); et != etherTypeRARP || a.Op() != 3 {
				t.Errorf("frame 0: ethertype %#x op %d, want RARP request reverse", et, a.Op())
			}
		default:
			want := uint32(198)<<24 | 51<<16 | 100<<8 | uint32(6+i)
			if a.Op() != 1 || a.SPA() != want || a.TPA() != want {
				t.Errorf("frame %d: op %d spa %#x tpa %#x, want a gratuitous request for %#x", i, a.Op(), a.SPA(), a.TPA(), want)
			}
		}
	}
	if _, err := announceFrames("nope", nil); err == nil {
		t.Error("a bad MAC was accepted")
	}
}
