package native

import (
	"context"
	"os"
	"runtime"
	"sync"
	"time"
)

// pacingQuantum is the shortest pause between two wake-ups of the
// scheduler. Arrivals due closer together start in one batch at the end of
// it, each late by less than the quantum, and that lateness is measured
// (latency counts from the intended instant). One wake-up per arrival
// costs more than the requests themselves at tens of thousands a second:
// on one CPU at 40,000 arrivals/s, 23 us of CPU per request against 13 us
// with batches, because every wake-up also woke a thread and the target.
const pacingQuantum = 200 * time.Microsecond

// minOpenModelProcs is the fewest Go schedulers the open model runs with.
// Go polls the network only when a scheduler runs out of goroutines; with
// one scheduler on a busy injector, a burst of arrivals keeps it busy while
// responses wait unread and sessions pile up. A second scheduler polls
// while the first runs, and lets the pacer run while another goroutine
// computes (a snapshot's encoding). More than two cost more than they
// give on one CPU: every hand-off between schedulers wakes an OS thread
// (at 61,000 arrivals/s on one CPU, four schedulers gave lag p99 of 12 to
// 20 ms, two 3 to 4 ms, before batching). A closed loop, where every user
// waits on the network, runs fastest with one per CPU, so this is applied
// to the open model only.
const minOpenModelProcs = 2

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
// due instant (at least pacingQuantum after its last wake-up), then starts
// every arrival already due, each with its own intended instant. Sessions
// run on a pool of workers, each with its own State (buffers, connections'
// exchange, grown stack) reused session after session: an arrival goes to
// an idle worker, or to a new one when all are busy, so it never waits. An
// arrival past maxConcurrentSessions is counted as dropped at its instant,
// never delayed.
func (t *Tool) runOpen(ctx, hard context.Context, start time.Time) time.Time {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(openModelProcs()))
	cur := t.open.Shard(t.spec.Shard, max(t.spec.Shards, 1))
	if t.spec.ResumeAt > 0 {
		// A restarted executor does not replay what its predecessor was due
		// to start; the runtime accounts for that gap.
		cur.SkipBefore(t.spec.ResumeAt)
	}
	limit := int64(t.spec.Plan.Load.MaxConcurrentSessions)
	workers := &workerStack{}
	defer workers.close()
	pace := newPacer(ctx)
	defer pace.close()
	for {
		n, at, ok := cur.Next()
		if !ok {
			return start.Add(t.open.Duration())
		}
		due := start.Add(at)
		if !pace.await(due) {
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
		if w := workers.pop(); w != nil {
			w <- a
		} else {
			go t.worker(hard, a, workers)
		}
	}
}

// pacer waits for due instants, waking at most once per pacingQuantum.
type pacer struct {
	ctx      context.Context
	sleep    sleeper
	lastWake time.Time
}

func newPacer(ctx context.Context) *pacer { return &pacer{ctx: ctx, sleep: newSleeper(ctx)} }

// await returns once due has passed (or at the end of the current batch),
// false when the context ended.
func (p *pacer) await(due time.Time) bool {
	if time.Until(due) <= 0 {
		return p.ctx.Err() == nil
	}
	wake := due
	if batched := p.lastWake.Add(pacingQuantum); batched.After(wake) {
		wake = batched
	}
	if err := p.sleep.sleepUntil(wake); err != nil {
		if p.ctx.Err() != nil {
			return false
		}
		// The timerfd failed: Go's timer paces from now on.
		p.sleep.close()
		p.sleep = newTimerSleeper(p.ctx)
		if p.sleep.sleepUntil(wake) != nil {
			return false
		}
	}
	p.lastWake = wake
	return true
}

func (p *pacer) close() { p.sleep.close() }

type arrival struct {
	n   int64
	due time.Time
}

// worker runs its first arrival, then every arrival handed to it, until
// the scheduler closes the stack.
func (t *Tool) worker(hard context.Context, first arrival, workers *workerStack) {
	st := t.prog.NewState(t.hintSeq.Add(1), t.spec.Seed)
	next := make(chan arrival, 1)
	for a, ok := first, true; ok; a, ok = <-next {
		t.runSession(hard, st, a.n, a.due)
		t.active.Add(-1)
		t.sessions.Done()
		if !workers.push(next) {
			return
		}
	}
}

// workerStack is the idle workers, the last one idle on top. Handing an
// arrival to the worker that finished last finds its stack, buffers and
// goroutine still in the CPU's caches; a queue would hand it to the one
// idle longest, and after a burst had left a thousand workers, every
// session then ran cold.
type workerStack struct {
	mu     sync.Mutex
	idle   []chan arrival
	closed bool
}

// pop takes the last idle worker's channel (buffered: the send never
// blocks), or nil when none is idle.
func (s *workerStack) pop() chan arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.idle)
	if n == 0 {
		return nil
	}
	w := s.idle[n-1]
	s.idle[n-1] = nil
	s.idle = s.idle[:n-1]
	return w
}

// push makes a worker idle; false once the stack is closed, and the worker
// then ends.
func (s *workerStack) push(w chan arrival) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.idle = append(s.idle, w)
	return true
}

// close ends the idle workers; busy ones end when they finish.
func (s *workerStack) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, w := range s.idle {
		close(w)
	}
	s.idle = nil
}
