package channel

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/openflow"
)

func ofctl(t *testing.T) string {
	path, err := exec.LookPath("ovs-ofctl")
	if err != nil {
		t.Skip("ovs-ofctl not installed")
	}
	return path
}

// TestOvsOfctlShow runs Open vSwitch's ovs-ofctl show against the channel,
// over TCP and a unix socket.
func TestOvsOfctlShow(t *testing.T) {
	bin := ofctl(t)
	sock := filepath.Join(t.TempDir(), "br0.mgmt")
	ch := newChannel(t, Config{Listen: []string{"ptcp:0", "punix:" + sock}}, nil)
	for _, target := range []string{"tcp:" + listenAddr(t, ch, KindService), "unix:" + sock} {
		t.Run(target, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "-O", "OpenFlow13", "show", target).CombinedOutput()
			if err != nil {
				t.Fatalf("ovs-ofctl show: %v\n%s", err, out)
			}
			for _, want := range []string{
				"OFPT_FEATURES_REPLY (OF1.3)",
				"dpid:0000000000001234",
				"n_tables:254, n_buffers:0",
				"capabilities: FLOW_STATS TABLE_STATS PORT_STATS",
				"OFPT_GET_CONFIG_REPLY (OF1.3)",
				"frags=normal miss_send_len=128",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("ovs-ofctl show output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestOvsOfctlSnoop reads the snoop socket with ovs-ofctl snoop while a
// controller talks to the switch.
func TestOvsOfctlSnoop(t *testing.T) {
	bin := ofctl(t)
	ctl := newController(t)
	sock := filepath.Join(t.TempDir(), "br0.snoop")
	ch := newChannel(t, Config{Controllers: []string{ctl.target()}, Snoop: sock}, nil)
	p := ctl.accept()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out syncBuffer
	cmd := exec.CommandContext(ctx, bin, "-O", "OpenFlow13", "snoop", "unix:"+sock)
	cmd.Stdout, cmd.Stderr = &out, &out
	// snoop opens a control socket in the run directory.
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	defer func() {
		if t.Failed() {
			t.Logf("ovs-ofctl snoop output:\n%s", out.String())
		}
	}()
	waitFor(t, "ovs-ofctl snoop to connect", func() bool {
		for _, i := range ch.Connections() {
			if i.Kind == KindSnoop && i.State == StateConnected {
				return true
			}
		}
		return false
	})
	p.send(openflow.EncodeEmpty(openflow.TypeFeaturesRequest, 0x42))
	p.expect(openflow.TypeFeaturesReply, 0x42)
	p.send(openflow.RoleMsg{Role: openflow.RoleMaster, GenerationID: 3}.Encode(0x43))
	p.expect(openflow.TypeRoleReply, 0x43)
	waitFor(t, "ovs-ofctl snoop to print the role reply", func() bool {
		return strings.Contains(out.String(), "OFPT_ROLE_REPLY")
	})
	cmd.Process.Kill()
	cmd.Wait()
	for _, want := range []string{
		"OFPT_FEATURES_REQUEST (OF1.3) (xid=0x42)",
		"OFPT_FEATURES_REPLY (OF1.3) (xid=0x42): dpid:0000000000001234",
		"OFPT_ROLE_REQUEST (OF1.3) (xid=0x43): role=primary generation_id=3",
		"OFPT_ROLE_REPLY (OF1.3) (xid=0x43): role=primary generation_id=3",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ovs-ofctl snoop output lacks %q:\n%s", want, out.String())
		}
	}
}

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
