// Package bond joins several ports into one logical switch port with the
// active-backup policy: one OpenFlow port, one name, member interfaces
// underneath. The kernel here has no bonding or team driver, so the bond is
// the datapath's own.
//
// Transmit goes to the active member only. Frames received on a backup
// member are read and dropped (counted per member as rx_inactive_dropped),
// as Linux bonding does: two members on one L2 network then never make a
// loop, and a broadcast the active member sends that comes back on a backup
// member does not move MACs.
//
// The active member is the first member, in the configured order, whose
// link is up. When it goes down, the first member that is up takes over at
// once (Update, called when netlink reports a link change); the bond does
// not fail back to an earlier member while the current one stays up (as
// Open vSwitch's active-backup without a primary). The bond is down only
// when every member is down. The owner sends gratuitous RARPs out of the new
// active member after a failover, so the physical switches relearn.
package bond

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath"
	"github.com/dvs-project/dvs/internal/packet"
)

// ModeActiveBackup is the only mode so far.
const ModeActiveBackup = "active-backup"

// member is one interface of a bond.
type member struct {
	port datapath.Port
	up   atomic.Bool
	// rxInactive counts frames received while the member was a backup
	// (dropped).
	rxInactive atomic.Uint64
}

// Port is an active-backup bond. Read and Write may run concurrently with
// each other and with Update.
type Port struct {
	name    string
	members []*member
	// active is the index of the active member, -1 when every member is
	// down.
	active    atomic.Int32
	failovers atomic.Uint64
	epfd      int // -1 when a member has no descriptor (polled)

	updateMu sync.Mutex // serializes Update
	closed   atomic.Bool
	closeMu  sync.Mutex

	// counters: rx of frames delivered from the active member, tx drops
	// while no member is up.
	counters datapath.Counters
}

var (
	_ datapath.Port       = (*Port)(nil)
	_ datapath.LinkStater = (*Port)(nil)
	_ datapath.Offloader  = (*Port)(nil)
)

// New makes bond name of members (in failover order) and picks the
// active member. It takes ownership of the members: Close closes them,
// and so does New if it fails.
func New(name string, members []datapath.Port) (*Port, error) {
	b := &Port{name: name, epfd: -1}
	fail := func(err error) (*Port, error) {
		for _, m := range members {
			m.Close()
		}
		if b.epfd >= 0 {
			unix.Close(b.epfd)
		}
		return nil, fmt.Errorf("bond %s: %w", name, err)
	}
	if len(members) == 0 {
		return fail(errors.New("a bond needs at least one member"))
	}
	seen := map[string]bool{}
	for _, m := range members {
		if seen[m.Name()] {
			return fail(fmt.Errorf("member %s is listed twice", m.Name()))
		}
		seen[m.Name()] = true
		b.members = append(b.members, &member{port: m})
	}
	polled := false
	for _, m := range members {
		if m.WaitFD() < 0 {
			polled = true
		}
	}
	if !polled {
		// One descriptor for the worker to sleep on: an epoll set of the
		// members' descriptors, readable when any of them is.
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return fail(fmt.Errorf("creating the epoll set: %w", err))
		}
		b.epfd = fd
		for _, m := range members {
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(m.WaitFD())}
			if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, m.WaitFD(), &ev); err != nil {
				return fail(fmt.Errorf("watching member %s: %w", m.Name(), err))
			}
		}
	}
	b.active.Store(-1)
	b.Update()
	b.failovers.Store(0) // choosing the first active member is no failover
	return b, nil
}

// Name returns the bond's name.
func (b *Port) Name() string { return b.name }

// choose returns the member to make active: cur while it is up (no
// fail-back), else the first member that is up, else -1.
func choose(cur int, up []bool) int {
	if cur >= 0 && cur < len(up) && up[cur] {
		return cur
	}
	for i, u := range up {
		if u {
			return i
		}
	}
	return -1
}

// Update re-reads the members' link states and changes the active member
// if it went down. It reports whether the active member changed and the
// new one's name ("" when every member is down). Members that do not
// report a link state count as up.
func (b *Port) Update() (changed bool, active string) {
	b.updateMu.Lock()
	defer b.updateMu.Unlock()
	up := make([]bool, len(b.members))
	for i, m := range b.members {
		up[i] = true
		if ls, ok := m.port.(datapath.LinkStater); ok {
			up[i] = ls.LinkUp()
		}
		m.up.Store(up[i])
	}
	cur := int(b.active.Load())
	next := choose(cur, up)
	if next == cur {
		return false, b.activeName()
	}
	b.active.Store(int32(next))
	if next >= 0 {
		b.failovers.Add(1)
	}
	return true, b.activeName()
}

func (b *Port) activeName() string {
	if i := b.active.Load(); i >= 0 {
		return b.members[i].port.Name()
	}
	return ""
}

