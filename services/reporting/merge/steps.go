package merge

import (
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// StepsOf expands the load of a valid plan into its steps, cut at the run's
// planned end (maxDuration). A randomized open step cut by maxDuration keeps
// a count drawn with seed 0: the executors' own count, drawn with the run's
// seed, may differ by a few arrivals.
func StepsOf(p *plan.Plan) []schedule.Span { return schedule.SpansWithArrivals(p.Load) }

// stepAt is the index in steps of the step running at run offset off: a
// second before the first step counts in the first, one after the last
// (graceful stop) in the last, since its requests belong to that load.
// Zero-length steps (atOnceUsers) never hold a second. It is -1 without
// steps.
func stepAt(steps []schedule.Span, off time.Duration) int {
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
