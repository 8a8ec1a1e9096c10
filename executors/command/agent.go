package command

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// specFetchTimeout bounds how long the agent retries fetching its spec
// while the control plane is not reachable yet.
const specFetchTimeout = 30 * time.Second

type agentFlags struct {
	specFile      string
	specJSON      string // from $LOADFLEET_SHARD_SPEC
	control       string
	token         string
	ingest        string
	out           string
	spoolDir      string
	maxSpoolBytes int64
	flushTimeout  time.Duration
	logLevel      string
}

func parseAgentFlags(args []string, stderr io.Writer) (agentFlags, error) {
	var f agentFlags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadfleet-executor agent [--spec FILE | --control URL --token T] [--ingest URL] [--out FILE]")
		fmt.Fprintf(stderr, "without --spec or --control, the spec (JSON) is read from $%s\n", wire.ShardSpecEnv)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.specFile, "spec", "", "read the shard spec (JSON) from this file")
	fs.StringVar(&f.control, "control", "", "fetch the shard spec from the control plane's executor API at this URL")
	fs.StringVar(&f.token, "token", os.Getenv("LOADFLEET_SHARD_TOKEN"), "the shard's token (default $LOADFLEET_SHARD_TOKEN)")
	fs.StringVar(&f.ingest, "ingest", "", "reporting ingest URL, overriding the spec's ingestUrl")
	fs.StringVar(&f.out, "out", "", "also write every snapshot to this file, as JSON lines")
	fs.StringVar(&f.spoolDir, "spool", filepath.Join(os.TempDir(), "loadfleet-spool"), "directory of snapshots waiting for the ingest")
	fs.Int64Var(&f.maxSpoolBytes, "max-spool-bytes", runtime.DefaultMaxSpoolBytes, "bound of the spool; past it new snapshots are dropped and the run fails")
	fs.DurationVar(&f.flushTimeout, "flush-timeout", 30*time.Second, "how long to deliver pending snapshots at the end")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return f, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case len(pos) > 0:
		return f, fmt.Errorf("%w: unexpected arguments %q", errUsage, pos)
	case f.specFile != "" && f.control != "":
		return f, fmt.Errorf("%w: give only one of --spec FILE and --control URL", errUsage)
	case f.specFile == "" && f.control == "":
		f.specJSON = os.Getenv(wire.ShardSpecEnv)
		if f.specJSON == "" {
			return f, fmt.Errorf("%w: give --spec FILE, --control URL or $%s", errUsage, wire.ShardSpecEnv)
		}
	case f.control != "" && f.token == "":
		return f, fmt.Errorf("%w: --control needs --token", errUsage)
	}
	return f, nil
}

// runAgent runs one shard for the control plane.
func runAgent(ctx context.Context, args []string, _, stderr io.Writer) int {
	f, err := parseAgentFlags(args, stderr)
	logger, code, ok := begin(err, f.logLevel, stderr)
	if !ok {
		return code
	}
	spec, err := loadSpec(ctx, f, logger)
	if err != nil {
		printError(stderr, err)
		return exitError
	}
	if f.ingest != "" {
		spec.IngestURL = f.ingest
	}
	if spec.IngestURL == "" && f.out == "" {
		fmt.Fprintln(stderr, "agent: no ingestUrl in the spec: give --ingest URL or --out FILE")
		return exitUsage
	}
	if err := runShard(ctx, f, spec, logger); err != nil {
		printError(stderr, err)
		return shardExitCode(err)
	}
	return exitOK
}

// shardExitCode tells the control plane why a shard ended badly: the
// dead-man switch, or snapshots left in the spool (both keep the spool on
// disk for the platform to collect), or any other error.
func shardExitCode(err error) int {
	switch {
	case errors.Is(err, runtime.ErrControlLost):
		return wire.ExitControlLost
	case errors.Is(err, runtime.ErrUndelivered):
		return wire.ExitUndelivered
	}
	return exitError
}

func runShard(ctx context.Context, f agentFlags, spec *wire.ShardSpec, logger *slog.Logger) error {
	logger = logger.With("run", spec.RunID, "shard", spec.Shard)
	tool, err := newTool(spec.Plan.EffectiveTool(), logger)
	if err != nil {
		return err
	}
	var sinks runtime.Tee
	if spec.IngestURL != "" {
		httpSink, err := runtime.NewHTTPSink(runtime.HTTPSinkConfig{
			URL: spec.IngestURL, Token: spec.Token, SpoolDir: f.spoolDir, MaxSpoolBytes: f.maxSpoolBytes,
		}, wire.ShardID{RunID: spec.RunID, Shard: spec.Shard, Attempt: spec.Attempt}, logger, nil)
		if err != nil {
			return err
		}
		sinks = append(sinks, httpSink)
	}
	if f.out != "" {
		file, err := runtime.NewFileSink(f.out)
		if err != nil {
			return err
		}
		sinks = append(sinks, file)
	}
	runner, err := runtime.NewRunner(runtime.Config{FlushTimeout: f.flushTimeout}, tool, sinks, logger, nil)
	if err != nil {
		return err
	}
	res, err := runner.Run(ctx, spec)
	logger.Info("shard done", "snapshots", res.Snapshots, "lost", res.Lost, "aborted", res.Aborted, "err", err)
	return err
}

// loadSpec reads the spec file or $LOADFLEET_SHARD_SPEC, or fetches the
// spec from the control plane, retrying while it is not reachable yet.
func loadSpec(ctx context.Context, f agentFlags, logger *slog.Logger) (*wire.ShardSpec, error) {
	switch {
	case f.specFile != "":
		data, err := os.ReadFile(f.specFile)
		if err != nil {
			return nil, fmt.Errorf("read spec: %w", err)
		}
		return decodeSpec(data, f.specFile, f.token)
	case f.specJSON != "":
		return decodeSpec([]byte(f.specJSON), "$"+wire.ShardSpecEnv, f.token)
	}
	client := runtime.NewControlClient(f.control, f.token, nil)
	ctx, cancel := context.WithTimeout(ctx, specFetchTimeout)
	defer cancel()
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		spec, err := client.Spec(ctx)
		if err == nil {
			if spec.ControlURL == "" {
				spec.ControlURL = f.control
			}
			if spec.Token == "" {
				spec.Token = f.token
			}
			return spec, nil
		}
		logger.Warn("fetching the shard spec", "err", err, "retryIn", wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch spec: %w", err)
		case <-time.After(wait):
		}
	}
}

// decodeSpec decodes a spec from source; token fills in a spec without one.
func decodeSpec(data []byte, source, token string) (*wire.ShardSpec, error) {
	var spec wire.ShardSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("spec %s: %w", source, err)
	}
	if token != "" && spec.Token == "" {
		spec.Token = token
	}
	return &spec, nil
}
