// Command dvs is the dvs switch: `dvs agent` runs the daemon of one host,
// and the other verbs (bridge, port, flow, of, mac, trace, stats) talk to it
// over its local API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dvs-project/dvs/internal/api"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3").
var version = "dev"

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1 // the agent refused the request, or bad input
	exitUsage       = 2 // the command line does not parse
	exitUnreachable = 3 // the agent is not running or not reachable
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	if f, ok := stderr.(*os.File); ok {
		c.progress = term.IsTerminal(int(f.Fd()))
	}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	msg := strings.TrimSpace(err.Error())
	if code == exitUsage && cmd != nil {
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintf(stderr, "dvs: %s\n", msg)
	return code
}

// runError marks an error returned by a command's own code, as opposed to
// one cobra returns for a command line that does not parse.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// usageError is a command line mistake found by a command's own code.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitCode maps an error from Execute to the exit code.
func exitCode(err error) int {
	var ue *api.UnreachableError
	var us usageError
	var re runError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUnreachable
	case errors.As(err, &us):
		return exitUsage
	case errors.As(err, &re):
		return exitError
	}
	return exitUsage // cobra: unknown command or flag, wrong number of arguments
}

// cli is the state shared by the commands.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	progress       bool // stderr is a terminal: show progress bars

	socketFlag string
	output     string
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "dvs",
		Short: "dvs, a userspace virtual switch",
		Long: `dvs is a userspace virtual switch. Run the daemon with "dvs agent"; the
other commands talk to it over its unix socket (` + api.DefaultSocket + `, or --socket,
or $` + api.SocketEnv + `).

Exit codes: 0 success, 1 the request failed (bad input or refused by the
agent), 2 the command line is wrong, 3 the agent cannot be reached.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch c.output {
			case "table", "json":
				return nil
			}
			return usagef("--output must be table or json, not %q", c.output)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.socketFlag, "socket", "", "the agent's API socket (default $"+api.SocketEnv+" or "+api.DefaultSocket+")")
	pf.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(
		c.agentCmd(),
		c.upCmd(),
		c.bridgeCmd(),
		c.portCmd(),
		c.flowCmd(),
		c.ofCmd(),
		c.macCmd(),
		c.traceCmd(),
		c.statsCmd(),
		c.versionCmd(),
	)
	root.AddCommand(c.managerCmds()...)
	for _, sub := range root.Commands() {
		if sub.RunE == nil && sub.HasSubCommands() {
			groupCmd(sub)
		}
	}
	markRunErrors(root)
	return root
}

// groupCmd makes a noun without a verb print its help, and a noun with an
// unknown verb a usage error (cobra prints help for both otherwise).
func groupCmd(cmd *cobra.Command) {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// markRunErrors wraps every command's RunE so exitCode can tell its errors
// from cobra's.
func markRunErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return runError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markRunErrors(sub)
	}
}

// socket returns the socket to use: --socket, then $DVS_SOCKET, then the
// default.
func (c *cli) socket() string {
	if c.socketFlag != "" {
		return c.socketFlag
	}
	if s := os.Getenv(api.SocketEnv); s != "" {
		return s
	}
	return api.DefaultSocket
}

func (c *cli) client() *api.Client { return api.NewClient(c.socket()) }

func (c *cli) json() bool { return c.output == "json" }

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
