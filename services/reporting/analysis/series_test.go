package analysis

import (
	"math/rand/v2"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// t0 is the start instant of every synthetic run.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// second describes one synthetic second of a run.
type second struct {
	rps, p95, errRate float64
	users             int64
	planned, started  int64
}

// synth builds AllRequests points for offsets 0..n-1 seconds plus, to
// prove they are ignored, a per-request point with absurd values.
func synth(n int, f func(sec int) second) []series.Point {
	var out []series.Point
	for s := range n {
		v := f(s)
		count := int64(v.rps + 0.5)
		ko := int64(float64(count)*v.errRate + 0.5)
		at := t0.Add(time.Duration(s) * time.Second)
		out = append(out, series.Point{
			RunID: "r1", Time: at, Count: count, OK: count - ko, KO: ko, RPS: v.rps,
			P50Ms: v.p95 / 2, P90Ms: v.p95 * 0.9, P95Ms: v.p95, P99Ms: v.p95 * 1.5, MaxMs: v.p95 * 2,
			ActiveUsers: v.users, PlannedArrivals: v.planned, StartedArrivals: v.started,
		}, series.Point{RunID: "r1", Time: at, Request: "other", Count: 1, RPS: 1, P95Ms: 1e6, P99Ms: 1e6})
	}
	return out
}

// noise returns a deterministic multiplicative jitter of ±amp.
func noise(seed uint64, amp float64) func() float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	return func() float64 { return 1 + amp*(rng.Float64()*2-1) }
}

func openPlan(steps ...plan.OpenStep) *plan.Plan {
	return &plan.Plan{Name: "synthetic", Load: plan.Load{Open: steps}}
}

func rampPlan(from, to float64, d time.Duration) *plan.Plan {
	return openPlan(rampStep(from, to, d))
}
