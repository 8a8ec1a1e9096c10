package command

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// standaloneStartDelay lets the process settle between preparing the tool
// and its first arrival.
const standaloneStartDelay = 50 * time.Millisecond

type runFlags struct {
	plan     string
	out      string
	output   string
	seed     uint64
	logLevel string
	profile  string
}

func parseRunFlags(args []string, stderr io.Writer) (runFlags, error) {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadfleet-executor run PLAN [--out results.jsonl] [--output text|json] [--seed N]")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.out, "out", "", "also write every snapshot to this file, as JSON lines")
	fs.StringVar(&f.output, "output", "text", "summary format: text or json")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of randomized (Poisson) arrivals")
	fs.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&f.profile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof reads it)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return f, fmt.Errorf("%w: %w", errUsage, err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return f, fmt.Errorf("%w: want exactly one PLAN file, got %d arguments", errUsage, len(pos))
	}
	if f.output != "text" && f.output != "json" {
		return f, fmt.Errorf("%w: --output %q: want text or json", errUsage, f.output)
	}
	f.plan = pos[0]
	return f, nil
}

// runStandalone runs the whole plan as one shard and prints the summary.
func runStandalone(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseRunFlags(args, stderr)
	logger, code, ok := begin(err, f.logLevel, stderr)
	if !ok {
		return code
	}
	p, err := readPlan(f.plan)
	if err != nil {
		printError(stderr, err)
		return exitError
	}
	tool, err := newTool(p.EffectiveTool(), logger)
	if err != nil {
		printError(stderr, err)
		return exitError
	}
	dir, err := filepath.Abs(filepath.Dir(f.plan))
	if err != nil {
		printError(stderr, err)
		return exitError
	}
	spec := &wire.ShardSpec{
		RunID: "local-" + time.Now().UTC().Format("20060102T150405Z"),
		Shard: 0, Shards: 1, Seed: f.seed, Plan: *p, Dir: dir,
	}
	summary := runtime.NewSummary()
	sinks := runtime.Tee{summary}
	if f.out != "" {
		file, err := runtime.NewFileSink(f.out)
		if err != nil {
			printError(stderr, err)
			return exitError
		}
		sinks = append(sinks, file)
	}
	runner, err := runtime.NewRunner(runtime.Config{StartDelay: standaloneStartDelay}, tool, sinks, logger, nil)
	if err != nil {
		printError(stderr, err)
		return exitError
	}
	stopProfile, err := startCPUProfile(f.profile)
	if err != nil {
		printError(stderr, err)
		return exitError
	}
	_, runErr := runner.Run(ctx, spec)
	runErr = errors.Join(runErr, stopProfile())
	if err := printSummary(stdout, summary.Report(), f.output); err != nil {
		runErr = errors.Join(runErr, err)
	}
	runErr = errors.Join(runErr, summary.Err())
	if runErr != nil {
		printError(stderr, runErr)
		return exitError
	}
	return exitOK
}

// readPlan reads and validates a plan file.
func readPlan(path string) (*plan.Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	p, err := plan.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// printError prints an error; a plan's problems go one per line as
// "PATH: message".
func printError(w io.Writer, err error) {
	var ve *plan.ValidationError
	if errors.As(err, &ve) {
		fmt.Fprintln(w, "invalid plan:")
		for _, p := range ve.Problems {
			fmt.Fprintln(w, p.String())
		}
		return
	}
	fmt.Fprintln(w, "error:", err)
}

func printSummary(w io.Writer, r runtime.Report, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(w)
}

// startCPUProfile profiles the process into path until the returned
// function is called; an empty path profiles nothing.
func startCPUProfile(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() error { pprof.StopCPUProfile(); return f.Close() }, nil
}
