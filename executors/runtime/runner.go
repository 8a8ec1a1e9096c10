package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Runtime errors.
var (
	// ErrAborted: the control plane or a signal stopped the shard early.
	ErrAborted = errors.New("shard aborted")
	// ErrSnapshotsLost: some snapshots could not be handed to the sink.
	ErrSnapshotsLost = errors.New("snapshots lost")
	// ErrControlLost: the dead-man switch stopped the shard, the control
	// plane having been silent for the spec's ControlGrace.
	ErrControlLost = errors.New("control plane lost")
)

// Config tunes the runtime. Zero fields take the defaults.
type Config struct {
	// Interval between snapshots (1 s).
	Interval time.Duration
	// StartDelay is added to "now" when neither the spec nor the control
	// plane gives a start instant, so the tool starts after setup settles.
	StartDelay time.Duration
	// PollInterval is how often the control plane is polled for the start
	// instant, and for an abort while running (250 ms).
	PollInterval time.Duration
	// ClockSamples is the number of round trips used to estimate the clock
	// offset (5).
	ClockSamples int
	// FlushTimeout bounds how long the sink may take to deliver what is
	// pending once the tool returned (30 s).
	FlushTimeout time.Duration
	// ReadyTimeout bounds the retries of the ready report while the control
	// plane is unreachable (60 s).
	ReadyTimeout time.Duration
	// HTTPClient talks to the control plane (a 10 s timeout client).
	HTTPClient *http.Client
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.ClockSamples <= 0 {
		c.ClockSamples = 5
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = time.Minute
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = 30 * time.Second
	}
}

// Result is what a shard run did.
type Result struct {
	// Start is the start instant, executor clock.
	Start time.Time
	// ClockOffset is the control plane's clock minus ours (0 without one).
	ClockOffset time.Duration
	// Snapshots is the number of snapshots this process emitted; Lost of
	// them could not be handed to the sink.
	Snapshots uint64
	Lost      int64
	// Aborted is set when a signal or the control plane stopped the shard.
	Aborted bool
	// ControlLost is set when the dead-man switch stopped it (Aborted too).
	ControlLost bool
}

// Runner drives one shard: prepare the tool, report ready, wait for the
// start instant, run the tool, and emit a snapshot every Interval.
type Runner struct {
	cfg     Config
	tool    Tool
	sink    Sink
	logger  *slog.Logger
	metrics *runnerMetrics
}

type runnerMetrics struct {
	snapshots prometheus.Counter
	lost      prometheus.Counter
}

// NewRunner returns a Runner of tool that sends snapshots to sink. reg may
// be nil.
func NewRunner(cfg Config, tool Tool, sink Sink, logger *slog.Logger, reg prometheus.Registerer) (*Runner, error) {
	cfg.defaults()
	m := &runnerMetrics{
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_executor_snapshots_total", Help: "Snapshots emitted.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_executor_snapshots_lost_total", Help: "Snapshots the sink refused.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.snapshots, m.lost} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("runtime metrics: %w", err)
			}
		}
	}
	return &Runner{cfg: cfg, tool: tool, sink: sink, logger: logger, metrics: m}, nil
}

// Run runs the shard. Cancelling ctx (SIGTERM) is an abort: the tool gets
// its gracefulStop, then everything measured is flushed. Run closes the sink.
// It returns ErrAborted after an abort (with ErrControlLost when the
// dead-man switch was the cause), ErrSnapshotsLost when the sink refused
// snapshots, and the tool's or the sink's errors.
func (r *Runner) Run(ctx context.Context, spec *wire.ShardSpec) (Result, error) {
	// The sink outlives ctx: after an abort, what was measured is flushed.
	flushCtx := context.WithoutCancel(ctx)
	res, runErr := r.run(ctx, spec)
	closeCtx, cancel := context.WithTimeout(flushCtx, r.cfg.FlushTimeout)
	defer cancel()
	closeErr := r.sink.Close(closeCtx)
	if res.Lost > 0 {
		runErr = errors.Join(runErr, fmt.Errorf("%w: %d of %d", ErrSnapshotsLost, res.Lost, res.Snapshots))
	}
	return res, errors.Join(runErr, closeErr)
}

