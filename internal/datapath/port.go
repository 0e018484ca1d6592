// Package datapath attaches the switching engine to ports: the port
// interface every backend implements, the worker goroutines that move
// batches of packets through the caches, and per-port statistics.
package datapath

import (
	"sync/atomic"

	"github.com/dvs-project/dvs/internal/packet"
)

// Port is one attachment of the switch: a veth or NIC through AF_PACKET, a
// tap for a VM, an internal port for the host, or the in-memory double.
//
// A port is used by one reader goroutine and one writer goroutine at a
// time; Read and Write may run concurrently with each other.
type Port interface {
	// Name is the interface name (or the double's name).
	Name() string

	// Read receives up to len(pkts) frames without blocking and returns
	// how many it filled; 0 means none is waiting. The caller owns pkts
	// and their buffers; Read writes frames into them (after
	// packet.Headroom, via RecvBuf/SetFrame) and fills their GSO metadata.
	Read(pkts []*packet.Packet) (int, error)

	// Write transmits pkts and returns how many were sent; the rest are
	// counted as tx drops. Write borrows pkts until it returns: it copies
	// what it keeps and never retains a packet.
	Write(pkts []*packet.Packet) (int, error)

	// WaitFD returns a file descriptor that poll(2) reports readable when
	// Read would return frames, so an idle worker can sleep without burning
	// a core. Ports without one return -1 and are polled.
	WaitFD() int

	// Stats returns the port's counters.
	Stats() PortStats

	// Close releases the port. Read and Write fail after Close.
	Close() error
}

// LinkStater is implemented by ports that know whether their link is up.
type LinkStater interface {
	LinkUp() bool
}

// Offloader is implemented by ports that carry virtio-net headers (GSO/TSO
// and checksum offload). A port without it receives only ordinary frames:
// the switch segments and checksums offloaded packets before handing them
// over.
type Offloader interface {
	// AcceptsGSO reports whether Write takes packets with GSO metadata.
	AcceptsGSO() bool
}

// TxLimiter is implemented by ports that cannot send every frame their
// peers can: a tunnel port, whose underlay MTU less the encapsulation bounds
// the inner frame. The datapath drops longer frames (counted as
// tunnel-mtu) and segments offloaded packets for it in software.
type TxLimiter interface {
	// MaxTxFrame returns the longest frame (Ethernet header included)
	// Write can send; 0 means no limit.
	MaxTxFrame() int
}

// PortStats are a port's counters.
type PortStats struct {
	RxPackets, RxBytes, RxDropped, RxErrors uint64
	TxPackets, TxBytes, TxDropped, TxErrors uint64
}

// Counters is a set of port counters updated with atomics; backends embed
// it and return Snapshot from Stats.
type Counters struct {
	RxPackets, RxBytes, RxDropped, RxErrors atomic.Uint64
	TxPackets, TxBytes, TxDropped, TxErrors atomic.Uint64
}

// AddRx counts one Read's outcome (zeros cost nothing).
func (c *Counters) AddRx(packets, bytes, dropped, errs uint64) {
	if packets != 0 {
		c.RxPackets.Add(packets)
		c.RxBytes.Add(bytes)
	}
	if dropped != 0 {
		c.RxDropped.Add(dropped)
	}
	if errs != 0 {
		c.RxErrors.Add(errs)
	}
}

// AddTx counts one Write's outcome (zeros cost nothing).
func (c *Counters) AddTx(packets, bytes, dropped, errs uint64) {
	if packets != 0 {
		c.TxPackets.Add(packets)
		c.TxBytes.Add(bytes)
	}
	if dropped != 0 {
		c.TxDropped.Add(dropped)
	}
	if errs != 0 {
		c.TxErrors.Add(errs)
	}
}

// Snapshot returns the current values.
func (c *Counters) Snapshot() PortStats {
	return PortStats{
		RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(), RxDropped: c.RxDropped.Load(), RxErrors: c.RxErrors.Load(),
		TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(), TxDropped: c.TxDropped.Load(), TxErrors: c.TxErrors.Load(),
	}
}
