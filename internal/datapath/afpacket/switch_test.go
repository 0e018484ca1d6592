package afpacket

import (
	"bufio"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath/afpacket/afpackettest"
	"github.com/dvs-project/dvs/internal/datapath/gso"
	"github.com/dvs-project/dvs/internal/packet"
)

// forwarder moves frames from one port to another, as a two-port switch.
// With segment set it hands the output port only plain frames, segmenting
// GSO packets and completing checksums with package gso, as the switch does
// for a port that does not accept offloads.
type forwarder struct {
	stop      atomic.Bool
	wg        sync.WaitGroup
	gsoFrames atomic.Uint64 // super-packets seen
	segments  atomic.Uint64 // frames made by Segment
	failed    atomic.Uint64 // super-packets Segment refused
}

func (fw *forwarder) run(from, to *Port, segment bool) {
	fw.wg.Add(1)
	go func() {
		defer fw.wg.Done()
		in := newPackets(packet.BatchSize, packet.Headroom+packet.MaxGSOSize)
		segs := newPackets(128, packet.DefaultBufSize)
		plain := make([]*packet.Packet, 0, packet.BatchSize)
		fds := []unix.PollFd{{Fd: int32(from.WaitFD()), Events: unix.POLLIN}}
		for !fw.stop.Load() {
			n, err := from.Read(in)
			if err != nil {
				return
			}
			if n == 0 {
				_, _ = unix.Poll(fds, 10)
				continue
			}
			plain = plain[:0]
			for _, p := range in[:n] {
				if p.GSO.Type != packet.VirtioNetHdrGSONone {
					fw.gsoFrames.Add(1)
					if segment {
						k, ok := gso.Segment(p, segs)
						if !ok {
							fw.failed.Add(1)
							continue
						}
						fw.segments.Add(uint64(k))
						to.Write(segs[:k])
						continue
					}
				}
				if segment && !gso.CompleteChecksum(p) {
					fw.failed.Add(1)
					continue
				}
				plain = append(plain, p)
			}
			to.Write(plain)
		}
	}()
}

// readSnmp returns a counter from /proc/net/snmp as seen in ns.
func readSnmp(t *testing.T, ns netns.NsHandle, proto, field string) uint64 {
	var v uint64
	afpackettest.Do(t, ns, func() {
		f, err := os.Open("/proc/thread-self/net/snmp")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var names []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || fields[0] != proto+":" {
				continue
			}
			if names == nil {
				names = fields
				continue
			}
			for i, n := range names {
				if n == field {
					v, _ = strconv.ParseUint(fields[i], 10, 64)
				}
			}
		}
	})
	return v
}

// TestTCPThroughPorts runs a TCP transfer between two namespaces through
// two AF_PACKET ports joined by a forwarder: client (198.51.100.1) ->
// veth -> port s0 -> forwarder -> port s1 -> veth -> server
// (198.51.100.2). The kernel's own checksum and sequence checks at the
// server validate what the ports (and package gso) produce.
func TestTCPThroughPorts(t *testing.T) {
	for _, tt := range []struct {
		name    string
		segment bool
	}{{"gso passthrough", false}, {"software segmentation", true}} {
		t.Run(tt.name, func(t *testing.T) {
			afpackettest.RequireRoot(t)
			nsC, nsS, nsD := afpackettest.NewNS(t), afpackettest.NewNS(t), afpackettest.NewNS(t)
			c0, s0, s1, d0 := afpackettest.Name("c"), afpackettest.Name("s"), afpackettest.Name("s"), afpackettest.Name("d")
			afpackettest.Veth(t, nsC, c0, nsS, s0)
			afpackettest.Veth(t, nsS, s1, nsD, d0)
			afpackettest.AddAddr(t, nsC, c0, "198.51.100.1/24")
			afpackettest.AddAddr(t, nsD, d0, "198.51.100.2/24")
			p0 := openPort(t, nsS, s0, Options{})
			p1 := openPort(t, nsS, s1, Options{})
			fw := &forwarder{}
			fw.run(p0, p1, tt.segment)
			fw.run(p1, p0, false)
			t.Cleanup(func() { fw.stop.Store(true); fw.wg.Wait() })

			var ln net.Listener
			afpackettest.Do(t, nsD, func() {
				var err error
				if ln, err = net.Listen("tcp4", "198.51.100.2:0"); err != nil {
					t.Fatal(err)
				}
			})
			defer ln.Close()
			const size = 64 << 20
			type result struct {
				sum [32]byte
				n   int64
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				h := sha256.New()
				n, err := io.Copy(h, c)
				var r result
				copy(r.sum[:], h.Sum(nil))
				r.n, r.err = n, err
				done <- r
			}()

			var conn net.Conn
			afpackettest.Do(t, nsC, func() {
				d := net.Dialer{Timeout: 10 * time.Second}
				var err error
				if conn, err = d.Dial("tcp4", ln.Addr().String()); err != nil {
					t.Fatal(err)
				}
			})
			conn.SetDeadline(time.Now().Add(60 * time.Second))
			h := sha256.New()
			src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), size), h)
			start := time.Now()
			if _, err := io.Copy(conn, src); err != nil {
				t.Fatalf("sending: %v", err)
			}
			conn.Close()
			r := <-done
			elapsed := time.Since(start)
			if r.err != nil {
				t.Fatalf("receiving: %v", r.err)
			}
			if r.n != size || r.sum != [32]byte(h.Sum(nil)) {
				t.Fatalf("server got %d bytes with a different hash, want %d", r.n, size)
			}
			t.Logf("%d MiB in %v (%.0f Mbit/s); super-packets %d, segments made %d; s0 %+v",
				size>>20, elapsed.Round(time.Millisecond), float64(size)*8/elapsed.Seconds()/1e6,
				fw.gsoFrames.Load(), fw.segments.Load(), p0.Stats())
			if fw.gsoFrames.Load() == 0 {
				t.Error("no GSO super-packet crossed the ports")
			}
			if fw.failed.Load() != 0 {
				t.Errorf("Segment/CompleteChecksum refused %d packets", fw.failed.Load())
			}
			if e := readSnmp(t, nsD, "Tcp", "InCsumErrors"); e != 0 {
				t.Errorf("server saw %d TCP checksum errors", e)
			}
		})
	}
}
