package native

import (
	"context"
	"sync"
	"time"
)

// closedRun is the closed model of one shard: user i runs sessions back to
// back while i < target. The target follows the shard's timeline; a user
// above it finishes its current session and leaves (as Gatling's closed
// model does: users are never cut mid-session by a ramp down, only by the
// end of the run's gracefulStop).
type closedRun struct {
	t     *Tool
	hard  context.Context
	start time.Time

	mu      sync.Mutex
	target  int
	running []bool
	// seq numbers the shard's sessions; session numbers are seq·shards +
	// shard, unique across the fleet.
	seq int64
}

// runClosed follows the shard's timeline and returns the planned end (or the
// abort instant).
func (t *Tool) runClosed(ctx, hard context.Context, start time.Time) time.Time {
	r := &closedRun{t: t, hard: hard, start: start}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	timeline := t.closed.ShardTimeline(t.spec.Shard, max(t.spec.Shards, 1))
	for _, lvl := range timeline {
		at := start.Add(lvl.At)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				r.setTarget(0, time.Now())
				return time.Now()
			}
		}
		r.setTarget(lvl.Users, at)
	}
	return start.Add(t.closed.Duration())
}

// setTarget changes the number of users; new users are due at the level's
// instant, so a late controller shows up in their latency and in the lag.
func (r *closedRun) setTarget(users int, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = users
	for len(r.running) < users {
		r.running = append(r.running, false)
	}
	for i := range users {
		if r.running[i] {
			continue
		}
		r.running[i] = true
		r.t.lag.Record(time.Since(at))
		r.t.sessions.Add(1)
		go r.user(i, at)
	}
}

// next is a user's decision to run one more session: its number, or false
// when the user must leave (it then no longer counts as running).
func (r *closedRun) next(i int) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= r.target || r.hard.Err() != nil {
		r.running[i] = false
		return 0, false
	}
	n := r.seq*int64(max(r.t.spec.Shards, 1)) + int64(r.t.spec.Shard)
	r.seq++
	return n, true
}

func (r *closedRun) user(i int, due time.Time) {
	defer r.t.sessions.Done()
	st := r.t.prog.NewState(uint32(i), r.t.spec.Seed)
	for {
		n, ok := r.next(i)
		if !ok {
			return
		}
		r.t.arrivals.Planned(1)
		r.t.active.Add(1)
		end, started := r.t.runSession(r.hard, st, n, due)
		r.t.active.Add(-1)
		if !started {
			// The queue feeder is dry: this user stops for good.
			r.leave(i)
			return
		}
		due = end
	}
}

// leave marks user i as gone for good, so that no level restarts it.
func (r *closedRun) leave(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[i] = true // occupied by a user that will not come back
}
