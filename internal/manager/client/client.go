// Package client talks to a dvs manager: the resource API the CLI uses and
// the agent side of the watch protocol (Register, Watch, Ack, Heartbeat).
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/resource"
)

// MaxLine bounds one watch message (a host's whole share).
const MaxLine = 256 << 20

// Error is a request the manager refused.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// IsStatus reports whether err is an Error with the given HTTP status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// UnreachableError is returned when the manager cannot be reached at all.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the dvs manager at %s: is `dvs manager` running? (%v)", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Client talks to a manager, or to one of several that share a store: it
// sticks to the one that last answered and moves to the next when that
// one cannot be reached. Its methods are safe for concurrent use.
type Client struct {
	bases []string
	cur   atomic.Int32 // index in bases of the manager in use
	token atomic.Pointer[string]
	hc    *http.Client
}

// New returns a client for the manager at base (http://host:port, or
// several such URLs separated by commas); token may be "" on loopback.
func New(base, token string) *Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	c := &Client{hc: &http.Client{Transport: tr}}
	for _, b := range strings.Split(base, ",") {
		if b = strings.TrimRight(strings.TrimSpace(b), "/"); b != "" {
			c.bases = append(c.bases, b)
		}
	}
	if len(c.bases) == 0 {
		c.bases = []string{""}
	}
	c.SetToken(token)
	return c
}

// SetToken makes the client present token from now on ("" for none).
func (c *Client) SetToken(token string) { c.token.Store(&token) }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) request(ctx context.Context, method, path string, hdr http.Header, in any) (*http.Response, error) {
	var data []byte
	if in != nil {
		var err error
		if data, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	start := int(c.cur.Load())
	var resp *http.Response
	for i := range c.bases {
		idx := (start + i) % len(c.bases)
		base := c.bases[idx]
		var body io.Reader
		if in != nil {
			body = bytes.NewReader(data)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if tok := *c.token.Load(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err = c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				if i+1 < len(c.bases) {
					continue // the next manager
				}
				return nil, &UnreachableError{URL: strings.Join(c.bases, ","), Err: err}
			}
			return nil, fmt.Errorf("talking to the dvs manager at %s: %w", base, err)
		}
		c.cur.Store(int32(idx))
		break
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Error string `json:"error"`
		}
		msg := e.Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		} else {
			msg = fmt.Sprintf("manager answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
		}
		return nil, &Error{Status: resp.StatusCode, Message: msg}
	}
	return resp, nil
}

// do sends in (if not nil) and decodes the answer into out (if not nil).
// It returns the answer's headers.
func (c *Client) do(ctx context.Context, method, path string, hdr http.Header, in, out any) (http.Header, error) {
	resp, err := c.request(ctx, method, path, hdr, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the manager's answer: %w", err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("decoding the manager's answer: %w", err)
		}
	}
	return resp.Header, nil
}

func objPath(k resource.Kind, name string) string {
	return "/v1/" + k.Plural() + "/" + url.PathEscape(name)
}

// Apply creates or updates objs in one transaction.
func (c *Client) Apply(ctx context.Context, objs []resource.Object) (manager.ApplyResponse, error) {
	req := manager.ApplyRequest{Items: make([]json.RawMessage, len(objs))}
	for i, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			return manager.ApplyResponse{}, err
		}
		req.Items[i] = b
	}
	var out manager.ApplyResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/apply", nil, req, &out)
	return out, err
}

func decodeObject(k resource.Kind, raw []byte) (resource.Object, error) {
	o, err := resource.New(k)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, o); err != nil {
		return nil, fmt.Errorf("decoding a %s: %w", k, err)
	}
	return o, nil
}

// List returns the resources of kind k and the manager's revision.
func (c *Client) List(ctx context.Context, k resource.Kind) ([]resource.Object, int64, error) {
	var l manager.List
	if _, err := c.do(ctx, http.MethodGet, "/v1/"+k.Plural(), nil, nil, &l); err != nil {
		return nil, 0, err
	}
	out := make([]resource.Object, 0, len(l.Items))
	for _, raw := range l.Items {
		o, err := decodeObject(k, raw)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, o)
	}
	return out, l.Revision, nil
}

