package analysis

import (
	"fmt"
	"time"

	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Stability window parameters; StabilityMethod states them for the report.
const (
	// maxWarmup is the most excluded at the start of a constant load
	// (connection setup, caches, JIT): the smaller of it and a tenth of
	// the load's length.
	maxWarmup = 30 * time.Second
	// stableMinute is the length of the first and last windows compared
	// for drift (shorter when the stable part is under two of them).
	stableMinute = time.Minute
)

// StabilityMethod describes how Stability measures, for the report.
func StabilityMethod() string {
	return fmt.Sprintf("stable part = the constant load minus a warm-up of min(%s, 10%% of it); a window's p95 = "+
		"median of its per-second p95 (per-second points only); p95 drift = (last - first) / first over "+
		"the first and last %s of the stable part (halves when shorter than two); throughput ratio = "+
		"started / planned arrivals (open) or mean active / planned users (closed); error trend = "+
		"least-squares slope of the per-second error rate, per minute", maxWarmup, stableMinute)
}

// Constant is the stability of a constant load.
type Constant struct {
	StableFromSeconds float64 `json:"stableFromSeconds"`
	StableToSeconds   float64 `json:"stableToSeconds"`
	FirstMinuteP95Ms  float64 `json:"firstMinuteP95Ms"`
	LastMinuteP95Ms   float64 `json:"lastMinuteP95Ms"`
	// P95Drift is (last - first) / first; 0.1 means p95 rose by 10%.
	P95Drift float64 `json:"p95Drift"`
	// PlannedRate is arrivals/s (open); PlannedUsers sessions (closed).
	PlannedRate  float64 `json:"plannedRate,omitempty"`
	PlannedUsers float64 `json:"plannedUsers,omitempty"`
	// AchievedRate is started arrivals/s (open) or mean active users
	// (closed); ThroughputRatio is it over the plan, null without data.
	AchievedRate    float64  `json:"achievedRate"`
	ThroughputRatio *float64 `json:"throughputRatio"`
	// MeanRPS is requests completed per second over the stable part.
	MeanRPS   float64 `json:"meanRps"`
	ErrorRate float64 `json:"errorRate"`
	// ErrorRateSlopePerMinute is the trend of the error rate (fraction per
	// minute): positive means errors grow over the run.
	ErrorRateSlopePerMinute float64 `json:"errorRateSlopePerMinute"`
	Method                  string  `json:"method"`
}

// Stability measures the constant span over its stable part.
func Stability(start time.Time, span schedule.Span, points []series.Point) *Constant {
	warm := min(maxWarmup, span.Duration()/10)
	from, to := span.Start+warm, span.End
	c := &Constant{StableFromSeconds: from.Seconds(), StableToSeconds: to.Seconds(), Method: StabilityMethod()}
	minute := min(stableMinute, (to-from)/2)
	c.FirstMinuteP95Ms = windowP95(start, from, from+minute, points)
	c.LastMinuteP95Ms = windowP95(start, to-minute, to, points)
	if c.FirstMinuteP95Ms > 0 {
		c.P95Drift = (c.LastMinuteP95Ms - c.FirstMinuteP95Ms) / c.FirstMinuteP95Ms
	}
	stable := within(start, from, to, points)
	seconds := (to - from).Seconds()
	var reqs, errs, planned, started, users int64
	var ts, rates []float64
	for _, p := range stable {
		reqs += p.Count
		errs += p.KO
		planned += p.PlannedArrivals
		started += p.StartedArrivals
		users += p.ActiveUsers
		if p.Count > 0 {
			ts = append(ts, (p.Time.Sub(start) - from).Minutes())
			rates = append(rates, float64(p.KO)/float64(p.Count))
		}
	}
	if seconds > 0 {
		c.MeanRPS = float64(reqs) / seconds
	}
	if reqs > 0 {
		c.ErrorRate = float64(errs) / float64(reqs)
	}
	if l, ok := fitLine(ts, rates); ok {
		c.ErrorRateSlopePerMinute = l.b
	}
	c.setThroughput(span, planned, started, users, len(stable), seconds)
	return c
}

func (c *Constant) setThroughput(span schedule.Span, planned, started, users int64, points int, seconds float64) {
	if span.Closed {
		c.PlannedUsers = span.FromLevel
		if points > 0 && span.FromLevel > 0 {
			c.AchievedRate = float64(users) / float64(points)
			r := c.AchievedRate / span.FromLevel
			c.ThroughputRatio = &r
		}
		return
	}
	c.PlannedRate = span.FromLevel
	if seconds > 0 {
		c.AchievedRate = float64(started) / seconds
	}
	if planned > 0 {
		r := float64(started) / float64(planned)
		c.ThroughputRatio = &r
	}
}

func windowP95(start time.Time, from, to time.Duration, points []series.Point) float64 {
	var vs []float64
	for _, p := range within(start, from, to, points) {
		if p.Count > 0 {
			vs = append(vs, p.P95Ms)
		}
	}
	return median(vs)
}
