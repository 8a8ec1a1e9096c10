package plan

import (
	"fmt"
	"math"
	"time"
)

// loadChecker walks the load steps, recording problems and summing the
// schedule's length in float seconds (a sum of Durations could overflow).
type loadChecker struct {
	v       *ValidationError
	seconds float64
	injects bool // some step starts at least one user
	// The peaks size an "auto" executor fleet: arrivals per second (open
	// models) and concurrent users (closed ones).
	peakRate  float64
	peakUsers int
}

// checkLoad checks the load and returns its checker, which holds the
// load's peaks.
func checkLoad(l *Load, v *ValidationError) *loadChecker {
	c := &loadChecker{v: v}
	hasOpen, hasClosed, hasPattern := len(l.Open) > 0, len(l.Closed) > 0, l.Pattern != nil
	switch {
	case hasOpen && hasClosed:
		v.Add("/load", "a plan has an open model (open) or a closed model (closed), not both")
	case hasPattern && (hasOpen || hasClosed):
		v.Add("/load/pattern", "a pattern expands into open steps: use it instead of open or closed, not with them")
	case !hasOpen && !hasClosed && !hasPattern:
		v.Add("/load", "load needs one of open, closed or pattern")
		return c
	}
	before := len(v.Problems)
	for i, s := range l.Open {
		c.open(s, pointer("/load/open", i))
	}
	for i, s := range l.Closed {
		c.closed(s, pointer("/load/closed", i))
	}
	if l.Pattern != nil {
		c.pattern(l.Pattern)
	}
	// An empty load is worth saying only when no step said why already.
	switch quiet := len(v.Problems) > before; {
	case quiet:
	case hasOpen && !c.injects:
		v.Add("/load/open", "no step starts any user: add a step such as constantUsersPerSec")
	case hasClosed && !hasOpen && !c.injects:
		v.Add("/load/closed", "every step has 0 users")
	}
	if c.seconds > MaxRunLength.Seconds() {
		v.Add("/load", "the load steps last %s; the limit is %s", fmtSeconds(c.seconds), MaxRunLength)
	}
	if l.GracefulStop > Duration(MaxRunLength) {
		v.Add("/load/gracefulStop", "gracefulStop must be at most %s", MaxRunLength)
	}
	if hasClosed && l.MaxConcurrentSessions > 0 {
		v.Add("/load/maxConcurrentSessions", "maxConcurrentSessions applies to open models; a closed model's users are its concurrency")
	}
	return c
}

func fmtSeconds(s float64) string {
	if s > float64(1<<62)/float64(time.Second) {
		return fmt.Sprintf("%.0fs", s)
	}
	return time.Duration(s * float64(time.Second)).String()
}

// during checks the length of a step and adds it to the schedule.
func (c *loadChecker) during(d Duration, ptr, name string) {
	positive(d, ptr, name, c.v)
	c.seconds += d.Seconds()
}

func (c *loadChecker) users(n int, ptr, name string, allowZero bool) {
	if n > 0 {
		c.injects = true
		c.peakUsers = max(c.peakUsers, n)
	}
	switch {
	case n <= 0 && !allowZero:
		c.v.Add(ptr, "%s must be greater than 0", name)
	case n > MaxUsers:
		c.v.Add(ptr, "%s must be at most %d", name, MaxUsers)
	}
}

func (c *loadChecker) rate(r float64, ptr, name string, allowZero bool) {
	if r > 0 {
		c.injects = true
		c.peakRate = max(c.peakRate, r)
	}
	switch {
	case r <= 0 && !allowZero:
		c.v.Add(ptr, "%s must be greater than 0", name)
	case r > MaxRate:
		c.v.Add(ptr, "%s must be at most %g per second", name, MaxRate)
	}
}

// ramp checks the two ends of a rate ramp: either may be 0, not both.
func (c *loadChecker) ramp(from, to float64, ptr string) {
	c.rate(from, ptr+"/from", "from", true)
	c.rate(to, ptr+"/to", "to", true)
	if from == 0 && to == 0 {
		c.v.Add(ptr, "a ramp from 0 to 0 starts nobody: use nothingFor to wait")
	}
}

func (c *loadChecker) open(s OpenStep, ptr string) {
	switch {
	case s.NothingFor != nil:
		c.during(s.NothingFor.During, ptr+"/nothingFor/during", "during")
	case s.AtOnceUsers != nil:
		c.users(s.AtOnceUsers.Users, ptr+"/atOnceUsers/users", "users", false)
		// All within one second, as schedule.Step.PeakRate counts it.
		c.peakRate = max(c.peakRate, float64(s.AtOnceUsers.Users))
	case s.RampUsers != nil:
		p := ptr + "/rampUsers"
		c.users(s.RampUsers.Users, p+"/users", "users", false)
		c.during(s.RampUsers.During, p+"/during", "during")
		if d := s.RampUsers.During.Seconds(); d > 0 {
			c.spread(float64(s.RampUsers.Users)/d, p)
		}
	case s.ConstantUsersPerSec != nil:
		p := ptr + "/constantUsersPerSec"
		c.rate(s.ConstantUsersPerSec.Rate, p+"/rate", "rate", false)
		c.during(s.ConstantUsersPerSec.During, p+"/during", "during")
	case s.RampUsersPerSec != nil:
		p := ptr + "/rampUsersPerSec"
		c.ramp(s.RampUsersPerSec.From, s.RampUsersPerSec.To, p)
		c.during(s.RampUsersPerSec.During, p+"/during", "during")
	case s.StressPeakUsers != nil:
		p := ptr + "/stressPeakUsers"
		c.users(s.StressPeakUsers.Users, p+"/users", "users", false)
		c.during(s.StressPeakUsers.During, p+"/during", "during")
		if d := s.StressPeakUsers.During.Seconds(); d > 0 {
			// The smoothed step's rate peaks mid-step at 4·users/(d·√π·erf 2).
			c.spread(float64(s.StressPeakUsers.Users)*4/(d*math.Sqrt(math.Pi)*math.Erf(2)), p)
		}
	case s.IncrementUsersPerSec != nil:
		c.incrementRate(s.IncrementUsersPerSec, ptr+"/incrementUsersPerSec")
	}
}

