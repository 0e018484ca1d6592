package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/agent"
)

func (c *cli) agentCmd() *cobra.Command {
	var (
		stateDir    string
		workers     int
		offloadMode string
		logFormat   string
		logLevel    string
		mgr         agent.ManagerOptions
		tokenFile   string
		uplinks     []string
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the dvs daemon (in the foreground)",
		Long: `Run the dvs agent in the foreground: it owns the bridges, keeps their
configuration (bridges, ports, flows added by users) in <state-dir>/dvs.db and
restores it when it starts, and serves the API the other dvs commands use on a
unix socket that only root may open.

One agent runs per state dir; a second one on the same state dir is refused.
To run several agents on one machine (one per network namespace, as tests do),
give each its own --state-dir and --socket. SIGTERM or SIGINT stop the agent
cleanly: its ports are closed, the socket is removed, the state is kept.

With --manager the agent runs in manager mode: it registers its host
(--host, with --tunnel-ip as its address and VTEP), watches the host's share
of the distributed switch and keeps one bridge per switch in line with it
(local ports of the host's VMs, one tunnel port per remote host of an overlay
switch, the flows of each port group), acknowledging every revision it
applies and sending heartbeats. It joins with the join token (--token-file)
and keeps the host token the manager gives it in <state-dir>/host-token,
which it uses from then on. On a vlan switch, the host's Uplink becomes a
trunk port of the VLANs of the host's port groups (an active-backup bond port
when the Uplink lists several interfaces); --uplink registers the interfaces
the host offers as uplinks, and the manager warns about an Uplink naming
another one. It saves the last share in
<state-dir>/share.json and applies it at start, so forwarding continues while
the manager is unreachable; it reconnects with backoff and catches up.

Logs are structured (text or JSON) on standard error.`,
		Example: `  dvs agent
  ip netns exec ns1 dvs agent --state-dir /tmp/ns1 --socket /tmp/ns1/dvs.sock --log-format json
  dvs agent --manager http://203.0.113.1:7441 --token-file /etc/dvs/join-token --host h1 --tunnel-ip 203.0.113.11
  dvs agent --manager http://203.0.113.1:7441 --host h1 --tunnel-ip 203.0.113.11 --uplink eth1,eth2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level must be debug, info, warn or error, not %q", logLevel)
			}
			hopts := &slog.HandlerOptions{Level: level}
			var h slog.Handler
			switch strings.ToLower(logFormat) {
			case "text":
				h = slog.NewTextHandler(c.stderr, hopts)
			case "json":
				h = slog.NewJSONHandler(c.stderr, hopts)
			default:
				return usagef("--log-format must be text or json, not %q", logFormat)
			}
			if workers < 0 {
				return usagef("--workers must not be negative")
			}
			if err := checkOffload(offloadMode); err != nil {
				return err
			}
			var mopts *agent.ManagerOptions
			if mgr.URL != "" {
				if mgr.Host == "" || mgr.TunnelIP == "" {
					return usagef("--manager needs --host and --tunnel-ip")
				}
				if a, err := netip.ParseAddr(mgr.TunnelIP); err != nil || !a.Is4() {
					return usagef("--tunnel-ip %q is not an IPv4 address (tunnels run over IPv4 underlays)", mgr.TunnelIP)
				}
				if !strings.Contains(mgr.URL, "://") {
					mgr.URL = "http://" + mgr.URL
				}
				if tokenFile != "" {
					data, err := os.ReadFile(tokenFile)
					if err != nil {
						return fmt.Errorf("reading the token: %w", err)
					}
					mgr.Token = strings.TrimSpace(string(data))
				}
				for _, u := range uplinks {
					if u == "" || len(u) > 15 || strings.ContainsAny(u, "/: ") {
						return usagef("--uplink %q is not an interface name", u)
					}
				}
				mgr.Uplinks = uplinks
				mopts = &mgr
			} else if mgr.Host != "" || mgr.TunnelIP != "" || tokenFile != "" || len(uplinks) > 0 {
				return usagef("--host, --tunnel-ip, --uplink and --token-file are for manager mode (--manager)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			err := agent.Run(ctx, agent.Options{
				StateDir: stateDir,
				Socket:   c.socket(),
				Workers:  workers,
				Offload:  offloadMode,
				Logger:   slog.New(h),
				Version:  buildVersion(),
				Manager:  mopts,
			})
			if err != nil && ctx.Err() == nil {
				return err
			}
			if err != nil {
				return fmt.Errorf("shutting down: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state-dir", agent.DefaultStateDir, "directory of the agent's state (created with mode 0700)")
	f.StringVar(&mgr.URL, "manager", "", "manager mode: the manager's URL (http://host:port), or several comma-separated URLs of managers sharing one etcd store (the agent uses one that answers)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the manager's join token, used to join (the host token the agent then gets is kept in <state-dir>/host-token); optional on loopback or once joined")
	f.StringVar(&mgr.Host, "host", "", "manager mode: this host's name")
	f.StringVar(&mgr.TunnelIP, "tunnel-ip", "", "manager mode: this host's underlay address (its VTEP)")
	f.StringSliceVar(&uplinks, "uplink", nil, "manager mode: interfaces this host offers as uplinks (IF[,IF...])")
	f.IntVar(&workers, "workers", 0, "packet workers per bridge (0 = one per CPU)")
	f.StringVar(&offloadMode, "offload", "tc", "bridges' default kernel fast path: tc (a tc eBPF program forwards simple megaflows; falls back to none without kernel support) or none")
	cmd.RegisterFlagCompletionFunc("offload", completeOffload)
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
