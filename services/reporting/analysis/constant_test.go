package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func TestStability(t *testing.T) {
	// 100 arrivals/s for 10 minutes: a 60 s warm-up is cut to 30 s; p95
	// starts at 50 ms and rises linearly to 60 ms; the error rate grows
	// by 0.001 per minute; 2% of arrivals are dropped.
	p := openPlan(constantStep(100, 10*time.Minute))
	jitter := noise(5, 0.01)
	points := synth(600, func(s int) second {
		if s < 30 {
			return second{rps: 100, p95: 500, planned: 100, started: 50}
		}
		frac := float64(s-30) / 570
		return second{rps: 1000 * jitter(), p95: 50 + 10*frac, errRate: 0.001 * float64(s) / 60,
			planned: 100, started: 98, users: 100}
	})
	res := Analyze(p, t0, points, Options{})
	c := res.Constant
	if res.Shape != ShapeConstant || c == nil {
		t.Fatalf("analysis %+v, want a constant one", res)
	}
	if c.StableFromSeconds != 30 || c.StableToSeconds != 600 {
		t.Errorf("stable %v..%v s, want 30..600 (warm-up capped at 30 s)", c.StableFromSeconds, c.StableToSeconds)
	}
	// Medians of the first and last stable minutes of a linear rise.
	if math.Abs(c.FirstMinuteP95Ms-50.5) > 0.1 || math.Abs(c.LastMinuteP95Ms-59.5) > 0.1 {
		t.Errorf("first/last minute p95 %v / %v, want ≈ 50.5 / 59.5", c.FirstMinuteP95Ms, c.LastMinuteP95Ms)
	}
	if math.Abs(c.P95Drift-9.0/50.5) > 0.005 {
		t.Errorf("drift %v, want ≈ %v", c.P95Drift, 9.0/50.5)
	}
	if c.PlannedRate != 100 || c.AchievedRate != 98 || *c.ThroughputRatio != 0.98 {
		t.Errorf("planned %v achieved %v ratio %v, want 100, 98, 0.98", c.PlannedRate, c.AchievedRate, *c.ThroughputRatio)
	}
	// The error counts are rounded to whole requests per second.
	if math.Abs(c.ErrorRateSlopePerMinute-0.001) > 0.0001 {
		t.Errorf("error trend %v per minute, want ≈ 0.001", c.ErrorRateSlopePerMinute)
	}
	if math.Abs(c.MeanRPS-1000) > 5 {
		t.Errorf("mean rps %v, want ≈ 1000", c.MeanRPS)
	}
}

func TestStabilityClosedModel(t *testing.T) {
	p := &plan.Plan{Load: plan.Load{Closed: []plan.ClosedStep{closedConst(40, 100*time.Second)}}}
	points := synth(100, func(int) second { return second{rps: 400, p95: 20, users: 38} })
	c := Analyze(p, t0, points, Options{}).Constant
	if c == nil || c.PlannedUsers != 40 || c.AchievedRate != 38 || *c.ThroughputRatio != 0.95 || c.P95Drift != 0 {
		t.Fatalf("closed stability %+v, want 38 of 40 users (0.95) and no drift", c)
	}
	// 100 s: warm-up 10 s, so the compared windows are the 45 s halves.
	if c.StableFromSeconds != 10 {
		t.Fatalf("stable from %v, want 10 (10%% of 100 s)", c.StableFromSeconds)
	}
}
