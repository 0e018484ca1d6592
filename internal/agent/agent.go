// Package agent is the dvs daemon of one host: it owns the bridges, keeps
// their configuration in the state store so a restart brings them back, and
// serves the local API (package api) that the CLI uses.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/bridge"
	"github.com/dvs-project/dvs/internal/store"
)

// DefaultStateDir is where the agent keeps its state unless told otherwise.
const DefaultStateDir = "/var/lib/dvs"

// Options configure an agent.
type Options struct {
	// StateDir holds the state file (dvs.db) and the lock; default
	// DefaultStateDir. One agent per state dir.
	StateDir string
	// Socket is the API's unix socket; default api.DefaultSocket.
	Socket string
	// Workers is the default number of packet workers of a bridge; 0 = one
	// per CPU.
	Workers int
	// Logger receives the agent's structured logs; nil = discard.
	Logger *slog.Logger
	// Opener opens the ports; nil = OpenPort (the real backends). Tests
	// pass in-memory ports.
	Opener bridge.Opener
	// Version is reported by the API.
	Version string
	// Offload is the bridges' default kernel fast path (offload.ModeTC or
	// ModeNone); "" = tc. A bridge's own setting wins.
	Offload string
	// Sweep is the bridges' housekeeping period; 0 = the bridge default.
	Sweep time.Duration
	// Manager, if set, puts the agent in manager mode (see ManagerOptions).
	Manager *ManagerOptions
}

// LockedError is returned by Start when another agent holds the state dir.
type LockedError struct {
	StateDir string
	PID      string // "" if unknown
}

func (e *LockedError) Error() string {
	pid := e.PID
	if pid == "" {
		pid = "unknown"
	}
	return fmt.Sprintf("another dvs agent is using state dir %s (pid %s)", e.StateDir, pid)
}

// Agent is a running daemon.
type Agent struct {
	opts Options
	log  *slog.Logger
	lock *os.File
	st   *store.Store
	ln   *net.UnixListener
	srv  *http.Server

	// mu guards bridges. Changes hold it for writing from validation to
	// saving, so the saved state always follows the order of changes;
	// readers (dumps, traces, counters) share it.
	mu      sync.RWMutex
	bridges map[string]*bridgeEntry
	closed  bool // set by release, under mu: the reconciler stops changing bridges

	closeOnce sync.Once
	closeErr  error
}

// Run starts an agent and serves until ctx is done, then shuts down
// cleanly (closing bridges and their ports, removing the socket and
// releasing the state dir).
func Run(ctx context.Context, opts Options) error {
	a, err := Start(opts)
	if err != nil {
		return err
	}
	if opts.Manager == nil {
		return a.Serve(ctx)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.runManaged(mctx, *opts.Manager)
	}()
	err = a.Serve(ctx)
	cancel()
	<-done
	return err
}

// Start takes the state dir, restores the saved bridges and listens on the
// socket. Call Serve to answer requests, or Close.
func Start(opts Options) (_ *Agent, err error) {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.Socket == "" {
		opts.Socket = api.DefaultSocket
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Opener == nil {
		opts.Opener = OpenPort
	}
	a := &Agent{opts: opts, log: opts.Logger, bridges: map[string]*bridgeEntry{}}
	defer func() {
		if err != nil {
			a.release()
		}
	}()

	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	if a.lock, err = lockStateDir(opts.StateDir); err != nil {
		return nil, err
	}
	if a.st, err = store.Open(filepath.Join(opts.StateDir, "dvs.db")); err != nil {
		return nil, err
	}
	if err := a.restore(); err != nil {
		return nil, err
	}
	if a.ln, err = listen(opts.Socket); err != nil {
		return nil, err
	}
	a.srv = &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       peerCredContext,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.log.Info("agent started", "state_dir", opts.StateDir, "socket", opts.Socket, "pid", os.Getpid(),
		"bridges", len(a.bridges))
	return a, nil
}

// Serve answers API requests until ctx is done, then closes the agent.
func (a *Agent) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "reason", context.Cause(ctx))
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			a.Close()
			return fmt.Errorf("serving the API: %w", err)
		}
	}
	return a.Close()
}

// Close stops serving, closes every bridge (and its ports), removes the
// socket and releases the state dir. It is safe to call more than once.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		if a.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := a.srv.Shutdown(ctx); err != nil {
				a.srv.Close()
			}
			cancel()
		}
		a.closeErr = a.release()
		a.log.Info("agent stopped")
	})
	return a.closeErr
}

// release undoes what Start did, in reverse.
func (a *Agent) release() error {
	if a.ln != nil {
		a.ln.Close()
		os.Remove(a.opts.Socket)
	}
	a.mu.Lock()
	a.closed = true
	for name, e := range a.bridges {
		a.closeBridge(e)
		delete(a.bridges, name)
	}
	a.mu.Unlock()
	var err error
	if a.st != nil {
		err = a.st.Close()
	}
	if a.lock != nil {
		a.lock.Truncate(0)
		a.lock.Close() // releases the flock
	}
	return err
}

// lockStateDir takes an exclusive lock on dir/lock and writes our pid in
// it, so that a second agent can say who holds it.
func lockStateDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			data, _ := io.ReadAll(io.LimitReader(f, 32))
			return nil, &LockedError{StateDir: dir, PID: strings.TrimSpace(string(data))}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The pid only serves the message a second agent prints.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// maxSocketPath is the room in sockaddr_un.sun_path, less the final NUL.
const maxSocketPath = 107

// listen listens on a unix socket at path, mode 0600. It replaces a stale
// socket file but refuses one another agent still answers on.
func listen(path string) (*net.UnixListener, error) {
	if len(path)+len(".tmp-0000000") > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is too long (at most %d bytes)", path, maxSocketPath-len(".tmp-0000000"))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating socket dir: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another dvs agent is listening on %s (give each agent its own --socket)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	// Bind under a temporary name, restrict it, then move it into place, so
	// the socket is never reachable with a wider mode.
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid()%10000000)
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("restricting socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return ln, nil
}

type peerKey struct{}

// peerCredContext records the connecting process's credentials.
func peerCredContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, cred)
}

// peerAllowed reports whether the peer may use the API: root or the
// agent's own user. The socket's mode already keeps others out; this also
// holds if its directory is shared or the mode was changed.
func peerAllowed(ctx context.Context) bool {
	cred, ok := ctx.Value(peerKey{}).(*unix.Ucred)
	if !ok {
		return true
	}
	return cred.Uid == 0 || int(cred.Uid) == os.Geteuid()
}
