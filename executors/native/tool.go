// Package native is loadfleet's own load injector: it runs one shard of a
// plan, open model (arrivals at their intended instants) or closed model
// (users looping their scenario), over the HTTP client of protocol/http,
// and measures every request into stats.
package native

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loadfleet/loadfleet/executors/native/protocol/http"
	"github.com/loadfleet/loadfleet/executors/native/session"
	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Version is the native injector's version, recorded with runs.
const Version = "0.1.0"

// Sentinels of the tool.
var (
	// ErrNotPrepared means Run was called before a successful Prepare.
	ErrNotPrepared = errors.New("native: not prepared")
	// ErrNoScenario means the plan has no scenario to run.
	ErrNoScenario = errors.New("native: plan has no scenario")
)

// Tool is the native injector as a runtime.Tool.
type Tool struct {
	logger *slog.Logger
	opts   options

	spec   *wire.ShardSpec
	prog   *session.Program
	client *http.Client
	picker *picker
	open   *schedule.Open
	closed *schedule.Closed

	rec       *stats.Recorder
	arrivals  stats.Arrivals
	lag       *stats.Lag
	active    atomic.Int64  // sessions in flight
	hintSeq   atomic.Uint32 // stats stripe hints of session states
	sessions  sync.WaitGroup
	workers   *workerStack // the open model's idle workers
	run       atomic.Pointer[openRun]
	exhausted atomic.Bool // a queue feeder ran dry (logged once)
}

type options struct {
	maxConnsPerHost int
	tlsConfig       *tls.Config
}

// Option tunes the Tool beyond the plan.
type Option func(*options)

// WithMaxConnsPerHost caps HTTP/1.1 connections per target host; requests
// past it wait for a connection, which their latency (from the intended
// start) shows and their service time does not. Unlimited by default.
func WithMaxConnsPerHost(n int) Option { return func(o *options) { o.maxConnsPerHost = n } }

// WithTLSConfig sets the base TLS configuration (its roots, say); the
// plan's TLS options apply on top of it.
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.tlsConfig = cfg } }

// New returns a Tool logging to logger.
func New(logger *slog.Logger, opts ...Option) *Tool {
	t := &Tool{logger: logger.With("tool", "native"),
		rec: stats.New(stats.WithPause(collectPause)), lag: stats.NewLag(collectPause)}
	for _, o := range opts {
		o(&t.opts)
	}
	return t
}

// Name is "native".
func (t *Tool) Name() string { return "native" }

// Version is the injector's version.
func (t *Tool) Version() string { return Version }

// Prepare compiles the plan (templates, checks, feeders read from spec.Dir,
// confined to it) and builds the shard's schedule.
func (t *Tool) Prepare(_ context.Context, spec *wire.ShardSpec) error {
	p := &spec.Plan
	if len(p.Scenarios) == 0 {
		return ErrNoScenario
	}
	files, closeFiles, err := openPlanFiles(spec.Dir)
	if err != nil {
		return err
	}
	// Feeders are read while compiling; nothing is opened afterwards.
	defer func() { _ = closeFiles() }()
	shards := max(spec.Shards, 1)
	tlsOpts := http.Options{
		HTTP2:           p.Target.HTTPVersion == "2",
		MaxConnsPerHost: t.opts.maxConnsPerHost,
		UserAgent:       "loadfleet-native/" + Version,
	}
	if p.Target.TLS != nil {
		tlsOpts.InsecureSkipVerify = p.Target.TLS.InsecureSkipVerify
		tlsOpts.ServerName = p.Target.TLS.ServerName
	}
	tlsOpts.TLSConfig = t.opts.tlsConfig
	client := http.NewClient(tlsOpts)
	prog, err := session.Compile(p, session.Config{
		Files: files, Shard: spec.Shard, Shards: shards,
		Recorder: t.rec, Client: client, Logger: t.logger,
	})
	if err != nil {
		return fmt.Errorf("native: prepare: %w", err)
	}
	t.spec, t.prog, t.client, t.picker = spec, prog, client, newPicker(prog.Scenarios)
	if len(p.Load.Closed) > 0 {
		t.closed = schedule.NewClosed(schedule.ExpandClosed(p.Load), p.Load.MaxDuration.D())
	} else {
		t.open = schedule.NewOpen(schedule.ExpandOpen(p.Load), p.Load.MaxDuration.D(), spec.Seed)
		rate := schedule.PeakRate(t.open.Steps()) / float64(shards)
		t.warm(p, rate)
		t.workers = &workerStack{}
		for range preparedWorkers(rate, p.Load.MaxConcurrentSessions) {
			t.startWorker(nil)
		}
	}
	return nil
}

// Close releases what Prepare holds when Run never came (an abort before
// the start): idle workers and warmed connections. It is idempotent.
func (t *Tool) Close() error {
	if t.workers != nil {
		t.workers.close()
	}
	if t.client != nil {
		t.client.CloseAll()
	}
	return nil
}

