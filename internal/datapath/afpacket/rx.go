package afpacket

import (
	"encoding/binary"
	"net"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath/gso"
	"github.com/dvs-project/dvs/internal/packet"
)

// Offsets in struct tpacket_block_desc (version, offset_to_priv, then
// struct tpacket_hdr_v1).
const (
	blkStatus     = 8
	blkNumPkts    = 12
	blkFirstPkt   = 16
	blkHeaderSize = 48
)

// Offsets in struct tpacket3_hdr, and of the struct sockaddr_ll the kernel
// writes after it (at TPACKET_ALIGN(sizeof(struct tpacket3_hdr))).
const (
	pktNextOffset = 0
	pktSnaplen    = 12
	pktLen        = 16
	pktStatus     = 20
	pktMac        = 24
	pktVlanTCI    = 32
	pktVlanTPID   = 36
	pktSllPkttype = 48 + 10
)

// rxRing is the reader's position in the ring.
type rxRing struct {
	blockSize, blockCount int

	block int  // index of the block being read or waited for
	owned bool // the block was handed over and not yet returned
	left  int  // frames not yet read in the owned block
	off   int  // offset of the next frame in the owned block
	empty int  // Reads in a row that found nothing
}

// Read hands up to len(pkts) received frames to pkts without copying them:
// each packet aliases its frame in the receive ring (packet.Alias) until
// the next Read or Close, so the caller must be done with the packets by
// then. The GSO metadata comes from the virtio-net header. It never blocks,
// and returns frames of one ring block at a time; the block goes back to
// the kernel at the next Read. A tag the kernel moved into the metadata is
// put back in place, in the frame's headroom (the ring's per-frame header,
// already read).
//
// Frames the kernel truncated and frames it dropped for lack of ring space
// count as RxDropped. It returns net.ErrClosed after Close.
func (p *Port) Read(pkts []*packet.Packet) (int, error) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	r := &p.rx
	if r.owned && r.left == 0 {
		// The previous Read's frames are done with.
		p.returnBlock()
	}
	if len(pkts) == 0 {
		return 0, nil
	}
	ring := p.ring
	n := 0
	var bytes, dropped uint64
	for n < len(pkts) {
		base := r.block * r.blockSize
		if !r.owned {
			// The acquire load pairs with the kernel's release of the
			// block: everything in it is written once the status says so.
			status := atomic.LoadUint32(u32(ring, base+blkStatus))
			if status&unix.TP_STATUS_USER == 0 {
				break
			}
			if status&unix.TP_STATUS_LOSING != 0 {
				p.fetchKernelDrops()
			}
			r.owned = true
			r.left = int(*u32(ring, base+blkNumPkts))
			r.off = int(*u32(ring, base+blkFirstPkt))
		}
		if r.left == 0 {
			if n > 0 {
				break // packets alias this block: keep it until the next Read
			}
			p.returnBlock()
			continue
		}
		h := base + r.off
		r.off += int(*u32(ring, h+pktNextOffset))
		r.left--

		if ring[h+pktSllPkttype] == unix.PACKET_OUTGOING {
			continue
		}
		status := *u32(ring, h+pktStatus)
		snap := int(*u32(ring, h+pktSnaplen))
		if snap != int(*u32(ring, h+pktLen)) {
			dropped++ // truncated by the kernel: too big for a block
			continue
		}
		mac := h + int(binary.NativeEndian.Uint16(ring[h+pktMac:]))
		var g packet.GSO
		if p.vnet {
			g = gso.DecodeVnetHdr(ring[mac-gso.VnetHdrLen : mac])
		}
		size := snap
		if status&unix.TP_STATUS_VLAN_VALID != 0 && snap >= 12 {
			// Put back the tag the kernel moved into the metadata: the
			// MACs move 4 bytes into the headroom (over the virtio-net
			// header, decoded above).
			tpid := uint16(0x8100)
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = binary.NativeEndian.Uint16(ring[h+pktVlanTPID:])
			}
			tci := uint16(*u32(ring, h+pktVlanTCI))
			copy(ring[mac-4:mac+8], ring[mac:mac+12])
			mac -= 4
			binary.BigEndian.PutUint16(ring[mac+12:], tpid)
			binary.BigEndian.PutUint16(ring[mac+14:], tci)
			size += 4
			if g.Flags&packet.VirtioNetHdrFNeedsCsum != 0 {
				g.CsumStart += 4
			}
			if g.HdrLen != 0 {
				g.HdrLen += 4
			}
		}
		pk := pkts[n]
		pk.Alias(ring[h:mac+size], mac-h, mac-h+size)
		pk.GSO = g
		bytes += uint64(size)
		n++
	}
	if r.owned && r.left == 0 && n == 0 {
		p.returnBlock()
	}
	if n == 0 && dropped == 0 {
		r.empty++
		if r.empty%64 == 1 {
			p.clearSocketError()
		}
	} else {
		r.empty = 0
	}
	p.counters.AddRx(uint64(n), bytes, dropped, 0)
	return n, nil
}

// returnBlock gives the owned block back to the kernel and moves on.
func (p *Port) returnBlock() {
	r := &p.rx
	atomic.StoreUint32(u32(p.ring, r.block*r.blockSize+blkStatus), unix.TP_STATUS_KERNEL)
	r.owned = false
	r.block++
	if r.block == r.blockCount {
		r.block = 0
	}
}

// clearSocketError resets a pending socket error (ENETDOWN when the link
// goes down, or one sendmmsg left behind), which would otherwise keep
// WaitFD reporting POLLERR and spin an idle worker. It costs a system call,
// so Read does it only on the first of a run of empty Reads and on every
// 64th after that: a busy-polling worker pays it rarely, and a worker woken
// by POLLERR spins a bounded number of times.
func (p *Port) clearSocketError() {
	_, _ = unix.GetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ERROR)
}
