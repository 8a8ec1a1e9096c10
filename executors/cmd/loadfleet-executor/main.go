// Command loadfleet-executor runs one shard of a loadfleet run with the
// plan's tool: standalone (`run PLAN`, the whole plan as one shard) or for
// the control plane (`agent`, with a shard spec from a file or from the
// executor API).
package main

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
  agent (--spec FILE | --control URL --token T) [--ingest URL] [--out FILE]
        run one shard for the control plane ("shard" is an alias)
  version
        print the version

Run "loadfleet-executor <command> -h" for a command's flags.
`

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		// The first signal stops the run cleanly; restoring the default
		// handling lets a second one kill the process at once.
		<-ctx.Done()
		stop()
	}()
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs a command line and returns the exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
		fmt.Fprintln(stdout, "loadfleet-executor", version)
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

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
