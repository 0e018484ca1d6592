// Package netlinkmon follows the state of network interfaces through
// rtnetlink link notifications (RTNLGRP_LINK), so that the agent learns at
// once when a port's link goes down or up, changes MTU or disappears,
// without polling each port.
package netlinkmon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// State is what the monitor knows about one interface.
type State struct {
	Index int
	Name  string
	// AdminUp is IFF_UP: someone set the link up.
	AdminUp bool
	// OperUp is IFF_RUNNING: the link is up and its carrier and
	// operational state let traffic through.
	OperUp bool
	MTU    int
}

// Up reports whether traffic can pass: administratively and operationally
// up.
func (s State) Up() bool { return s.AdminUp && s.OperUp }

// Options configure Watch.
type Options struct {
	// Namespace is the network namespace to watch; the zero value (or
	// netns.None()) watches the namespace of the thread calling Watch.
	// Watch duplicates the handle: the caller may close its own.
	Namespace netns.NsHandle
	// Names limits the monitor to these interfaces; empty means all.
	Names []string
	// OnChange, if set, is called from the monitor's goroutine after each
	// change to a tracked interface's State (not on the many notifications
	// that change nothing it tracks), with removed true when the interface
	// went away or was renamed. It must not block for long.
	OnChange func(s State, removed bool)
	// OnError, if set, receives subscription errors; the monitor then
	// resubscribes and lists the links again.
	OnError func(error)
}

// Monitor holds the current state of the watched interfaces.
type Monitor struct {
	opts   Options
	ns     netns.NsHandle // owned duplicate of the namespace watched
	filter map[string]bool

	mu    sync.RWMutex
	links map[string]State
	names map[int]string // ifindex -> name, to notice renames

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Watch lists the interfaces, then follows their changes until ctx is done
// or Close is called. The returned monitor's state is complete at once.
func Watch(ctx context.Context, opts Options) (*Monitor, error) {
	m := &Monitor{opts: opts, links: map[string]State{}, names: map[int]string{}}
	if len(opts.Names) != 0 {
		m.filter = map[string]bool{}
		for _, n := range opts.Names {
			m.filter[n] = true
		}
	}
	// Pin the namespace now: resubscribing later happens on another
	// thread, which may be in another namespace.
	var err error
	if opts.Namespace > 0 {
		var fd int
		fd, err = unix.FcntlInt(uintptr(opts.Namespace), unix.F_DUPFD_CLOEXEC, 0)
		m.ns = netns.NsHandle(fd)
	} else {
		m.ns, err = netns.Get()
	}
	if err != nil {
		return nil, fmt.Errorf("watching links: getting the namespace: %w", err)
	}
	m.ctx, m.cancel = context.WithCancel(ctx)
	updates, stop, err := m.subscribe()
	if err != nil {
		m.cancel()
		m.ns.Close()
		return nil, fmt.Errorf("watching links: %w", err)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.ns.Close()
		m.run(m.ctx, updates, stop)
	}()
	return m, nil
}

// Close stops watching and waits for the monitor's goroutine. The state
// stays readable, frozen.
func (m *Monitor) Close() {
	m.cancel()
	m.wg.Wait()
}

// Up reports whether the interface is known and up (State.Up).
func (m *Monitor) Up(name string) bool {
	s, ok := m.State(name)
	return ok && s.Up()
}

// State returns the state of the named interface.
func (m *Monitor) State(name string) (State, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.links[name]
	return s, ok
}

// States returns the state of every tracked interface, sorted by name.
func (m *Monitor) States() []State {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]State, 0, len(m.links))
	for _, n := range slices.Sorted(maps.Keys(m.links)) {
		out = append(out, m.links[n])
	}
	return out
}

// subscribe opens a subscription and then lists the links, in that order
// so that no change falls between the two: notifications queued before the
// listing carry states no newer than it, and later ones are newer.
func (m *Monitor) subscribe() (<-chan netlink.LinkUpdate, chan struct{}, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	stop := make(chan struct{})
	sopts := netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			if m.opts.OnError != nil && m.ctx.Err() == nil {
				m.opts.OnError(err)
			}
		},
	}
	ns := m.ns
	sopts.Namespace = &ns
	if err := netlink.LinkSubscribeWithOptions(updates, stop, sopts); err != nil {
		return nil, nil, fmt.Errorf("subscribing: %w", err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		close(stop)
		return nil, nil, fmt.Errorf("opening netlink: %w", err)
	}
	defer h.Close()
	var links []netlink.Link
	for range 5 {
		if links, err = h.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		close(stop)
		return nil, nil, fmt.Errorf("listing links: %w", err)
	}
	seen := map[int]bool{}
	for _, l := range links {
		seen[l.Attrs().Index] = true
		m.apply(l, false)
	}
	// Links gone while resubscribing.
	m.mu.Lock()
	var gone []State
	for idx, name := range m.names {
		if !seen[idx] {
			gone = append(gone, m.links[name])
		}
	}
	m.mu.Unlock()
	for _, s := range gone {
		m.remove(s.Index)
	}
	return updates, stop, nil
}

func (m *Monitor) run(ctx context.Context, updates <-chan netlink.LinkUpdate, stop chan struct{}) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			close(stop)
			// Let the subscription's goroutine finish a pending send.
			go func() {
				for range updates {
				}
			}()
			return
		case u, ok := <-updates:
			if ok {
				m.apply(u.Link, u.Header.Type == unix.RTM_DELLINK)
				continue
			}
		}
		// The subscription ended (an overrun or socket error): start over.
		close(stop)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			var err error
			if updates, stop, err = m.subscribe(); err == nil {
				backoff = 100 * time.Millisecond
				break
			} else if m.opts.OnError != nil {
				m.opts.OnError(err)
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// apply records a link's new state, or its removal.
func (m *Monitor) apply(l netlink.Link, deleted bool) {
	a := l.Attrs()
	if deleted {
		m.remove(a.Index)
		return
	}
	s := State{
		Index:   a.Index,
		Name:    a.Name,
		AdminUp: a.RawFlags&unix.IFF_UP != 0,
		OperUp:  a.RawFlags&unix.IFF_RUNNING != 0,
		MTU:     a.MTU,
	}
	m.mu.Lock()
	old, renamed := m.names[s.Index]
	renamed = renamed && old != s.Name
	var oldState State
	if renamed {
		oldState = m.links[old]
		delete(m.links, old)
		delete(m.names, s.Index)
	}
	tracked := m.filter == nil || m.filter[s.Name]
	prev, had := m.links[s.Name]
	changed := tracked && (!had || prev != s)
	if tracked {
		m.links[s.Name] = s
		m.names[s.Index] = s.Name
	}
	m.mu.Unlock()
	if m.opts.OnChange == nil {
		return
	}
	if renamed {
		m.opts.OnChange(oldState, true)
	}
	if changed {
		m.opts.OnChange(s, false)
	}
}

// remove forgets the link with ifindex idx.
func (m *Monitor) remove(idx int) {
	m.mu.Lock()
	name, ok := m.names[idx]
	var s State
	if ok {
		s = m.links[name]
		delete(m.links, name)
		delete(m.names, idx)
	}
	m.mu.Unlock()
	if ok && m.opts.OnChange != nil {
		m.opts.OnChange(s, true)
	}
}
