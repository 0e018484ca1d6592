// Package packet holds the switch's packet buffers, the header views used to
// read and rewrite them, and the zero-allocation parser that turns a frame
// into a flow.Key.
package packet

// Headroom is the space reserved before every received frame so that tags
// and encapsulation headers are pushed in place, without copying the frame.
const Headroom = 128

// DefaultBufSize fits a 9000-byte jumbo frame plus headroom.
const DefaultBufSize = Headroom + 9216

// MaxGSOSize is the largest offloaded (GSO/TSO) packet a buffer must hold.
const MaxGSOSize = 65536 + 256

// BatchSize is the number of packets ports read and write at a time.
const BatchSize = 32

// GSO describes an offloaded packet as the Linux virtio_net_hdr does: one
// large TCP/UDP packet that the receiver (or the switch, when the receiver
// cannot) must segment, and/or a checksum left for the receiver to fill.
type GSO struct {
	Flags      uint8  // VirtioNetHdrFNeedsCsum, VirtioNetHdrFDataValid
	Type       uint8  // VirtioNetHdrGSONone, ...TCPv4, ...UDP, ...TCPv6 (| ...ECN)
	HdrLen     uint16 // length of the headers to replicate per segment
	Size       uint16 // payload bytes per segment (the MSS)
	CsumStart  uint16 // where checksumming starts, from the frame start
	CsumOffset uint16 // where the checksum goes, from CsumStart
}

// virtio_net_hdr constants (linux/virtio_net.h).
const (
	VirtioNetHdrFNeedsCsum = 1
	VirtioNetHdrFDataValid = 2

	VirtioNetHdrGSONone  = 0
	VirtioNetHdrGSOTCPv4 = 1
	VirtioNetHdrGSOUDP   = 3
	VirtioNetHdrGSOTCPv6 = 4
	VirtioNetHdrGSOUDPL4 = 5
	VirtioNetHdrGSOECN   = 0x80
)

// Packet is one frame in a buffer with headroom before it. The switch owns
// packets through pools; a Packet is never shared between goroutines while
// in use.
type Packet struct {
	buf   []byte // the whole buffer (or memory borrowed by Alias)
	start int    // offset of the first byte of the frame in buf
	end   int    // offset just past the last byte
	own   []byte // the packet's own buffer while buf is borrowed, else nil

	InPort uint32 // OpenFlow port number the frame arrived on
	GSO    GSO    // offload description; zero for an ordinary frame
	Tun    Tunnel // tunnel metadata; zero unless the frame came out of (or is bound for) a tunnel
}

// Tunnel is the metadata of a frame decapsulated from an overlay tunnel
// (VXLAN, Geneve), which the worker copies into the flow key, and the VNI a
// tunnel port with key=flow encapsulates with. Addresses are IPv4 in host
// byte order, as in flow.Key.
type Tunnel struct {
	ID  uint64 // the VNI (flow tun_id)
	Src uint32 // outer source address (tun_src)
	Dst uint32 // outer destination address (tun_dst)
	// Port is the OpenFlow number of the tunnel port the frame arrived on,
	// when it differs from the port whose Read returned it (tunnel ports of
	// a bridge share a socket; whichever reads it demultiplexes by the outer
	// source address). 0 = the port that read it.
	Port uint32
}

// New returns a packet with a buffer of size bytes and no frame.
func New(size int) *Packet {
	return &Packet{buf: make([]byte, size), start: Headroom, end: Headroom}
}

// FromBytes returns a packet holding a copy of frame, with Headroom before it.
func FromBytes(frame []byte) *Packet {
	p := New(Headroom + len(frame) + 64)
	p.SetFrame(copy(p.RecvBuf(), frame))
	return p
}

// Data returns the frame. The slice aliases the buffer.
func (p *Packet) Data() []byte { return p.buf[p.start:p.end] }

// Len returns the frame length.
func (p *Packet) Len() int { return p.end - p.start }

// Headroom returns the number of bytes in front of the frame, which Insert
// can open up.
func (p *Packet) Headroom() int { return p.start }

