package metadata

import (
	"fmt"
	"math"
	"net/url"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// applyOverrides adapts a plan to the environment a run targets: another
// base URL, a share of the load (a rate multiplier also scales user counts,
// so a closed-model plan scales too), a shorter or longer run. The result
// is validated again by the caller like any plan.
func applyOverrides(p *plan.Plan, o store.Overrides) error {
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldError("/overrides/baseUrl", fmt.Sprintf("%q is not an http(s) URL", o.BaseURL))
		}
		p.Target.BaseURL = o.BaseURL
	}
	if o.RateMultiplier != 0 {
		if o.RateMultiplier < 0 || math.IsInf(o.RateMultiplier, 0) || math.IsNaN(o.RateMultiplier) {
			return fieldError("/overrides/rateMultiplier", "must be a positive number")
		}
		scaleLoad(&p.Load, o.RateMultiplier)
	}
	if o.Duration != "" {
		d, err := plan.ParseDuration(o.Duration)
		if err != nil || d <= 0 {
			return fieldError("/overrides/duration", fmt.Sprintf("%q is not a positive duration", o.Duration))
		}
		p.Load.MaxDuration = d
	}
	return nil
}

func fieldError(path, message string) error {
	return &plan.ValidationError{Kind: plan.ErrInvalid, Problems: []plan.Problem{{Path: path, Message: message}}}
}

// scaleLoad multiplies every rate and user count of a load by m.
func scaleLoad(l *plan.Load, m float64) {
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
