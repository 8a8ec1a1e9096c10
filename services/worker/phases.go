package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting"
	"github.com/loadfleet/loadfleet/services/shardtoken"
)

// schedule plans the shards and persists them with their tokens: from here
// on, a worker taking over starts exactly these.
func (w *Worker) schedule(ctx context.Context, run store.Run) (store.Run, error) {
	p, err := parsePlan(run)
	if err != nil {
		return run, err
	}
	locations, err := w.jobs.Locations(ctx)
	if err != nil {
		return run, fmt.Errorf("list the job service's locations: %w", err)
	}
	backends := map[string]string{}
	var names []string
	for _, l := range locations {
		backends[l.Name] = l.Backend
		names = append(names, l.Name)
	}
	shards := planShards(p, names[0])
	for i := range shards {
		sh := &shards[i]
		kind, ok := backends[sh.Location]
		if !ok {
			return run, fmt.Errorf("the plan's location %q is not configured on this server (locations: %s)",
				sh.Location, strings.Join(names, ", "))
		}
		sh.Backend = kind
		sh.Token = shardtoken.New(run.ID, sh.Index, 0)
	}
	if len(run.Shards) == 0 {
		run, err = w.update(ctx, run.ID, func(r *store.Run) error {
			if len(r.Shards) == 0 {
				r.Shards = shards
			}
			return nil
		})
		if err != nil {
			return run, fmt.Errorf("store the shards: %w", err)
		}
	}
	return w.move(ctx, run, store.Starting, fmt.Sprintf("%d shard(s) planned", len(run.Shards)))
}

// start starts every shard's executor (idempotent: an executor already
// running is left alone) and holds the barrier until all are ready; then
// it publishes one start instant.
func (w *Worker) start(ctx context.Context, run store.Run) (store.Run, error) {
	if run.StartAt == nil {
		if err := w.startExecutors(ctx, run); err != nil {
			return run, err
		}
		var err error
		if run, err = w.barrier(ctx, run); err != nil || run.State != store.Starting {
			return run, err
		}
		at := w.now().Add(w.cfg.StartDelay)
		run, err = w.update(ctx, run.ID, func(r *store.Run) error {
			if r.StartAt == nil {
				r.StartAt = &at
			}
			return nil
		})
		if err != nil {
			return run, fmt.Errorf("publish the start instant: %w", err)
		}
	}
	return w.move(ctx, run, store.Running, "every shard ready; start at "+run.StartAt.Format(time.RFC3339Nano))
}

func (w *Worker) startExecutors(ctx context.Context, run store.Run) error {
	p, err := parsePlan(run)
	if err != nil {
		return err
	}
	for _, sh := range run.Shards {
		if err := w.jobs.Start(ctx, sh.Location, shardID(run, sh), w.specFor(run, p, sh)); err != nil {
			return err
		}
	}
	return nil
}

// barrier waits until every shard reported ready. It fails with the shards
// missing at the timeout, or at once when an executor exits first.
func (w *Worker) barrier(ctx context.Context, run store.Run) (store.Run, error) {
	deadline := w.now().Add(w.cfg.ReadyTimeout)
	for {
		fresh, err := w.store.Run(ctx, run.ID)
		if err != nil {
			return run, err
		}
		run = fresh
		if run.AbortWanted {
			return w.move(ctx, run, store.Stopping, run.Reason)
		}
		var missing []string
		for _, sh := range run.Shards {
			if sh.Ready {
				continue
			}
			missing = append(missing, fmt.Sprintf("%d (%s)", sh.Index, sh.Location))
			if st, err := w.jobs.Status(ctx, sh.Location, shardID(run, sh)); err == nil && st.Phase == backend.Exited {
				return run, fmt.Errorf("shard %d exited before it was ready (exit code %d): %s",
					sh.Index, st.ExitCode, w.logTail(ctx, run, sh))
			}
		}
		if len(missing) == 0 {
			return run, nil
		}
		if w.now().After(deadline) {
			return run, fmt.Errorf("start barrier: shard(s) %s not ready after %s", strings.Join(missing, ", "), w.cfg.ReadyTimeout)
		}
		if err := sleep(ctx, w.cfg.PollInterval); err != nil {
			return run, err
		}
	}
}

