package native

import (
	"context"
	"os"
	"runtime"
	"time"
)

// minOpenModelProcs is the fewest Go schedulers the open model runs with.
// Go polls the network only when a scheduler runs out of goroutines; with
// one scheduler on a busy injector the arrivals being started keep it
// busy, responses wait unread, sessions pile up and the injector spirals
// into collapse (on one CPU: lag p99 over 400 ms at 30,000 arrivals/s with
// one scheduler, 1 ms with four). A closed loop is the opposite case (every
// user waits on the network) and runs fastest with one per CPU, so this is
// applied to the open model only.
const minOpenModelProcs = 4

// openModelProcs is GOMAXPROCS for the open model, unless the user chose.
func openModelProcs() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	return max(runtime.GOMAXPROCS(0), minOpenModelProcs)
}

// runOpen starts the shard's arrivals at their intended instants and
// returns the planned end of the run (or the abort instant).
//
// Pacing is from start: each arrival's due instant is start + At(n), so a
// late wake-up never shifts later arrivals. The loop sleeps until the next
// due instant, then starts every arrival already due, each with its own
// intended instant; at rates above what one timer per arrival can pace,
// this batches naturally. Sessions run on a pool of workers, each with its
// own State (buffers, connections' exchange, grown stack) reused session
// after session: an arrival goes to an idle worker, or to a new one when
// all are busy, so it never waits. An arrival past maxConcurrentSessions is
// counted as dropped at its instant, never delayed.
func (t *Tool) runOpen(ctx, hard context.Context, start time.Time) time.Time {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(openModelProcs()))
	cur := t.open.Shard(t.spec.Shard, max(t.spec.Shards, 1))
	if t.spec.ResumeAt > 0 {
		// A restarted executor does not replay what its predecessor was due
		// to start; the runtime accounts for that gap.
		cur.SkipBefore(t.spec.ResumeAt)
	}
	limit := int64(t.spec.Plan.Load.MaxConcurrentSessions)
	// Unbuffered: a send succeeds only when a worker is idle and waiting.
	work := make(chan arrival)
	defer close(work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n, at, ok := cur.Next()
		if !ok {
			return start.Add(t.open.Duration())
		}
		due := start.Add(at)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return time.Now()
			}
		} else if ctx.Err() != nil {
			return time.Now()
		}
		t.arrivals.Planned(1)
		// Only this goroutine adds to active, so the check is exact.
		if limit > 0 && t.active.Load() >= limit {
			t.arrivals.Dropped(1)
			continue
		}
		t.lag.Record(time.Since(due))
		t.active.Add(1)
		t.sessions.Add(1)
		a := arrival{n: n, due: due}
		select {
		case work <- a:
		default:
			go t.worker(hard, a, work)
		}
	}
}

type arrival struct {
	n   int64
	due time.Time
}

// worker runs its first arrival, then every arrival handed to it, until
// the scheduler closes work.
func (t *Tool) worker(hard context.Context, first arrival, work <-chan arrival) {
	st := t.prog.NewState(t.hintSeq.Add(1), t.spec.Seed)
	for a, ok := first, true; ok; a, ok = <-work {
		t.runSession(hard, st, a.n, a.due)
		t.active.Add(-1)
		t.sessions.Done()
	}
}
