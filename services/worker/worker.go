// Package worker drives runs: it claims queued runs with a lease, plans
// their shards, has the job service start the executors, holds the start
// barrier, watches the run (restarting lost executors, stopping on aborts)
// and hands the end to reporting. Every step is persisted before it acts,
// so a worker that takes over a run whose worker died carries on from the
// store without starting duplicate executors. It also serves the executor
// API (spec, ready, command).
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/job"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting"
	"github.com/loadfleet/loadfleet/services/shardtoken"
)

// Config is a worker's configuration, declared once: the server's
// configuration file reads the fields with a yaml key (its worker
// section), the composition root sets the others, and a zero field takes
// its default (see WithDefaults).
type Config struct {
	// ID names this worker in leases; unique per process. Default:
	// HOSTNAME-PID.
	ID string `yaml:"id"`
	// ControlURL is where executors reach this worker's executor API;
	// IngestURL where they send snapshots (the reporting target).
	ControlURL string `yaml:"-"`
	IngestURL  string `yaml:"-"`
	// LeaseTTL is how long a claim lasts without renewal; a dead worker's
	// runs are taken over after it. Default 10 s.
	LeaseTTL time.Duration `yaml:"leaseTTL"`
	// PollInterval paces claiming and watching. Default 250 ms.
	PollInterval time.Duration `yaml:"-"`
	// ReadyTimeout bounds the start barrier. Default 60 s.
	ReadyTimeout time.Duration `yaml:"readyTimeout"`
	// StartDelay is how far ahead of the barrier the start instant is set,
	// so every executor learns it before it passes. Default 2 s.
	StartDelay time.Duration `yaml:"startDelay"`
	// MaxRestarts bounds restarts of lost executors over a run. Default 3.
	MaxRestarts int `yaml:"maxRestarts"`
	// StopTimeout bounds how long stopping waits for executors to exit.
	// Default 4 s.
	StopTimeout time.Duration `yaml:"-"`
	// Overrun is how long past its schedule (and gracefulStop) a run may
	// go before the worker stops it. Default 30 s.
	Overrun time.Duration `yaml:"-"`
	// HeartbeatTimeout is how long a running executor may send no
	// snapshot before the run is recorded as degraded. Default 10 s.
	HeartbeatTimeout time.Duration `yaml:"-"`
	// ControlGrace is the executors' dead-man switch (wire.ShardSpec's):
	// how long they load without hearing from the control plane. Zero is
	// wire.DefaultControlGrace (60 s), negative turns it off; left as is
	// here, since the executors default it.
	ControlGrace time.Duration `yaml:"controlGrace"`
	// PlanDir is where the executors of inline plans (no git source) read
	// the plan's relative files: the plan's directory on the platform
	// `loadfleet run` starts in process; empty on a server, whose inline
	// plans have no files.
	PlanDir string `yaml:"-"`
}

// WithDefaults returns c with every zero (or negative) setting replaced by
// its default: the one place the defaults are declared. New calls it.
func (c Config) WithDefaults() Config {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	orDefault(&c.LeaseTTL, 10*time.Second)
	orDefault(&c.PollInterval, 250*time.Millisecond)
	orDefault(&c.ReadyTimeout, 60*time.Second)
	orDefault(&c.StartDelay, 2*time.Second)
	orDefault(&c.MaxRestarts, 3)
	orDefault(&c.StopTimeout, 4*time.Second)
	orDefault(&c.Overrun, 30*time.Second)
	orDefault(&c.HeartbeatTimeout, 10*time.Second)
	return c
}