// RecvBuf returns the part of the packet's own buffer after the headroom,
// for a port to receive a frame into; SetFrame then records how much it
// wrote.
func (p *Packet) RecvBuf() []byte {
	p.unalias()
	return p.buf[Headroom:]
}

// SetFrame makes the frame the n bytes at the start of RecvBuf and clears the
// offload and tunnel metadata.
func (p *Packet) SetFrame(n int) {
	p.unalias()
	p.start, p.end = Headroom, Headroom+n
	p.GSO = GSO{}
	p.Tun = Tunnel{}
}

// SetFrameAt makes the frame the n bytes at offset off of RecvBuf (a
// datagram received into RecvBuf whose first off bytes are an
// encapsulation header, now part of the headroom) and clears the offload
// and tunnel metadata.
func (p *Packet) SetFrameAt(off, n int) {
	p.unalias()
	p.start, p.end = Headroom+off, Headroom+off+n
	p.GSO = GSO{}
	p.Tun = Tunnel{}
}

// Alias makes the frame buf[start:end] without copying it: the packet
// borrows buf (a port's receive ring) until the next RecvBuf, SetFrame,
// Alias or Reset. The bytes before start are the frame's headroom, which
// Insert may overwrite. It clears the offload and tunnel metadata.
func (p *Packet) Alias(buf []byte, start, end int) {
	if p.own == nil {
		p.own = p.buf
	}
	p.buf, p.start, p.end = buf, start, end
	p.GSO = GSO{}
	p.Tun = Tunnel{}
}

func (p *Packet) unalias() {
	if p.own != nil {
		p.buf, p.own = p.own, nil
	}
}

// Cap returns the largest frame the packet's own buffer can hold after its
// headroom.
func (p *Packet) Cap() int {
	if p.own != nil {
		return len(p.own) - Headroom
	}
	return len(p.buf) - Headroom
}

// CopyFrom makes p's frame a copy of src's frame and metadata. It reports
// false (and leaves p unchanged) if the frame does not fit.
func (p *Packet) CopyFrom(src *Packet) bool {
	n := src.Len()
	p.unalias()
	if n > len(p.buf)-Headroom {
		return false
	}
	copy(p.buf[Headroom:], src.Data())
	p.start, p.end = Headroom, Headroom+n
	p.InPort = src.InPort
	p.GSO = src.GSO
	p.Tun = src.Tun
	return true
}

// Insert opens a gap of n bytes at offset off of the frame by moving the
// first off bytes towards the headroom, and returns the gap. It reports false
// if the headroom is too small. Used to push VLAN tags after the MACs.
func (p *Packet) Insert(off, n int) ([]byte, bool) {
	if off > p.Len() || p.start < n {
		return nil, false
	}
	copy(p.buf[p.start-n:], p.buf[p.start:p.start+off])
	p.start -= n
	if p.GSO.CsumStart != 0 || p.GSO.Flags&VirtioNetHdrFNeedsCsum != 0 {
		p.GSO.CsumStart += uint16(n)
	}
	if p.GSO.HdrLen != 0 {
		p.GSO.HdrLen += uint16(n)
	}
	return p.buf[p.start+off : p.start+off+n], true
}

// Remove deletes n bytes at offset off of the frame by moving the first off
// bytes towards the end. It reports false if the frame is too short.
func (p *Packet) Remove(off, n int) bool {
	if off+n > p.Len() {
		return false
	}
	copy(p.buf[p.start+n:], p.buf[p.start:p.start+off])
	p.start += n
	if p.GSO.CsumStart >= uint16(n) && (p.GSO.CsumStart != 0 || p.GSO.Flags&VirtioNetHdrFNeedsCsum != 0) {
		p.GSO.CsumStart -= uint16(n)
	}
	if p.GSO.HdrLen >= uint16(n) {
		p.GSO.HdrLen -= uint16(n)
	}
	return true
}

// Truncate shortens the frame to n bytes (no-op if it is shorter).
func (p *Packet) Truncate(n int) {
	if n < p.Len() {
		p.end = p.start + n
	}
}
