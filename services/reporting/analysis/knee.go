package analysis

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Knee detection parameters; KneeMethod states them for the report.
const (
	// kneeMinSide is the fewest seconds on each side of a breakpoint.
	kneeMinSide = 3
	// kneeMinGain is the share of a single line's squared error the
	// two-segment fit must remove: below it the curve is a line plus noise.
	kneeMinGain = 0.5
	// kneeMinSteepening is how much faster log-latency must grow after the
	// breakpoint than before it.
	kneeMinSteepening = 2.0
	// SafeFraction of the knee rate is the safe operating limit: the
	// breakpoint is where degradation has already begun, so the margin
	// keeps a noise-sized distance from it.
	SafeFraction = 0.8
	// minLatencyMs floors p95 before its logarithm.
	minLatencyMs = 1e-3
)

// KneeMethod describes how FindKnee works, for the report.
func KneeMethod() string {
	return fmt.Sprintf("continuous two-segment (hinge) least-squares fit of log(per-second p95) against "+
		"achieved throughput (requests/s) over the ramp; the breakpoint is searched at every observed rate "+
		"with at least %d seconds on each side and the one with the least squared error is the knee; it is "+
		"reported only if that fit removes at least %.0f%% of a single line's squared error and log-latency "+
		"grows at least %.0f× faster after it than before; safe rate = %.0f%% of the knee rate. In log space "+
		"a flat-then-exponential rise is exactly two lines and multiplicative noise is even; a "+
		"flat-then-linear rise is found slightly early (the conservative side)",
		kneeMinSide, kneeMinGain*100, kneeMinSteepening, SafeFraction*100)
}

// Knee is where latency stops growing linearly with the rate of a ramp.
// Rate and SafeRate are null when no knee was found within the tested
// range: the service then held up to MaxRate.
type Knee struct {
	Found    bool     `json:"found"`
	Rate     *float64 `json:"rate"`
	SafeRate *float64 `json:"safeRate"`
	Method   string   `json:"method"`
	// P95AtKneeMs is the fitted p95 at the knee.
	P95AtKneeMs float64 `json:"p95AtKneeMs,omitempty"`
	// MaxRate is the highest achieved rate seen during the ramp.
	MaxRate float64 `json:"maxRate"`
	// Seconds is how many per-second points the fit used.
	Seconds int `json:"seconds"`
}

// FindKnee fits p95 (ys, ms) against the rate (xs, requests/s); see
// KneeMethod.
func FindKnee(xs, ys []float64) Knee {
	k := Knee{Method: KneeMethod(), Seconds: len(xs)}
	if len(xs) == 0 {
		return k
	}
	k.MaxRate = slices.Max(xs)
	xs, ys = sortedByX(xs, ys)
	logs := make([]float64, len(ys))
	for i, y := range ys {
		logs[i] = math.Log(math.Max(y, minLatencyMs))
	}
	best, ok := bestHinge(xs, logs)
	if !ok {
		return k
	}
	rate, safe := best.k, best.k*SafeFraction
	k.Found, k.Rate, k.SafeRate = true, &rate, &safe
	k.P95AtKneeMs = math.Exp(best.at(best.k))
	return k
}

// bestHinge returns the least-squares hinge when it beats a single line by
// the margins of KneeMethod.
func bestHinge(xs, ys []float64) (hinge, bool) {
	if len(xs) < 2*kneeMinSide+1 {
		return hinge{}, false
	}
	ln, ok := fitLine(xs, ys)
	if !ok {
		return hinge{}, false
	}
	lineSSE := ln.sse(xs, ys)
	if lineSSE <= 1e-12*float64(len(xs)) {
		return hinge{}, false // a perfect line: nothing to improve on
	}
	best, bestSSE := hinge{}, math.Inf(1)
	for i := kneeMinSide; i < len(xs)-kneeMinSide; i++ {
		if xs[i] == xs[i-1] {
			continue // same candidate as before
		}
		h, ok := fitHinge(xs, ys, xs[i])
		if !ok {
			continue
		}
		if sse := h.sse(xs, ys); sse < bestSSE {
			best, bestSSE = h, sse
		}
	}
	before, after := best.b, best.b+best.c
	found := !math.IsInf(bestSSE, 1) && bestSSE <= (1-kneeMinGain)*lineSSE &&
		best.c > 0 && after >= kneeMinSteepening*math.Max(before, 0)
	return best, found
}

func sortedByX(xs, ys []float64) ([]float64, []float64) {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpFloat(xs[a], xs[b]) })
	sx, sy := make([]float64, len(xs)), make([]float64, len(xs))
	for i, j := range idx {
		sx[i], sy[i] = xs[j], ys[j]
	}
	return sx, sy
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// RampKnee finds the knee of the ramp span from the run's AllRequests
// points: every second of the span that completed requests is one
// (achieved rps, p95) pair.
func RampKnee(start time.Time, ramp schedule.Span, points []series.Point) Knee {
	var xs, ys []float64
	for _, p := range within(start, ramp.Start, ramp.End, points) {
		if p.Count > 0 {
			xs, ys = append(xs, p.RPS), append(ys, p.P95Ms)
		}
	}
	return FindKnee(xs, ys)
}

// within returns the AllRequests points whose second starts in [from, to)
// of the run.
func within(start time.Time, from, to time.Duration, points []series.Point) []series.Point {
	var out []series.Point
	for _, p := range points {
		if p.Request != series.AllRequests {
			continue
		}
		off := p.Time.Sub(start)
		if off >= from && off < to {
			out = append(out, p)
		}
	}
	return out
}
