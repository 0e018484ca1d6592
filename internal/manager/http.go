package manager

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dvs-project/dvs/internal/manager/store"
	"github.com/dvs-project/dvs/internal/resource"
)

// The REST API, JSON over HTTP (all under /v1; {kind} is switches,
// portgroups, hosts, uplinks or ports):
//
//	GET    /v1/version                     {"version","revision"}
//	GET    /v1/{kind}                      {"revision":R,"items":[...]}
//	POST   /v1/{kind}                      create: 201, 409 if it exists
//	GET    /v1/{kind}/{name}               200 with ETag: "<revision>"
//	PUT    /v1/{kind}/{name}               create (201) or update (200); If-Match: "<revision>" -> 412 on mismatch, If-None-Match: * -> create only
//	DELETE /v1/{kind}/{name}               204; If-Match as for PUT; 409 while in use
//	POST   /v1/apply                       {"items":[...]} -> {"revision":R,"results":[{"kind","name","action","revision"}]}, all or nothing
//	POST   /v1/hosts/{name}/register       HostSpec -> Host (201 created, 200 otherwise)
//	GET    /v1/hosts/{name}/watch?since=R  the watch stream (application/x-ndjson, see Message)
//	POST   /v1/hosts/{name}/ack            {"revision":R} -> 204
//	POST   /v1/hosts/{name}/heartbeat      -> 204
//
// Every path needs the join token unless the listener is on loopback. A
// register with the join token joins the host: the answer's
// Dvs-Host-Token header has the host's own token, which serves that
// host's register/watch/ack/heartbeat and nothing else (403 otherwise).
//
// Errors are {"error":"..."} with 400 (bad input), 401 (token), 403, 404, 409
// (exists, in use, duplicate MAC or VNI), 412 (If-Match) or 500.

// MaxBody bounds request bodies.
const MaxBody = 16 << 20

// AuthRequired decides whether a listener needs the bearer token: every
// address but a loopback one does.
func AuthRequired(addr net.Addr) bool {
	if a, ok := addr.(*net.TCPAddr); ok {
		return !a.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// Handler returns the API. requireAuth makes the bearer token mandatory;
// without it the token is optional, but a wrong one is still refused.
func (m *Manager) Handler(requireAuth bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", m.hVersion)
	mux.HandleFunc("POST /v1/apply", adminOnly(m.hApply))
	mux.HandleFunc("GET /v1/{kind}", adminOnly(m.hList))
	mux.HandleFunc("POST /v1/{kind}", adminOnly(m.hCreate))
	mux.HandleFunc("GET /v1/{kind}/{name}", adminOnly(m.hGet))
	mux.HandleFunc("PUT /v1/{kind}/{name}", adminOnly(m.hPut))
	mux.HandleFunc("DELETE /v1/{kind}/{name}", adminOnly(m.hDelete))
	mux.HandleFunc("POST /v1/hosts/{name}/register", agentOnly(m.hRegister))
	mux.HandleFunc("GET /v1/hosts/{name}/watch", agentOnly(m.hWatch))
	mux.HandleFunc("POST /v1/hosts/{name}/ack", agentOnly(m.hAck))
	mux.HandleFunc("POST /v1/hosts/{name}/heartbeat", agentOnly(m.hHeartbeat))
	return m.auth(requireAuth, mux)
}

func (m *Manager) auth(required bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" && !required {
			next.ServeHTTP(w, r.WithContext(withCaller(r.Context(), caller{})))
			return
		}
		tok, ok := strings.CutPrefix(h, "Bearer ")
		tok = strings.TrimSpace(tok)
		unauthorized := func(msg string) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dvs"`)
			writeError(w, fmt.Errorf("%w: %s", ErrUnauthorized, msg))
		}
		switch {
		case !ok || tok == "":
			unauthorized("a valid bearer token is required (the manager's join-token, or an agent's host token)")
		case subtle.ConstantTimeCompare([]byte(tok), []byte(m.token)) == 1:
			next.ServeHTTP(w, r.WithContext(withCaller(r.Context(), caller{})))
		default:
			host := m.hostOfToken(tok)
			if host == "" {
				unauthorized("unknown token: neither the manager's join token (a wrong --token-file?) nor a registered host's token " +
					"(an agent whose host was deleted or joined again elsewhere must join again with the join token)")
				return
			}
			next.ServeHTTP(w, r.WithContext(withCaller(r.Context(), caller{host: host})))
		}
	})
}

