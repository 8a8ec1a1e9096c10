package native

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// pacingQuantum is the shortest time between two batches of arrivals.
// Arrivals due closer together start in one batch, each late by less than
// the quantum, and that lateness is measured (latency counts from the
// intended instant). Started one by one at tens of thousands a second,
// each arrival woke the injector and, often, an idle target: on one CPU
// at 40,000 arrivals/s, 23 us of CPU per request against 13 us with
// batches (2026-11-23), and 0.4 interrupts per request to wake nginx on
// this VM, where a batch needs one (2026-12-02).
const pacingQuantum = 200 * time.Microsecond

// runOpen starts the shard's arrivals at their intended instants and
// returns the planned end of the run (or the abort instant).
//
// Pacing is from start: each arrival's due instant is start + At(n), so a
// late wake-up never shifts later arrivals. Arrivals are started in
// batches, at most one per pacingQuantum (openRun.nextDispatch), by
// whoever runs first once a batch is due: the pacer, which sleeps until
// then, or a worker that just finished a session (openRun.dispatchDue).
// On a busy injector the pacer's wake-up waits in the run queue behind
// every session the network poller readied with it; a finishing session
// is already running. Each arrival keeps its own intended instant, so any
// lateness is measured. Sessions run on a pool of workers, each with its
// own State (buffers, connections' exchange, grown stack) reused session
// after session: an arrival goes to an idle worker, or to a new one when
// all are busy, so it never waits. An arrival past maxConcurrentSessions
// is counted as dropped at its instant, never delayed.
func (t *Tool) runOpen(ctx, hard context.Context, start time.Time) time.Time {
	cur := t.open.Shard(t.spec.Shard, max(t.spec.Shards, 1))
	if t.spec.ResumeAt > 0 {
		// A restarted executor does not replay what its predecessor was due
		// to start; the runtime accounts for that gap.
		cur.SkipBefore(t.spec.ResumeAt)
	}
	r := &openRun{t: t, hard: hard, start: start, cur: cur, limit: int64(t.spec.Plan.Load.MaxConcurrentSessions)}
	r.advanceLocked()
	t.run.Store(r)
	defer t.workers.close()
	pace := newPacer(ctx)
	defer pace.close()
	for {
		r.mu.Lock()
		r.dispatchLocked(time.Now())
		next, done := r.nextDispatch, r.done
		r.mu.Unlock()
		if done {
			return start.Add(t.open.Duration())
		}
		if !pace.await(next) {
			r.mu.Lock()
			r.done = true // an abort: no worker starts another arrival
			r.dispatchNanos.Store(math.MaxInt64)
			r.mu.Unlock()
			return time.Now()
		}
	}
}

// openRun is the open model's schedule as it is being started.
type openRun struct {
	t     *Tool
	hard  context.Context
	start time.Time
	limit int64

	mu      sync.Mutex
	cur     *schedule.Cursor
	nextN   int64
	nextDue time.Time
	done    bool
	// lastDispatch is when the last batch started; nextDispatch is when
	// the next may: the next due instant, but no sooner than a quantum
	// after the last batch. Batches keep requests together: started one
	// by one, each request may find the target idle and pay for waking
	// it, which on a virtual machine is an interrupt to another CPU and
	// the largest cost of a request (0.4 per request at 40,000/s on one
	// CPU, against 0.05 for wrk, which keeps the target busy).
	lastDispatch, nextDispatch time.Time
	// dispatchNanos is nextDispatch in Unix nanoseconds, for workers to
	// check without the lock (MaxInt64 once done).
	dispatchNanos atomic.Int64
}

// advanceLocked moves to the shard's next arrival.
func (r *openRun) advanceLocked() {
	n, at, ok := r.cur.Next()
	if !ok {
		r.done = true
		return
	}
	r.nextN, r.nextDue = n, r.start.Add(at)
}

// dispatchLocked starts every arrival due by now, if a batch may start.
func (r *openRun) dispatchLocked(now time.Time) {
	if !r.done && !now.Before(r.nextDispatch) && !r.nextDue.After(now) {
		for !r.done && !r.nextDue.After(now) {
			r.startLocked(r.nextN, r.nextDue)
			r.advanceLocked()
		}
		r.lastDispatch = now
	}
	r.nextDispatch = r.nextDue
	if batch := r.lastDispatch.Add(pacingQuantum); batch.After(r.nextDispatch) {
		r.nextDispatch = batch
	}
	if r.done {
		r.dispatchNanos.Store(math.MaxInt64)
	} else {
		r.dispatchNanos.Store(r.nextDispatch.UnixNano())
	}
}

// dispatchDue starts the next batch if it is due, unless another
// goroutine is doing so; workers call it between sessions.
func (r *openRun) dispatchDue() {
	if time.Now().UnixNano() < r.dispatchNanos.Load() || !r.mu.TryLock() {
		return
	}
	r.dispatchLocked(time.Now())
	r.mu.Unlock()
}

// startLocked starts arrival n due at due, or drops it past the limit.
// Arrivals start under r.mu, so the limit check is exact.
func (r *openRun) startLocked(n int64, due time.Time) {
	t := r.t
	t.arrivals.Planned(1)
	if r.limit > 0 && t.active.Load() >= r.limit {
		t.arrivals.Dropped(1)
		return
	}
	t.lag.Record(time.Since(due))
	t.active.Add(1)
	t.sessions.Add(1)
	a := arrival{n: n, due: due, hard: r.hard}
	if w := t.workers.pop(); w != nil {
		w <- a
	} else {
		t.startWorker(&a)
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
	n    int64
	due  time.Time
	hard context.Context
}

// startWorker starts a worker, handing it a first arrival or, with none,
// leaving it idle on the stack.
func (t *Tool) startWorker(first *arrival) {
	next := make(chan arrival, 1)
	if first != nil {
		next <- *first
	} else if !t.workers.push(next) {
		return
	}
	go t.worker(next)
}

// worker runs every arrival handed to it, until the scheduler closes the
// stack.
func (t *Tool) worker(next chan arrival) {
	growStack(0)
	st := t.prog.NewState(t.hintSeq.Add(1), t.spec.Seed)
	for a := range next {
		t.runSession(a.hard, st, a.n, a.due)
		t.active.Add(-1)
		t.sessions.Done()
		if !t.workers.push(next) {
			return
		}
		if r := t.run.Load(); r != nil {
			r.dispatchDue()
		}
	}
}

// workerStackBytes is about what a session's request needs on its stack
// (its request written, its response parsed, its stats recorded).
const workerStackBytes = 16 << 10

// growStack grows the calling goroutine's stack once, when it starts:
// otherwise each new worker grew it while running its first session, a
// copy and fresh pages on the path of a request that was already due.
//
//go:noinline
func growStack(i int) byte {
	var pad [workerStackBytes]byte
	pad[i] = byte(i)
	return pad[i]
}

// preparedWorkers is how many idle workers the open model starts before
// the start instant: enough for maxWorkersWindow of arrivals at the
// shard's peak rate, so that neither the first second nor a hiccup
// creates goroutines on the pacer's path (on one CPU, hundreds created at
// once held up the responses that would have freed the existing ones).
func preparedWorkers(rate float64, limit int) int {
	n := clamp(int(math.Ceil(rate*maxWorkersWindow.Seconds())), minPreparedWorkers, maxPreparedWorkers)
	if limit > 0 {
		n = min(n, limit)
	}
	return n
}

const (
	maxWorkersWindow   = 4 * time.Millisecond
	minPreparedWorkers = 16
	maxPreparedWorkers = 1024
)

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

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