func (r *Runner) run(ctx context.Context, spec *wire.ShardSpec) (Result, error) {
	var res Result
	log := r.logger.With("run", spec.RunID, "shard", spec.Shard, "attempt", spec.Attempt)
	em := &emitter{spec: spec, tool: r.tool, sink: r.sink, health: newProcessHealth(), logger: log, res: &res, metrics: r.metrics}
	if s, ok := r.sink.(interface{ LastSeq() uint64 }); ok {
		em.seq = s.LastSeq() // continue after a previous executor of this attempt
	}
	if err := r.tool.Prepare(ctx, spec); err != nil {
		return res, fmt.Errorf("prepare %s: %w", r.tool.Name(), err)
	}
	if c, ok := r.tool.(io.Closer); ok {
		defer func() { _ = c.Close() }()
	}
	warmEncoding(spec)

	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	var control *ControlClient
	if spec.ControlURL != "" {
		control = NewControlClient(spec.ControlURL, spec.Token, r.cfg.HTTPClient)
	}
	var heard *deadMan
	if control != nil {
		heard = newDeadMan(spec.ControlGrace)
	}
	start, offset, err := r.startInstant(runCtx, spec, control, heard, log)
	res.Start, res.ClockOffset = start, offset
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrAborted) {
			return res, err
		}
		// Aborted before the start: still close the shard's stream.
		return r.aborted(ctx, em, &res, start, err)
	}
	if control != nil {
		go r.watchAbort(runCtx, control, heard, abort, log)
	}
	if err := sleepUntil(runCtx, start); err != nil {
		return r.aborted(ctx, em, &res, time.Now(), context.Cause(runCtx))
	}
	log.Info("shard started", "tool", r.tool.Name(), "start", start, "clockOffset", offset)
	toolErr := r.runTool(runCtx, em, start)
	res.Aborted = runCtx.Err() != nil
	res.ControlLost = errors.Is(context.Cause(runCtx), ErrControlLost)
	if toolErr != nil {
		return res, fmt.Errorf("run %s: %w", r.tool.Name(), toolErr)
	}
	if res.Aborted {
		log.Info("shard aborted", "cause", context.Cause(runCtx))
		if res.ControlLost {
			return res, fmt.Errorf("%w: %w", ErrAborted, context.Cause(runCtx))
		}
		return res, ErrAborted
	}
	return res, nil
}

// aborted closes the stream of a shard stopped before its start, with the
// dead-man switch's reason when it was the cause.
func (r *Runner) aborted(ctx context.Context, em *emitter, res *Result, end time.Time, cause error) (Result, error) {
	res.Aborted = true
	res.ControlLost = errors.Is(cause, ErrControlLost)
	if res.ControlLost {
		em.stopReason = wire.StopDeadMan
		em.emit(flushCtxOf(ctx), end, true)
		return *res, fmt.Errorf("%w: %w", ErrAborted, cause)
	}
	em.emit(flushCtxOf(ctx), end, true)
	return *res, ErrAborted
}

// warmEncoding makes the first snapshot cost what the others do: the
// histogram codec and the JSON encoder of snapshots are readied before
// the start, not during the run's first second.
func warmEncoding(spec *wire.ShardSpec) {
	stats.WarmCodec()
	_, _ = json.Marshal(wire.Snapshot{RunID: spec.RunID, Requests: []wire.RequestStats{{Name: "warm"}}})
}