// agentOnly wraps the handlers a host token may call: they serve only the
// token's own host.
func agentOnly(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c := callerOf(r.Context()); c.host != "" && c.host != r.PathValue("name") {
			writeError(w, fmt.Errorf("%w: this is host %s's token; it serves only that host's agent", ErrForbidden, c.host))
			return
		}
		fn(w, r)
	}
}

// adminOnly wraps the handlers a host token may not call.
func adminOnly(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c := callerOf(r.Context()); c.host != "" {
			writeError(w, fmt.Errorf("%w: a host token (host %s) serves only its agent's endpoints; use the join token", ErrForbidden, c.host))
			return
		}
		fn(w, r)
	}
}

// Serve serves the API on ln until ctx ends. The token is required unless
// ln is a loopback address.
func (m *Manager) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           m.Handler(AuthRequired(ln.Addr())),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// apiError is the body of every failed request.
type apiError struct {
	Error string `json:"error"`
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, resource.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrPrecondition), errors.Is(err, store.ErrPrecondition):
		return http.StatusPreconditionFailed
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), apiError{err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func etag(rev int64) string { return `"` + strconv.FormatInt(rev, 10) + `"` }

// precondition turns If-Match / If-None-Match into an Item's Expect.
func precondition(r *http.Request) (int64, error) {
	if v := r.Header.Get("If-None-Match"); v != "" {
		if strings.TrimSpace(v) != "*" {
			return 0, invalidf("If-None-Match: only * is supported")
		}
		return 0, nil
	}
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		return store.AnyRevision, nil
	}
	if v == "*" {
		return ExpectExists, nil
	}
	v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalidf("If-Match %q: want a revision such as \"42\"", r.Header.Get("If-Match"))
	}
	return n, nil
}

func kindOf(r *http.Request) (resource.Kind, error) {
	s := r.PathValue("kind")
	for _, k := range resource.Kinds {
		if k.Plural() == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: no such collection /v1/%s (want switches, portgroups, hosts, uplinks or ports)", ErrNotFound, s)
}

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		return nil, invalidf("reading the request: %v", err)
	}
	return data, nil
}

// decodeFor decodes the body as one resource of kind k.
func decodeFor(r *http.Request, k resource.Kind) (resource.Object, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	o, err := resource.DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	if got := o.Head().Kind; got != k {
		return nil, invalidf("a %s cannot be written to /v1/%s", got, k.Plural())
	}
	return o, nil
}

func (m *Manager) hVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": m.opts.Version, "revision": m.Revision()})
}

// List is the body of GET /v1/{kind}.
type List struct {
	Revision int64             `json:"revision"`
	Items    []json.RawMessage `json:"items"`
}

func (m *Manager) hList(w http.ResponseWriter, r *http.Request) {
	k, err := kindOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	m.mu.RLock()
	rev := m.rev
	m.mu.RUnlock()
	out := List{Revision: rev, Items: []json.RawMessage{}}
	for _, o := range m.List(k) {
		b, _ := json.Marshal(o)
		out.Items = append(out.Items, b)
	}
	writeJSON(w, http.StatusOK, out)
}

func (m *Manager) hGet(w http.ResponseWriter, r *http.Request) {
	k, err := kindOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := m.Get(resource.Ref{Kind: k, Name: r.PathValue("name")})
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("ETag", etag(o.Head().Metadata.Revision))
	writeJSON(w, http.StatusOK, o)
}

// write applies one object and answers with it.
func (m *Manager) write(w http.ResponseWriter, r *http.Request, o resource.Object, expect int64) {
	res, _, err := m.Apply(r.Context(), []Item{{Object: o, Expect: expect}})
	if err != nil {
		writeError(w, err)
		return
	}
	got, err := m.Get(resource.RefOf(o))
	if err != nil {
		writeError(w, err)
		return
	}
	code := http.StatusOK
	if res[0].Action == Created {
		code = http.StatusCreated
		w.Header().Set("Location", "/v1/"+o.Head().Kind.Plural()+"/"+o.Head().Metadata.Name)
	}
	w.Header().Set("ETag", etag(got.Head().Metadata.Revision))
	writeJSON(w, code, got)
}

