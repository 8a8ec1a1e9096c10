package validator

import (
	"fmt"
	"strconv"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// Limits are this server's ceilings on the load of one plan. A zero field
// means no ceiling.
type Limits struct {
	// MaxRate is the highest peak arrival rate of an open model, per second.
	MaxRate float64
	// MaxUsers is the highest peak concurrency of a closed model.
	MaxUsers int
	// MaxDuration is the longest load (after the plan's maxDuration cut).
	MaxDuration time.Duration
	// MaxExecutors is the most executors one run may use (what "auto"
	// resolves to, or the count the plan gives).
	MaxExecutors int
}

// Default ceilings: generous for one team, small enough that a typo (a rate
// of 1e9) is caught before any executor starts.
const (
	DefaultMaxRate      = 100_000.0
	DefaultMaxUsers     = 100_000
	DefaultMaxDuration  = 24 * time.Hour
	DefaultMaxExecutors = 100
)

// DefaultLimits returns the default ceilings.
func DefaultLimits() Limits {
	return Limits{MaxRate: DefaultMaxRate, MaxUsers: DefaultMaxUsers,
		MaxDuration: DefaultMaxDuration, MaxExecutors: DefaultMaxExecutors}
}

// maxExpandedSteps bounds how many elementary steps a load may expand into
// (incrementUsersPerSec with a huge "times"), checked before expanding so a
// small document cannot make the validator allocate without bound.
const maxExpandedSteps = 10_000

// check returns a problem for every ceiling the plan's load goes over. The
// plan must have parsed without problems: expansion assumes valid steps.
func (l Limits) check(p *plan.Plan) []plan.Problem {
	if ps := checkExpansion(p.Load); ps != nil {
		return ps
	}
	var problems []plan.Problem
	var duration time.Duration
	if len(p.Load.Closed) > 0 {
		steps := schedule.ExpandClosed(p.Load)
		closed := schedule.NewClosed(steps, p.Load.MaxDuration.D())
		duration = closed.Duration()
		if peak := closed.Peak(); l.MaxUsers > 0 && peak > l.MaxUsers {
			problems = append(problems, plan.Problem{Path: schedule.PeakUsersSource(steps, peak),
				Message: fmt.Sprintf("peak concurrency of %d users is above this server's ceiling of %d users (max users)", peak, l.MaxUsers)})
		}
	} else {
		steps := schedule.ExpandOpen(p.Load)
		duration = schedule.OpenDuration(steps, p.Load.MaxDuration.D())
		if peak := schedule.PeakRate(steps); l.MaxRate > 0 && peak > l.MaxRate {
			problems = append(problems, plan.Problem{Path: schedule.PeakRateSource(steps, peak),
				Message: fmt.Sprintf("peak arrival rate of %s/s is above this server's ceiling of %s/s (max rate)", number(peak), number(l.MaxRate))})
		}
	}
	if l.MaxDuration > 0 && duration > l.MaxDuration {
		path := "/load"
		if p.Load.MaxDuration > 0 {
			path = "/load/maxDuration"
		}
		problems = append(problems, plan.Problem{Path: path,
			Message: fmt.Sprintf("the load lasts %s, above this server's ceiling of %s (max duration)", duration, l.MaxDuration)})
	}
	if n := schedule.ExecutorCount(p); l.MaxExecutors > 0 && n > l.MaxExecutors {
		what := fmt.Sprintf("%d executors", n)
		if p.Executors.Count.Auto {
			what = fmt.Sprintf(`"auto" resolves to %d executors, which`, n)
		}
		problems = append(problems, plan.Problem{Path: "/executors/count",
			Message: fmt.Sprintf("%s is above this server's ceiling of %d executors (max executors)", what, l.MaxExecutors)})
	}
	return problems
}

// checkExpansion refuses loads that expand into more than maxExpandedSteps.
func checkExpansion(l plan.Load) []plan.Problem {
	at := schedule.ExpandedPast(l, maxExpandedSteps)
	if at == "" {
		return nil
	}
	return []plan.Problem{{Path: at,
		Message: fmt.Sprintf("the load expands into more than %d steps; use fewer levels", maxExpandedSteps)}}
}

func number(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
