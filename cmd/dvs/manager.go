package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
	"github.com/dvs-project/dvs/internal/manager"
	"github.com/dvs-project/dvs/internal/manager/client"
	"github.com/dvs-project/dvs/internal/resource"
)

// Where the CLI finds the manager.
const (
	DefaultManagerListen = "127.0.0.1:7441"
	DefaultManagerURL    = "http://" + DefaultManagerListen
	DefaultManagerDir    = "/var/lib/dvs/manager"
	ManagerEnv           = "DVS_MANAGER"
	TokenFileEnv         = "DVS_TOKEN_FILE"
)

// managerCmds returns the manager daemon and the verbs that talk to it.
func (c *cli) managerCmds() []*cobra.Command {
	mc := &managerConn{c: c}
	cmds := []*cobra.Command{c.managerCmd(), mc.applyCmd(), mc.getCmd(), mc.describeCmd(), mc.deleteCmd(), mc.hostCmd()}
	for _, cmd := range cmds[1:] {
		pf := cmd.PersistentFlags()
		pf.StringVar(&mc.url, "manager", "", "the manager's URL, or several comma-separated (default $"+ManagerEnv+" or "+DefaultManagerURL+")")
		pf.StringVar(&mc.tokenFile, "token-file", "", "file holding the manager's join token (default $"+TokenFileEnv+"; optional on loopback)")
		// These verbs also print YAML; this replaces the root's check.
		cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
			switch c.output {
			case "table", "json", "yaml":
				return nil
			}
			return usagef("--output must be table, json or yaml, not %q", c.output)
		}
	}
	return cmds
}

// managerConn is the connection settings the manager verbs share.
type managerConn struct {
	c         *cli
	url       string
	tokenFile string
}

// managerUnreachable makes a client.UnreachableError exit with
// exitUnreachable, as an unreachable agent does.
type managerUnreachable struct{ err *client.UnreachableError }

func (e managerUnreachable) Error() string { return e.err.Error() }
func (e managerUnreachable) Unwrap() error { return e.err }
func (e managerUnreachable) As(target any) bool {
	if t, ok := target.(**api.UnreachableError); ok {
		*t = &api.UnreachableError{Socket: e.err.URL, Err: e.err.Err}
		return true
	}
	return false
}

// wrapErr adapts client errors for exitCode.
func wrapErr(err error) error {
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		return managerUnreachable{ue}
	}
	return err
}

func (m *managerConn) client() (*client.Client, error) {
	u := m.url
	if u == "" {
		u = os.Getenv(ManagerEnv)
	}
	if u == "" {
		u = DefaultManagerURL
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	tf := m.tokenFile
	if tf == "" {
		tf = os.Getenv(TokenFileEnv)
	}
	var token string
	if tf != "" {
		data, err := os.ReadFile(tf)
		if err != nil {
			return nil, fmt.Errorf("reading the token: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	return client.New(u, token), nil
}

func (c *cli) managerCmd() *cobra.Command {
	var listen, dataDir, storeURL string
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the dvs manager (in the foreground)",
		Long: `Run the dvs manager in the foreground: it stores the switches, port groups,
hosts, uplinks and ports of the distributed switch (in <data-dir>/manager.db,
or an etcd cluster several managers share with --store etcd://host:port,...), serves
the REST API under /v1 and streams to every agent its share.

On first start it writes a random join token to <data-dir>/join-token (mode
0600). Clients and agents send it as "Authorization: Bearer <token>"; it is
required unless --listen is a loopback address. An agent that joins with it
gets a host token of its own, which serves only that host's agent.

Managers that share an etcd store serve the same state, each to the agents
connected to it; give them the same join token (copy the file into each
data dir before the first start) and give agents all their URLs.`,
		Example: `  dvs manager --listen 127.0.0.1:7441 --data-dir /var/lib/dvs/manager
  # two managers on one etcd cluster:
  dvs manager --listen 203.0.113.1:7441 --data-dir /var/lib/dvs/m1 --store etcd://203.0.113.5:2379
  cp /var/lib/dvs/m1/join-token /var/lib/dvs/m2/
  dvs manager --listen 203.0.113.2:7441 --data-dir /var/lib/dvs/m2 --store etcd://203.0.113.5:2379
  dvs agent --manager http://203.0.113.1:7441,http://203.0.113.2:7441 --token-file join-token --host h1 --tunnel-ip 203.0.113.11`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(c.stderr, nil))
			m, err := manager.Open(ctx, manager.Options{DataDir: dataDir, Store: storeURL, Logger: log, Version: buildVersion()})
			if err != nil {
				return err
			}
			defer m.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listening: %w", err)
			}
			auth := "required"
			if !manager.AuthRequired(ln.Addr()) {
				auth = "optional (loopback)"
			}
			log.Info("manager listening", "addr", ln.Addr().String(), "data_dir", dataDir, "revision", m.Revision(), "token", auth)
			return m.Serve(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", DefaultManagerListen, "address and port of the API")
	f.StringVar(&dataDir, "data-dir", DefaultManagerDir, "directory of the store and the join token")
	f.StringVar(&storeURL, "store", "", "etcd://host:port,...[/root] (keys under /dvs/v1/ by default); default: the embedded store in --data-dir")
	return cmd
}

func (m *managerConn) hostCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "Show the hosts registered with the manager"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the hosts with the revision each reached and its heartbeat age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return m.get(cmd.Context(), resource.KindHost, "")
		},
	})
	groupCmd(cmd)
	return cmd
}

func heartbeatAge(st resource.HostStatus) string {
	if st.HeartbeatAge == nil {
		return "-"
	}
	return (time.Duration(*st.HeartbeatAge * float64(time.Second))).Round(100 * time.Millisecond).String()
}

func revOrDash(r int64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprint(r)
}
