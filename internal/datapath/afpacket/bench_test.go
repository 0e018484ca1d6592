package afpacket

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath/afpacket/afpackettest"
	"github.com/dvs-project/dvs/internal/packet"
)

// BenchmarkWrite measures Write on one end of a veth pair; an op is one
// batch of packet.BatchSize frames. The cost includes the kernel's receive
// processing at the peer, which runs in the sender's softirq.
func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			pr := newPair(b)
			port := openPort(b, pr.ns, pr.a, Options{})
			src := afpackettest.MAC(b, pr.ns, pr.a)
			pkts := make([]*packet.Packet, packet.BatchSize)
			for i := range pkts {
				f := testFrame(src, i, "bench")
				f = append(f, make([]byte, max(0, size-len(f)))...)
				pkts[i] = packet.FromBytes(f[:size])
			}
			b.ReportAllocs()
			b.SetBytes(int64(size * len(pkts)))
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				port.Write(pkts)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*len(pkts)), "cpu-ns/pkt")
			if st := port.Stats(); st.TxDropped+st.TxErrors != 0 {
				b.Logf("tx drops %d errors %d of %d", st.TxDropped, st.TxErrors, st.TxPackets)
			}
		})
	}
}

// BenchmarkRead measures Read with a second port flooding the peer end of
// the veth from another goroutine; an op is one received frame.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			pr := newPair(b)
			rx := openPort(b, pr.ns, pr.a, Options{})
			tx := openPort(b, pr.ns, pr.b, Options{})
			src := afpackettest.MAC(b, pr.ns, pr.b)
			out := make([]*packet.Packet, packet.BatchSize)
			for i := range out {
				f := testFrame(src, i, "bench")
				f = append(f, make([]byte, max(0, size-len(f)))...)
				out[i] = packet.FromBytes(f[:size])
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					tx.Write(out)
				}
			}()
			in := newPackets(packet.BatchSize, packet.Headroom+packet.MaxGSOSize)
			fds := []unix.PollFd{{Fd: int32(rx.WaitFD()), Events: unix.POLLIN}}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for got := 0; got < b.N; {
				n, _ := rx.Read(in)
				if n == 0 {
					unix.Poll(fds, 10)
				}
				got += n
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			st := rx.Stats()
			b.ReportMetric(float64(st.RxDropped)/float64(st.RxPackets+st.RxDropped)*100, "%dropped")
		})
	}
}

// cpuTime returns the process's user+system CPU time: on a busy machine it
// is a steadier cost measure than wall time.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
