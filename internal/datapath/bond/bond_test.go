package bond

import (
	"fmt"
	"testing"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/datapath/porttest"
	"github.com/dvs-project/dvs/internal/packet"
)

func TestChoose(t *testing.T) {
	for _, tt := range []struct {
		name string
		cur  int
		up   []bool
		want int
	}{
		{"first up at start", -1, []bool{true, true}, 0},
		{"skips a down first member", -1, []bool{false, true, true}, 1},
		{"none up", -1, []bool{false, false}, -1},
		{"keeps the current while up", 1, []bool{true, true}, 1},
		{"no fail-back to the first", 2, []bool{true, false, true}, 2},
		{"current down: first up takes over", 0, []bool{false, true, true}, 1},
		{"current down: wraps to the first", 2, []bool{true, false, false}, 0},
		{"all down", 1, []bool{false, false}, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := choose(tt.cur, tt.up); got != tt.want {
				t.Errorf("choose(%d, %v) = %d, want %d", tt.cur, tt.up, got, tt.want)
			}
		})
	}
}

func frame(i int) []byte {
	f := make([]byte, 60)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, byte(i), 0x08, 0x00})
	return f
}

func batch(n int) []*packet.Packet {
	pkts := make([]*packet.Packet, n)
	for i := range pkts {
		pkts[i] = packet.New(packet.DefaultBufSize)
	}
	return pkts
}

func newBond(t *testing.T, names ...string) (*Port, []*porttest.Port) {
	t.Helper()
	var ms []*porttest.Port
	var ports []datapath.Port
	for _, n := range names {
		p := porttest.New(n)
		ms = append(ms, p)
		ports = append(ports, p)
	}
	b, err := New("bond0", ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, ms
}

// summary is what the tests compare of a bond's status.
func summary(b *Port) []string {
	var out []string
	s := b.Status()
	for _, m := range s.Members {
		out = append(out, fmt.Sprintf("%s up=%v active=%v rx=%d tx=%d inactive=%d", m.Name, m.Up, m.Active,
			m.Stats.RxPackets, m.Stats.TxPackets, m.RxInactiveDropped))
	}
	return out
}

// diffLines returns a "(-want +got)" listing of the lines that differ, or "".
func diffLines(want, got []string) string {
	var out string
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			out += fmt.Sprintf("-%s\n+%s\n", w, g)
		}
	}
	return out
}

func TestActiveBackupFailover(t *testing.T) {
	b, ms := newBond(t, "eth1", "eth2")
	pkts := batch(8)
	if b.Active() != "eth1" || !b.LinkUp() {
		t.Fatalf("active %q up %v, want eth1 up", b.Active(), b.LinkUp())
	}

	// Transmit goes to the active member only; frames received on the
	// backup are dropped and counted.
	if n, _ := b.Write(pkts[:3]); n != 3 {
		t.Fatalf("Write sent %d, want 3", n)
	}
	ms[0].Inject(frame(1), frame(2))
	ms[1].Inject(frame(3))
	if n, _ := b.Read(pkts); n != 2 {
		t.Fatalf("Read returned %d frames, want the active member's 2", n)
	}
	if got := pkts[0].Data()[11]; got != 1 {
		t.Errorf("first frame read is from source ...:%02x, want the active member's frame 1", got)
	}
	want := []string{
		"eth1 up=true active=true rx=2 tx=3 inactive=0",
		"eth2 up=true active=false rx=1 tx=0 inactive=1",
	}
	if diff := diffLines(want, summary(b)); diff != "" {
		t.Errorf("before failover (-want +got):\n%s", diff)
	}

	// The active member goes down: the backup takes over at once.
	ms[0].SetUp(false)
	if changed, act := b.Update(); !changed || act != "eth2" {
		t.Fatalf("Update after eth1 down = %v, %q; want a change to eth2", changed, act)
	}
	b.Write(pkts[:2])
	ms[0].Inject(frame(4))
	ms[1].Inject(frame(5))
	if n, _ := b.Read(pkts); n != 1 || pkts[0].Data()[11] != 5 {
		t.Fatalf("Read after failover returned %d frames, want eth2's frame 5", n)
	}
	// eth1 comes back: no fail-back while eth2 is up.
	ms[0].SetUp(true)
	if changed, act := b.Update(); changed || act != "eth2" {
		t.Fatalf("Update after eth1 up = %v, %q; want no change (no fail-back)", changed, act)
	}
	want = []string{
		"eth1 up=true active=false rx=3 tx=3 inactive=1",
		"eth2 up=true active=true rx=2 tx=2 inactive=1",
	}
	if diff := diffLines(want, summary(b)); diff != "" {
		t.Errorf("after failover (-want +got):\n%s", diff)
	}
	if f := b.Status().Failovers; f != 1 {
		t.Errorf("failovers = %d, want 1", f)
	}
	st := b.Stats()
	if st.RxPackets != 3 || st.TxPackets != 5 || st.RxDropped != 2 {
		t.Errorf("bond stats rx %d tx %d rx dropped %d, want 3, 5, 2", st.RxPackets, st.TxPackets, st.RxDropped)
	}

	// Every member down: the bond is down and sends nothing.
	ms[0].SetUp(false)
	ms[1].SetUp(false)
	if changed, act := b.Update(); !changed || act != "" || b.LinkUp() {
		t.Fatalf("Update with all down = %v, %q, up %v; want a change to none, down", changed, act, b.LinkUp())
	}
	if n, _ := b.Write(pkts[:4]); n != 0 {
		t.Errorf("Write with all members down sent %d", n)
	}
	if got := b.Stats().TxDropped; got != 4 {
		t.Errorf("tx dropped %d, want 4", got)
	}
	// The second member comes up first: it becomes active.
	ms[1].SetUp(true)
	if changed, act := b.Update(); !changed || act != "eth2" {
		t.Fatalf("Update with eth2 up = %v, %q; want eth2", changed, act)
	}
}