// orDefault sets *v to def when it is not positive.
func orDefault[T time.Duration | int](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Sources finds the checkout of a run's git source at its recorded
// commit, fetching it again if the cache lost it; *gitsource.Fetcher.
type Sources interface {
	Fetch(ctx context.Context, src plan.GitSource) (*gitsource.Checkout, error)
}

// sourceTimeout bounds finding a run's checkout when a spec is built.
const sourceTimeout = 2 * time.Minute

// Store is what a worker needs of the metadata store: reading and
// writing the runs it drives, their transitions, and their leases.
// *sqlite.Store and *mongo.Store satisfy it.
type Store interface {
	shardtoken.RunReader
	// UpdateRun, Transition, ClaimRun, RenewLease and ReleaseLease are
	// documented on store.Store.
	UpdateRun(ctx context.Context, r store.Run) (store.Run, error)
	Transition(ctx context.Context, id string, to store.State, reason string, at time.Time) (store.Run, error)
	ClaimRun(ctx context.Context, worker string, ttl time.Duration, now time.Time) (store.Run, error)
	RenewLease(ctx context.Context, id, worker string, ttl time.Duration, now time.Time) error
	ReleaseLease(ctx context.Context, id, worker string) error
}

// Worker claims and drives runs.
type Worker struct {
	cfg       Config
	sources   Sources
	store     Store
	jobs      job.API
	reporting reporting.API
	logger    *slog.Logger
	metrics   *metrics
	now       func() time.Time
}

// New returns a worker. It drives nothing until Run. sources (nil: git
// sources are disabled) finds the checkouts executors read plans' files
// from.
func New(cfg Config, st Store, jobs job.API, rep reporting.API, sources Sources, logger *slog.Logger, reg prometheus.Registerer) *Worker {
	cfg = cfg.WithDefaults()
	return &Worker{cfg: cfg, sources: sources, store: st, jobs: jobs, reporting: rep, logger: logger,
		metrics: newMetrics(reg), now: func() time.Time { return time.Now().UTC() }}
}

// Run claims runs and drives them until ctx ends. Runs it drives when ctx
// ends keep their executors: their leases expire and another worker (or
// this one, restarted) takes them over. It returns only once every drive
// it started has returned, so its caller may then close the store the
// drives release their leases in.
func (w *Worker) Run(ctx context.Context) error {
	var drives sync.WaitGroup
	defer drives.Wait()
	tick := time.NewTicker(w.cfg.PollInterval)
	defer tick.Stop()
	for {
		for {
			run, err := w.store.ClaimRun(ctx, w.cfg.ID, w.cfg.LeaseTTL, w.now())
			if errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
				break
			}
			if err != nil {
				w.logger.Warn("claiming runs", "err", err)
				break
			}
			drives.Go(func() { w.drive(ctx, run) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// drive takes a claimed run through its states until it ends, the lease is
// lost or ctx ends. It returns once its lease renewal has stopped and the
// lease is released.
func (w *Worker) drive(ctx context.Context, run store.Run) {
	log := w.logger.With("run", run.ID)
	log.Info("driving run", "state", run.State, "worker", w.cfg.ID)
	ctx, cancel := context.WithCancelCause(ctx)
	// The renewal gets the ID by value: the loop below reassigns run
	// while renewal reads it, which would be a data race.
	runID := run.ID
	var renewing sync.WaitGroup
	renewing.Go(func() { w.keepLease(ctx, cancel, runID) })
	// Deferred calls run last first: the lease is released, then renewal
	// is stopped and waited for.
	defer renewing.Wait()
	defer cancel(nil)
	defer func() {
		if context.Cause(ctx) == nil || !errors.Is(context.Cause(ctx), store.ErrLeaseLost) {
			_ = w.store.ReleaseLease(context.WithoutCancel(ctx), runID, w.cfg.ID)
		}
	}()
	for !run.State.Terminal() {
		next, err := w.step(ctx, run)
		if ctx.Err() != nil {
			log.Info("stopped driving run", "state", run.State, "cause", context.Cause(ctx))
			return
		}
		if err != nil {
			log.Error("run errored", "state", run.State, "err", err)
			next, err = w.fail(ctx, run, err)
			if err != nil {
				log.Error("cannot record the error", "err", err)
				return
			}
		}
		run = next
	}
	log.Info("run ended", "state", run.State, "reason", run.Reason)
}

// step does what the run's state calls for and returns the run in its
// next state.
func (w *Worker) step(ctx context.Context, run store.Run) (store.Run, error) {
	switch run.State {
	case store.Queued:
		if run.AbortWanted {
			return w.move(ctx, run, store.Aborted, run.Reason)
		}
		return w.move(ctx, run, store.Scheduling, "claimed by worker "+w.cfg.ID)
	case store.Scheduling:
		return w.schedule(ctx, run)
	case store.Starting:
		return w.start(ctx, run)
	case store.Running:
		return w.watch(ctx, run)
	case store.Stopping:
		return w.stop(ctx, run)
	case store.Reporting:
		return w.finish(ctx, run)
	}
	return run, fmt.Errorf("unexpected state %q", run.State)
}

// keepLease renews the lease until ctx ends; losing it cancels the run's
// driving with store.ErrLeaseLost.
func (w *Worker) keepLease(ctx context.Context, cancel context.CancelCauseFunc, runID string) {
	tick := time.NewTicker(w.cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := w.store.RenewLease(ctx, runID, w.cfg.ID, w.cfg.LeaseTTL, w.now())
		if errors.Is(err, store.ErrLeaseLost) {
			if run, rerr := w.store.Run(ctx, runID); rerr == nil && run.State.Terminal() {
				return // the run ended, and its lease with it: the cleanup goes on
			}
			w.logger.Warn("lease lost; another worker drives the run", "run", runID)
			cancel(err)
			return
		}
		if err != nil && ctx.Err() == nil {
			w.logger.Warn("renewing the lease", "run", runID, "err", err)
		}
	}
}

// move transitions the run, recording why.
func (w *Worker) move(ctx context.Context, run store.Run, to store.State, reason string) (store.Run, error) {
	next, err := w.store.Transition(ctx, run.ID, to, reason, w.now())
	if err != nil {
		return run, fmt.Errorf("%s -> %s: %w", run.State, to, err)
	}
	w.metrics.transitions.WithLabelValues(string(to)).Inc()
	return next, nil
}

// fail ends a run that cannot go on: its executors are stopped and the run
// errors with the reason.
func (w *Worker) fail(ctx context.Context, run store.Run, cause error) (store.Run, error) {
	if fresh, err := w.store.Run(ctx, run.ID); err == nil {
		run = fresh
	}
	w.stopAll(ctx, run)
	if run.State.Terminal() {
		return run, nil
	}
	return w.move(ctx, run, store.Errored, cause.Error())
}

// update applies change to the stored run, retrying on concurrent writes
// (executors report ready while the worker writes).
func (w *Worker) update(ctx context.Context, runID string, change func(*store.Run) error) (store.Run, error) {
	return Update(ctx, w.store, runID, change)
}

// RunUpdater reads and conditionally replaces runs: what Update needs.
type RunUpdater interface {
	shardtoken.RunReader
	UpdateRun(ctx context.Context, r store.Run) (store.Run, error)
}

// Update applies change to the stored run with optimistic concurrency,
// re-reading and re-applying it when another writer got in between (the
// store's one retry loop, store.RetryRaced).
func Update(ctx context.Context, st RunUpdater, runID string, change func(*store.Run) error) (store.Run, error) {
	return store.RunWrites{Swap: updateSwapper{st}}.Mutate(ctx, runID, func(r *store.Run) (bool, error) {
		return true, change(r)
	})
}

// updateSwapper swaps runs in through UpdateRun, so a change never touches
// the state, transitions or lease; its conflict is a lost race to retry.
type updateSwapper struct{ RunUpdater }

// SwapRun implements store.RunSwapper.
func (u updateSwapper) SwapRun(ctx context.Context, r store.Run) (store.Run, error) {
	out, err := u.UpdateRun(ctx, r)
	if errors.Is(err, store.ErrConflict) {
		return out, fmt.Errorf("%w: %w", store.ErrRaced, err)
	}
	return out, err
}

// parsePlan reads the run's plan snapshot.
func parsePlan(run store.Run) (*plan.Plan, error) {
	var p plan.Plan
	if err := json.Unmarshal(run.Plan, &p); err != nil {
		return nil, fmt.Errorf("the run's plan snapshot does not parse: %w", err)
	}
	return &p, nil
}

// specFor is the shard spec of a shard's current attempt. Its dir is where
// the executor reads the plan's files (see filesDir).
func (w *Worker) specFor(run store.Run, p *plan.Plan, sh store.Shard) wire.ShardSpec {
	return wire.ShardSpec{RunID: run.ID, Shard: sh.Index, Shards: len(run.Shards), Seed: run.Seed, Plan: *p,
		Dir: w.filesDir(run), StartAt: run.StartAt, ResumeAt: sh.ResumeAt, Attempt: sh.Attempt, Token: sh.Token,
		ControlURL: w.cfg.ControlURL, IngestURL: w.cfg.IngestURL, Location: sh.Location, ControlGrace: w.cfg.ControlGrace}
}

// filesDir is the directory a run's executors read its plan's files from:
// the checkout of its git source at the commit recorded when the run was
// queued (the files the validator checked), or, for an inline plan,
// Config.PlanDir. Empty when there is none: the executor then reads no
// file, and says so if the plan wants one.
func (w *Worker) filesDir(run store.Run) string {
	if run.Source == nil {
		return w.cfg.PlanDir
	}
	if w.sources == nil {
		w.logger.Warn("the run has a git source but git sources are disabled on this worker: its executors get no files", "run", run.ID)
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), sourceTimeout)
	defer cancel()
	co, err := w.sources.Fetch(ctx, plan.GitSource{URL: run.Source.URL, Ref: run.Source.Commit, Path: run.Source.Path})
	if err != nil {
		w.logger.Warn("the checkout of the run's git source is not available: its executors get no files",
			"run", run.ID, "url", run.Source.URL, "commit", run.Source.Commit, "err", err)
		return ""
	}
	return co.Dir
}

func shardID(run store.Run, sh store.Shard) wire.ShardID {
	return wire.ShardID{RunID: run.ID, Shard: sh.Index, Attempt: sh.Attempt}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SetEndpoints sets where executors reach the executor API and the ingest,
// once the process knows its address. Call it before Run.
func (w *Worker) SetEndpoints(controlURL, ingestURL string) {
	w.cfg.ControlURL, w.cfg.IngestURL = controlURL, ingestURL
}