// watch follows a running run until it is done, aborted or fails.
func (w *Worker) watch(ctx context.Context, run store.Run) (store.Run, error) {
	p, err := parsePlan(run)
	if err != nil {
		return run, err
	}
	end := run.StartAt.Add(runLength(p) + p.Load.GracefulStop.D())
	for {
		fresh, err := w.store.Run(ctx, run.ID)
		if err != nil {
			return run, err
		}
		run = fresh
		if run.AbortWanted {
			return w.move(ctx, run, store.Stopping, run.Reason)
		}
		if prog, err := w.reporting.Progress(ctx, run.ID); err != nil {
			w.logger.Warn("reading the run's progress", "run", run.ID, "err", err)
		} else if prog.AbortReason != "" {
			return w.move(ctx, run, store.Stopping, "abortOnFail criterion failed: "+prog.AbortReason)
		} else if run, err = w.checkHeartbeats(ctx, run, prog); err != nil {
			return run, err
		}
		run, err = w.checkShards(ctx, run, end)
		if err != nil {
			return run, err
		}
		if allDone(run) {
			return w.move(ctx, run, store.Stopping, "every shard completed")
		}
		if w.now().After(end.Add(w.cfg.Overrun)) {
			return w.move(ctx, run, store.Stopping, fmt.Sprintf("executors still running %s past the schedule", w.cfg.Overrun))
		}
		if err := sleep(ctx, w.cfg.PollInterval); err != nil {
			return run, err
		}
	}
}

// checkShards asks the backends about every unfinished shard: one that
// exited cleanly is done; one that died before the end of the schedule is
// restarted for the rest of it.
func (w *Worker) checkShards(ctx context.Context, run store.Run, end time.Time) (store.Run, error) {
	for _, sh := range run.Shards {
		if sh.Done {
			continue
		}
		st, err := w.jobs.Status(ctx, sh.Location, shardID(run, sh))
		if err != nil {
			w.logger.Warn("executor status", "run", run.ID, "shard", sh.Index, "err", err)
			continue
		}
		if st.Phase != backend.Exited && st.Phase != backend.Missing {
			continue
		}
		// First what it left undelivered, before a restart or the end of
		// the run removes it.
		var settled bool
		run, settled, err = w.settle(ctx, run, sh, st, w.now().After(end.Add(w.cfg.Overrun)))
		if err != nil {
			return run, err
		}
		if !settled {
			continue
		}
		if st.Phase == backend.Exited && st.ExitCode == 0 || w.now().After(end) {
			run, err = w.markDone(ctx, run, sh.Index)
		} else {
			run, err = w.restart(ctx, run, run.Shards[sh.Index], st)
		}
		if err != nil {
			return run, err
		}
	}
	return run, nil
}

func (w *Worker) markDone(ctx context.Context, run store.Run, shard int) (store.Run, error) {
	return w.update(ctx, run.ID, func(r *store.Run) error {
		r.Shards[shard].Done = true
		closeDegraded(r, shard, w.now())
		return nil
	})
}

// restart starts a lost shard again as a new attempt that takes the
// arrivals from now on, and records the run as degraded until it is ready.
func (w *Worker) restart(ctx context.Context, run store.Run, lost store.Shard, st backend.Status) (store.Run, error) {
	restarts := 0
	for _, sh := range run.Shards {
		restarts += sh.Attempt
	}
	reason := fmt.Sprintf("shard %d (attempt %d) lost: %s exit code %d %s", lost.Index, lost.Attempt, st.Phase, st.ExitCode, st.Detail)
	if restarts >= w.cfg.MaxRestarts {
		return run, fmt.Errorf("%s; the run already restarted %d executor(s), the limit", reason, restarts)
	}
	w.logger.Warn("restarting a lost executor", "run", run.ID, "shard", lost.Index, "attempt", lost.Attempt+1, "reason", reason)
	w.metrics.restarts.Inc()
	now := w.now()
	run, err := w.update(ctx, run.ID, func(r *store.Run) error {
		sh := &r.Shards[lost.Index]
		if sh.Attempt != lost.Attempt { // someone else restarted it already
			return nil
		}
		sh.PastTokens = append(sh.PastTokens, sh.Token)
		sh.Attempt++
		sh.Token = shardtoken.New(r.ID, sh.Index, sh.Attempt)
		sh.Ready = false
		// An executor lost before the start resumes from the start.
		sh.ResumeAt = max(0, now.Sub(*r.StartAt))
		sh.Restarts = append(sh.Restarts, store.Interval{Start: now, Reason: reason})
		r.Degraded = append(r.Degraded, store.Interval{Start: now, Reason: reason})
		return nil
	})
	if err != nil {
		return run, fmt.Errorf("record the restart: %w", err)
	}
	p, err := parsePlan(run)
	if err != nil {
		return run, err
	}
	sh := run.Shards[lost.Index]
	_ = w.jobs.Remove(ctx, sh.Location, wire.ShardID{RunID: run.ID, Shard: sh.Index, Attempt: lost.Attempt})
	return run, w.jobs.Start(ctx, sh.Location, shardID(run, sh), w.specFor(run, p, sh))
}

