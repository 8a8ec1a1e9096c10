package schedule

import (
	"math"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Scale multiplies every rate and user count of a load by m (a run
// override taking a share of the load). Rates scale exactly; a positive
// user count is rounded and kept at least 1, so a scaled step still starts
// someone. Durations are left alone: the shape of the load is unchanged.
// It lives beside the expansion so that a new step variant is taught to
// one package.
func Scale(l *plan.Load, m float64) {
	rate := func(r *float64) { *r *= m }
	users := func(n *int) {
		if *n > 0 {
			*n = max(1, int(math.Round(float64(*n)*m)))
		}
	}
	for i := range l.Open {
		s := &l.Open[i]
		switch {
		case s.AtOnceUsers != nil:
			users(&s.AtOnceUsers.Users)
		case s.RampUsers != nil:
			users(&s.RampUsers.Users)
		case s.StressPeakUsers != nil:
			users(&s.StressPeakUsers.Users)
		case s.ConstantUsersPerSec != nil:
			rate(&s.ConstantUsersPerSec.Rate)
		case s.RampUsersPerSec != nil:
			rate(&s.RampUsersPerSec.From)
			rate(&s.RampUsersPerSec.To)
		case s.IncrementUsersPerSec != nil:
			rate(&s.IncrementUsersPerSec.Increment)
			rate(&s.IncrementUsersPerSec.StartingFrom)
		}
	}
	for i := range l.Closed {
		s := &l.Closed[i]
		switch {
		case s.ConstantConcurrentUsers != nil:
			users(&s.ConstantConcurrentUsers.Users)
		case s.RampConcurrentUsers != nil:
			users(&s.RampConcurrentUsers.From)
			users(&s.RampConcurrentUsers.To)
		case s.IncrementConcurrentUsers != nil:
			users(&s.IncrementConcurrentUsers.Increment)
			users(&s.IncrementConcurrentUsers.StartingFrom)
		}
	}
	if p := l.Pattern; p != nil {
		switch {
		case p.Constant != nil:
			rate(&p.Constant.Rate)
		case p.Ramp != nil:
			rate(&p.Ramp.From)
			rate(&p.Ramp.To)
		case p.Steps != nil:
			for i := range p.Steps.Rates {
				rate(&p.Steps.Rates[i])
			}
		case p.Spike != nil:
			rate(&p.Spike.Base)
			rate(&p.Spike.Peak)
		}
	}
}