func flushCtxOf(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// runTool runs the tool and collects a snapshot every Interval, paced from
// the start instant so that a late tick does not shift the later ones; once
// the tool returned, the final snapshot takes whatever is left.
func (r *Runner) runTool(ctx context.Context, em *emitter, start time.Time) error {
	em.health = newProcessHealth() // CPU from the start, not from Prepare
	done := make(chan error, 1)
	go func() { done <- r.tool.Run(ctx, start) }()
	em.last = start
	flush := flushCtxOf(ctx)
	for k := int64(1); ; {
		tick := time.NewTimer(time.Until(start.Add(time.Duration(k) * r.cfg.Interval)))
		select {
		case err := <-done:
			tick.Stop()
			if errors.Is(context.Cause(ctx), ErrControlLost) {
				em.stopReason = wire.StopDeadMan
			}
			em.emit(flush, time.Now(), true)
			return err
		case <-tick.C:
			now := time.Now()
			em.emit(flush, now, false)
			// After a stall, skip the ticks already past rather than
			// emitting a burst of empty snapshots.
			k = max(k+1, int64(now.Sub(start)/r.cfg.Interval)+1)
		}
	}
}

// startInstant returns the start instant in the executor's clock, after
// reporting ready to the control plane when there is one.
func (r *Runner) startInstant(ctx context.Context, spec *wire.ShardSpec, control *ControlClient, heard *deadMan, log *slog.Logger) (time.Time, time.Duration, error) {
	if control == nil {
		if spec.StartAt != nil {
			return *spec.StartAt, 0, nil
		}
		return time.Now().Add(r.cfg.StartDelay), 0, nil
	}
	offset, cmd, err := r.handshake(ctx, spec, control, log)
	if err != nil {
		return time.Now(), offset, err
	}
	log.Info("reported ready", "clockOffset", offset)
	heard.heard(time.Now())
	startAt := spec.StartAt
	for startAt == nil {
		if cmd.Abort {
			return time.Now(), offset, ErrAborted
		}
		if cmd.StartAt != nil {
			startAt = cmd.StartAt
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(r.cfg.PollInterval)); err != nil {
			return time.Now(), offset, err
		}
		if cmd, _, err = control.Command(ctx); err != nil {
			if ctx.Err() != nil {
				return time.Now(), offset, ctx.Err()
			}
			if silent, lost := heard.lost(time.Now()); lost {
				log.Error("DEAD-MAN SWITCH: no answer from the control plane while waiting for the start; not starting", "silentFor", silent.Round(time.Second))
				return time.Now(), offset, fmt.Errorf("%w: no answer for %s", ErrControlLost, silent.Round(time.Second))
			}
			log.Warn("polling for the start instant", "err", err)
			cmd = wire.Command{}
			continue
		}
		heard.heard(time.Now())
	}
	// Control plane clock to ours: ours = theirs - offset.
	return startAt.Add(-offset), offset, nil
}

// handshake estimates the clock offset and reports ready, retrying with
// backoff for ReadyTimeout while the control plane is unreachable.
func (r *Runner) handshake(ctx context.Context, spec *wire.ShardSpec, control *ControlClient, log *slog.Logger) (time.Duration, wire.Command, error) {
	deadline := time.Now().Add(r.cfg.ReadyTimeout)
	for failures := 1; ; failures++ {
		offset, cmd, err := r.measureOffset(ctx, control)
		if err == nil {
			ready := wire.Ready{RunID: spec.RunID, Shard: spec.Shard, ClockOffset: offset, Tool: r.tool.Name(), ToolVersion: r.tool.Version()}
			if err = control.Ready(ctx, ready); err == nil {
				return offset, cmd, nil
			}
			err = fmt.Errorf("report ready: %w", err)
		}
		if ctx.Err() != nil {
			return 0, cmd, ctx.Err()
		}
		wait := backoff(failures, r.cfg.PollInterval, 5*time.Second)
		if time.Now().Add(wait).After(deadline) {
			return 0, cmd, err
		}
		log.Warn("control plane unreachable; retrying", "err", err, "retryIn", wait.Round(time.Millisecond))
		if err := sleepUntil(ctx, time.Now().Add(wait)); err != nil {
			return 0, cmd, err
		}
	}
}

// measureOffset times a few command round trips and keeps the fastest.
func (r *Runner) measureOffset(ctx context.Context, control *ControlClient) (time.Duration, wire.Command, error) {
	var samples []ClockSample
	var last wire.Command
	var lastErr error
	for range r.cfg.ClockSamples {
		cmd, sample, err := control.Command(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, last, ctx.Err()
			}
			lastErr = err
			continue
		}
		samples, last = append(samples, sample), cmd
	}
	offset, _, ok := EstimateOffset(samples)
	if !ok {
		return 0, last, fmt.Errorf("estimate clock offset: %w", lastErr)
	}
	return offset, last, nil
}