// closeDegraded ends the open degraded interval of a shard once its new
// attempt is ready (or done).
func closeDegraded(r *store.Run, shard int, at time.Time) {
	sh := &r.Shards[shard]
	if n := len(sh.Restarts); n > 0 && sh.Restarts[n-1].End == nil {
		sh.Restarts[n-1].End = &at
		for i := range r.Degraded {
			d := &r.Degraded[i]
			if d.End == nil && d.Reason == sh.Restarts[n-1].Reason {
				d.End = &at
			}
		}
	}
}

func allDone(run store.Run) bool {
	return !slices.ContainsFunc(run.Shards, func(sh store.Shard) bool { return !sh.Done })
}

// stop stops every executor still running (they flush what they measured)
// and waits for them to exit, at most StopTimeout.
func (w *Worker) stop(ctx context.Context, run store.Run) (store.Run, error) {
	w.stopAll(ctx, run)
	deadline := w.now().Add(w.cfg.StopTimeout)
	for w.now().Before(deadline) && w.anyRunning(ctx, run) {
		if err := sleep(ctx, w.cfg.PollInterval/2); err != nil {
			return run, err
		}
	}
	run, err := w.settleAll(ctx, run)
	if err != nil {
		return run, err
	}
	return w.move(ctx, run, store.Reporting, run.Reason)
}

// settleAll settles every shard whose executor has ended, before the run is
// reported, retrying a collection that fails for a few polls.
func (w *Worker) settleAll(ctx context.Context, run store.Run) (store.Run, error) {
	const tries = 3
	for try := 1; ; try++ {
		pending := false
		for _, sh := range run.Shards {
			st, err := w.jobs.Status(ctx, sh.Location, shardID(run, sh))
			if err != nil || st.Phase == backend.Running || st.Phase == backend.Pending {
				continue // still running: its missing final snapshot will say so
			}
			var settled bool
			if run, settled, err = w.settle(ctx, run, run.Shards[sh.Index], st, try == tries); err != nil {
				return run, err
			}
			pending = pending || !settled
		}
		if !pending || try == tries {
			return run, nil
		}
		if err := sleep(ctx, w.cfg.PollInterval); err != nil {
			return run, err
		}
	}
}

// stopAll asks every unfinished shard's executor to stop, all at once.
func (w *Worker) stopAll(ctx context.Context, run store.Run) {
	var wg sync.WaitGroup
	for _, sh := range run.Shards {
		if sh.Done {
			continue
		}
		wg.Go(func() {
			if err := w.jobs.Stop(ctx, sh.Location, shardID(run, sh)); err != nil && !errors.Is(err, backend.ErrNotFound) {
				w.logger.Warn("stopping an executor", "run", run.ID, "shard", sh.Index, "err", err)
			}
		})
	}
	wg.Wait()
}

func (w *Worker) anyRunning(ctx context.Context, run store.Run) bool {
	for _, sh := range run.Shards {
		st, err := w.jobs.Status(ctx, sh.Location, shardID(run, sh))
		if err == nil && (st.Phase == backend.Running || st.Phase == backend.Pending) {
			return true
		}
	}
	return false
}

