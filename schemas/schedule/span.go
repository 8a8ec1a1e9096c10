package schedule

import (
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Span is one expanded step of either model on the run's offset axis, cut
// at the run's planned end: the plan as reports, criteria and analysis read
// a run against it. Levels are arrivals per second for open models and
// concurrent users for closed ones, so readers need not tell the models
// apart except where the unit matters (Closed).
type Span struct {
	// Index is the step's position in ExpandOpen (or ExpandClosed).
	Index int
	// Kind is the Gatling name of the step after expansion.
	Kind string
	// Source is the JSON pointer of the plan element it came from.
	Source     string
	Start, End time.Duration
	Closed     bool
	// FromLevel and ToLevel are the planned levels at Start and End (a step
	// cut by maxDuration ends at the level it had reached).
	FromLevel, ToLevel float64
	// Arrivals is the exact number of open-model arrivals of the step after
	// the cut; only SpansWithArrivals counts it.
	Arrivals int64
}

// Duration is the span's length.
func (s Span) Duration() time.Duration { return s.End - s.Start }

// Steady reports a span holding one level, possibly zero, for a while: a
// constant rate (rampUsers spreads users evenly, so it is one too) or a
// constant concurrency. Instants and stress peaks are not levels.
func (s Span) Steady() bool {
	switch s.Kind {
	case "constantUsersPerSec", "rampUsers", "constantConcurrentUsers":
		return s.FromLevel == s.ToLevel && s.Duration() > 0
	}
	return false
}

// Constant reports a steady span at a positive level: a constant load, as
// opposed to a pause.
func (s Span) Constant() bool { return s.Steady() && s.FromLevel > 0 }

// Ramp reports a span moving linearly from one level to another.
func (s Span) Ramp() bool {
	switch s.Kind {
	case "rampUsersPerSec", "rampConcurrentUsers":
		return s.FromLevel != s.ToLevel && s.Duration() > 0
	}
	return false
}

// Pause reports a span that starts nobody (nothingFor).
func (s Span) Pause() bool { return s.Kind == "nothingFor" }

// LevelAt is the planned level at a run offset inside the span (linear
// between FromLevel and ToLevel).
func (s Span) LevelAt(off time.Duration) float64 {
	if s.Duration() <= 0 {
		return s.FromLevel
	}
	f := float64(off-s.Start) / float64(s.Duration())
	f = min(max(f, 0), 1)
	return s.FromLevel + (s.ToLevel-s.FromLevel)*f
}

// cutAt ends the span at end when it lasts longer, at the level reached.
func (s *Span) cutAt(end time.Duration) {
	if s.End > end {
		s.ToLevel = s.LevelAt(end)
		s.End = end
	}
}

// Spans expands the load of a valid plan into spans, cut at the run's
// planned end (the steps end to end, or maxDuration when shorter). Steps
// starting at or after the end are dropped, except instants (atOnceUsers)
// before the first dropped step, which keep their place. Arrivals is left
// zero: counting it is linear in the arrivals of a randomized step.
func Spans(l plan.Load) []Span {
	if len(l.Closed) > 0 {
		c := NewClosed(ExpandClosed(l), l.MaxDuration.D())
		var out []Span
		for i, s := range c.Steps() {
			if s.Start >= c.Duration() {
				break
			}
			sp := Span{Index: i, Kind: s.Kind, Source: s.Source, Closed: true,
				Start: s.Start, End: s.Start + s.Duration, FromLevel: float64(s.From), ToLevel: float64(s.To)}
			sp.cutAt(c.Duration())
			out = append(out, sp)
		}
		return out
	}
	steps := ExpandOpen(l)
	end := OpenDuration(steps, l.MaxDuration.D())
	var out []Span
	for i, s := range steps {
		if s.Start >= end && s.Duration > 0 {
			break
		}
		sp := Span{Index: i, Kind: s.Kind, Source: s.Source,
			Start: s.Start, End: s.Start + s.Duration, FromLevel: s.FromRate, ToLevel: s.ToRate}
		sp.cutAt(end) // an instant past the end ends there: it never holds a second
		out = append(out, sp)
	}
	return out
}

// SpansWithArrivals is Spans with each open span's arrivals counted after
// the cut. A randomized step cut by maxDuration is counted with seed 0: the
// executors' own count, drawn with the run's seed, may differ by a few.
func SpansWithArrivals(l plan.Load) []Span {
	spans := Spans(l)
	if len(l.Closed) > 0 {
		return spans
	}
	o := NewOpen(ExpandOpen(l), l.MaxDuration.D(), 0)
	for i := range spans {
		spans[i].Arrivals = o.StepArrivals(spans[i].Index)
	}
	return spans
}

// NamedShape is the load shape a plan names outright: its pattern
// ("constant", "ramp", "steps" or "spike"), or "steps" for a load of one
// increment step. It is "" when the shape must be read from the spans.
func NamedShape(l plan.Load) string {
	if p := l.Pattern; p != nil {
		switch {
		case p.Constant != nil:
			return "constant"
		case p.Ramp != nil:
			return "ramp"
		case p.Steps != nil:
			return "steps"
		case p.Spike != nil:
			return "spike"
		}
	}
	if len(l.Open) == 1 && l.Open[0].IncrementUsersPerSec != nil ||
		len(l.Closed) == 1 && l.Closed[0].IncrementConcurrentUsers != nil {
		return "steps"
	}
	return ""
}
