package analysis

import (
	"fmt"
	"math"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Latency is a window's exact latency, read from the histogram merged over
// the whole window (never from per-second percentiles).
type Latency struct {
	P95Ms float64 `json:"p95Ms"`
	P99Ms float64 `json:"p99Ms"`
}

// Where a step's percentiles come from.
const (
	// LatencyHistogram: the caller's merged per-step histogram, exact.
	LatencyHistogram = "histogram"
	// LatencyPerSecondMax: the highest per-second percentile of the step.
	// A quantile of a union never exceeds the largest quantile of its
	// parts, so this is a sound upper bound when no histogram was given.
	LatencyPerSecondMax = "perSecondMax"
)

// Threshold bounds one step metric: latency.p95 and latency.p99 in ms,
// errors.rate as a fraction, throughput.ratio as achieved/planned
// arrivals. A nil bound is not checked.
type Threshold struct {
	Metric string   `json:"metric"`
	Max    *float64 `json:"max,omitempty"`
	Min    *float64 `json:"min,omitempty"`
}

// The metrics a step can be judged on (the plan's names).
const (
	MetricP95        = "latency.p95"
	MetricP99        = "latency.p99"
	MetricErrorRate  = "errors.rate"
	MetricThroughput = "throughput.ratio"
)

// StepThresholds keeps the plan criteria a step can be judged on: the
// run-wide (no request) latency.p95, latency.p99, errors.rate and
// throughput.ratio bounds; their windows are ignored, the step is the
// window. Latency thresholds become milliseconds.
func StepThresholds(criteria []plan.Criterion) []Threshold {
	var out []Threshold
	for _, c := range criteria {
		if c.Request != "" {
			continue
		}
		switch c.Metric {
		case MetricP95, MetricP99, MetricErrorRate, MetricThroughput:
		default:
			continue
		}
		scale := 1.0
		if plan.IsLatencyMetric(c.Metric) {
			scale = 1000
		}
		t := Threshold{Metric: c.Metric}
		if c.Max != nil {
			v := c.Max.Value() * scale
			t.Max = &v
		}
		if c.Min != nil {
			v := c.Min.Value() * scale
			t.Min = &v
		}
		out = append(out, t)
	}
	return out
}

// Step is one level of a staircase. Rates are per second; PlannedRate is
// in arrivals (open models) and PlannedUsers in sessions (closed models).
type Step struct {
	// Index is the span's index in the expanded schedule.
	Index           int     `json:"index"`
	StartSeconds    float64 `json:"startSeconds"`
	DurationSeconds float64 `json:"durationSeconds"`
	PlannedRate     float64 `json:"plannedRate,omitempty"`
	PlannedUsers    float64 `json:"plannedUsers,omitempty"`
	// AchievedRate is requests completed per second over the step.
	AchievedRate float64 `json:"achievedRate"`
	// ThroughputRatio is started / planned arrivals (open models, when the
	// series carries arrivals).
	ThroughputRatio *float64 `json:"throughputRatio,omitempty"`
	// ActiveUsers is the mean of the per-second active users.
	ActiveUsers   float64  `json:"activeUsers"`
	P95Ms         float64  `json:"p95Ms"`
	P99Ms         float64  `json:"p99Ms"`
	LatencySource string   `json:"latencySource"`
	Requests      int64    `json:"requests"`
	Errors        int64    `json:"errors"`
	ErrorRate     float64  `json:"errorRate"`
	Passed        bool     `json:"passed"`
	Failures      []string `json:"failures,omitempty"`
}

// StepTable builds one row per constant level of the spans, judges each
// against the thresholds, and returns the index (into the rows) of the
// passing step with the highest planned level, or nil when none passed.
// stepLatency holds exact per-step percentiles by span index; a span
// without one falls back to LatencyPerSecondMax.
func StepTable(start time.Time, spans []schedule.Span, points []series.Point,
	stepLatency map[int]Latency, thresholds []Threshold) ([]Step, *int) {
	var rows []Step
	var highest *int
	for _, s := range spans {
		if !s.Steady() {
			continue
		}
		row := stepRow(start, s, points, stepLatency)
		row.Failures = judge(row, thresholds)
		row.Passed = len(row.Failures) == 0
		rows = append(rows, row)
		i := len(rows) - 1
		if row.Passed && (highest == nil || level(row) > level(rows[*highest])) {
			highest = &i
		}
	}
	return rows, highest
}

func level(s Step) float64 { return s.PlannedRate + s.PlannedUsers }

func stepRow(start time.Time, s schedule.Span, points []series.Point, stepLatency map[int]Latency) Step {
	row := Step{Index: s.Index, StartSeconds: s.Start.Seconds(), DurationSeconds: s.Duration().Seconds()}
	if s.Closed {
		row.PlannedUsers = s.FromLevel
	} else {
		row.PlannedRate = s.FromLevel
	}
	var planned, started, users int64
	var seconds int
	for _, p := range within(start, s.Start, s.End, points) {
		row.Requests += p.Count
		row.Errors += p.KO
		planned += p.PlannedArrivals
		started += p.StartedArrivals
		users += p.ActiveUsers
		seconds++
		row.P95Ms = math.Max(row.P95Ms, p.P95Ms)
		row.P99Ms = math.Max(row.P99Ms, p.P99Ms)
	}
	row.LatencySource = LatencyPerSecondMax
	if l, ok := stepLatency[s.Index]; ok {
		row.P95Ms, row.P99Ms, row.LatencySource = l.P95Ms, l.P99Ms, LatencyHistogram
	}
	if d := s.Duration().Seconds(); d > 0 {
		row.AchievedRate = float64(row.Requests) / d
	}
	if seconds > 0 {
		row.ActiveUsers = float64(users) / float64(seconds)
	}
	if row.Requests > 0 {
		row.ErrorRate = float64(row.Errors) / float64(row.Requests)
	}
	if planned > 0 {
		r := float64(started) / float64(planned)
		row.ThroughputRatio = &r
	}
	return row
}

// judge lists what the step failed; a metric the step has no value for
// (throughput.ratio without arrivals, anything without requests) fails:
// a step that measured nothing did not meet the criteria.
func judge(s Step, thresholds []Threshold) []string {
	var fails []string
	for _, t := range thresholds {
		v, ok := stepValue(s, t.Metric)
		switch {
		case !ok:
			fails = append(fails, fmt.Sprintf("%s: no data", t.Metric))
		case t.Max != nil && v > *t.Max:
			fails = append(fails, fmt.Sprintf("%s %.4g > %.4g", t.Metric, v, *t.Max))
		case t.Min != nil && v < *t.Min:
			fails = append(fails, fmt.Sprintf("%s %.4g < %.4g", t.Metric, v, *t.Min))
		}
	}
	return fails
}

func stepValue(s Step, metric string) (float64, bool) {
	if s.Requests == 0 {
		return 0, false
	}
	switch metric {
	case MetricP95:
		return s.P95Ms, true
	case MetricP99:
		return s.P99Ms, true
	case MetricErrorRate:
		return s.ErrorRate, true
	case MetricThroughput:
		if s.ThroughputRatio == nil {
			return 0, false
		}
		return *s.ThroughputRatio, true
	}
	return 0, false
}