// finish has reporting judge the run and ends it with the verdict, then
// removes what the executors left.
func (w *Worker) finish(ctx context.Context, run store.Run) (store.Run, error) {
	verdict, err := w.reporting.Finish(ctx, run.ID)
	if err != nil {
		return run, fmt.Errorf("report: %w", err)
	}
	to := map[reporting.Verdict]store.State{reporting.Passed: store.Passed, reporting.Failed: store.Failed,
		reporting.Aborted: store.Aborted, reporting.Errored: store.Errored}[verdict]
	if to == "" {
		return run, fmt.Errorf("reporting gave an unknown verdict %q", verdict)
	}
	// The stopping reason matters only when the run was cut short.
	reason := "verdict " + string(verdict)
	if run.AbortWanted || strings.HasPrefix(run.Reason, "abortOnFail") {
		reason += ": " + run.Reason
	}
	next, err := w.move(ctx, run, to, reason)
	if err != nil {
		return run, err
	}
	w.cleanUp(context.WithoutCancel(ctx), next)
	return next, nil
}

// cleanUp removes every attempt's executor of an ended run.
func (w *Worker) cleanUp(ctx context.Context, run store.Run) {
	for _, sh := range run.Shards {
		for attempt := 0; attempt <= sh.Attempt; attempt++ {
			id := wire.ShardID{RunID: run.ID, Shard: sh.Index, Attempt: attempt}
			if err := w.jobs.Remove(ctx, sh.Location, id); err != nil && !errors.Is(err, backend.ErrNotFound) {
				w.logger.Warn("removing an executor", "run", run.ID, "shard", sh.Index, "attempt", attempt, "err", err)
			}
		}
	}
}

// logTail is the end of an executor's output, for error messages.
func (w *Worker) logTail(ctx context.Context, run store.Run, sh store.Shard) string {
	logs, err := w.jobs.Logs(ctx, sh.Location, shardID(run, sh))
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer func() { _ = logs.Close() }()
	data, _ := io.ReadAll(io.LimitReader(logs, 1<<20))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-3):], " | ")
}

// checkHeartbeats records a shard whose executor runs but sends no
// snapshot as degraded while it is silent: its numbers are missing from
// those seconds. (A dead executor is the backend's to report, and is
// restarted; a silent one may only be slow to flush.)
func (w *Worker) checkHeartbeats(ctx context.Context, run store.Run, prog reporting.Progress) (store.Run, error) {
	now := w.now()
	changes := silenceChanges(run, prog, now, w.cfg.HeartbeatTimeout)
	if len(changes) == 0 {
		return run, nil
	}
	return w.update(ctx, run.ID, func(r *store.Run) error {
		for shard, silent := range changes {
			reason := silentReason(shard)
			open := slices.IndexFunc(r.Degraded, func(d store.Interval) bool { return d.End == nil && d.Reason == reason })
			switch {
			case silent && open < 0:
				w.logger.Warn("an executor is silent", "run", r.ID, "shard", shard)
				r.Degraded = append(r.Degraded, store.Interval{Start: now, Reason: reason})
			case !silent && open >= 0:
				r.Degraded[open].End = &now
			}
		}
		return nil
	})
}

func silentReason(shard int) string {
	return fmt.Sprintf("shard %d sent no snapshot (heartbeat) while its executor ran", shard)
}

// silenceChanges says, per shard, whether it turned silent (true) or spoke
// again (false): a running shard is silent when its latest snapshot (or the
// start, before the first) is older than timeout. Pure, for table tests.
func silenceChanges(run store.Run, prog reporting.Progress, now time.Time, timeout time.Duration) map[int]bool {
	if run.StartAt == nil || timeout <= 0 || now.Before(run.StartAt.Add(timeout)) {
		return nil
	}
	changes := map[int]bool{}
	for _, sh := range run.Shards {
		last := *run.StartAt
		for _, p := range prog.Shards {
			if p.Shard == sh.Index && p.Attempt == sh.Attempt && p.LastSeen.After(last) {
				last = p.LastSeen
			}
		}
		silent := !sh.Done && sh.Ready && now.Sub(last) > timeout
		open := slices.ContainsFunc(run.Degraded, func(d store.Interval) bool {
			return d.End == nil && d.Reason == silentReason(sh.Index)
		})
		if silent != open {
			changes[sh.Index] = silent
		}
	}
	return changes
}