// Get returns one resource.
func (c *Client) Get(ctx context.Context, k resource.Kind, name string) (resource.Object, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, objPath(k, name), nil, nil, &raw); err != nil {
		return nil, err
	}
	return decodeObject(k, raw)
}

func ifMatch(rev int64) http.Header {
	if rev <= 0 {
		return nil
	}
	return http.Header{"If-Match": {strconv.Quote(strconv.FormatInt(rev, 10))}}
}

// Put creates or updates o; ifMatch > 0 makes it conditional on the
// resource's current revision.
func (c *Client) Put(ctx context.Context, o resource.Object, ifMatchRev int64) (resource.Object, error) {
	k := o.Head().Kind
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPut, objPath(k, o.Head().Metadata.Name), ifMatch(ifMatchRev), o, &raw); err != nil {
		return nil, err
	}
	return decodeObject(k, raw)
}

// Delete deletes one resource; ifMatch as for Put.
func (c *Client) Delete(ctx context.Context, k resource.Kind, name string, ifMatchRev int64) error {
	_, err := c.do(ctx, http.MethodDelete, objPath(k, name), ifMatch(ifMatchRev), nil, nil)
	return err
}

// Register creates or updates the host as its agent sees it. With the
// join token it joins the host, and hostToken is the host's new token
// (the client does not switch to it); with a host token, hostToken is "".
func (c *Client) Register(ctx context.Context, name string, spec resource.HostSpec) (h *resource.Host, hostToken string, err error) {
	h = &resource.Host{}
	hdr, err := c.do(ctx, http.MethodPost, objPath(resource.KindHost, name)+"/register", nil, spec, h)
	if err != nil {
		return nil, "", err
	}
	return h, hdr.Get(manager.HostTokenHeader), nil
}

// Ack tells the manager the host reached rev.
func (c *Client) Ack(ctx context.Context, host string, rev int64) error {
	_, err := c.do(ctx, http.MethodPost, objPath(resource.KindHost, host)+"/ack", nil, manager.AckRequest{Revision: rev}, nil)
	return err
}

// Heartbeat tells the manager the host's agent is alive.
func (c *Client) Heartbeat(ctx context.Context, host string) error {
	_, err := c.do(ctx, http.MethodPost, objPath(resource.KindHost, host)+"/heartbeat", nil, struct{}{}, nil)
	return err
}

// Watch opens host's watch stream and calls fn with every message until
// ctx ends, the stream breaks or fn returns an error. since and have are
// the revision and the share the agent already has (0 and nil for none;
// without have, since is not used). Watch applies deltas itself: every
// message but keepalives reaches fn with Share set to the complete share
// after it (which fn must treat as read-only: later shares share objects
// with it). It returns ctx.Err() when ctx ends; any other return means the
// caller should reconnect with the last share it got and its revision, or
// from scratch after manager.ErrOutOfSync.
func (c *Client) Watch(ctx context.Context, host string, since int64, have *manager.Share, fn func(manager.Message) error) error {
	rep := manager.NewReplica(host)
	p := objPath(resource.KindHost, host) + "/watch"
	if since > 0 && have != nil {
		rep.Reset(since, have)
		p += "?since=" + strconv.FormatInt(since, 10)
	}
	resp, err := c.request(ctx, http.MethodGet, p, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	for sc.Scan() {
		var msg manager.Message
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			return fmt.Errorf("decoding a watch message: %w", err)
		}
		if msg.Type != manager.MsgKeepalive {
			if err := rep.Apply(&msg); err != nil {
				return err
			}
			msg.Share = rep.Share()
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the watch stream: %w", err)
	}
	return io.ErrUnexpectedEOF
}
