// Package schedule is the exact arithmetic of load: it expands a plan's load
// into steps, gives the intended instant of every arrival of the whole run,
// splits arrivals and users across shards, and sizes the executor fleet.
// Everything here is a pure function of the plan (and, for randomized steps,
// of a seed shared by all shards), so N executors together produce exactly
// the arrivals one injector would.
package schedule

import (
	"fmt"
	"math"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Step is one expanded open-model step.
type Step struct {
	// Kind is the Gatling name of the step after expansion: nothingFor,
	// atOnceUsers, rampUsers, constantUsersPerSec, rampUsersPerSec or
	// stressPeakUsers.
	Kind string `json:"kind"`
	// Source is the JSON pointer of the plan element it came from.
	Source   string        `json:"source"`
	Start    time.Duration `json:"-"`
	Duration time.Duration `json:"-"`
	// Arrivals is the exact number of arrivals of the step (before any
	// maxDuration cut, which Open applies).
	Arrivals   int64   `json:"arrivals"`
	FromRate   float64 `json:"fromRate"`
	ToRate     float64 `json:"toRate"`
	Randomized bool    `json:"randomized,omitempty"`

	curve curve
}

// PeakRate is the highest arrival rate of the step, per second. An
// atOnceUsers step counts as all its users within one second.
func (s Step) PeakRate() float64 {
	switch c := s.curve.(type) {
	case instant:
		return c.users
	case heaviside:
		return c.peakRate()
	}
	return math.Max(s.FromRate, s.ToRate)
}

// ExpandOpen turns the open steps, or the named pattern, of a load into
// elementary steps laid end to end from offset zero. The load must have been
// validated: durations and rates are assumed positive where required.
func ExpandOpen(l plan.Load) []Step {
	var b builder
	if l.Pattern != nil {
		b.pattern(l.Pattern)
		return b.steps
	}
	for i, s := range l.Open {
		b.open(s, fmt.Sprintf("/load/open/%d", i))
	}
	return b.steps
}

type builder struct {
	steps []Step
	at    time.Duration
}

func (b *builder) add(kind, src string, d time.Duration, c curve, from, to float64, randomized bool) {
	b.steps = append(b.steps, Step{
		Kind: kind, Source: src, Start: b.at, Duration: d,
		Arrivals: arrivalsOf(c.total()), FromRate: from, ToRate: to,
		Randomized: randomized, curve: c,
	})
	b.at += d
}

func (b *builder) rate(kind, src string, from, to float64, d plan.Duration, randomized bool) {
	b.add(kind, src, d.D(), linearRate{from, to, d.Seconds()}, from, to, randomized)
}

func (b *builder) open(s plan.OpenStep, src string) {
	switch {
	case s.NothingFor != nil:
		b.add("nothingFor", src, s.NothingFor.During.D(), instant{0}, 0, 0, false)
	case s.AtOnceUsers != nil:
		n := float64(s.AtOnceUsers.Users)
		b.add("atOnceUsers", src, 0, instant{n}, n, n, false)
	case s.RampUsers != nil:
		r := s.RampUsers
		if r.During <= 0 {
			n := float64(r.Users)
			b.add("rampUsers", src, 0, instant{n}, n, n, false)
			return
		}
		rate := float64(r.Users) / r.During.Seconds()
		b.add("rampUsers", src, r.During.D(), linearRate{rate, rate, r.During.Seconds()}, rate, rate, false)
	case s.ConstantUsersPerSec != nil:
		c := s.ConstantUsersPerSec
		b.rate("constantUsersPerSec", src, c.Rate, c.Rate, c.During, c.Randomized)
	case s.RampUsersPerSec != nil:
		r := s.RampUsersPerSec
		b.rate("rampUsersPerSec", src, r.From, r.To, r.During, r.Randomized)
	case s.StressPeakUsers != nil:
		p := s.StressPeakUsers
		c := heaviside{float64(p.Users), p.During.Seconds()}
		b.add("stressPeakUsers", src, p.During.D(), c, 0, c.peakRate(), false)
	case s.IncrementUsersPerSec != nil:
		b.increment(s.IncrementUsersPerSec, src)
	}
}

// increment expands Gatling's incrementUsersPerSec: level i runs at
// startingFrom + i·increment, with a linear ramp between consecutive levels.
func (b *builder) increment(s *plan.IncrementUsersPerSec, src string) {
	for i := 0; i < s.Times; i++ {
		level := s.StartingFrom + float64(i)*s.Increment
		if i > 0 && s.SeparatedByRampsLasting > 0 {
			b.rate("rampUsersPerSec", src, level-s.Increment, level, s.SeparatedByRampsLasting, false)
		}
		b.rate("constantUsersPerSec", src, level, level, s.EachLevelLasting, false)
	}
}

func (b *builder) pattern(p *plan.Pattern) {
	const src = "/load/pattern"
	switch {
	case p.Constant != nil:
		b.rate("constantUsersPerSec", src+"/constant", p.Constant.Rate, p.Constant.Rate, p.Constant.During, false)
	case p.Ramp != nil:
		b.rate("rampUsersPerSec", src+"/ramp", p.Ramp.From, p.Ramp.To, p.Ramp.During, false)
	case p.Steps != nil:
		for i, r := range p.Steps.Rates {
			b.rate("constantUsersPerSec", fmt.Sprintf("%s/steps/rates/%d", src, i), r, r, p.Steps.EachLevelLasting, false)
		}
	case p.Spike != nil:
		s := p.Spike
		b.rate("constantUsersPerSec", src+"/spike/before", s.Base, s.Base, s.Before, false)
		if s.RampUp > 0 {
			b.rate("rampUsersPerSec", src+"/spike/rampUp", s.Base, s.Peak, s.RampUp, false)
		}
		b.rate("constantUsersPerSec", src+"/spike/hold", s.Peak, s.Peak, s.Hold, false)
		if s.RampDown > 0 {
			b.rate("rampUsersPerSec", src+"/spike/rampDown", s.Peak, s.Base, s.RampDown, false)
		}
		b.rate("constantUsersPerSec", src+"/spike/after", s.Base, s.Base, s.After, false)
	}
}
