package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/resource"
)

// watchReplica is an agent in the test: a watcher on the manager and the
// replica its messages build.
type watchReplica struct {
	host string
	w    *Watcher
	rep  *Replica
	msgs map[string]int // messages applied, by type
}

// drain applies every message w has queued.
func (a *watchReplica) drain(t *testing.T) {
	t.Helper()
	for {
		a.w.mu.Lock()
		idle := a.w.queue == nil && !a.w.resync
		a.w.mu.Unlock()
		if idle {
			return
		}
		lines, err := a.w.Next(context.Background(), time.Second)
		if err != nil {
			t.Fatalf("%s: %v", a.host, err)
		}
		if lines == nil {
			return
		}
		for _, line := range lines {
			var msg Message
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&msg); err != nil {
				t.Fatalf("%s: decoding %s: %v", a.host, line, err)
			}
			if err := a.rep.Apply(&msg); err != nil {
				t.Fatalf("%s: applying %s: %v", a.host, line, err)
			}
			a.msgs[msg.Type]++
		}
	}
}

// check compares the replica with a fresh snapshot.
func (a *watchReplica) check(t *testing.T, m *Manager, step string) {
	t.Helper()
	want, rev := m.ShareOf(a.host)
	got := a.rep.Share()
	wj, gj := mustJSON(want), mustJSON(got)
	if !bytes.Equal(wj, gj) {
		t.Fatalf("after %s, %s's replica differs from its snapshot:\nreplica  %s\nsnapshot %s", step, a.host, gj, wj)
	}
	m.hmu.Lock()
	target := m.rt[a.host].target
	m.hmu.Unlock()
	if r := a.rep.Revision(); r < target || r > rev {
		t.Fatalf("after %s, %s's replica is at revision %d, want %d..%d", step, a.host, r, target, rev)
	}
}

// TestDeltaMatchesSnapshot makes random changes to a small cluster and
// checks that every agent's replica, built from the watch stream's deltas,
// equals the snapshot the manager would send it now. Agents read their
// streams at random moments (so several deltas queue up), reconnect with
// the share they have, and overflow their queue.
func TestDeltaMatchesSnapshot(t *testing.T) {
	saved := maxQueued
	defer func() { maxQueued = saved }()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			maxQueued = 1 << 20
			if seed%4 == 3 {
				maxQueued = 600 // agents fall behind and get snapshots
			}
			testDeltaMatchesSnapshot(t, seed)
		})
	}
}