// spread checks the peak rate of a step that spreads users over a time.
func (c *loadChecker) spread(rate float64, p string) {
	c.peakRate = max(c.peakRate, rate)
	if rate > MaxRate {
		c.v.Add(p, "starts up to %.0f users per second; the limit is %g: spread them over a longer time", rate, MaxRate)
	}
}

func (c *loadChecker) incrementRate(s *IncrementUsersPerSec, p string) {
	c.rate(s.Increment, p+"/increment", "increment", false)
	c.rate(s.StartingFrom, p+"/startingFrom", "startingFrom", true)
	if !c.levels(s.Times, s.EachLevelLasting, s.SeparatedByRampsLasting, p) {
		return
	}
	top := s.StartingFrom + float64(s.Times-1)*s.Increment
	c.peakRate = max(c.peakRate, top)
	if top > MaxRate {
		c.v.Add(p, "the last level's rate is %g per second; the limit is %g", top, MaxRate)
	}
}

// levels checks the shape shared by the increment steps and adds their
// length; it reports whether times is usable.
func (c *loadChecker) levels(times int, each, ramps Duration, p string) bool {
	positive(each, p+"/eachLevelLasting", "eachLevelLasting", c.v)
	if times < 1 || times > MaxLevels {
		c.v.Add(p+"/times", "times must be between 1 and %d", MaxLevels)
		return false
	}
	c.seconds += float64(times)*each.Seconds() + float64(times-1)*ramps.Seconds()
	return true
}

func (c *loadChecker) closed(s ClosedStep, ptr string) {
	switch {
	case s.ConstantConcurrentUsers != nil:
		p := ptr + "/constantConcurrentUsers"
		// A level of 0 users is a pause between levels.
		c.users(s.ConstantConcurrentUsers.Users, p+"/users", "users", true)
		c.during(s.ConstantConcurrentUsers.During, p+"/during", "during")
	case s.RampConcurrentUsers != nil:
		p := ptr + "/rampConcurrentUsers"
		r := s.RampConcurrentUsers
		c.users(r.From, p+"/from", "from", true)
		c.users(r.To, p+"/to", "to", true)
		if r.From == 0 && r.To == 0 {
			c.v.Add(p, "a ramp from 0 to 0 users runs nobody")
		}
		c.during(r.During, p+"/during", "during")
	case s.IncrementConcurrentUsers != nil:
		p := ptr + "/incrementConcurrentUsers"
		r := s.IncrementConcurrentUsers
		c.users(r.Increment, p+"/increment", "increment", false)
		c.users(r.StartingFrom, p+"/startingFrom", "startingFrom", true)
		if !c.levels(r.Times, r.EachLevelLasting, r.SeparatedByRampsLasting, p) {
			return
		}
		top := float64(r.StartingFrom) + float64(r.Times-1)*float64(r.Increment)
		if top > MaxUsers {
			c.v.Add(p, "the last level has %.0f users; the limit is %d", top, MaxUsers)
		} else {
			c.peakUsers = max(c.peakUsers, int(top))
		}
	}
}

func (c *loadChecker) pattern(p *Pattern) {
	const ptr = "/load/pattern"
	switch {
	case p.Constant != nil:
		c.rate(p.Constant.Rate, ptr+"/constant/rate", "rate", false)
		c.during(p.Constant.During, ptr+"/constant/during", "during")
	case p.Ramp != nil:
		c.ramp(p.Ramp.From, p.Ramp.To, ptr+"/ramp")
		c.during(p.Ramp.During, ptr+"/ramp/during", "during")
	case p.Steps != nil:
		s := p.Steps
		positive(s.EachLevelLasting, ptr+"/steps/eachLevelLasting", "eachLevelLasting", c.v)
		for i, r := range s.Rates {
			c.rate(r, pointer(ptr+"/steps/rates", i), "rate", true)
		}
		if !c.injects {
			c.v.Add(ptr+"/steps/rates", "every level is 0: give at least one a rate greater than 0")
		}
		c.seconds += float64(len(s.Rates)) * s.EachLevelLasting.Seconds()
	case p.Spike != nil:
		c.spike(p.Spike, ptr+"/spike")
	}
}

func (c *loadChecker) spike(s *SpikePattern, p string) {
	c.rate(s.Base, p+"/base", "base", true)
	c.rate(s.Peak, p+"/peak", "peak", false)
	if s.Peak <= s.Base {
		c.v.Add(p+"/peak", "peak (%g) must be greater than base (%g)", s.Peak, s.Base)
	}
	c.during(s.Hold, p+"/hold", "hold")
	// Before, after and the ramps may be 0: a spike can start at once.
	c.seconds += s.Before.Seconds() + s.RampUp.Seconds() + s.RampDown.Seconds() + s.After.Seconds()
}
