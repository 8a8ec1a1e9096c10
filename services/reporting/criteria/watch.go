package criteria

import (
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Minimum samples before a whole-run criterion may abort a run live.
const (
	DefaultMinDuration = 10 * time.Second
	DefaultMinRequests = 100
)

// WatchConfig tunes a Watcher.
type WatchConfig struct {
	// MinDuration and MinRequests are the sample a criterion without a
	// window needs before it may abort: both must be reached (so that one
	// slow first request, or a quiet first minute, cannot abort a run).
	// MinRequests counts requests, or planned arrivals for throughput.
	MinDuration time.Duration
	MinRequests int64
}

// Watcher judges the abortOnFail criteria of a run while it runs. It keeps
// no state between checks; it is safe for concurrent use if its Data is.
type Watcher struct {
	criteria []plan.Criterion
	data     Data
	cfg      WatchConfig
}

// NewWatcher returns a Watcher of the abortOnFail criteria among cs.
func NewWatcher(cs []plan.Criterion, data Data, cfg WatchConfig) *Watcher {
	if cfg.MinDuration <= 0 {
		cfg.MinDuration = DefaultMinDuration
	}
	if cfg.MinRequests <= 0 {
		cfg.MinRequests = DefaultMinRequests
	}
	w := &Watcher{data: data, cfg: cfg}
	for _, c := range cs {
		if c.AbortOnFail {
			w.criteria = append(w.criteria, c)
		}
	}
	return w
}

// Check judges the abortOnFail criteria on the data so far and returns the
// first that fails, which should stop the run; call it after each merge
// tick (every second). A windowed criterion is judged on the window ending
// at the latest complete second, once a whole window has elapsed since the
// first data; drift on the stable minutes complete so far; any other on
// everything merged so far, once the minimum sample is reached.
func (w *Watcher) Check() (Result, bool) {
	complete := w.data.Complete()
	if complete.IsZero() || len(w.criteria) == 0 {
		return Result{}, false
	}
	for _, c := range w.criteria {
		r, ok := newResult(c)
		if !ok {
			continue // cannot be judged: never a reason to abort
		}
		m := w.measure(r, c, complete)
		if !m.ok {
			continue
		}
		if r = r.judge(m); !r.Passed {
			return r, true
		}
	}
	return Result{}, false
}

func (w *Watcher) measure(r Result, c plan.Criterion, complete time.Time) measure {
	switch {
	case c.Metric == metricDrift:
		return drift(w.data, c.Request, complete, false)
	case c.Window > 0:
		first, _ := w.data.Extent()
		width := c.Window.D()
		if rem := width % time.Second; rem != 0 {
			width += time.Second - rem
		}
		from := complete.Add(-width)
		if from.Before(first) {
			return measure{}
		}
		s := w.data.Window(from, complete, requestOf(c))
		v, ok := metricValue(c.Metric, s, false)
		return measure{value: v, ok: ok, from: s.From, to: s.To, note: "last " + r.Window + " window"}
	}
	s := w.data.Total(requestOf(c))
	sample := s.Count
	if c.Metric == metricThroughput {
		sample = s.Arrivals.Planned
	}
	if s.DurationSeconds < w.cfg.MinDuration.Seconds() || sample < w.cfg.MinRequests {
		return measure{}
	}
	v, ok := metricValue(c.Metric, s, false)
	return measure{value: v, ok: ok, from: s.From, to: s.To, note: "so far"}
}
