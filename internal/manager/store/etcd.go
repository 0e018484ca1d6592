package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Layout in etcd, under a root that defaults to /dvs (etcd://h:p/ROOT
// picks another):
//
//	ROOT/v1/KIND/NAME   the value of the store key KIND/NAME
//	ROOT/v1/_commit     rewritten by every commit
//
// The store's revision is etcd's revision of the last write under
// ROOT/v1/ (the highest ModRevision there), so ModRevisions are etcd's own
// and gaps are normal: etcd counts writes to other keys too. Commits with
// a base check that no key under ROOT/v1/ changed after the base revision
// (one range compare on ModRevision); _commit is what makes a commit that
// only deletes visible to that compare.
const (
	etcdDefaultRoot = "/dvs"
	etcdLayout      = "/v1/"
	etcdCommitKey   = "_commit"
)

// etcdTimeout bounds reaching the cluster when the store is opened.
const etcdTimeout = 5 * time.Second

// Etcd is the store of several managers sharing one etcd cluster.
type Etcd struct {
	cli    *clientv3.Client
	prefix string // ROOT/v1/
}

var (
	_ Store  = (*Etcd)(nil)
	_ Follow = (*Etcd)(nil)
)

// OpenEtcd connects to the cluster an etcd://host:port,host:port[/root] URL
// names and checks that it answers.
func OpenEtcd(ctx context.Context, rawURL string) (*Etcd, error) {
	endpoints, root, err := parseEtcdURL(rawURL)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: etcdTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", rawURL, err)
	}
	e := &Etcd{cli: cli, prefix: root + etcdLayout}
	cctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, e.prefix+etcdCommitKey); err != nil {
		cli.Close()
		return nil, fmt.Errorf("store %s: cannot reach etcd: %w", rawURL, err)
	}
	return e, nil
}

// parseEtcdURL splits etcd://h1:p1,h2:p2/root into client endpoints and
// the key root.
func parseEtcdURL(raw string) ([]string, string, error) {
	rest, ok := strings.CutPrefix(raw, "etcd://")
	if !ok {
		return nil, "", fmt.Errorf("store %q: not an etcd:// URL", raw)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	root := etcdDefaultRoot
	if path = strings.Trim(path, "/"); path != "" {
		root = "/" + path
	}
	var eps []string
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			continue
		}
		u, err := url.Parse("http://" + h)
		if err != nil || u.Host != h || u.Port() == "" {
			return nil, "", fmt.Errorf("store %q: endpoint %q: want host:port", raw, h)
		}
		eps = append(eps, "http://"+h)
	}
	if len(eps) == 0 {
		return nil, "", fmt.Errorf("store %q: no endpoints: want etcd://host:port,...", raw)
	}
	return eps, root, nil
}

// Close closes the client.
func (e *Etcd) Close() error { return e.cli.Close() }

func (e *Etcd) isCommitKey(k []byte) bool { return string(k) == e.prefix+etcdCommitKey }

// Load implements Store.
func (e *Etcd) Load(ctx context.Context) ([]KV, int64, error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("loading the store: %w", err)
	}
	var out []KV
	var rev int64
	for _, kv := range resp.Kvs {
		rev = max(rev, kv.ModRevision)
		if e.isCommitKey(kv.Key) {
			continue
		}
		out = append(out, KV{
			Key:         strings.TrimPrefix(string(kv.Key), e.prefix),
			Value:       kv.Value,
			ModRevision: kv.ModRevision,
		})
	}
	return out, rev, nil
}

// lastWrite is the Get of the highest ModRevision under the prefix.
func (e *Etcd) lastWrite() clientv3.Op {
	return clientv3.OpGet(e.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(1))
}

// revisionOfRange is the ModRevision of the first key lastWrite read.
func revisionOfRange(kvs []*mvccpb.KeyValue) int64 {
	if len(kvs) == 0 {
		return 0
	}
	return kvs[0].ModRevision
}

// Commit implements Store in one etcd transaction: If the base and every
// op's Expect hold, Then the writes and _commit, Else read back what
// failed.
func (e *Etcd) Commit(ctx context.Context, base int64, ops []Op) (int64, error) {
	if len(ops) == 0 {
		resp, err := e.cli.Do(ctx, e.lastWrite())
		if err != nil {
			return 0, fmt.Errorf("committing to the store: %w", err)
		}
		return revisionOfRange(resp.Get().Kvs), nil
	}
	var cmps []clientv3.Cmp
	if base != AnyRevision {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(e.prefix), "<", base+1).WithPrefix())
	}
	then := []clientv3.Op{clientv3.OpPut(e.prefix+etcdCommitKey, "")}
	els := []clientv3.Op{e.lastWrite()}
	for _, op := range ops {
		if op.Key == etcdCommitKey || op.Key == "" {
			return 0, fmt.Errorf("committing to the store: reserved key %q", op.Key)
		}
		k := e.prefix + op.Key
		if op.Expect != AnyRevision {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", op.Expect))
			els = append(els, clientv3.OpGet(k, clientv3.WithKeysOnly()))
		}
		if op.Value == nil {
			then = append(then, clientv3.OpDelete(k))
		} else {
			then = append(then, clientv3.OpPut(k, string(op.Value)))
		}
	}
	resp, err := e.cli.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
	if err != nil {
		return 0, fmt.Errorf("committing to the store: %w", err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	// Say which precondition failed, the base first as Bolt does.
	last := revisionOfRange(resp.Responses[0].GetResponseRange().Kvs)
	if base != AnyRevision && last > base {
		return 0, &StaleError{Base: base, Revision: last}
	}
	i := 1
	for _, op := range ops {
		if op.Expect == AnyRevision {
			continue
		}
		r := resp.Responses[i].GetResponseRange()
		i++
		var cur int64
		if len(r.Kvs) > 0 {
			cur = r.Kvs[0].ModRevision
		}
		if cur != op.Expect {
			return 0, fmt.Errorf("%s: at revision %d, not %d: %w", op.Key, cur, op.Expect, ErrPrecondition)
		}
	}
	// The compare failed but nothing reads as failed: a write raced
	// the read back. The caller retries as for a stale base.
	return 0, &StaleError{Base: base, Revision: last}
}

// Follow implements Follow with an etcd watch on the prefix from after+1.
func (e *Etcd) Follow(ctx context.Context, after int64, fn func(Change) error) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := e.cli.Watch(ctx, e.prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1))
	for resp := range wch {
		if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			return fmt.Errorf("following the store from revision %d: %w", after, ErrCompacted)
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("following the store: %w", err)
		}
		// Events come in revision order, a transaction's together.
		var c Change
		flush := func() error {
			if c.Revision == 0 {
				return nil
			}
			err := fn(c)
			c = Change{}
			return err
		}
		for _, ev := range resp.Events {
			rev := ev.Kv.ModRevision
			if rev != c.Revision {
				if err := flush(); err != nil {
					return err
				}
				c.Revision = rev
			}
			if e.isCommitKey(ev.Kv.Key) {
				continue
			}
			kv := KV{Key: strings.TrimPrefix(string(ev.Kv.Key), e.prefix), ModRevision: rev}
			if ev.Type == mvccpb.PUT {
				kv.Value = ev.Kv.Value
				if kv.Value == nil {
					kv.Value = []byte{}
				}
			}
			c.KVs = append(c.KVs, kv)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("following the store: the watch ended")
}
