package stats

import (
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Arrivals counts sessions for wire.Arrivals. Every counter is an atomic, so
// the scheduler and the sessions update them without locks; Collect swaps
// each to zero (an event racing with Collect lands in one interval or the
// next, never in both or neither).
type Arrivals struct {
	planned, started, dropped, interrupted, completed atomic.Int64
	droppedTotal                                      atomic.Int64
}

// Planned counts arrivals due by schedule.
func (a *Arrivals) Planned(n int64) { a.planned.Add(n) }

// Started counts sessions started.
func (a *Arrivals) Started(n int64) { a.started.Add(n) }

// Dropped counts arrivals that could not start.
func (a *Arrivals) Dropped(n int64) {
	a.dropped.Add(n)
	a.droppedTotal.Add(n)
}

// Interrupted counts sessions cut at the end of gracefulStop.
func (a *Arrivals) Interrupted(n int64) { a.interrupted.Add(n) }

// Completed counts sessions that ran to their end.
func (a *Arrivals) Completed(n int64) { a.completed.Add(n) }

// DroppedTotal is every arrival dropped since the start, for health.
func (a *Arrivals) DroppedTotal() int64 { return a.droppedTotal.Load() }

// Collect returns the counts since the previous call.
func (a *Arrivals) Collect() wire.Arrivals {
	return wire.Arrivals{
		Planned:     a.planned.Swap(0),
		Started:     a.started.Swap(0),
		Dropped:     a.dropped.Swap(0),
		Interrupted: a.interrupted.Swap(0),
		Completed:   a.completed.Swap(0),
	}
}

// Lag is the histogram of schedule lag: how late sessions started versus
// their intended instant. It is safe for concurrent use; its writer is
// usually the one scheduling goroutine, so its lock is uncontended.
type Lag struct {
	mu   sync.Mutex
	hist *hdrhistogram.Histogram
	// spare is the emptied histogram swapped in at collection, so that the
	// scheduler never waits on the lock while a quantile is computed and
	// 23,000 counters are cleared (on a busy CPU, the collecting thread
	// could be descheduled inside that and hold the scheduler for ms).
	spare *hdrhistogram.Histogram
	pause func()
}

// NewLag returns an empty Lag; pause is called between the passes of
// Collect over its histogram (see WithPause).
func NewLag(pause func()) *Lag {
	return &Lag{hist: NewHistogram(), spare: NewHistogram(), pause: pause}
}

// Record adds one lag.
func (l *Lag) Record(d time.Duration) {
	v := Micros(d)
	l.mu.Lock()
	_ = l.hist.RecordValue(v) // clamped into range
	l.mu.Unlock()
}

// Collect returns the p99 lag in milliseconds since the previous call (0
// when nothing was recorded) and the interval's lags in their wire form
// (nil when none), and starts a new interval. Calls must not overlap (the
// runtime collects from one goroutine).
func (l *Lag) Collect() (p99Ms float64, encoded []byte, err error) {
	l.mu.Lock()
	full := l.hist
	l.hist, l.spare = l.spare, nil
	l.mu.Unlock()
	defer func() { l.spare = full }()
	if full.TotalCount() == 0 {
		return 0, nil, nil
	}
	p99 := full.ValueAtQuantile(99)
	l.pause()
	encoded, err = EncodeHistogram(full)
	l.pause()
	full.Reset()
	return float64(p99) / 1000, encoded, err
}
