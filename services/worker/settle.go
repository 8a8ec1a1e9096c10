package worker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// settle records how a shard's current executor ended and hands reporting
// what it left undelivered in its spool (the ingest was down longer than
// its flush window, or its dead-man switch stopped it), so that a
// control-plane outage loses nothing an executor kept. It returns false
// when the spool could not be collected yet and giveUp is not set: the
// caller tries again later. Idempotent: an attempt's exit is recorded
// once, and reporting merges a snapshot once by (shard, attempt, seq).
func (w *Worker) settle(ctx context.Context, run store.Run, sh store.Shard, st backend.Status, giveUp bool) (store.Run, bool, error) {
	if _, ok := sh.ExitOf(sh.Attempt); ok {
		return run, true, nil
	}
	exit := store.Exit{Attempt: sh.Attempt, At: w.now(), Code: st.ExitCode, Detail: st.Detail}
	if st.Phase == backend.Missing {
		exit.Code, exit.Detail = -1, "missing: its location no longer knows the executor"
	}
	n, err := w.collect(ctx, run, sh)
	if err != nil {
		if !giveUp {
			w.logger.Warn("collecting an executor's undelivered snapshots; will retry", "run", run.ID, "shard", sh.Index, "attempt", sh.Attempt, "err", err)
			return run, false, nil
		}
		exit.CollectError = err.Error()
	}
	exit.Collected = n
	run, err = w.update(ctx, run.ID, func(r *store.Run) error {
		s := &r.Shards[sh.Index]
		if _, ok := s.ExitOf(exit.Attempt); !ok {
			s.Exits = append(s.Exits, exit)
		}
		return nil
	})
	if err != nil {
		return run, false, fmt.Errorf("record the exit of shard %d: %w", sh.Index, err)
	}
	return run, true, nil
}

// collect reads an exited executor's spool through the job service and has
// reporting merge it; it returns how many snapshots that was.
func (w *Worker) collect(ctx context.Context, run store.Run, sh store.Shard) (int, error) {
	docs, err := w.jobs.Spooled(ctx, sh.Location, shardID(run, sh))
	if err != nil {
		return 0, fmt.Errorf("read its spool: %w", err)
	}
	if len(docs) == 0 {
		return 0, nil
	}
	snaps := make([]wire.Snapshot, 0, len(docs))
	for i, doc := range docs {
		var snap wire.Snapshot
		if err := json.Unmarshal(doc, &snap); err != nil {
			return 0, fmt.Errorf("spooled snapshot %d of %d does not parse: %w", i+1, len(docs), err)
		}
		snaps = append(snaps, snap)
	}
	if err := w.reporting.Collect(ctx, run.ID, snaps); err != nil {
		return 0, fmt.Errorf("merge its %d spooled snapshots: %w", len(snaps), err)
	}
	w.logger.Info("collected the snapshots an executor left undelivered", "run", run.ID, "shard", sh.Index,
		"attempt", sh.Attempt, "snapshots", len(snaps))
	return len(snaps), nil
}
