// Package analysis reads a run's merged per-second series in the light of
// the load shape its plan asked for: the stability of a constant load, the
// knee of a ramp, the table of a staircase and the recovery from a spike.
// Everything here is a pure function of the plan and the series.
package analysis

import (
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// The load shapes Shape recognizes.
const (
	ShapeConstant = "constant"
	ShapeRamp     = "ramp"
	ShapeSteps    = "steps"
	ShapeSpike    = "spike"
	ShapeMixed    = "mixed"
)

// Span is one expanded load step of the plan, on the run's offset axis.
// Level is in arrivals per second for open models and in concurrent users
// for closed ones.
type Span struct {
	// Index is the step's position in schedule.ExpandOpen (or ExpandClosed).
	Index      int           `json:"index"`
	Kind       string        `json:"kind"`
	Start      time.Duration `json:"-"`
	End        time.Duration `json:"-"`
	FromLevel  float64       `json:"fromLevel"`
	ToLevel    float64       `json:"toLevel"`
	Closed     bool          `json:"closed,omitempty"`
	connecting bool
}

// Duration is the span's length.
func (s Span) Duration() time.Duration { return s.End - s.Start }

// Constant reports a span holding one level for a while: a constant rate
// or a constant concurrency. Instants and Heaviside curves are not levels.
func (s Span) Constant() bool {
	switch s.Kind {
	case "constantUsersPerSec", "rampUsers", "constantConcurrentUsers":
		return s.FromLevel == s.ToLevel && s.Duration() > 0
	}
	return false
}

func (s Span) ramp() bool {
	switch s.Kind {
	case "rampUsersPerSec", "rampConcurrentUsers":
		return s.FromLevel != s.ToLevel && s.Duration() > 0
	}
	return false
}

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

// Spans expands the plan's load into spans laid end to end from offset 0.
// Spans past a positive maxDuration are cut.
func Spans(p *plan.Plan) []Span {
	var out []Span
	if len(p.Load.Closed) > 0 {
		for i, s := range schedule.ExpandClosed(p.Load) {
			out = append(out, Span{Index: i, Kind: s.Kind, Start: s.Start, End: s.Start + s.Duration,
				FromLevel: float64(s.From), ToLevel: float64(s.To), Closed: true})
		}
	} else {
		for i, s := range schedule.ExpandOpen(p.Load) {
			out = append(out, Span{Index: i, Kind: s.Kind, Start: s.Start, End: s.Start + s.Duration,
				FromLevel: s.FromRate, ToLevel: s.ToRate})
		}
	}
	return cut(out, p.Load.MaxDuration.D())
}

func cut(spans []Span, limit time.Duration) []Span {
	if limit <= 0 {
		return spans
	}
	var out []Span
	for _, s := range spans {
		if s.Start >= limit {
			break
		}
		if s.End > limit {
			s.ToLevel = s.LevelAt(limit)
			s.End = limit
		}
		out = append(out, s)
	}
	return out
}

// Shape names the plan's load shape. Named patterns map directly. Open and
// closed steps are read after expansion, ignoring leading and trailing
// nothingFor: one constant level is constant; one ramp is ramp; a single
// increment step, or two or more strictly rising levels joined only by
// ramps between them, is steps; three levels whose middle one is the
// highest (base, peak, base, with optional ramps between) is spike;
// anything else is mixed.
func Shape(p *plan.Plan) string {
	if pat := p.Load.Pattern; pat != nil {
		switch {
		case pat.Constant != nil:
			return ShapeConstant
		case pat.Ramp != nil:
			return ShapeRamp
		case pat.Steps != nil:
			return ShapeSteps
		case pat.Spike != nil:
			return ShapeSpike
		}
	}
	if len(p.Load.Open) == 1 && p.Load.Open[0].IncrementUsersPerSec != nil ||
		len(p.Load.Closed) == 1 && p.Load.Closed[0].IncrementConcurrentUsers != nil {
		return ShapeSteps
	}
	shape, _ := classify(Spans(p))
	return shape
}

// classify names the shape of expanded spans and returns the spans that
// carry it (leading and trailing pauses dropped, equal consecutive levels
// merged, ramps joining two levels marked as connecting).
func classify(spans []Span) (string, []Span) {
	spans = trimPauses(spans)
	if len(spans) == 0 {
		return ShapeMixed, nil
	}
	spans = mergeLevels(spans)
	if len(spans) == 1 {
		switch {
		case spans[0].Constant():
			return ShapeConstant, spans
		case spans[0].ramp():
			return ShapeRamp, spans
		}
		return ShapeMixed, spans
	}
	var levels []float64
	for i := range spans {
		s := &spans[i]
		switch {
		case s.Constant():
			levels = append(levels, s.FromLevel)
		case s.ramp() && joins(spans, i):
			s.connecting = true
		default:
			return ShapeMixed, spans
		}
	}
	switch {
	case rising(levels):
		return ShapeSteps, spans
	case len(levels) == 3 && levels[1] > levels[0] && levels[1] > levels[2]:
		return ShapeSpike, spans
	}
	return ShapeMixed, spans
}

func trimPauses(spans []Span) []Span {
	pause := func(s Span) bool { return s.Kind == "nothingFor" }
	for len(spans) > 0 && pause(spans[0]) {
		spans = spans[1:]
	}
	for len(spans) > 0 && pause(spans[len(spans)-1]) {
		spans = spans[:len(spans)-1]
	}
	return spans
}

// mergeLevels joins consecutive constant spans of the same level: two
// constantUsersPerSec at 50/s are one constant load.
func mergeLevels(spans []Span) []Span {
	out := []Span{}
	for _, s := range spans {
		if n := len(out); n > 0 && s.Constant() && out[n-1].Constant() && out[n-1].FromLevel == s.FromLevel {
			out[n-1].End = s.End
			continue
		}
		out = append(out, s)
	}
	return out
}

// joins reports a ramp that goes from the level before it to the level
// after it: a transition between two levels, not a load of its own.
func joins(spans []Span, i int) bool {
	if i == 0 || i == len(spans)-1 {
		return false
	}
	prev, next, r := spans[i-1], spans[i+1], spans[i]
	return prev.Constant() && next.Constant() && r.FromLevel == prev.FromLevel && r.ToLevel == next.FromLevel
}

func rising(levels []float64) bool {
	if len(levels) < 2 {
		return false
	}
	for i := 1; i < len(levels); i++ {
		if levels[i] <= levels[i-1] {
			return false
		}
	}
	return true
}
