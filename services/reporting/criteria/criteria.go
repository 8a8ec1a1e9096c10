// Package criteria judges a run's merged results against its plan's
// criteria: at the end for the verdict (Evaluate), and live for the
// abortOnFail ones (Watcher).
//
// # Metrics
//
//   - latency.p50 … latency.p99.9, latency.max, latency.mean: of the
//     latency from the intended start, exact on the merged histogram, in ms.
//   - errors.rate: failed requests / all requests, 0..1.
//   - throughput.ratio: started arrivals / planned arrivals, 0..1, over
//     the evaluated span, for the whole run whatever Request says (arrivals
//     are sessions, not requests). Planned is what the executors reported
//     due, or for the whole run what the plan's schedule makes due if that
//     is more, so a shard that never reported counts as missing load. A
//     closed model has no planned arrivals: the criterion has no data.
//   - latency.p95.drift: (p95 of the last stable minute − p95 of the first)
//     / p95 of the first. A stable minute is a whole minute of the run
//     (run seconds [60m, 60m+60)) lying inside one load step of constant
//     planned level (schedule.Span.Constant) and holding requests. With fewer
//     than two stable minutes, the first and last thirds of the seconds
//     holding data are compared instead (whole seconds, each third at
//     least one). Window does not apply to drift.
//
// # Windows
//
// A criterion with a window W is judged on every window of W (whole seconds,
// rounded up) sliding by one second over the run, the schema's sliding
// window: it fails if any window fails, and its Value is the worst window's
// (highest for max, lowest for min). A run shorter than W is one window.
// Live, the Watcher judges the window of W ending at the latest complete
// second, every time it is called: over a run it sees exactly the windows
// the final verdict judges, so a live abort is never a surprise to the
// verdict, and a verdict failure on windows is seen live as soon as the
// window ends.
//
// # No data
//
// A criterion that cannot be computed (no requests, no planned arrivals,
// no p95 to compare with) has NoData set and does not pass: a rule nobody
// could check is not met. Live, it never aborts.
package criteria

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Data is the merged results of one run; *merge.Aggregator satisfies it.
type Data interface {
	Total(request string) merge.Summary
	Window(from, to time.Time, request string) merge.Summary
	Windows(d time.Duration, request string, fn func(merge.Summary) bool)
	// Extent bounds the seconds holding data; Complete ends the complete
	// ones; Origin labels run second 0 (see merge.Aggregator).
	Extent() (first, end time.Time)
	Complete() time.Time
	Origin() time.Time
	Steps() []schedule.Span
}

var _ Data = (*merge.Aggregator)(nil)

// Comparison operators and units of a Result.
const (
	OpMax     = "max"
	OpMin     = "min"
	UnitMs    = "ms"
	UnitRatio = "ratio"
)