func testDeltaMatchesSnapshot(t *testing.T, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 1))
	m := open(t, t.TempDir())
	defer m.Close()
	const hosts, switches, pgs, ports, uplinks = 5, 3, 5, 16, 4
	hostName := func(i int) string { return fmt.Sprintf("h%d", i) }
	var y strings.Builder
	for i := range hosts {
		y.WriteString(obj("Host", hostName(i), fmt.Sprintf("{address: 127.0.0.%d}", i+1)))
	}
	y.WriteString(obj("Switch", "sw0", "{overlay: vxlan}"))
	mustApply(t, m, y.String())

	agents := make([]*watchReplica, hosts)
	for i := range hosts {
		h := hostName(i)
		w, err := m.Watch(h, 0)
		if err != nil {
			t.Fatal(err)
		}
		agents[i] = &watchReplica{host: h, w: w, rep: NewReplica(h), msgs: map[string]int{}}
	}
	// sw0 changes between the overlays; the other switches are vlan
	// switches, the only ones that take uplinks.
	overlays := []string{"vxlan", "geneve", "vlan"}
	change := func() string {
		switch rnd.IntN(9) {
		case 0:
			sw, overlay := rnd.IntN(switches), "vlan"
			if sw == 0 {
				overlay = overlays[rnd.IntN(3)]
			}
			return obj("Switch", fmt.Sprintf("sw%d", sw), fmt.Sprintf("{overlay: %s, mtu: %d}", overlay, 1400+rnd.IntN(3)))
		case 1, 2:
			return obj("PortGroup", fmt.Sprintf("pg%d", rnd.IntN(pgs)), fmt.Sprintf("{switch: sw%d, vlan: %d}", rnd.IntN(switches), 1+rnd.IntN(3)))
		case 3, 4, 5:
			host := ""
			if rnd.IntN(5) > 0 {
				host = ", host: " + hostName(rnd.IntN(hosts))
			}
			n := rnd.IntN(ports)
			mac := n
			if rnd.IntN(4) == 0 {
				mac = rnd.IntN(ports)
			}
			return obj("Port", fmt.Sprintf("p%d", n), fmt.Sprintf(`{portGroup: pg%d, mac: "02:00:00:00:00:%02x", interface: tap-p%d%s}`, rnd.IntN(pgs), mac, n, host))
		case 6:
			return obj("Host", hostName(rnd.IntN(hosts)), fmt.Sprintf("{address: 127.0.1.%d}", 1+rnd.IntN(3)))
		default:
			return obj("Uplink", fmt.Sprintf("u%d", rnd.IntN(uplinks)), fmt.Sprintf("{switch: sw%d, host: %s, interface: eth%d}", 1+rnd.IntN(switches-1), hostName(rnd.IntN(hosts)), rnd.IntN(2)))
		}
	}
	kinds := []resource.Kind{resource.KindPort, resource.KindPort, resource.KindUplink, resource.KindPortGroup, resource.KindSwitch}
	committed := 0
	for step := range 400 {
		var what string
		if rnd.IntN(6) == 0 {
			k := kinds[rnd.IntN(len(kinds))]
			ref := resource.Ref{Kind: k, Name: fmt.Sprintf("%s%d", map[resource.Kind]string{
				resource.KindPort: "p", resource.KindUplink: "u", resource.KindPortGroup: "pg", resource.KindSwitch: "sw"}[k], rnd.IntN(4))}
			what = "deleting " + ref.String()
			if _, err := m.Delete(context.Background(), ref, -1); err == nil {
				committed++
			}
		} else {
			var y string
			for range 1 + rnd.IntN(3) {
				y += change()
			}
			what = "applying" + y
			if _, err := apply(m, y); err == nil {
				committed++
			}
		}
		for _, a := range agents {
			switch rnd.IntN(10) {
			case 0: // reconnect with the share it has
				a.drain(t)
				m.Unwatch(a.w)
				w, err := m.Watch(a.host, a.rep.Revision())
				if err != nil {
					t.Fatal(err)
				}
				a.w = w
			case 1, 2, 3: // read later
				continue
			}
			a.drain(t)
			a.check(t, m, fmt.Sprintf("step %d, %s", step, what))
		}
	}
	for _, a := range agents {
		a.drain(t)
		a.check(t, m, "the end")
		t.Logf("%s: %v", a.host, a.msgs)
	}
	if committed < 150 {
		t.Errorf("only %d of 400 changes committed: the test changes too little", committed)
	}
	snapshots := 0
	for _, a := range agents {
		snapshots += a.msgs[MsgSnapshot]
	}
	if maxQueued < 1000 && snapshots <= hosts {
		t.Errorf("no agent fell behind: %d snapshots", snapshots)
	}
}

// FuzzReplicaApply feeds a replica watch lines: whatever they hold, it
// must not panic, and a snapshot followed by an empty delta must give the
// snapshot's share back.
func FuzzReplicaApply(f *testing.F) {
	f.Add([]byte(`{"type":"snapshot","revision":3,"share":{"host":"h1","address":"127.0.0.1","switches":[{"metadata":{"name":"prod"}}],"portGroups":[{"metadata":{"name":"web"},"spec":{"switch":"prod"},"status":{"vni":5000}}],"uplinks":[],"ports":[],"remote":[{"portGroup":"web","hosts":[{"host":"h2","address":"127.0.0.2","macs":["02:00:00:00:00:02"]}]}]}}`),
		[]byte(`{"type":"delta","revision":4,"base":3,"delta":{"address":"127.0.0.1","ports":[null],"remote":[{"portGroup":"web","hosts":[{"host":"h1"},{"host":"h3"}],"delHosts":["h2"]}],"delSwitches":["x"]}}`))
	f.Add([]byte(`{"type":"snapshot","revision":1,"share":{"switches":[null],"remote":[{"portGroup":"a","hosts":[{"host":"h1"}]}]}}`),
		[]byte(`{"type":"current","revision":1}`))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		r := NewReplica("h1")
		for _, line := range [][]byte{first, second} {
			var msg Message
			if json.Unmarshal(line, &msg) != nil {
				continue
			}
			r.Apply(&msg)
			r.Share()
		}
		if r.Revision() == 0 {
			return
		}
		before := mustJSON(r.Share())
		if err := r.Apply(&Message{Type: MsgDelta, Revision: r.Revision() + 1, Base: r.Revision(), Delta: &Delta{Address: r.Share().Address}}); err != nil {
			t.Fatal(err)
		}
		if after := mustJSON(r.Share()); !bytes.Equal(before, after) {
			t.Errorf("an empty delta changed the share:\n%s\n%s", before, after)
		}
	})
}
