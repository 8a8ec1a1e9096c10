package merge

import (
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// Step is one expanded load step of the plan, on the run's offset axis.
type Step struct {
	// Index is the step's position in schedule.ExpandOpen (or ExpandClosed).
	Index int `json:"index"`
	// Kind is the Gatling name of the step after expansion.
	Kind string `json:"kind"`
	// Source is the JSON pointer of the plan element it came from.
	Source string        `json:"source"`
	Start  time.Duration `json:"-"`
	End    time.Duration `json:"-"`
	Closed bool          `json:"closed,omitempty"`
	// FromRate and ToRate are open-model arrivals per second.
	FromRate float64 `json:"fromRate,omitempty"`
	ToRate   float64 `json:"toRate,omitempty"`
	// FromUsers and ToUsers are closed-model concurrencies.
	FromUsers int `json:"fromUsers,omitempty"`
	ToUsers   int `json:"toUsers,omitempty"`
	// Arrivals is the exact number of open-model arrivals of the step,
	// after the plan's maxDuration cut.
	Arrivals int64 `json:"arrivals,omitempty"`
}

// Constant reports a step that holds one load level for a while: a constant
// arrival rate (rampUsers spreads users evenly, so it is one too) or a
// constant concurrency. Instants and stress peaks are not levels.
func (s Step) Constant() bool {
	if s.End <= s.Start {
		return false
	}
	switch s.Kind {
	case "constantUsersPerSec", "rampUsers":
		return s.FromRate == s.ToRate && s.FromRate > 0
	case "constantConcurrentUsers":
		return s.FromUsers == s.ToUsers && s.FromUsers > 0
	}
	return false
}

// StepsOf expands the load of a valid plan into its steps, cut at the run's
// planned end (maxDuration). A randomized open step cut by maxDuration keeps
// a count drawn with seed 0: the executors' own count, drawn with the run's
// seed, may differ by a few arrivals.
func StepsOf(p *plan.Plan) []Step {
	if len(p.Load.Closed) > 0 {
		return closedSteps(p)
	}
	o := schedule.NewOpen(schedule.ExpandOpen(p.Load), p.Load.MaxDuration.D(), 0)
	var out []Step
	for i, s := range o.Steps() {
		if s.Start >= o.Duration() && s.Duration > 0 {
			break
		}
		out = append(out, Step{
			Index: i, Kind: s.Kind, Source: s.Source,
			Start: s.Start, End: min(s.Start+s.Duration, o.Duration()),
			FromRate: s.FromRate, ToRate: s.ToRate, Arrivals: o.StepArrivals(i),
		})
	}
	return out
}

func closedSteps(p *plan.Plan) []Step {
	c := schedule.NewClosed(schedule.ExpandClosed(p.Load), p.Load.MaxDuration.D())
	var out []Step
	for i, s := range c.Steps() {
		if s.Start >= c.Duration() {
			break
		}
		out = append(out, Step{
			Index: i, Kind: s.Kind, Source: s.Source, Closed: true,
			Start: s.Start, End: min(s.Start+s.Duration, c.Duration()),
			FromUsers: s.From, ToUsers: s.To,
		})
	}
	return out
}

// stepAt is the index in steps of the step running at run offset off: a
// second before the first step counts in the first, one after the last
// (graceful stop) in the last, since its requests belong to that load.
// Zero-length steps (atOnceUsers) never hold a second. It is -1 without
// steps.
func stepAt(steps []Step, off time.Duration) int {
	if len(steps) == 0 {
		return -1
	}
	last := -1
	for i, s := range steps {
		if off < s.Start && last >= 0 {
			return last
		}
		if s.End > s.Start {
			last = i
			if off < s.End {
				return i
			}
		}
	}
	if last < 0 {
		return len(steps) - 1
	}
	return last
}
