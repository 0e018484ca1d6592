package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/agent"
	"github.com/dvs-project/dvs/internal/manager"
)

// upCmd runs a manager and this host's agent in one process: the whole
// distributed switch on one machine, for a first try and for demos.
func (c *cli) upCmd() *cobra.Command {
	var (
		listen, dataDir, stateDir string
		host, tunnelIP            string
		workers                   int
		logLevel                  string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a manager and this host's agent in one process (all-in-one)",
		Long: `Run the whole distributed switch on this machine, in the foreground: a
manager with its embedded store in --data-dir, listening on --listen, and an
agent in manager mode for this host (named --host, the hostname by default),
with its API on the usual socket. Describe the network with "dvs apply -f";
SIGTERM or SIGINT stop both.

The host registers --tunnel-ip as its VTEP. The default, 127.0.0.1, is fine
while this is the only host (no tunnel is needed); for other hosts to join,
give the underlay address and a --listen they can reach.`,
		Example: `  dvs up
  dvs up --tunnel-ip 203.0.113.11 --listen 203.0.113.11:7441`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level must be debug, info, warn or error, not %q", logLevel)
			}
			if a, err := netip.ParseAddr(tunnelIP); err != nil || !a.Is4() {
				return usagef("--tunnel-ip %q is not an IPv4 address (tunnels run over IPv4 underlays)", tunnelIP)
			}
			if host == "" {
				h, err := os.Hostname()
				if err != nil || h == "" {
					return usagef("cannot read the hostname (%v); give --host", err)
				}
				host = h
			}
			if workers < 0 {
				return usagef("--workers must not be negative")
			}
			log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			m, err := manager.Open(ctx, manager.Options{DataDir: dataDir, Logger: log.With("part", "manager"), Version: buildVersion()})
			if err != nil {
				return err
			}
			defer m.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listening: %w", err)
			}
			url := "http://" + ln.Addr().String()
			var token string
			tokenFile := filepath.Join(dataDir, "join-token")
			if manager.AuthRequired(ln.Addr()) {
				data, err := os.ReadFile(tokenFile)
				if err != nil {
					ln.Close()
					return fmt.Errorf("reading the join token: %w", err)
				}
				token = string(data)
			}
			mctx, cancel := context.WithCancel(ctx)
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- m.Serve(mctx, ln) }()

			join := fmt.Sprintf("dvs agent --manager %s --token-file %s --host NAME --tunnel-ip IP", url, tokenFile)
			if !manager.AuthRequired(ln.Addr()) || netip.MustParseAddr(tunnelIP).IsLoopback() {
				join = "restart with --listen and --tunnel-ip on an underlay address first"
			}
			fmt.Fprintf(c.stdout, `dvs is up: manager %s (data in %s), agent of host %q (tunnel IP %s), socket %s
  describe the network:  dvs apply -f net.yaml
  see it:                dvs get ports; dvs host list; dvs bridge list
  other hosts join:      %s
Stop with Ctrl-C or SIGTERM.
`, url, dataDir, host, tunnelIP, c.socket(), join)

			err = agent.Run(mctx, agent.Options{
				StateDir: stateDir,
				Socket:   c.socket(),
				Workers:  workers,
				Logger:   log.With("part", "agent"),
				Version:  buildVersion(),
				Manager:  &agent.ManagerOptions{URL: url, Token: strings.TrimSpace(token), Host: host, TunnelIP: tunnelIP},
			})
			cancel()
			serr := <-served
			if ctx.Err() != nil {
				return nil // stopped by a signal
			}
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			if serr != nil && !errors.Is(serr, context.Canceled) {
				return fmt.Errorf("manager: %w", serr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", DefaultManagerListen, "address and port of the manager's API")
	f.StringVar(&dataDir, "data-dir", DefaultManagerDir, "directory of the manager's store and join token")
	f.StringVar(&stateDir, "state-dir", agent.DefaultStateDir, "directory of the agent's state")
	f.StringVar(&host, "host", "", "this host's name (default: the hostname)")
	f.StringVar(&tunnelIP, "tunnel-ip", "127.0.0.1", "this host's underlay address (its VTEP)")
	f.IntVar(&workers, "workers", 0, "packet workers per bridge (0 = one per CPU)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
