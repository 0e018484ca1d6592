package datapath

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/packet"
)

// Workers are the goroutines that move packets: each owns a share of the
// ports (port i goes to worker i mod n), reads a batch from each in turn and
// runs it through Process. While any of its ports has traffic a worker keeps
// polling them; after idleSpins empty rounds it sleeps in poll(2) on its
// ports' descriptors and its own wake-up eventfd, so an idle switch uses
// no CPU. Each worker has its own eventfd: with a shared one, a worker that
// read the kick would leave another, about to sleep, asleep on an old port
// table.
type Workers struct {
	d       *Datapath
	n       int
	wake    []int // per worker: an eventfd that interrupts poll when ports change or on Stop
	stop    atomic.Bool
	wg      sync.WaitGroup
	workers []*Worker
	seen    []atomic.Pointer[portTable] // the table each worker last loaded
}

// idleSpins is how many empty rounds a worker polls before sleeping.
const idleSpins = 64

// pollTimeout bounds a sleep when a worker has ports without descriptors
// (the in-memory double), so they are still served; with descriptors only,
// a worker sleeps until one is readable or the eventfd wakes it.
const pollTimeout = 20 * time.Millisecond

// Start runs n workers (n >= 1).
func (d *Datapath) Start(n int) (*Workers, error) {
	if n < 1 {
		n = 1
	}
	ws := &Workers{d: d, n: n, seen: make([]atomic.Pointer[portTable], n)}
	for i := 0; i < n; i++ {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			for _, f := range ws.wake {
				unix.Close(f)
			}
			return nil, err
		}
		ws.wake = append(ws.wake, fd)
	}
	for i := 0; i < n; i++ {
		w := d.NewWorker()
		ws.workers = append(ws.workers, w)
		ws.wg.Add(1)
		go ws.run(i, w)
	}
	d.mu.Lock()
	d.wakeFDs = ws.wake
	d.mu.Unlock()
	return ws, nil
}

// Workers returns the running workers (for their statistics).
func (ws *Workers) Workers() []*Worker { return ws.workers }

// Kick wakes sleeping workers so they see a changed port table.
func (ws *Workers) Kick() { kick(ws.wake) }

func kick(fds []int) {
	one := [8]byte{1}
	for _, fd := range fds {
		_, _ = unix.Write(fd, one[:])
	}
}

// Sync waits until every worker has moved to the current port table, so a
// detached port is no longer read and can be closed.
func (ws *Workers) Sync() {
	t := ws.d.ports.Load()
	deadline := time.Now().Add(2 * time.Second)
	for i := range ws.seen {
		for ws.seen[i].Load() != t && !ws.stop.Load() && time.Now().Before(deadline) {
			ws.Kick()
			time.Sleep(time.Millisecond)
		}
	}
}

// Stop stops the workers and waits for them.
func (ws *Workers) Stop() {
	ws.stop.Store(true)
	ws.Kick()
	ws.wg.Wait()
	ws.d.mu.Lock()
	ws.d.wakeFDs = nil
	ws.d.mu.Unlock()
	for _, fd := range ws.wake {
		unix.Close(fd)
	}
}

func (ws *Workers) run(id int, w *Worker) {
	defer ws.wg.Done()
	rx := make([]*packet.Packet, packet.BatchSize)
	for i := range rx {
		rx[i] = packet.New(packet.Headroom + packet.MaxGSOSize)
	}
	var table *portTable
	var mine []*DPPort
	var fds []unix.PollFd
	timeout := -1 // sleep until a port or the wake-up eventfd is readable
	idle := 0
	for !ws.stop.Load() {
		if t := ws.d.ports.Load(); t != table {
			table = t
			ws.seen[id].Store(t)
			mine = mine[:0]
			fds = append(fds[:0], unix.PollFd{Fd: int32(ws.wake[id]), Events: unix.POLLIN})
			timeout = -1
			for i, p := range t.list {
				if i%ws.n != id {
					continue
				}
				mine = append(mine, p)
				if fd := p.Port.WaitFD(); fd >= 0 {
					fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
				} else {
					timeout = int(pollTimeout / time.Millisecond)
				}
			}
		}
		busy := false
		for _, p := range mine {
			n, err := p.Port.Read(rx)
			if n > 0 {
				w.Process(p.No, rx[:n])
				busy = true
			}
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				// A closed or failing port: the owner detaches it; avoid
				// spinning on it meanwhile.
				continue
			}
		}
		if busy {
			idle = 0
			continue
		}
		if idle++; idle < idleSpins {
			continue
		}
		idle = 0
		for i := range fds {
			fds[i].Revents = 0
		}
		_, _ = unix.Poll(fds, timeout)
		if fds[0].Revents&unix.POLLIN != 0 {
			var buf [8]byte
			_, _ = unix.Read(ws.wake[id], buf[:])
		}
	}
}