func TestFirstMemberDownAtStart(t *testing.T) {
	p1, p2 := porttest.New("eth1"), porttest.New("eth2")
	p1.SetUp(false)
	b, err := New("bond0", []datapath.Port{p1, p2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Active() != "eth2" || b.Status().Failovers != 0 {
		t.Errorf("active %q failovers %d, want eth2 and 0", b.Active(), b.Status().Failovers)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New("b", nil); err == nil {
		t.Error("a bond without members was made")
	}
	p := porttest.New("eth1")
	if _, err := New("b", []datapath.Port{p, p}); err == nil {
		t.Error("a bond with a member twice was made")
	}
}

func TestReadWriteAllocs(t *testing.T) {
	b, ms := newBond(t, "eth1", "eth2")
	for _, m := range ms {
		m.Discard()
	}
	pkts := batch(packet.BatchSize)
	if n := testing.AllocsPerRun(100, func() {
		b.Write(pkts)
		b.Read(pkts)
	}); n != 0 {
		t.Errorf("Read+Write allocate %v times per run, want 0", n)
	}
}

func BenchmarkWrite(b *testing.B) {
	p1, p2 := porttest.New("eth1").Discard(), porttest.New("eth2").Discard()
	bd, err := New("bond0", []datapath.Port{p1, p2})
	if err != nil {
		b.Fatal(err)
	}
	defer bd.Close()
	pkts := batch(packet.BatchSize)
	for _, p := range pkts {
		p.SetFrame(copy(p.RecvBuf(), frame(1)))
	}
	b.ReportAllocs()
	for b.Loop() {
		bd.Write(pkts)
	}
}

// fullPort is a port double whose Read always fills the whole batch with a
// 60-byte frame, without copying (for benchmarks).
type fullPort struct{ *porttest.Port }

func (p *fullPort) Read(pkts []*packet.Packet) (int, error) {
	for _, pk := range pkts {
		pk.SetFrame(60)
	}
	return len(pkts), nil
}

// BenchmarkRead reads a batch from the active member while the backup
// receives a batch too (a physical network flooding to both), which the
// bond reads and drops.
func BenchmarkRead(b *testing.B) {
	m1, m2 := &fullPort{porttest.New("eth1")}, &fullPort{porttest.New("eth2")}
	bd, err := New("bond0", []datapath.Port{m1, m2})
	if err != nil {
		b.Fatal(err)
	}
	defer bd.Close()
	pkts := batch(packet.BatchSize)
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := bd.Read(pkts); n != len(pkts) {
			b.Fatalf("read %d", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pkts)), "ns/frame")
}
