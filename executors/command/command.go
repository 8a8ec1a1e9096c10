// Package command is the executor's command line: standalone runs of a
// whole plan (`run PLAN`) and shards run for the control plane (`agent`).
// It is importable so that both the small loadfleet-executor binary (the
// executor images) and the loadfleet binary (`loadfleet executor ...`, the
// local backend's children) run exactly the same code.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0 // the run completed, even with failed requests
	exitError = 1 // bad plan, tool error, abort, snapshots lost
	exitUsage = 2
)

const usage = `usage: loadfleet-executor <command> [flags]

commands:
  run PLAN [--out results.jsonl] [--output text|json] [--seed N]
        run the whole plan as one shard and print a summary
  agent [--spec FILE | --control URL --token T] [--ingest URL] [--out FILE]
        run one shard for the control plane ("shard" is an alias); without
        --spec or --control the spec is read from $LOADFLEET_SHARD_SPEC
  version
        print the version

Run "loadfleet-executor <command> -h" for a command's flags.
`

// Version is set at link time:
// -ldflags "-X github.com/loadfleet/loadfleet/executors/command.Version=v1.2.3".
var Version = "dev"

// NotifyContext returns a context cancelled by the first SIGTERM or
// interrupt, which stops a run cleanly (it flushes what it measured).
// After that first signal the default handling is restored, so a second one
// kills the process at once. stop releases the signal handling.
func NotifyContext(parent context.Context) (ctx context.Context, stop context.CancelFunc) {
	ctx, stop = signal.NotifyContext(parent, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// Execute runs an executor command line (without the program name) and
// returns the process exit code: 0 the run completed (even with failed
// requests), 1 it failed (bad plan, tool error, abort, snapshots lost),
// 2 the command line is wrong.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runStandalone(ctx, args[1:], stdout, stderr)
	case "agent", "shard":
		return runAgent(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "loadfleet-executor", Version)
		return exitOK
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// errUsage marks command-line mistakes (exit code 2).
var errUsage = errors.New("usage")

// parseInterspersed parses flags that may come before or after the
// positional arguments ("run PLAN --out x" as well as "run --out x PLAN").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// begin is what every command does after parsing its flags: -h is not an
// error, a bad flag is a usage error, and the logger is built. ok is false
// when the command should exit with code.
func begin(flagErr error, logLevel string, stderr io.Writer) (logger *slog.Logger, code int, ok bool) {
	if errors.Is(flagErr, flag.ErrHelp) {
		return nil, exitOK, false
	}
	if flagErr == nil {
		logger, flagErr = newLogger(stderr, logLevel)
	}
	if flagErr != nil {
		fmt.Fprintln(stderr, flagErr)
		return nil, exitUsage, false
	}
	return logger, exitOK, true
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
