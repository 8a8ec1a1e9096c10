package analysis

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// A staircase of 50, 100, 150, 200 arrivals/s, 60 s each with 10 s ramps
// between; each arrival makes 2 requests. The server holds up to 150/s;
// at 200/s p95 crosses 250 ms and 2% of requests fail.
func staircase() (*plan.Plan, []schedule.Span, func(int) second) {
	p := openPlan(plan.OpenStep{IncrementUsersPerSec: &plan.IncrementUsersPerSec{
		StartingFrom: 50, Increment: 50, Times: 4,
		EachLevelLasting: dur(time.Minute), SeparatedByRampsLasting: dur(10 * time.Second)}})
	spans := Spans(p)
	f := func(s int) second {
		off := time.Duration(s) * time.Second
		var rate float64
		for _, sp := range spans {
			if off >= sp.Start && off < sp.End {
				rate = sp.LevelAt(off)
			}
		}
		v := second{rps: 2 * rate, p95: 40 + rate/10, users: int64(rate / 5),
			planned: int64(rate), started: int64(rate)}
		if rate > 150 {
			v.p95, v.errRate = 300, 0.02
		}
		return v
	}
	return p, spans, f
}

func TestStepTable(t *testing.T) {
	p, spans, f := staircase()
	points := synth(270, f)
	max250ms, maxErr := plan.Duration(250*time.Millisecond), 0.01
	p.Criteria = []plan.Criterion{
		{Metric: "latency.p95", Max: &plan.Threshold{Duration: &max250ms}},
		{Metric: "errors.rate", Max: &plan.Threshold{Number: &maxErr}},
		{Metric: "latency.p95", Request: "login", Max: &plan.Threshold{Duration: &max250ms}}, // not run-wide: ignored
	}
	thresholds := StepThresholds(p.Criteria)
	if len(thresholds) != 2 || *thresholds[0].Max != 250 {
		t.Fatalf("thresholds = %+v, want p95 ≤ 250 ms and errors ≤ 0.01", thresholds)
	}
	exact := map[int]Latency{2: {P95Ms: 51, P99Ms: 77}}
	rows, highest := StepTable(t0, spans, points, exact, thresholds)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want one per level (ramps are transitions)", len(rows))
	}
	for i, want := range []float64{50, 100, 150, 200} {
		r := rows[i]
		if r.PlannedRate != want || r.DurationSeconds != 60 {
			t.Errorf("row %d planned %v for %vs, want %v for 60s", i, r.PlannedRate, r.DurationSeconds, want)
		}
		if math.Abs(r.AchievedRate-2*want) > 0.01 || r.ActiveUsers != want/5 || *r.ThroughputRatio != 1 {
			t.Errorf("row %d achieved %v users %v ratio %v, want %v, %v, 1", i, r.AchievedRate, r.ActiveUsers, *r.ThroughputRatio, 2*want, want/5)
		}
	}
	if rows[1].LatencySource != LatencyHistogram || rows[1].P95Ms != 51 || rows[1].P99Ms != 77 {
		t.Errorf("step with a merged histogram: %+v, want its exact p95 51 / p99 77", rows[1])
	}
	if rows[0].LatencySource != LatencyPerSecondMax || rows[0].P95Ms != 45 {
		t.Errorf("step without a histogram: %s p95 %v, want the per-second maximum 45", rows[0].LatencySource, rows[0].P95Ms)
	}
	if !rows[2].Passed || rows[3].Passed || len(rows[3].Failures) != 2 {
		t.Errorf("150/s should pass and 200/s fail both criteria: %+v / %+v", rows[2], rows[3])
	}
	if rows[3].Errors != 8*60 || math.Abs(rows[3].ErrorRate-0.02) > 1e-9 {
		t.Errorf("200/s errors %d rate %v, want 8/s over 60 s = 2%%", rows[3].Errors, rows[3].ErrorRate)
	}
	if highest == nil || *highest != 2 {
		t.Fatalf("highest passing step = %v, want index 2 (150/s)", highest)
	}
}

func TestStepTableJudgesMissingDataAsFailed(t *testing.T) {
	_, spans, _ := staircase()
	maxP99 := 100.0
	rows, highest := StepTable(t0, spans, nil, nil, []Threshold{{Metric: MetricP99, Max: &maxP99}})
	if highest != nil {
		t.Fatalf("highest = %d with no data; a step that measured nothing did not pass", *highest)
	}
	if !slices.ContainsFunc(rows[0].Failures, func(s string) bool { return strings.Contains(s, "no data") }) {
		t.Fatalf("failures %v, want a no-data failure", rows[0].Failures)
	}
}
