package main

import (
	"github.com/spf13/cobra"

	"github.com/loadfleet/loadfleet/executors/command"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// newExecutorCommand is the executor inside the one binary: the local
// backend starts its children as `loadfleet executor agent ...`. Its
// command line is the loadfleet-executor binary's, passed through as is.
func newExecutorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "executor (run PLAN | agent ...) [flags]",
		Short: "Run a plan, or one shard of a run, in this process (what executors run)",
		Long: `Executor is the loadfleet-executor command line inside this binary:

  loadfleet executor run PLAN [--out results.jsonl] [--output text|json]
  loadfleet executor agent [--spec FILE | --control URL --token T] [--out FILE]

Without --spec or --control, agent reads its shard spec (JSON) from
$` + wire.ShardSpecEnv + `. The first SIGTERM or interrupt stops the run cleanly
(what was measured is flushed); a second one kills the process.
Run "loadfleet executor help" for the full usage.`,
		// The executor parses its own flags (and -h).
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := command.NotifyContext(cmd.Context())
			defer stop()
			if code := command.Execute(ctx, args, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != exitOK {
				// The executor already said what went wrong.
				return &exitError{code: code}
			}
			return nil
		},
	}
}
