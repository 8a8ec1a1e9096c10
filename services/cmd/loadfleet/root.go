package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // invalid input (a plan), or the command failed
	exitUsage   = 2 // the command line itself is wrong
)

// envPrefix prefixes the environment variables that stand in for flags not
// given on the command line: --max-rate is LOADFLEET_MAX_RATE.
const envPrefix = "LOADFLEET_"

// exitError carries the exit code of a command. Errors that are not
// exitErrors come from cobra itself (unknown command or flag, wrong number
// of arguments): usage errors.
type exitError struct {
	code int
	err  error // nil: the command already said everything
	// noHint: the input, not the command line, was wrong (no usage hint).
	noHint bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// failed is a command that failed, or found invalid input.
func failed(err error) error { return &exitError{code: exitFailure, err: err} }

// usageErrorf is a command line that does not make sense.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run executes the command line args and returns the process exit code. It
// is main without the process: tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, hint := exitUsage, true
	var ee *exitError
	if errors.As(err, &ee) {
		code, hint = ee.code, !ee.noHint
		err = ee.err
	}
	if err != nil {
		// Errors quote servers and plans: their lines are made printable.
		fmt.Fprintf(stderr, "loadfleet: %s\n", printableLines(err.Error()))
	}
	if code == exitUsage && hint {
		fmt.Fprintln(stderr, "Run 'loadfleet --help' for usage.")
	}
	return code
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "loadfleet",
		Short: "Load testing that wraps load tools: plan, validate, run, judge, report",
		Long: `loadfleet runs load tests described as JSON plans.

Flags not given on the command line are read from LOADFLEET_<FLAG>
environment variables (--max-rate: LOADFLEET_MAX_RATE).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: applyEnv,
	}
	root.AddCommand(newValidateCommand(), newServerCommand(), newRunsCommand(), newTestsCommand(), newReportCommand(), newRunCommand(), newDemoCommand())
	root.AddCommand(newExecutorCommand())
	return root
}

// applyEnv sets every flag the command line left alone from its
// LOADFLEET_* environment variable.
func applyEnv(cmd *cobra.Command, _ []string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if setErr := f.Value.Set(v); setErr != nil {
				err = usageErrorf("%s=%q: %v", name, v, setErr)
			}
		}
	})
	return err
}

// newLogger logs text to w at level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
