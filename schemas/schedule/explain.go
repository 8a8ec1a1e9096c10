package schedule

import (
	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Explanation is what `loadfleet validate --explain` prints: the load as it
// will actually run.
type Explanation struct {
	Model string     `json:"model"` // "open" or "closed"
	Steps []StepInfo `json:"steps"`
	// TotalArrivals is set for open models, PeakUsers for closed ones.
	TotalArrivals   *int64      `json:"totalArrivals,omitempty"`
	PeakUsers       *int        `json:"peakUsers,omitempty"`
	PeakRate        float64     `json:"peakRate"`
	DurationSeconds float64     `json:"durationSeconds"`
	Executors       int         `json:"executors"`
	Shards          []ShardInfo `json:"shards"`
}

// StepInfo is one expanded step.
type StepInfo struct {
	Kind            string  `json:"kind"`
	Source          string  `json:"source"`
	StartSeconds    float64 `json:"startSeconds"`
	DurationSeconds float64 `json:"durationSeconds"`
	// Arrivals (open) after any maxDuration cut; FromRate/ToRate in
	// arrivals per second.
	Arrivals   *int64   `json:"arrivals,omitempty"`
	FromRate   *float64 `json:"fromRate,omitempty"`
	ToRate     *float64 `json:"toRate,omitempty"`
	Randomized bool     `json:"randomized,omitempty"`
	// FromUsers/ToUsers (closed).
	FromUsers *int `json:"fromUsers,omitempty"`
	ToUsers   *int `json:"toUsers,omitempty"`
}

// ShardInfo is one shard's share: its arrivals (open) or peak users (closed).
type ShardInfo struct {
	Index     int    `json:"index"`
	Arrivals  *int64 `json:"arrivals,omitempty"`
	PeakUsers *int   `json:"peakUsers,omitempty"`
}

// Explain computes the explanation of a valid plan.
func Explain(p *plan.Plan) Explanation {
	n := ExecutorCount(p)
	if len(p.Load.Closed) > 0 {
		return explainClosed(p, n)
	}
	o := NewOpen(ExpandOpen(p.Load), p.Load.MaxDuration.D(), 0)
	e := Explanation{Model: "open", PeakRate: PeakRate(o.Steps()), Executors: n,
		DurationSeconds: o.Duration().Seconds(), Steps: []StepInfo{}}
	for i, s := range o.Steps() {
		arr, from, to := o.StepArrivals(i), s.FromRate, s.ToRate
		e.Steps = append(e.Steps, StepInfo{Kind: s.Kind, Source: s.Source,
			StartSeconds: s.Start.Seconds(), DurationSeconds: s.Duration.Seconds(),
			Arrivals: &arr, FromRate: &from, ToRate: &to, Randomized: s.Randomized})
	}
	total := o.Total()
	e.TotalArrivals = &total
	for i := range n {
		share := Share(total, i, n)
		e.Shards = append(e.Shards, ShardInfo{Index: i, Arrivals: &share})
	}
	return e
}

func explainClosed(p *plan.Plan, n int) Explanation {
	c := NewClosed(ExpandClosed(p.Load), p.Load.MaxDuration.D())
	peak := c.Peak()
	e := Explanation{Model: "closed", PeakUsers: &peak, Executors: n,
		DurationSeconds: c.Duration().Seconds(), Steps: []StepInfo{}}
	for _, s := range c.Steps() {
		from, to := s.From, s.To
		e.Steps = append(e.Steps, StepInfo{Kind: s.Kind, Source: s.Source,
			StartSeconds: s.Start.Seconds(), DurationSeconds: s.Duration.Seconds(),
			FromUsers: &from, ToUsers: &to})
	}
	for i := range n {
		users := int(Share(int64(peak), i, n))
		e.Shards = append(e.Shards, ShardInfo{Index: i, PeakUsers: &users})
	}
	return e
}
