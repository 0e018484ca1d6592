package manager_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/manager/client"
	"github.com/dvs-project/dvs/internal/resource"
)

// BenchmarkFanout1000Hosts measures, over HTTP on loopback, the time from
// a change of a port group that every host carries to each of 1,000 fake
// agents (one watch stream each, in this process, decoding every line and
// keeping their share up to date through client.Watch) acknowledging it. The
// layout is 20 ports per host: port 0 of every host in the port group
// "wide" (so every share holds 999 remote MACs), ports 1..19 in one of 100
// port groups shared by 10 hosts each. It reports the p50 and p99 of the
// per-agent ack latency, the time until the last agent acked, and the heap
// in use after GC with the state loaded (manager only) and with the 1,000
// streams open (manager and clients).
//
//	go test ./internal/manager -run '^$' -bench Fanout1000Hosts -benchtime 20x
func BenchmarkFanout1000Hosts(b *testing.B) {
	const hosts, portsPerHost = 1000, 20
	m, url := startManager(b, b.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := client.New(url, m.Token())

	objs := []resource.Object{}
	add := func(y string) {
		o, err := resource.Decode([]byte(y))
		if err != nil {
			b.Fatal(err)
		}
		objs = append(objs, o...)
	}
	add("apiVersion: dvs/v1\nkind: Switch\nmetadata: {name: prod}\nspec: {overlay: vxlan}\n")
	add("apiVersion: dvs/v1\nkind: PortGroup\nmetadata: {name: wide}\nspec: {switch: prod, vlan: 1}\n")
	for k := range hosts / 10 {
		add(fmt.Sprintf("apiVersion: dvs/v1\nkind: PortGroup\nmetadata: {name: local-%d}\nspec: {switch: prod}\n", k))
	}
	for h := range hosts {
		host := fmt.Sprintf("h%d", h)
		if _, _, err := m.Register(ctx, &resource.Host{
			Header: resource.Header{APIVersion: resource.APIVersion, Kind: resource.KindHost, Metadata: resource.Meta{Name: host}},
			Spec:   resource.HostSpec{Address: fmt.Sprintf("127.%d.%d.1", h/256, h%256)},
		}); err != nil {
			b.Fatal(err)
		}
		for p := range portsPerHost {
			pg := "wide"
			if p > 0 {
				pg = fmt.Sprintf("local-%d", h/10)
			}
			n := h*portsPerHost + p
			add(fmt.Sprintf("apiVersion: dvs/v1\nkind: Port\nmetadata: {name: vm%d}\nspec: {portGroup: %s, mac: \"02:00:00:%02x:%02x:%02x\", host: %s, interface: tap%d}\n",
				n, pg, n>>16&0xff, n>>8&0xff, n&0xff, host, p))
		}
	}
	if _, err := cl.Apply(ctx, objs); err != nil {
		b.Fatal(err)
	}
	objs = nil
	heapManager := heapInUse()

	type ack struct {
		rev int64
		at  time.Time
	}
	acks := make(chan ack, hosts)
	var ready sync.WaitGroup
	ready.Add(hosts)
	for h := range hosts {
		host := fmt.Sprintf("h%d", h)
		first := true
		go cl.Watch(ctx, host, 0, nil, func(msg manager.Message) error {
			if msg.Share == nil {
				return nil
			}
			if err := cl.Ack(ctx, host, msg.Revision); err != nil {
				return err
			}
			if first {
				first = false
				ready.Done()
				return nil
			}
			acks <- ack{msg.Revision, time.Now()}
			return nil
		})
	}
	ready.Wait()
	heapAll := heapInUse()

	var lat, all []time.Duration
	b.ResetTimer()
	for i := range b.N {
		pg := &resource.PortGroup{
			Header: resource.Header{APIVersion: resource.APIVersion, Kind: resource.KindPortGroup, Metadata: resource.Meta{Name: "wide"}},
			Spec:   resource.PortGroupSpec{Switch: "prod", VLAN: 2 + i%1000},
		}
		t0 := time.Now()
		up, err := cl.Put(ctx, pg, 0)
		if err != nil {
			b.Fatal(err)
		}
		rev := up.Head().Metadata.Revision
		var last time.Duration
		for got := 0; got < hosts; {
			select {
			case a := <-acks:
				if a.rev < rev {
					continue
				}
				d := a.at.Sub(t0)
				lat = append(lat, d)
				last = max(last, d)
				got++
			case <-time.After(30 * time.Second):
				b.Fatalf("change %d: only %d of %d agents acked", i, got, hosts)
			}
		}
		all = append(all, last)
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(all)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lat, 0.50), "p50-ack-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ack-ms")
	b.ReportMetric(pct(all, 0.50), "p50-all-acked-ms")
	b.ReportMetric(pct(all, 0.99), "p99-all-acked-ms")
	b.ReportMetric(float64(heapManager)/(1<<20), "heap-manager-MiB")
	b.ReportMetric(float64(heapAll)/(1<<20), "heap-with-streams-MiB")
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
