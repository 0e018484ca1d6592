// Package porttest is an in-memory datapath.Port for tests and benchmarks:
// frames injected with Inject are read by the switch, and frames the switch
// writes are kept for the test to inspect.
package porttest

import (
	"errors"
	"sync"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/packet"
)

// Port is an in-memory port. It is safe for concurrent use.
type Port struct {
	name string

	mu      sync.Mutex
	rx      [][]byte
	sent    [][]byte
	keep    bool // keep copies of sent frames (off for benchmarks)
	closed  bool
	up      bool
	counter datapath.Counters
}

var _ datapath.Port = (*Port)(nil)
var _ datapath.LinkStater = (*Port)(nil)

// New returns an up port that records what it sends.
func New(name string) *Port { return &Port{name: name, keep: true, up: true} }

// Discard makes the port count sent frames without keeping them.
func (p *Port) Discard() *Port {
	p.mu.Lock()
	p.keep = false
	p.mu.Unlock()
	return p
}

// SetUp sets the link state LinkUp reports.
func (p *Port) SetUp(up bool) {
	p.mu.Lock()
	p.up = up
	p.mu.Unlock()
}

// Name implements datapath.Port.
func (p *Port) Name() string { return p.name }

// Inject queues frames for the switch to read (copies them).
func (p *Port) Inject(frames ...[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range frames {
		p.rx = append(p.rx, append([]byte(nil), f...))
	}
}

// Sent returns and forgets the frames the switch wrote.
func (p *Port) Sent() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sent
	p.sent = nil
	return s
}

var errClosed = errors.New("porttest: port closed")

// Read implements datapath.Port.
func (p *Port) Read(pkts []*packet.Packet) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errClosed
	}
	n := 0
	for n < len(pkts) && len(p.rx) > 0 {
		f := p.rx[0]
		p.rx = p.rx[1:]
		if len(f) > pkts[n].Cap() {
			p.counter.RxDropped.Add(1)
			continue
		}
		pkts[n].SetFrame(copy(pkts[n].RecvBuf(), f))
		p.counter.RxPackets.Add(1)
		p.counter.RxBytes.Add(uint64(len(f)))
		n++
	}
	return n, nil
}

// Write implements datapath.Port.
func (p *Port) Write(pkts []*packet.Packet) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errClosed
	}
	var bytes uint64
	for _, pk := range pkts {
		if p.keep {
			p.sent = append(p.sent, append([]byte(nil), pk.Data()...))
		}
		bytes += uint64(pk.Len())
	}
	p.counter.TxPackets.Add(uint64(len(pkts)))
	p.counter.TxBytes.Add(bytes)
	return len(pkts), nil
}

// WaitFD implements datapath.Port: the double has no descriptor.
func (p *Port) WaitFD() int { return -1 }

// LinkUp implements datapath.LinkStater.
func (p *Port) LinkUp() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.up }

// Stats implements datapath.Port.
func (p *Port) Stats() datapath.PortStats { return p.counter.Snapshot() }

// Close implements datapath.Port.
func (p *Port) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}
