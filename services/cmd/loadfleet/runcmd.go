package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/internal/private"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/metadataclient"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting"
	"github.com/loadfleet/loadfleet/services/reporting/report"
	"github.com/loadfleet/loadfleet/services/reporting/reportingclient"
)

// exitRunError is the exit status of a run that errored or was aborted
// (1 is a run whose criteria failed, 2 invalid input).
const exitRunError = 3

type runOptions struct {
	api         apiFlags
	sets        []string
	junit       string
	htmlReport  string
	dataDir     string
	executorCmd string
	interval    time.Duration
	// planDir is the plan file's directory, for the platform in process.
	planDir string
}

func newRunCommand() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run PLAN [--server URL] [--set key=value]... [--junit FILE] [--report FILE]",
		Short: "Run a plan and follow it live; the exit status is the verdict",
		Long: `Run submits the plan to --server, or, without it, to an all-in-one platform
started in this process for the run, and follows it: one refreshing progress line
on a terminal, periodic lines otherwise. At the end it prints the summary and the
criteria verdicts (--output json: the report document).

--set adapts the plan to an environment: baseUrl=URL, rateMultiplier=X, duration=D.

Exit status: 0 passed, 1 criteria failed, 2 invalid input, 3 errored or aborted.
Ctrl-C aborts the run cleanly.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	f := cmd.Flags()
	o.api.register(f)
	server := f.Lookup("server")
	server.DefValue, o.api.server = "", ""
	server.Usage = "URL of a loadfleet server (without it, a platform in this process runs the plan)"
	f.StringArrayVar(&o.sets, "set", nil, "override: baseUrl=URL, rateMultiplier=X or duration=D (repeatable)")
	f.StringVar(&o.junit, "junit", "", "write the criteria as JUnit XML to this file")
	f.StringVar(&o.htmlReport, "report", "", "write the HTML report to this file")
	f.StringVar(&o.dataDir, "data-dir", app.DefaultDataDir, "data directory of the in-process platform (without --server)")
	f.StringVar(&o.executorCmd, "executor-command", "", "command that runs an executor in the in-process platform (default: this binary's executor command)")
	f.DurationVar(&o.interval, "progress-interval", 0, "how often progress is printed (default: 1 s on a terminal, 5 s otherwise)")
	return cmd
}

func (o *runOptions) run(cmd *cobra.Command, planPath string) error {
	overrides, err := parseSets(o.sets)
	if err != nil {
		return err
	}
	if err := o.api.checkOutput(); err != nil {
		return err
	}
	doc, err := readPlanFile(planPath)
	if err != nil {
		return &exitError{code: exitUsage, err: err, noHint: true}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server := o.api.server
	if server == "" {
		// The platform in process reads the plan's relative files (feeders)
		// beside the plan, as `loadfleet validate` checks them.
		dir, err := filepath.Abs(filepath.Dir(planPath))
		if err != nil {
			return &exitError{code: exitUsage, err: err, noHint: true}
		}
		o.planDir = dir
		p, err := o.startPlatform(ctx, "127.0.0.1:0", cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer p.stop()
		server = p.url
	}
	_, err = o.submit(ctx, cmd, server, doc, overrides)
	return err
}

// submit starts the plan on server, follows it to its end and finishes it
// (files, summary, exit status). It returns the run's ID once it has one.
func (o *runOptions) submit(ctx context.Context, cmd *cobra.Command, server string, doc []byte, overrides store.Overrides) (string, error) {
	api := metadataclient.New(server, o.api.token, nil)
	run, err := api.StartRun(context.WithoutCancel(ctx), metadata.StartRequest{Plan: doc, Overrides: overrides})
	var ve *plan.ValidationError
	switch {
	case errors.As(err, &ve):
		return "", &exitError{code: exitUsage, err: errors.Unwrap(apiError(err)), noHint: true}
	case errors.Is(err, metadataclient.ErrUnauthorized):
		return "", &exitError{code: exitUsage, err: err, noHint: true}
	case err != nil:
		// Not 1: that status means the criteria failed, and a CI job
		// must not read an unreachable server as a verdict.
		return "", &exitError{code: exitRunError, err: err}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "run %s queued on %s\n", printable(run.ID), server)
	f := follower{out: cmd.ErrOrStderr(), terminal: isTerminal(cmd.ErrOrStderr()), interval: o.interval,
		api: api, progress: reportingclient.New(server, o.api.httpClient()), total: planDuration(run)}
	final, err := f.follow(ctx, run.ID)
	if err != nil {
		return run.ID, &exitError{code: exitRunError, err: err}
	}
	return run.ID, o.finish(cmd, api, final)
}

// finish prints the outcome, writes the files and sets the exit status.
func (o *runOptions) finish(cmd *cobra.Command, api metadata.API, run store.Run) error {
	raw, err := api.Report(context.Background(), run.ID)
	if err != nil {
		return &exitError{code: exitRunError, err: fmt.Errorf("run %s %s (%s); no report: %w", run.ID, run.State, printable(run.Reason), err)}
	}
	var doc report.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return &exitError{code: exitRunError, err: fmt.Errorf("the report of %s does not parse: %w", run.ID, err)}
	}
	for path, render := range map[string]func(io.Writer, *report.Document) error{o.junit: report.JUnit, o.htmlReport: report.HTML} {
		if path != "" {
			if err := writeFile(path, &doc, render); err != nil {
				return &exitError{code: exitRunError, err: err}
			}
		}
	}
	if o.api.output == "json" {
		if err := writeJSON(cmd.OutOrStdout(), json.RawMessage(raw)); err != nil {
			return failed(err)
		}
	} else {
		printSummary(cmd.OutOrStdout(), &doc)
	}
	switch doc.Verdict {
	case report.Passed:
		return nil
	case report.Failed:
		return &exitError{code: exitFailure}
	default:
		return &exitError{code: exitRunError}
	}
}

// writeFile renders doc into path. A new file is its owner's only (0600):
// a report shows the plan as run.
func writeFile(path string, doc *report.Document, render func(io.Writer, *report.Document) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, private.FileMode)
	if err != nil {
		return err
	}
	if err := render(f, doc); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// inProcessPlatform is every target served in this process.
type inProcessPlatform struct {
	url  string
	stop func()
}

// startPlatform serves every target in this process on listen, with the
// embedded defaults under --data-dir, until stop is called.
func (o *runOptions) startPlatform(ctx context.Context, listen string, logOut io.Writer) (*inProcessPlatform, error) {
	cfg := app.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DisableGit, cfg.PlanDir = listen, o.dataDir, true, o.planDir
	cfg.Git.CacheDir = defaultGitCacheDir()
	if o.executorCmd != "" {
		cfg.Locations = []app.LocationConfig{{Name: "local", Backend: "local", Command: strings.Fields(o.executorCmd)}}
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(app.TargetAll, cfg, logger)
	if err != nil {
		return nil, &exitError{code: exitRunError, err: fmt.Errorf("start the in-process platform: %w", err)}
	}
	url, stop, err := a.Start(context.WithoutCancel(ctx))
	if err != nil {
		return nil, &exitError{code: exitRunError, err: fmt.Errorf("start the in-process platform: %w", err)}
	}
	return &inProcessPlatform{url: url, stop: func() { _ = stop() }}, nil
}

// parseSets reads --set key=value overrides.
func parseSets(sets []string) (store.Overrides, error) {
	var o store.Overrides
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return o, usageErrorf("--set %q: want key=value", s)
		}
		switch key {
		case "baseUrl", "target.baseUrl":
			o.BaseURL = value
		case "rateMultiplier":
			m, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return o, usageErrorf("--set rateMultiplier=%q: not a number", value)
			}
			o.RateMultiplier = m
		case "duration", "load.maxDuration":
			o.Duration = value
		default:
			return o, usageErrorf("--set %q: unknown key (baseUrl, rateMultiplier, duration)", key)
		}
	}
	return o, nil
}

func planDuration(run store.Run) time.Duration {
	var p plan.Plan
	if err := json.Unmarshal(run.Plan, &p); err != nil {
		return 0
	}
	return time.Duration(schedule.Explain(&p).DurationSeconds * float64(time.Second))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// follower prints a run's progress until it ends.
type follower struct {
	out      io.Writer
	terminal bool
	interval time.Duration
	api      metadata.API
	progress reporting.API
	total    time.Duration
}

// follow polls the run until it ends. An interrupt aborts the run and waits
// for it to end.
func (f *follower) follow(ctx context.Context, runID string) (store.Run, error) {
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	every := f.interval
	if every <= 0 {
		every = map[bool]time.Duration{true: time.Second, false: 5 * time.Second}[f.terminal]
	}
	var printed time.Time
	aborting := false
	for {
		select {
		case <-ctx.Done():
			if !aborting {
				aborting = true
				fmt.Fprintf(f.out, "\ninterrupted: aborting run %s\n", printable(runID))
				if _, err := f.api.AbortRun(context.Background(), runID, "interrupted (Ctrl-C) by the CLI"); err != nil {
					return store.Run{}, err
				}
			}
		case <-poll.C:
		}
		run, err := f.api.Run(context.Background(), runID)
		if err != nil {
			return run, err
		}
		if run.State.Terminal() {
			if f.terminal {
				fmt.Fprintln(f.out)
			}
			return run, nil
		}
		if time.Since(printed) >= every {
			printed = time.Now()
			f.print(run)
		}
		if aborting {
			ctx = context.Background() // stop selecting on the ended context
		}
	}
}

func (f *follower) print(run store.Run) {
	ready := 0
	for _, sh := range run.Shards {
		if sh.Ready {
			ready++
		}
	}
	clock := fmt.Sprintf("0s/%s", f.total.Truncate(time.Second))
	if run.StartAt != nil {
		if until := time.Until(*run.StartAt); until > 0 {
			// The executors are ready and wait for the common start instant.
			clock = fmt.Sprintf("starts in %s", until.Round(100*time.Millisecond))
		} else {
			clock = fmt.Sprintf("%s/%s", (-until).Truncate(time.Second), f.total.Truncate(time.Second))
		}
	}
	line := fmt.Sprintf("%-9s %s  executors %d/%d ready", printable(string(run.State)), clock, ready, len(run.Shards))
	if p, err := f.progress.Progress(context.Background(), run.ID); err == nil && !p.Time.IsZero() {
		line += fmt.Sprintf("  arrivals %.0f/s (planned %.0f/s)  requests %.0f/s  p95 %.1f ms  errors %.2f%%  users %d",
			p.StartedRate, p.PlannedRate, p.RPS, p.P95Ms, 100*p.ErrorRate, p.ActiveUsers)
	}
	if f.terminal {
		fmt.Fprintf(f.out, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(f.out, line)
	}
}

// printSummary prints the verdict, the per-request table and the criteria;
// request names and what quotes them go through printable.
func printSummary(w io.Writer, d *report.Document) {
	fmt.Fprintf(w, "run %s: %s", printable(d.RunID), printable(strings.ToUpper(string(d.Verdict))))
	if d.VerdictReason != "" {
		fmt.Fprintf(w, " (%s)", printable(d.VerdictReason))
	}
	fmt.Fprintf(w, "\narrivals: %d planned, %d started, %d dropped\n\n", d.Arrivals.Planned, d.Arrivals.Started, d.Arrivals.Dropped)
	fmt.Fprintf(w, "%-24s %9s %9s %7s %9s %9s %9s %9s\n", "REQUEST", "COUNT", "KO", "RPS", "P50 MS", "P95 MS", "P99 MS", "MAX MS")
	for _, r := range append(d.Requests, d.Total) {
		name := printable(r.Name)
		if name == "" {
			name = "(all)"
		}
		fmt.Fprintf(w, "%-24s %9d %9d %7.1f %9.2f %9.2f %9.2f %9.2f\n", name, r.Count, r.KO, r.RPS, r.P50Ms, r.P95Ms, r.P99Ms, r.MaxMs)
	}
	if len(d.Criteria) > 0 {
		fmt.Fprintln(w, "\ncriteria:")
	}
	for _, c := range d.Criteria {
		mark := "PASS"
		if !c.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s\n", mark, printable(c.Detail))
	}
}
