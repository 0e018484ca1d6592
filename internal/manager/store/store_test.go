package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dvs-project/dvs/internal/manager/store"
	"github.com/dvs-project/dvs/internal/manager/store/etcdtest"
)

// impl makes stores of one implementation: setup runs once per
// implementation and returns fresh, which returns the opener of one new,
// empty store (each call of the opener opens that same store again).
type impl struct {
	name  string
	setup func(t *testing.T) (fresh func(t *testing.T) func(t *testing.T) store.Store)
}

var impls = []impl{
	{"bolt", func(*testing.T) func(t *testing.T) func(t *testing.T) store.Store {
		return func(t *testing.T) func(t *testing.T) store.Store {
			dir := t.TempDir()
			return func(t *testing.T) store.Store {
				s, err := store.OpenBolt(dir)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
	}},
	{"etcd", func(t *testing.T) func(t *testing.T) func(t *testing.T) store.Store {
		addr := etcdtest.Start(t)
		n := 0
		return func(t *testing.T) func(t *testing.T) store.Store {
			n++ // each store under its own root
			url := fmt.Sprintf("etcd://%s/test%d", addr, n)
			return func(t *testing.T) store.Store {
				s, err := store.Open(context.Background(), url, "")
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
	}},
}

func commit(t *testing.T, s store.Store, base int64, ops ...store.Op) int64 {
	t.Helper()
	rev, err := s.Commit(context.Background(), base, ops)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func put(k, v string) store.Op {
	return store.Op{Key: k, Value: []byte(v), Expect: store.AnyRevision}
}

func load(t *testing.T, s store.Store) (string, int64) {
	t.Helper()
	kvs, rev, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&b, "%s=%s@%d ", kv.Key, kv.Value, kv.ModRevision)
	}
	return strings.TrimSpace(b.String()), rev
}

// behaviours is what every Store does, run on each implementation.
var behaviours = []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) store.Store)
}{
	{"empty", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		defer s.Close()
		if got, rev := load(t, s); got != "" || rev != 0 {
			t.Errorf("empty store: %q at %d", got, rev)
		}
		if rev := commit(t, s, 0); rev != 0 {
			t.Errorf("empty commit: revision %d", rev)
		}
	}},
	{"commit and load", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		defer s.Close()
		r1 := commit(t, s, store.AnyRevision, put("switches/b", "B"), put("hosts/a", "A"))
		r2 := commit(t, s, store.AnyRevision, put("switches/b", "B2"))
		if r1 <= 0 || r2 <= r1 {
			t.Fatalf("revisions %d then %d: want positive, increasing", r1, r2)
		}
		want := fmt.Sprintf("hosts/a=A@%d switches/b=B2@%d", r1, r2)
		if got, rev := load(t, s); got != want || rev != r2 {
			t.Errorf("load: %q at %d, want %q at %d", got, rev, want, r2)
		}
		if rev := commit(t, s, store.AnyRevision); rev != r2 {
			t.Errorf("empty commit: revision %d, want %d", rev, r2)
		}
	}},
	{"delete", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		defer s.Close()
		commit(t, s, store.AnyRevision, put("ports/a", "A"), put("ports/b", "B"))
		r := commit(t, s, store.AnyRevision, store.Op{Key: "ports/a", Expect: store.AnyRevision})
		got, rev := load(t, s)
		if !strings.HasPrefix(got, "ports/b=B@") || strings.Contains(got, "ports/a") || rev != r {
			t.Errorf("after delete: %q at %d (delete at %d)", got, rev, r)
		}
	}},
	{"key preconditions", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		defer s.Close()
		ctx := context.Background()
		r1 := commit(t, s, store.AnyRevision, store.Op{Key: "switches/a", Value: []byte("A"), Expect: 0})
		cases := []struct {
			name string
			op   store.Op
			ok   bool
		}{
			{"must not exist, exists", store.Op{Key: "switches/a", Value: []byte("x"), Expect: 0}, false},
			{"wrong revision", store.Op{Key: "switches/a", Value: []byte("x"), Expect: r1 + 100}, false},
			{"revision of a missing key", store.Op{Key: "switches/zz", Value: []byte("x"), Expect: r1}, false},
			{"right revision", store.Op{Key: "switches/a", Value: []byte("A2"), Expect: r1}, true},
		}
		for _, c := range cases {
			before, brev := load(t, s)
			// Every commit also writes another key: all or none.
			_, err := s.Commit(ctx, store.AnyRevision, []store.Op{put("switches/other", c.name), c.op})
			after, arev := load(t, s)
			if c.ok {
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
				continue
			}
			if !errors.Is(err, store.ErrPrecondition) {
				t.Errorf("%s: err %v, want ErrPrecondition", c.name, err)
			}
			if before != after || brev != arev {
				t.Errorf("%s: a failed commit wrote: %q at %d, then %q at %d", c.name, before, brev, after, arev)
			}
		}
	}},
	{"stale base", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		defer s.Close()
		ctx := context.Background()
		r1 := commit(t, s, 0, put("switches/a", "A"))
		r2 := commit(t, s, r1, store.Op{Key: "switches/a", Expect: store.AnyRevision}) // a delete moves the base too
		before, _ := load(t, s)
		_, err := s.Commit(ctx, r1, []store.Op{put("switches/b", "B")})
		var stale *store.StaleError
		if !errors.As(err, &stale) || !errors.Is(err, store.ErrStale) || stale.Revision != r2 {
			t.Fatalf("commit on a stale base: %v, want a StaleError at %d", err, r2)
		}
		if after, _ := load(t, s); after != before {
			t.Errorf("a stale commit wrote: %q", after)
		}
		// Stale wins over a failing key precondition.
		_, err = s.Commit(ctx, r1, []store.Op{{Key: "switches/a", Value: []byte("x"), Expect: r1}})
		if !errors.Is(err, store.ErrStale) {
			t.Errorf("stale base and failing key precondition: %v, want ErrStale", err)
		}
		commit(t, s, r2, put("switches/b", "B"))
	}},
	{"reopen", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		commit(t, s, store.AnyRevision, put("hosts/h1", "1"))
		r := commit(t, s, store.AnyRevision, put("hosts/h2", "2"))
		want, _ := load(t, s)
		s.Close()
		s = open(t)
		defer s.Close()
		if got, rev := load(t, s); got != want || rev != r {
			t.Errorf("after reopening: %q at %d, want %q at %d", got, rev, want, r)
		}
	}},
	{"follow", func(t *testing.T, open func(t *testing.T) store.Store) {
		s := open(t)
		defer s.Close()
		f, ok := s.(store.Follow)
		if !ok {
			t.Skip("single-owner store: nothing to follow")
		}
		r0 := commit(t, s, store.AnyRevision, put("ports/old", "O"))
		other := open(t) // another manager's client
		defer other.Close()
		r1 := commit(t, other, r0, put("ports/a", "A"), put("ports/b", "B"))
		r2 := commit(t, other, r1, store.Op{Key: "ports/a", Expect: store.AnyRevision})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got []string
		err := f.Follow(ctx, r0, func(c store.Change) error {
			var kvs []string
			for _, kv := range c.KVs {
				v := "<deleted>"
				if kv.Value != nil {
					v = string(kv.Value)
				}
				kvs = append(kvs, fmt.Sprintf("%s=%s@%d", kv.Key, v, kv.ModRevision))
			}
			slices.Sort(kvs)
			got = append(got, fmt.Sprintf("%d: %s", c.Revision, strings.Join(kvs, " ")))
			if c.Revision == r2 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
		want := []string{
			fmt.Sprintf("%d: ports/a=A@%d ports/b=B@%d", r1, r1, r1),
			fmt.Sprintf("%d: ports/a=<deleted>@%d", r2, r2),
		}
		if !slices.Equal(got, want) {
			t.Errorf("followed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}},
}

func TestConformance(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			fresh := im.setup(t)
			for _, b := range behaviours {
				t.Run(b.name, func(t *testing.T) {
					b.run(t, fresh(t))
				})
			}
		})
	}
}

func TestParseEtcdURL(t *testing.T) {
	for _, u := range []string{"etcd://", "etcd://host", "etcd://:x", "etcd://a b:1"} {
		if _, err := store.Open(context.Background(), u, ""); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}