// warmService is the service time warm-up connections are counted for:
// an open model at rate r keeps about r × service requests in flight.
const warmService = time.Millisecond

// maxWarmConns caps the connections opened before the start; a slower
// target gets the rest on demand, as the pool sees its service time.
const maxWarmConns = 256

// warm opens the open model's first connections to the target before the
// start instant, enough for the shard's peak rate (arrivals a second) at
// warmService. A target that cannot be reached now is no error: its
// requests will say so.
func (t *Tool) warm(p *plan.Plan, rate float64) {
	n := min(int(math.Ceil(rate*warmService.Seconds())), maxWarmConns)
	if limit := p.Load.MaxConcurrentSessions; limit > 0 {
		n = min(n, limit)
	}
	opened, err := t.client.Warm(p.Target.BaseURL, n)
	if err != nil {
		t.logger.Warn("warming connections to the target", "url", p.Target.BaseURL, "opened", opened, "wanted", n, "err", err)
		return
	}
	t.logger.Debug("warmed connections to the target", "url", p.Target.BaseURL, "opened", opened)
}

// Run drives the shard from start (executor clock) until its schedule is
// done and sessions in flight had gracefulStop; cancelling ctx aborts: no
// new session starts, and those in flight get gracefulStop from then.
func (t *Tool) Run(ctx context.Context, start time.Time) error {
	if t.prog == nil {
		return ErrNotPrepared
	}
	hard, cut := context.WithCancel(context.Background())
	defer cut()
	var end time.Time
	if t.open != nil {
		end = t.runOpen(ctx, hard, start)
	} else {
		end = t.runClosed(ctx, hard, start)
	}
	t.stop(end, cut)
	return nil
}

// stop gives sessions in flight gracefulStop from end (or from now, if
// later), then cuts them: the hard context ends their pauses and closing
// every connection fails their requests at once.
func (t *Tool) stop(end time.Time, cut context.CancelFunc) {
	if now := time.Now(); now.After(end) {
		end = now
	}
	done := make(chan struct{})
	go func() {
		t.sessions.Wait()
		close(done)
	}()
	grace := time.NewTimer(time.Until(end.Add(t.gracefulStop())))
	defer grace.Stop()
	select {
	case <-done:
		return
	case <-grace.C:
	}
	cut()
	t.client.CloseAll()
	<-done
}

// DefaultGracefulStop applies when the plan sets none (k6's default): a
// plan cannot ask for none at all, since an open model ending with
// atOnceUsers would otherwise cut every session it just started.
const DefaultGracefulStop = 30 * time.Second

func (t *Tool) gracefulStop() time.Duration {
	if g := t.spec.Plan.Load.GracefulStop.D(); g > 0 {
		return g
	}
	return DefaultGracefulStop
}

// runSession runs session n on the calling goroutine and accounts for it:
// started, or dropped when its queue feeder is exhausted (false); then
// completed or interrupted. It returns when the next session of the same
// user is due.
func (t *Tool) runSession(hard context.Context, st *session.State, n int64, intended time.Time) (time.Time, bool) {
	sc := t.picker.pick(n)
	if !t.prog.Begin(st, sc) {
		t.arrivals.Dropped(1)
		if t.exhausted.CompareAndSwap(false, true) {
			t.logger.Warn("queue feeder exhausted: sessions of its scenario are dropped from now on", "scenario", sc.Name)
		}
		return intended, false
	}
	t.arrivals.Started(1)
	end, out := t.prog.Run(hard, st, sc, n, intended)
	if out == session.Interrupted {
		t.arrivals.Interrupted(1)
	} else {
		t.arrivals.Completed(1)
	}
	return end, true
}

// collectPause lets the sessions and the pacer run between the passes of a
// collection over the histograms (see stats.WithPause).
func collectPause() { time.Sleep(50 * time.Microsecond) }

// Collect returns what was measured since the previous call.
func (t *Tool) Collect() runtime.Interval {
	reqs, err := t.rec.Collect()
	if err != nil {
		t.logger.Error("collect request stats", "err", err)
	}
	iv := runtime.Interval{Requests: reqs, Arrivals: t.arrivals.Collect()}
	lagP99, lag, err := t.lag.Collect()
	if err != nil {
		t.logger.Error("collect schedule lag", "err", err)
	}
	iv.Health = wire.Health{
		ActiveSessions:   t.active.Load(),
		ScheduleLagP99Ms: lagP99,
		ScheduleLag:      lag,
		DroppedArrivals:  t.arrivals.DroppedTotal(),
	}
	if t.client != nil {
		iv.Health.OpenConnections = t.client.OpenConnections()
	}
	return iv
}

var _ runtime.Tool = (*Tool)(nil)
