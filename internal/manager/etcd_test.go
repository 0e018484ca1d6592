package manager_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/manager/client"
	"github.com/dvs-project/dvs/internal/manager/store"
	"github.com/dvs-project/dvs/internal/manager/store/etcdtest"
	"github.com/dvs-project/dvs/internal/resource"
)

// applyYAML applies y through m's API.
func applyYAML(t *testing.T, ctx context.Context, url, token, y string) {
	t.Helper()
	objs, err := resource.Decode([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(url, token)
	defer cl.Close()
	if _, err := cl.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
}

// converge waits until every manager is at the same revision, at least rev.
func converge(t *testing.T, rev int64, ms ...*manager.Manager) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		same := true
		for _, m := range ms {
			same = same && m.Revision() == ms[0].Revision() && m.Revision() >= rev
		}
		if same {
			return ms[0].Revision()
		}
		if time.Now().After(deadline) {
			var revs []int64
			for _, m := range ms {
				revs = append(revs, m.Revision())
			}
			t.Fatalf("managers did not converge to %d: at %v", rev, revs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func vniOf(t *testing.T, m *manager.Manager, pg string) int {
	t.Helper()
	o, err := m.Get(resource.Ref{Kind: resource.KindPortGroup, Name: pg})
	if err != nil {
		t.Fatal(err)
	}
	return o.(*resource.PortGroup).Status.VNI
}

// TestEtcdManagers runs two managers on one etcd: a change applied
// through A reaches an agent watching B, concurrent applies on both
// allocate distinct VNIs, and a restarted manager reloads the state.
func TestEtcdManagers(t *testing.T) {
	storeURL := "etcd://" + etcdtest.Start(t)
	dirA := t.TempDir()
	a, urlA := startManagerOn(t, dirA, storeURL)
	b, urlB := startManagerOn(t, t.TempDir(), storeURL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// An agent registers with B and watches it; the switch, group and
	// port come through A.
	h1 := startAgent(t, ctx, urlB, b.Token(), "h1", "127.0.0.1")
	h1.wait(t, 1)
	converge(t, 1, a, b)
	applyYAML(t, ctx, urlA, a.Token(), `
apiVersion: dvs/v1
kind: Switch
metadata: {name: prod}
spec: {overlay: vxlan}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: prod}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm1}
spec: {portGroup: web, mac: "02:00:00:00:00:01", host: h1, interface: tap1}
`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		sh := h1.wait(t, h1.count())
		if len(sh.Ports) == 1 && len(sh.PortGroups) == 1 && sh.PortGroups[0].Status.VNI == manager.FirstVNI && sh.Ports[0].Status.OFPort != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent on B never got A's port: %+v", sh)
		}
		h1.wait(t, h1.count()+1)
	}

	// A reports the host connected to B: B publishes its hosts' status
	// in the store.
	deadline = time.Now().Add(10 * time.Second)
	for {
		o, err := a.Get(resource.Ref{Kind: resource.KindHost, Name: "h1"})
		if err != nil {
			t.Fatal(err)
		}
		st := o.(*resource.Host).Status
		ob, _ := b.Get(resource.Ref{Kind: resource.KindHost, Name: "h1"})
		want := ob.(*resource.Host).Status
		if st.State == resource.HostReady && st.Connected && st.Converged && st.AckedRevision == want.AckedRevision && want.AckedRevision > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager A reports h1 (connected to B) as %+v; B says %+v", st, want)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Concurrent applies on A and B: every group gets its own VNI, and
	// both managers agree on them.
	const perManager = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*perManager)
	for i, m := range []*manager.Manager{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perManager {
				objs, err := resource.Decode(fmt.Appendf(nil, "apiVersion: dvs/v1\nkind: PortGroup\nmetadata: {name: pg-%d-%d}\nspec: {switch: prod}\n", i, j))
				if err != nil {
					errs <- err
					return
				}
				if _, _, err := m.Apply(ctx, []manager.Item{{Object: objs[0], Expect: store.AnyRevision}}); err != nil {
					errs <- fmt.Errorf("manager %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rev := converge(t, 0, a, b)
	seen := map[int]string{}
	for _, pg := range a.List(resource.KindPortGroup) {
		n := pg.Head().Metadata.Name
		v := pg.(*resource.PortGroup).Status.VNI
		if other, dup := seen[v]; dup || v == 0 {
			t.Errorf("port group %s has VNI %d (also %q)", n, v, other)
		}
		seen[v] = n
		if got := vniOf(t, b, n); got != v {
			t.Errorf("port group %s: VNI %d on A, %d on B", n, v, got)
		}
	}
	if len(seen) != 2*perManager+1 {
		t.Errorf("%d port groups, want %d", len(seen), 2*perManager+1)
	}

	// Restart A: it loads what both wrote, and follows B again.
	a.Close()
	a2, err := manager.Open(ctx, manager.Options{DataDir: dirA, Store: storeURL})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if a2.Revision() != rev {
		t.Errorf("after restart A is at %d, want %d", a2.Revision(), rev)
	}
	for v, n := range seen {
		if got := vniOf(t, a2, n); got != v {
			t.Errorf("after restart %s has VNI %d, want %d", n, got, v)
		}
	}
	applyYAML(t, ctx, urlB, b.Token(), "apiVersion: dvs/v1\nkind: PortGroup\nmetadata: {name: late}\nspec: {switch: prod}\n")
	converge(t, rev+1, a2, b)
	if v := vniOf(t, a2, "late"); v == 0 || seen[v] != "" {
		t.Errorf("late has VNI %d on the restarted A (taken by %q)", v, seen[v])
	}
	// Deletes go through too.
	if _, err := a2.Delete(ctx, resource.Ref{Kind: resource.KindPortGroup, Name: "late"}, store.AnyRevision); err != nil {
		t.Fatal(err)
	}
	converge(t, a2.Revision(), a2, b)
	if _, err := b.Get(resource.Ref{Kind: resource.KindPortGroup, Name: "late"}); err == nil {
		t.Errorf("B still has port group late after A deleted it")
	}
}