// Active returns the active member's name ("" when every member is down).
func (b *Port) Active() string { return b.activeName() }

// LinkUp reports whether any member is up (as of the last Update).
func (b *Port) LinkUp() bool { return b.active.Load() >= 0 }

// AcceptsGSO reports whether every member takes offloaded packets: the
// active member may change under a packet staged for the bond.
func (b *Port) AcceptsGSO() bool {
	for _, m := range b.members {
		o, ok := m.port.(datapath.Offloader)
		if !ok || !o.AcceptsGSO() {
			return false
		}
	}
	return true
}

// Read returns frames of the active member. It first drains one batch of
// each backup member into pkts and drops it (counted), so that backups'
// receive queues do not fill and their descriptors do not keep waking the
// worker. The caller owns pkts, as for datapath.Port.Read. Member errors
// (a member whose link went down) are not the bond's: they are not
// returned.
func (b *Port) Read(pkts []*packet.Packet) (int, error) {
	if b.closed.Load() {
		return 0, net.ErrClosed
	}
	act := int(b.active.Load())
	for i, m := range b.members {
		if i == act {
			continue
		}
		if n, _ := m.port.Read(pkts); n > 0 {
			m.rxInactive.Add(uint64(n))
		}
	}
	if act < 0 {
		return 0, nil
	}
	n, _ := b.members[act].port.Read(pkts)
	if n > 0 {
		var bytes uint64
		for _, p := range pkts[:n] {
			bytes += uint64(p.Len())
		}
		b.counters.AddRx(uint64(n), bytes, 0, 0)
	}
	return n, nil
}

// Write transmits pkts on the active member and returns how many it sent;
// with every member down it sends nothing. It borrows pkts until it
// returns, like the member's Write.
func (b *Port) Write(pkts []*packet.Packet) (int, error) {
	if b.closed.Load() {
		return 0, net.ErrClosed
	}
	act := b.active.Load()
	if act < 0 {
		b.counters.TxDropped.Add(uint64(len(pkts)))
		return 0, nil
	}
	return b.members[act].port.Write(pkts)
}

// WaitFD returns an epoll descriptor over the members' descriptors, or -1
// if a member has none (the bond is then polled).
func (b *Port) WaitFD() int {
	if b.closed.Load() {
		return -1
	}
	return b.epfd
}

// Stats returns the bond's counters: received frames are those delivered
// from the active member; drops include the frames backups received; the
// rest is the sum of the members'.
func (b *Port) Stats() datapath.PortStats {
	s := b.counters.Snapshot()
	for _, m := range b.members {
		ms := m.port.Stats()
		s.RxDropped += ms.RxDropped + m.rxInactive.Load()
		s.RxErrors += ms.RxErrors
		s.TxPackets += ms.TxPackets
		s.TxBytes += ms.TxBytes
		s.TxDropped += ms.TxDropped
		s.TxErrors += ms.TxErrors
	}
	return s
}

// Status is what a bond reports about itself.
type Status struct {
	Mode string `json:"mode"`
	// Active is the active member ("" when every member is down).
	Active string `json:"active"`
	// Failovers counts changes of the active member to another one.
	Failovers uint64         `json:"failovers"`
	Members   []MemberStatus `json:"members"`
}

// MemberStatus is one member's state and counters.
type MemberStatus struct {
	Name   string             `json:"name"`
	Up     bool               `json:"up"`
	Active bool               `json:"active"`
	Stats  datapath.PortStats `json:"stats"`
	// RxInactiveDropped counts frames received while the member was a
	// backup (dropped).
	RxInactiveDropped uint64 `json:"rx_inactive_dropped"`
}

// Status returns the bond's state and per-member counters.
func (b *Port) Status() Status {
	act := int(b.active.Load())
	s := Status{Mode: ModeActiveBackup, Active: b.activeName(), Failovers: b.failovers.Load()}
	for i, m := range b.members {
		s.Members = append(s.Members, MemberStatus{Name: m.port.Name(), Up: m.up.Load(), Active: i == act,
			Stats: m.port.Stats(), RxInactiveDropped: m.rxInactive.Load()})
	}
	return s
}

// Members returns the members' names in failover order.
func (b *Port) Members() []string {
	out := make([]string, len(b.members))
	for i, m := range b.members {
		out[i] = m.port.Name()
	}
	return out
}

// Close closes the members and the epoll set. Read and Write fail after
// Close.
func (b *Port) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed.Swap(true) {
		return net.ErrClosed
	}
	var errs []error
	for _, m := range b.members {
		errs = append(errs, m.port.Close())
	}
	if b.epfd >= 0 {
		errs = append(errs, unix.Close(b.epfd))
	}
	return errors.Join(errs...)
}
