package schedule

import (
	"fmt"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// ExpandedPast returns the JSON pointer of the plan element at which the
// load's expansion first passes limit elementary steps, or "" when it stays
// within. It counts from the plan without expanding, so a server can refuse
// a small document that would expand without bound (an increment step with
// a huge "times") before allocating its steps.
func ExpandedPast(l plan.Load, limit int64) string {
	count := func(times int) int64 { return 2 * int64(max(times, 0)) } // a level and a ramp each
	var total int64
	var at string
	for i, s := range l.Open {
		total++
		if s.IncrementUsersPerSec != nil {
			total += count(s.IncrementUsersPerSec.Times)
		}
		if total > limit && at == "" {
			at = fmt.Sprintf("/load/open/%d", i)
		}
	}
	for i, s := range l.Closed {
		total++
		if s.IncrementConcurrentUsers != nil {
			total += count(s.IncrementConcurrentUsers.Times)
		}
		if total > limit && at == "" {
			at = fmt.Sprintf("/load/closed/%d", i)
		}
	}
	if l.Pattern != nil && l.Pattern.Steps != nil && int64(len(l.Pattern.Steps.Rates)) > limit {
		at = "/load/pattern/steps/rates"
	}
	return at
}

// OpenDuration is how long open steps last: end to end, cut at a positive
// maxDuration when that is shorter. It is what NewOpen computes, without
// counting arrivals, which for randomized steps is linear in their number
// and must not run before a server's ceilings are known to hold.
func OpenDuration(steps []Step, maxDuration time.Duration) time.Duration {
	var d time.Duration
	if n := len(steps); n > 0 {
		d = steps[n-1].Start + steps[n-1].Duration
	}
	if maxDuration > 0 && maxDuration < d {
		return maxDuration
	}
	return d
}

// PeakRateSource is the JSON pointer of the first step reaching the peak
// arrival rate, or "/load" when none does.
func PeakRateSource(steps []Step, peak float64) string {
	for _, s := range steps {
		if s.PeakRate() >= peak {
			return s.Source
		}
	}
	return "/load"
}

// PeakUsersSource is the JSON pointer of the first closed step reaching the
// peak concurrency, or "/load/closed" when none does.
func PeakUsersSource(steps []ClosedStep, peak int) string {
	for _, s := range steps {
		if max(s.From, s.To) >= peak {
			return s.Source
		}
	}
	return "/load/closed"
}
