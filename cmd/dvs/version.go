package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/api"
)

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of dvs and of the running agent",
		Long: `Print this binary's version and, if an agent answers on the socket, the
agent's version, pid and state dir. An absent agent is not an error here.`,
		Example: "  dvs version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := contextTimeout(cmd, 3*time.Second)
			defer cancel()
			out := struct {
				Client string       `json:"client"`
				Go     string       `json:"go"`
				Agent  *api.Version `json:"agent,omitempty"`
			}{Client: buildVersion(), Go: runtime.Version()}
			if v, err := c.client().Version(ctx); err == nil {
				out.Agent = &v
			}
			if c.json() {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.stdout, "dvs %s (%s)\n", out.Client, out.Go)
			if out.Agent != nil {
				fmt.Fprintf(c.stdout, "agent %s, pid %d, state dir %s, socket %s\n", out.Agent.Version, out.Agent.PID,
					out.Agent.StateDir, out.Agent.Socket)
			} else {
				fmt.Fprintf(c.stdout, "agent not reachable at %s\n", c.socket())
			}
			return nil
		},
	}
}

func contextTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctxOf(cmd), d)
}
