package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// serve answers every request on a unix socket with status and body.
func serve(t *testing.T, status int, body string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		status int
		body   string
		want   string
		line   int
	}{
		{"api error", http.StatusConflict, `{"error":"bridge br0 already exists"}`, "bridge br0 already exists", 0},
		{"line", http.StatusBadRequest, `{"error":"line 3: bad","line":3}`, "line 3: bad", 3},
		{"not json", http.StatusBadGateway, "upstream\n", "agent answered 502 Bad Gateway: upstream", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClient(serve(t, tc.status, tc.body))
			defer c.Close()
			_, err := c.Bridges(ctx)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if e.Status != tc.status || e.Message != tc.want || e.Line != tc.line {
				t.Errorf("got %+v, want status %d, message %q, line %d", e, tc.status, tc.want, tc.line)
			}
		})
	}
}

func TestClientDecodes(t *testing.T) {
	c := NewClient(serve(t, http.StatusOK, `[{"name":"br0","ports":2,"flows":3,"macs":0}]`))
	defer c.Close()
	bs, err := c.Bridges(context.Background())
	if err != nil || len(bs) != 1 || bs[0].Name != "br0" || bs[0].Flows != 3 {
		t.Errorf("Bridges() = %+v, %v", bs, err)
	}
}

func TestUnreachableMessages(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, err := NewClient(sock).Version(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("error %v, want an UnreachableError wrapping ENOENT", err)
	}
	e := &UnreachableError{Socket: "/x.sock", Err: &os.SyscallError{Syscall: "connect", Err: syscall.EACCES}}
	if !strings.Contains(e.Error(), "permission denied") {
		t.Errorf("EACCES: %q", e.Error())
	}
}
