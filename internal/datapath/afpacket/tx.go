package afpacket

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath/gso"
	"github.com/dvs-project/dvs/internal/packet"
)

// txBatchSize is the number of frames handed to one sendmmsg call.
const txBatchSize = 64

// txBatch holds the sendmmsg arguments, allocated once per port so Write
// does not allocate. Between calls no entry points at a caller's buffer.
type txBatch struct {
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
	hdrs []byte // a virtio-net header per message
	lens []int
}

func (t *txBatch) init(vnet bool) {
	t.msgs = make([]unix.Mmsghdr, txBatchSize)
	t.lens = make([]int, txBatchSize)
	per := 1
	if vnet {
		per = 2
		t.hdrs = make([]byte, txBatchSize*gso.VnetHdrLen)
	}
	t.iovs = make([]unix.Iovec, txBatchSize*per)
	for i := range t.msgs {
		t.msgs[i].Hdr.Iov = &t.iovs[i*per]
		t.msgs[i].Hdr.SetIovlen(per)
		if vnet {
			t.iovs[i*per].Base = &t.hdrs[i*gso.VnetHdrLen]
			t.iovs[i*per].SetLen(gso.VnetHdrLen)
		}
	}
}

// clear drops the references to the last batch's buffers.
func (t *txBatch) clear() {
	per := 1
	if t.hdrs != nil {
		per = 2
	}
	for i := per - 1; i < len(t.iovs); i += per {
		t.iovs[i].Base = nil
	}
}

// Write transmits pkts with sendmmsg, txBatchSize frames per call, with a
// virtio-net header made from each packet's GSO metadata when headers are
// on. It borrows pkts until it returns and never blocks. It returns how
// many frames the kernel took; each of the others is counted once, as
// TxDropped when there was no room (send buffer or driver queue full, link
// down) or as TxErrors when the kernel or the port refused the frame
// (malformed, too big, or offload metadata on a port without vnet
// headers). It returns net.ErrClosed after Close.
func (p *Port) Write(pkts []*packet.Packet) (int, error) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.closed.Load() {
		return 0, net.ErrClosed
	}
	t := &p.tx
	per := 1
	if p.vnet {
		per = 2
	}
	sent := 0
	var bytes, dropped, errs uint64
	for len(pkts) > 0 {
		m, k := 0, 0
		for ; k < len(pkts) && m < txBatchSize; k++ {
			pk := pkts[k]
			data := pk.Data()
			if len(data) == 0 || (!p.vnet && (pk.GSO.Type != packet.VirtioNetHdrGSONone || pk.GSO.Flags&packet.VirtioNetHdrFNeedsCsum != 0)) {
				errs++
				continue
			}
			if p.vnet {
				gso.EncodeVnetHdr(t.hdrs[m*gso.VnetHdrLen:], &pk.GSO)
			}
			iov := &t.iovs[m*per+per-1]
			iov.Base = &data[0]
			iov.SetLen(len(data))
			t.lens[m] = len(data)
			m++
		}
		pkts = pkts[k:]

		for i := 0; i < m; {
			r, errno := sendmmsg(p.fd, t.msgs[i:m])
			if errno == 0 && r == 0 {
				errno = unix.EAGAIN // cannot happen; never loop on it
			}
			if errno == 0 {
				for _, l := range t.lens[i : i+r] {
					bytes += uint64(l)
				}
				sent += r
				i += r
				continue
			}
			switch errno {
			case unix.EINTR:
			case unix.ENOBUFS:
				// The qdisc or driver dropped this frame; try the next.
				dropped++
				i++
			case unix.EAGAIN, unix.ENETDOWN, unix.ENXIO, unix.ENODEV:
				// Send buffer full or link gone: the rest would fail alike.
				dropped += uint64(m - i)
				i = m
			default:
				errs++
				i++
			}
		}
	}
	t.clear()
	p.counters.AddTx(uint64(sent), bytes, dropped, errs)
	return sent, nil
}

// sendmmsg sends msgs without blocking and returns how many went.
func sendmmsg(fd int, msgs []unix.Mmsghdr) (int, unix.Errno) {
	r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), 0
}
