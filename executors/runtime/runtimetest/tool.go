// Package runtimetest holds test doubles for the executor runtime: a fake
// Tool (the unit boundary of the runtime), and real loopback HTTP servers
// speaking the reporting ingest and executor APIs.
package runtimetest

import (
	"context"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Tool is a fake load tool: from the start instant, every Tick it starts
// one session that makes one request named RequestName, with a latency of
// 1 ms plus the session number in µs (modulo 1000), until Duration has
// passed or ctx is cancelled; after a cancel it takes GracefulStop to return.
// It counts everything it measured so that tests can compare with what the
// snapshots carried.
type Tool struct {
	Duration     time.Duration
	Tick         time.Duration
	GracefulStop time.Duration
	RequestName  string

	mu        sync.Mutex
	prepared  *wire.ShardSpec
	started   time.Time
	cancelled bool
	sessions  int64 // all sessions started
	pending   wire.Arrivals
	ok        int64
	latency   *hdrhistogram.Histogram
	collects  int
	closes    int
}

// Name is "fake".
func (t *Tool) Name() string { return "fake" }

// Version is "1".
func (t *Tool) Version() string { return "1" }

// Prepare records the spec.
func (t *Tool) Prepare(_ context.Context, spec *wire.ShardSpec) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prepared = spec
	if t.Tick <= 0 {
		t.Tick = 10 * time.Millisecond
	}
	if t.RequestName == "" {
		t.RequestName = "fake"
	}
	t.latency = hdrhistogram.New(wire.HistLowest, wire.HistHighest, wire.HistDigits)
	return nil
}

// Run makes sessions until Duration has passed or ctx is done.
func (t *Tool) Run(ctx context.Context, start time.Time) error {
	t.mu.Lock()
	t.started = time.Now()
	t.mu.Unlock()
	end := start.Add(t.Duration)
	tick := time.NewTicker(t.Tick)
	defer tick.Stop()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			t.mu.Lock()
			t.cancelled = true
			t.mu.Unlock()
			time.Sleep(t.GracefulStop)
			t.mu.Lock()
			t.pending.Interrupted++
			t.mu.Unlock()
			return nil
		case <-tick.C:
			t.session()
		}
	}
	return nil
}

func (t *Tool) session() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sessions++
	t.pending.Planned++
	t.pending.Started++
	t.pending.Completed++
	t.ok++
	_ = t.latency.RecordValue(1000 + t.sessions%1000)
}

// Collect hands over what was measured since the previous call.
func (t *Tool) Collect() runtime.Interval {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.collects++
	iv := runtime.Interval{Arrivals: t.pending, Health: wire.Health{ActiveSessions: 1, ScheduleLagP99Ms: 0.5}}
	if t.ok > 0 {
		enc, err := stats.EncodeHistogram(t.latency)
		if err != nil {
			panic(err) // cannot happen with an in-range histogram
		}
		iv.Requests = []wire.RequestStats{{Name: t.RequestName, OK: t.ok, Latency: enc, Service: enc}}
	}
	t.pending, t.ok = wire.Arrivals{}, 0
	t.latency.Reset()
	return iv
}

// Sessions is the number of sessions started so far.
func (t *Tool) Sessions() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessions
}

// Cancelled reports whether Run saw its context cancelled.
func (t *Tool) Cancelled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cancelled
}

// Started is when Run was called (zero if never).
func (t *Tool) Started() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.started
}

// Close counts how often the runtime closed the tool.
func (t *Tool) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closes++
	return nil
}

// Closes is how often Close was called.
func (t *Tool) Closes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closes
}

// Prepared is the spec given to Prepare.
func (t *Tool) Prepared() *wire.ShardSpec {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.prepared
}

var _ runtime.Tool = (*Tool)(nil)
