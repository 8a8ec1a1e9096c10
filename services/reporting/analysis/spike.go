package analysis

import (
	"fmt"
	"math"
	"time"

	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Spike recovery parameters; SpikeMethod states them for the report.
const (
	// RecoveryTolerance: p95 is back when within this fraction above the
	// baseline.
	RecoveryTolerance = 0.2
	// recoveryHold is how many consecutive seconds p95 must stay back for
	// the recovery to count (fewer if the series ends first), so that one
	// lucky second does not end it.
	recoveryHold = 5
)

// SpikeMethod describes how SpikeOf measures, for the report.
func SpikeMethod() string {
	return fmt.Sprintf("baseline = median of the per-second p95 during the base load before the spike; "+
		"peak = highest per-second p95 from the start of the ramp up to the end of the ramp down; error "+
		"rate = errors / requests over that period; recovery = seconds from the end of the spike until "+
		"the first second from which p95 stays within %.0f%% above the baseline for %d seconds in a row "+
		"(or until the series ends); null if it never does",
		RecoveryTolerance*100, recoveryHold)
}

// Spike is what a spike did to latency and how fast the system recovered.
type Spike struct {
	BaseRate        float64  `json:"baseRate"`
	PeakRate        float64  `json:"peakRate"`
	StartSeconds    float64  `json:"startSeconds"`
	EndSeconds      float64  `json:"endSeconds"`
	BaselineP95Ms   float64  `json:"baselineP95Ms"`
	PeakP95Ms       float64  `json:"peakP95Ms"`
	PeakErrorRate   float64  `json:"errorRate"`
	RecoverySeconds *float64 `json:"recoverySeconds"`
	Method          string   `json:"method"`
}

// SpikeOf measures a base → peak → base load. spans are the shape's spans
// as classify returns them: a constant base first, a constant base last,
// and the spike (ramps and the peak) between.
func SpikeOf(start time.Time, spans []schedule.Span, points []series.Point) *Spike {
	if len(spans) < 3 {
		return nil
	}
	before, after := spans[0], spans[len(spans)-1]
	sp := &Spike{BaseRate: before.FromLevel, StartSeconds: before.End.Seconds(),
		EndSeconds: after.Start.Seconds(), Method: SpikeMethod()}
	for _, s := range spans[1 : len(spans)-1] {
		sp.PeakRate = math.Max(sp.PeakRate, math.Max(s.FromLevel, s.ToLevel))
	}
	var base []float64
	for _, p := range within(start, before.Start, before.End, points) {
		if p.Count > 0 {
			base = append(base, p.P95Ms)
		}
	}
	sp.BaselineP95Ms = median(base)
	var reqs, errs int64
	for _, p := range within(start, before.End, after.Start, points) {
		reqs += p.Count
		errs += p.KO
		sp.PeakP95Ms = math.Max(sp.PeakP95Ms, p.P95Ms)
	}
	if reqs > 0 {
		sp.PeakErrorRate = float64(errs) / float64(reqs)
	}
	if len(base) > 0 {
		sp.RecoverySeconds = recovery(start, after.Start, points, sp.BaselineP95Ms*(1+RecoveryTolerance))
	}
	return sp
}

// recovery is the time from spikeEnd to the first second from which p95
// stays at or under limit for recoveryHold seconds with requests (or until
// the series ends); nil if it never does.
func recovery(start time.Time, spikeEnd time.Duration, points []series.Point, limit float64) *float64 {
	var seconds []series.Point
	for _, p := range within(start, spikeEnd, math.MaxInt64, points) {
		if p.Count > 0 {
			seconds = append(seconds, p)
		}
	}
	for i := range seconds {
		hold := min(recoveryHold, len(seconds)-i)
		back := true
		for _, p := range seconds[i : i+hold] {
			back = back && p.P95Ms <= limit
		}
		if back {
			d := (seconds[i].Time.Sub(start) - spikeEnd).Seconds()
			return &d
		}
	}
	return nil
}