func (m *Manager) hCreate(w http.ResponseWriter, r *http.Request) {
	k, err := kindOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := decodeFor(r, k)
	if err != nil {
		writeError(w, err)
		return
	}
	m.write(w, r, o, 0)
}

func (m *Manager) hPut(w http.ResponseWriter, r *http.Request) {
	k, err := kindOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	expect, err := precondition(r)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := decodeFor(r, k)
	if err != nil {
		writeError(w, err)
		return
	}
	if n := o.Head().Metadata.Name; n != r.PathValue("name") {
		writeError(w, invalidf("metadata.name %q does not match the path's %q", n, r.PathValue("name")))
		return
	}
	m.write(w, r, o, expect)
}

func (m *Manager) hDelete(w http.ResponseWriter, r *http.Request) {
	k, err := kindOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	expect, err := precondition(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if expect == 0 {
		writeError(w, invalidf("If-None-Match makes no sense on DELETE"))
		return
	}
	if _, err := m.Delete(r.Context(), resource.Ref{Kind: k, Name: r.PathValue("name")}, expect); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ApplyRequest is the body of POST /v1/apply.
type ApplyRequest struct {
	Items []json.RawMessage `json:"items"`
}

// ApplyResponse is its answer.
type ApplyResponse struct {
	Revision int64    `json:"revision"`
	Results  []Result `json:"results"`
}

func (m *Manager) hApply(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req ApplyRequest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, invalidf("decoding the request: %v", err))
		return
	}
	items := make([]Item, len(req.Items))
	for i, raw := range req.Items {
		o, err := resource.DecodeJSON(raw)
		if err != nil {
			writeError(w, fmt.Errorf("items[%d]: %w", i, err))
			return
		}
		items[i] = Item{Object: o, Expect: store.AnyRevision}
	}
	res, rev, err := m.Apply(r.Context(), items)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ApplyResponse{Revision: rev, Results: res})
}

func (m *Manager) hRegister(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	h := &resource.Host{}
	h.APIVersion, h.Kind, h.Metadata.Name = resource.APIVersion, resource.KindHost, r.PathValue("name")
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h.Spec); err != nil {
		writeError(w, invalidf("decoding the host spec: %v", err))
		return
	}
	// Round-trip through DecodeJSON for the same normalization and checks
	// as every other write.
	b, _ := json.Marshal(h)
	o, err := resource.DecodeJSON(b)
	if err != nil {
		writeError(w, err)
		return
	}
	// The administrator's token joins the host (a new host token);
	// the host's own token just updates it.
	var got *resource.Host
	var created bool
	if callerOf(r.Context()).host == "" {
		var tok string
		got, created, tok, err = m.Join(r.Context(), o.(*resource.Host))
		if err == nil {
			w.Header().Set(HostTokenHeader, tok)
		}
	} else {
		got, created, err = m.Register(r.Context(), o.(*resource.Host))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	w.Header().Set("ETag", etag(got.Metadata.Revision))
	writeJSON(w, code, got)
}

// AckRequest is the body of POST /v1/hosts/{name}/ack.
type AckRequest struct {
	Revision int64 `json:"revision"`
}

func (m *Manager) hAck(w http.ResponseWriter, r *http.Request) {
	var req AckRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, invalidf("decoding the ack: %v", err))
		return
	}
	if err := m.Ack(r.PathValue("name"), req.Revision); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Manager) hHeartbeat(w http.ResponseWriter, r *http.Request) {
	if err := m.Heartbeat(r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Manager) hWatch(w http.ResponseWriter, r *http.Request) {
	var since int64
	if s := r.URL.Query().Get("since"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, invalidf("since=%q: want a revision", s))
			return
		}
		since = n
	}
	wt, err := m.Watch(r.PathValue("name"), since)
	if err != nil {
		writeError(w, err)
		return
	}
	defer m.Unwatch(wt)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for {
		msgs, err := wt.Next(r.Context(), m.opts.Keepalive)
		if err != nil {
			return
		}
		if msgs == nil {
			msgs = [][]byte{fmt.Appendf(nil, `{"type":%q,"revision":%d}`+"\n", MsgKeepalive, m.Revision())}
		}
		for _, msg := range msgs {
			if _, err := w.Write(msg); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
