package metadata

import (
	"fmt"
	"math"
	"net/url"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
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
		schedule.Scale(&p.Load, o.RateMultiplier)
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
