package schedule

import "math"

// curve is the cumulative intended-arrival function N(t) of one open step on
// local time t in seconds, 0 <= t <= d, with its inverse. Arrival k (from 0)
// of the step is due at inverse(k): pacing is always from the step start,
// never from the previous arrival, so a late arrival never shifts the rest.
type curve interface {
	// total returns N(d), the (possibly fractional) arrivals over the step.
	total() float64
	// cumulative returns N(t).
	cumulative(t float64) float64
	// inverse returns the t at which N(t) = x, for 0 <= x <= total().
	inverse(x float64) float64
}

// eps absorbs float error when a total is an integer in exact arithmetic
// (100/s during 300 s is 30,000 arrivals, not 30,001).
const eps = 1e-9

// arrivalsOf counts the arrivals due strictly before the end of a curve:
// arrival k is due at inverse(k), so they are k = 0 .. ceil(N(d))-1.
func arrivalsOf(total float64) int64 {
	if total <= 0 {
		return 0
	}
	return int64(math.Ceil(total - eps*math.Max(1, total)))
}

// instant puts every arrival at t = 0 (atOnceUsers).
type instant struct{ users float64 }

func (c instant) total() float64 { return c.users }
func (c instant) cumulative(t float64) float64 {
	return c.users
}
func (c instant) inverse(float64) float64 { return 0 }

// linearRate is an arrival rate changing linearly from r1 to r2 over d
// seconds: N(t) = r1·t + (r2-r1)·t²/(2d). A constant rate is r1 = r2.
type linearRate struct{ r1, r2, d float64 }

func (c linearRate) total() float64 { return (c.r1 + c.r2) * c.d / 2 }

func (c linearRate) cumulative(t float64) float64 {
	return c.r1*t + (c.r2-c.r1)*t*t/(2*c.d)
}

func (c linearRate) inverse(x float64) float64 {
	if x <= 0 {
		return 0
	}
	a := (c.r2 - c.r1) / (2 * c.d)
	b := c.r1
	// Root of a·t² + b·t - x = 0 in the form that stays accurate when a is
	// tiny or b is zero: t = 2x / (b + sqrt(b² + 4ax)).
	disc := b*b + 4*a*x
	if disc < 0 {
		disc = 0
	}
	den := b + math.Sqrt(disc)
	if den <= 0 {
		return c.d
	}
	return math.Min(2*x/den, c.d)
}

// heaviside is Gatling's stressPeakUsers: users arrive along a smoothed step,
// N(t) = users·S(t/d) with S(x) = (erf(4x-2) + erf(2)) / (2·erf(2)), so
// S(0) = 0, S(1) = 1 and the rate peaks in the middle of the step.
type heaviside struct{ users, d float64 }

var erf2 = math.Erf(2)

func (c heaviside) total() float64 { return c.users }

func (c heaviside) cumulative(t float64) float64 {
	return c.users * (math.Erf(4*t/c.d-2) + erf2) / (2 * erf2)
}

func (c heaviside) inverse(x float64) float64 {
	y := x / c.users
	t := (math.Erfinv(erf2*(2*y-1)) + 2) / 4 * c.d
	return math.Max(0, math.Min(t, c.d))
}

// peakRate is the highest instantaneous rate of the curve, in the middle.
func (c heaviside) peakRate() float64 {
	return c.users * 4 / (c.d * math.Sqrt(math.Pi) * erf2)
}