// watchAbort polls the control plane while the shard runs and cancels it
// on an abort. A polling error is logged and the load goes on (a brief
// outage must not stop a run), but once the control plane has been silent
// for the dead-man grace the shard stops: nobody could stop it any more.
func (r *Runner) watchAbort(ctx context.Context, control *ControlClient, heard *deadMan, abort context.CancelCauseFunc, log *slog.Logger) {
	for sleepUntil(ctx, time.Now().Add(r.cfg.PollInterval)) == nil {
		cmd, _, err := control.Command(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if silent, lost := heard.lost(time.Now()); lost {
				log.Error("DEAD-MAN SWITCH: no answer from the control plane; stopping the load, keeping what was measured",
					"silentFor", silent.Round(time.Second), "err", err)
				abort(fmt.Errorf("%w: no answer for %s", ErrControlLost, silent.Round(time.Second)))
				return
			}
			log.Warn("polling for an abort", "err", err)
		case err == nil && cmd.Abort:
			log.Info("abort requested by the control plane")
			abort(fmt.Errorf("control plane: %w", ErrAborted))
			return
		case err == nil:
			heard.heard(time.Now())
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emitter turns the tool's intervals into numbered snapshots. It is used
// from one goroutine at a time.
type emitter struct {
	spec    *wire.ShardSpec
	tool    Tool
	sink    Sink
	health  *processHealth
	logger  *slog.Logger
	res     *Result
	metrics *runnerMetrics
	seq     uint64
	// stopReason goes on the final snapshot (wire.Snapshot.StopReason).
	stopReason string
	// last is the end of the previous snapshot; zero until the tool runs,
	// as Collect may only be called once Run was.
	last time.Time
}

// stepPause separates the emitter's steps (collect, sample the process,
// send). The emitter shares its CPU with the tool, and Go lets a goroutine
// run for 10 ms before it preempts it; on one CPU a snapshot taken in one
// go (milliseconds on a busy injector) held up the network poller and the
// pacer behind it, arrivals started late, and requests waited on
// responses nobody read. Sleeping lets both in between the steps; a
// snapshot is due every second, so a few milliseconds later costs
// nothing.
const stepPause = 200 * time.Microsecond

func (e *emitter) emit(ctx context.Context, end time.Time, final bool) {
	var iv Interval
	start := end
	if !e.last.IsZero() {
		iv, start = e.tool.Collect(), e.last
		time.Sleep(stepPause)
	}
	e.seq++
	snap := wire.Snapshot{
		RunID: e.spec.RunID, Shard: e.spec.Shard, Attempt: e.spec.Attempt, Seq: e.seq,
		Start: start, End: end, Final: final,
		Requests: iv.Requests, Arrivals: iv.Arrivals, Health: iv.Health,
	}
	if snap.Requests == nil {
		snap.Requests = []wire.RequestStats{}
	}
	if final {
		snap.StopReason = e.stopReason
	}
	snap.Health.CPUPercent, snap.Health.RSSBytes, snap.Health.Goroutines = e.health.sample()
	time.Sleep(stepPause)
	e.last = end
	e.res.Snapshots++
	e.metrics.snapshots.Inc()
	if err := e.sink.Send(ctx, snap); err != nil {
		e.res.Lost++
		e.metrics.lost.Inc()
		if e.res.Lost == 1 {
			e.logger.Error("SNAPSHOT LOST: the sink refused it; the run will end with an error", "seq", snap.Seq, "err", err)
		} else {
			e.logger.Debug("snapshot lost", "seq", snap.Seq, "err", err)
		}
	}
}