// Result is one criterion judged.
type Result struct {
	Metric  string `json:"metric"`
	Request string `json:"request,omitempty"`
	// Op is "max" (Value must not exceed Threshold) or "min".
	Op string `json:"op"`
	// Threshold and Value are in Unit: ms for latencies, a ratio otherwise.
	Threshold   float64 `json:"threshold"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
	Passed      bool    `json:"passed"`
	NoData      bool    `json:"noData,omitempty"`
	AbortOnFail bool    `json:"abortOnFail,omitempty"`
	// Window is the criterion's window ("" for the whole run).
	Window string `json:"window,omitempty"`
	// From and To bound the span Value comes from: the run, the worst
	// window, or for drift the last compared part.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Detail says it in a sentence, for reports and abort reasons.
	Detail string `json:"detail"`
}

// Passed reports whether every result passed.
func Passed(rs []Result) bool {
	for _, r := range rs {
		if !r.Passed {
			return false
		}
	}
	return true
}

// Evaluate judges every criterion on the whole run's data.
func Evaluate(cs []plan.Criterion, data Data) []Result {
	out := make([]Result, 0, len(cs))
	for _, c := range cs {
		out = append(out, evaluate(c, data))
	}
	return out
}

func evaluate(c plan.Criterion, data Data) Result {
	r, ok := newResult(c)
	if !ok {
		return r
	}
	switch {
	case c.Metric == metricDrift:
		_, end := data.Extent()
		return r.judge(drift(data, c.Request, end, true))
	case c.Window > 0:
		return r.judge(worstWindow(r, data, c))
	}
	s := data.Total(requestOf(c))
	v, ok := metricValue(c.Metric, s, true)
	return r.judge(measure{value: v, ok: ok, from: s.From, to: s.To})
}

// measure is a metric's value over a span; ok is false without data.
type measure struct {
	value    float64
	ok       bool
	from, to time.Time
	note     string
}

// worstWindow judges c on every sliding window and keeps the worst.
func worstWindow(r Result, data Data, c plan.Criterion) measure {
	var worst measure
	data.Windows(c.Window.D(), requestOf(c), func(s merge.Summary) bool {
		v, ok := metricValue(c.Metric, s, false)
		if ok && (!worst.ok || r.worse(v, worst.value)) {
			worst = measure{value: v, ok: true, from: s.From, to: s.To, note: "worst " + r.Window + " window"}
		}
		return true
	})
	return worst
}

// newResult reads the criterion's rule; ok is false for a criterion that
// cannot be judged (the result then says why).
func newResult(c plan.Criterion) (Result, bool) {
	r := Result{Metric: c.Metric, Request: c.Request, AbortOnFail: c.AbortOnFail, Unit: UnitRatio}
	if c.Window > 0 && c.Metric != metricDrift {
		r.Window = c.Window.String()
	}
	if plan.IsLatencyMetric(c.Metric) {
		r.Unit = UnitMs
	}
	var t *plan.Threshold
	switch {
	case c.Max != nil:
		r.Op, t = OpMax, c.Max
	case c.Min != nil:
		r.Op, t = OpMin, c.Min
	default:
		r.Detail = "the criterion has neither max nor min"
		return r, false
	}
	r.Threshold = t.Value()
	if r.Unit == UnitMs {
		r.Threshold *= 1000 // seconds to ms
	}
	if !known(c.Metric) {
		r.Detail = fmt.Sprintf("unknown metric %q", c.Metric)
		return r, false
	}
	return r, true
}

// worse reports whether v is worse than w for the result's operator.
func (r Result) worse(v, w float64) bool {
	if r.Op == OpMax {
		return v > w
	}
	return v < w
}

func (r Result) judge(m measure) Result {
	r.From, r.To = m.from, m.to
	if !m.ok {
		r.NoData = true
		r.Detail = fmt.Sprintf("%s of %s: no data to judge", r.Metric, who(r.Request))
		if m.note != "" {
			r.Detail += " (" + m.note + ")"
		}
		return r
	}
	r.Value = m.value
	r.Passed = !r.worse(m.value, r.Threshold)
	cmp := "within"
	if !r.Passed {
		cmp = "breaks"
	}
	r.Detail = fmt.Sprintf("%s of %s = %s, %s %s %s", r.Metric, who(r.Request), r.format(m.value), cmp, r.Op, r.format(r.Threshold))
	if m.note != "" {
		r.Detail += fmt.Sprintf(" (%s, %s to %s)", m.note, m.from.Format(time.TimeOnly), m.to.Format(time.TimeOnly))
	}
	return r
}

// format writes a value in the result's unit: ms to the microsecond (the
// histograms' unit), ratios to four decimals.
func (r Result) format(v float64) string {
	if r.Unit == UnitMs {
		return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(math.Round(v*10000)/10000, 'f', -1, 64)
}

func who(request string) string {
	if request == series.AllRequests {
		return "all requests"
	}
	return fmt.Sprintf("%q", request)
}

// requestOf is the request name a criterion's summaries are read for:
// throughput is the run's, whatever the criterion names.
func requestOf(c plan.Criterion) string {
	if c.Metric == metricThroughput {
		return series.AllRequests
	}
	return c.Request
}

const (
	metricErrors     = "errors.rate"
	metricThroughput = "throughput.ratio"
	metricDrift      = "latency.p95.drift"
)

func known(metric string) bool {
	switch metric {
	case metricErrors, metricThroughput, metricDrift:
		return true
	}
	return plan.IsLatencyMetric(metric)
}

// metricValue reads a (non-drift) metric from a summary; ok is false when
// the summary has no data for it. scheduled says whether the plan's
// scheduled arrivals count as planned (for the finished run; live, the
// schedule of the rest of the run is not due yet).
func metricValue(metric string, s merge.Summary, scheduled bool) (float64, bool) {
	switch metric {
	case metricErrors:
		if s.Count == 0 {
			return 0, false
		}
		return float64(s.KO) / float64(s.Count), true
	case metricThroughput:
		planned := s.Arrivals.Planned
		if scheduled {
			planned = max(planned, s.ScheduledArrivals)
		}
		if planned <= 0 {
			return 0, false
		}
		return float64(s.Arrivals.Started) / float64(planned), true
	}
	if s.Count == 0 {
		return 0, false
	}
	switch metric {
	case "latency.p50":
		return s.P50Ms, true
	case "latency.p75":
		return s.P75Ms, true
	case "latency.p90":
		return s.P90Ms, true
	case "latency.p95":
		return s.P95Ms, true
	case "latency.p99":
		return s.P99Ms, true
	case "latency.p99.9":
		return s.P999Ms, true
	case "latency.max":
		return s.MaxMs, true
	case "latency.mean":
		return s.MeanMs, true
	}
	return math.NaN(), false
}
