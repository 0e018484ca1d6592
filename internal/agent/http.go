package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/dvs-project/dvs/internal/api"
)

// maxBody bounds a request body; the CLI sends flows in chunks well below.
const maxBody = 32 << 20

// handler returns the API's routes (see package api for the list).
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(*http.Request) (any, error)) {
		mux.Handle(pattern, a.wrap(h))
	}
	route("GET /v1/version", func(*http.Request) (any, error) {
		return api.Version{Version: a.opts.Version, PID: os.Getpid(), StateDir: a.opts.StateDir, Socket: a.opts.Socket}, nil
	})
	route("GET /v1/bridges", func(*http.Request) (any, error) { return a.Bridges(), nil })
	route("POST /v1/bridges", func(r *http.Request) (any, error) {
		var spec api.BridgeSpec
		if err := decode(r, &spec); err != nil {
			return nil, err
		}
		return a.AddBridge(spec)
	})
	route("GET /v1/bridges/{br}", func(r *http.Request) (any, error) { return a.Bridge(r.PathValue("br")) })
	route("PATCH /v1/bridges/{br}", func(r *http.Request) (any, error) {
		var patch api.BridgePatch
		if err := decode(r, &patch); err != nil {
			return nil, err
		}
		return a.SetBridge(r.PathValue("br"), patch)
	})
	route("DELETE /v1/bridges/{br}", func(r *http.Request) (any, error) {
		return struct{}{}, a.DelBridge(r.PathValue("br"))
	})
	route("GET /v1/bridges/{br}/openflow", func(r *http.Request) (any, error) { return a.OpenFlow(r.PathValue("br")) })

	route("GET /v1/bridges/{br}/ports", func(r *http.Request) (any, error) { return a.Ports(r.PathValue("br")) })
	route("POST /v1/bridges/{br}/ports", func(r *http.Request) (any, error) {
		var spec api.PortSpec
		if err := decode(r, &spec); err != nil {
			return nil, err
		}
		return a.AddPort(r.PathValue("br"), spec)
	})
	route("GET /v1/bridges/{br}/ports/{port}", func(r *http.Request) (any, error) {
		return a.Port(r.PathValue("br"), r.PathValue("port"))
	})
	route("PATCH /v1/bridges/{br}/ports/{port}", func(r *http.Request) (any, error) {
		var patch api.PortPatch
		if err := decode(r, &patch); err != nil {
			return nil, err
		}
		return a.SetPort(r.PathValue("br"), r.PathValue("port"), patch)
	})
	route("DELETE /v1/bridges/{br}/ports/{port}", func(r *http.Request) (any, error) {
		return struct{}{}, a.DelPort(r.PathValue("br"), r.PathValue("port"))
	})

	route("GET /v1/bridges/{br}/flows", func(r *http.Request) (any, error) {
		q := r.URL.Query()
		stats, err := boolParam(q.Get("stats"))
		if err != nil {
			return nil, err
		}
		lines, err := a.DumpFlows(r.PathValue("br"), q.Get("filter"), stats)
		return api.Flows{Flows: lines}, err
	})
	route("POST /v1/bridges/{br}/flows", func(r *http.Request) (any, error) {
		var req api.FlowLines
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		n, err := a.AddFlows(r.PathValue("br"), req.Lines)
		return api.Count{Count: n}, err
	})
	route("POST /v1/bridges/{br}/flows/mod", func(r *http.Request) (any, error) {
		var req api.FlowSelect
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		n, err := a.ModFlows(r.PathValue("br"), req)
		return api.Count{Count: n}, err
	})
	route("POST /v1/bridges/{br}/flows/del", func(r *http.Request) (any, error) {
		var req api.FlowSelect
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		n, err := a.DelFlows(r.PathValue("br"), req)
		return api.Count{Count: n}, err
	})

	route("GET /v1/bridges/{br}/macs", func(r *http.Request) (any, error) {
		vid := 0
		if v := r.URL.Query().Get("vlan"); v != "" {
			var err error
			if vid, err = strconv.Atoi(v); err != nil {
				return nil, badRequest("vlan %q is not a number", v)
			}
		}
		return a.MACs(r.PathValue("br"), vid)
	})
	route("POST /v1/bridges/{br}/macs/flush", func(r *http.Request) (any, error) {
		n, err := a.FlushMACs(r.PathValue("br"))
		return api.Count{Count: n}, err
	})
	route("POST /v1/bridges/{br}/trace", func(r *http.Request) (any, error) {
		var req api.TraceRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return a.Trace(r.PathValue("br"), req.Packet)
	})
	route("GET /v1/bridges/{br}/stats", func(r *http.Request) (any, error) { return a.Stats(r.PathValue("br")) })

	mux.Handle("/", a.wrap(func(r *http.Request) (any, error) {
		return nil, &statusError{status: http.StatusNotFound, err: fmt.Errorf("no API route %s %s", r.Method, r.URL.Path)}
	}))
	return mux
}

// wrap turns an operation into a handler: JSON out, errors as api.Error,
// and a panic answered with a 500 (and logged) instead of killing the
// agent.
func (a *Agent) wrap(h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status := http.StatusOK
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("panic while serving a request", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				status = http.StatusInternalServerError
				writeJSON(w, status, api.Error{Message: fmt.Sprintf("internal error: %v (see the agent's log)", p)})
			}
			a.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", status,
				"duration", time.Since(start))
		}()
		if !peerAllowed(r.Context()) {
			status = http.StatusForbidden
			writeJSON(w, status, api.Error{Message: "permission denied: the dvs API is for root"})
			return
		}
		v, err := h(r)
		if err != nil {
			e := api.Error{Status: http.StatusInternalServerError, Message: err.Error()}
			var se *statusError
			if errors.As(err, &se) {
				e.Status, e.Line = se.status, se.line
			}
			status = e.Status
			if status >= 500 {
				a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeJSON(w, status, e)
			return
		}
		writeJSON(w, status, v)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(api.Error{Message: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// decode reads a JSON body into v, rejecting unknown fields and trailing
// data.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return &statusError{status: http.StatusRequestEntityTooLarge, err: fmt.Errorf("reading request: %w", err)}
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest("bad request body: %v", err)
	}
	if d.More() {
		return badRequest("bad request body: data after the JSON value")
	}
	return nil
}

func boolParam(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("%q is not a boolean", s)
	}
	return b, nil
}
