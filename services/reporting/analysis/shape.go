// Package analysis reads a run's merged per-second series in the light of
// the load shape its plan asked for: the stability of a constant load, the
// knee of a ramp, the table of a staircase and the recovery from a spike.
// Everything here is a pure function of the plan and the series.
package analysis

import (
	"slices"

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

// Spans expands the plan's load into spans laid end to end from offset 0.
// Spans from a positive maxDuration on are dropped, those across it cut.
func Spans(p *plan.Plan) []schedule.Span {
	spans := schedule.Spans(p.Load)
	if limit := p.Load.MaxDuration.D(); limit > 0 {
		// schedule keeps instants at the cut in their place; a shape
		// reads only what runs before it.
		spans = slices.DeleteFunc(spans, func(s schedule.Span) bool { return s.Start >= limit })
	}
	return spans
}

// Shape names the plan's load shape. Named patterns map directly. Open and
// closed steps are read after expansion, ignoring leading and trailing
// nothingFor: one constant level is constant; one ramp is ramp; a single
// increment step, or two or more strictly rising levels joined only by
// ramps between them, is steps; three levels whose middle one is the
// highest (base, peak, base, with optional ramps between) is spike;
// anything else is mixed.
func Shape(p *plan.Plan) string {
	if named := schedule.NamedShape(p.Load); named != "" {
		return named
	}
	shape, _ := classify(Spans(p))
	return shape
}

// classify names the shape of expanded spans and returns the spans that
// carry it (leading and trailing pauses dropped, equal consecutive levels
// merged; a ramp joining two levels counts as a transition, not a load).
func classify(spans []schedule.Span) (string, []schedule.Span) {
	spans = trimPauses(spans)
	if len(spans) == 0 {
		return ShapeMixed, nil
	}
	spans = mergeLevels(spans)
	if len(spans) == 1 {
		switch {
		case spans[0].Steady():
			return ShapeConstant, spans
		case spans[0].Ramp():
			return ShapeRamp, spans
		}
		return ShapeMixed, spans
	}
	var levels []float64
	for i := range spans {
		s := &spans[i]
		switch {
		case s.Steady():
			levels = append(levels, s.FromLevel)
		case s.Ramp() && joins(spans, i):
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

func trimPauses(spans []schedule.Span) []schedule.Span {
	for len(spans) > 0 && spans[0].Pause() {
		spans = spans[1:]
	}
	for len(spans) > 0 && spans[len(spans)-1].Pause() {
		spans = spans[:len(spans)-1]
	}
	return spans
}

// mergeLevels joins consecutive constant spans of the same level: two
// constantUsersPerSec at 50/s are one constant load.
func mergeLevels(spans []schedule.Span) []schedule.Span {
	out := []schedule.Span{}
	for _, s := range spans {
		if n := len(out); n > 0 && s.Steady() && out[n-1].Steady() && out[n-1].FromLevel == s.FromLevel {
			out[n-1].End = s.End
			continue
		}
		out = append(out, s)
	}
	return out
}

// joins reports a ramp that goes from the level before it to the level
// after it: a transition between two levels, not a load of its own.
func joins(spans []schedule.Span, i int) bool {
	if i == 0 || i == len(spans)-1 {
		return false
	}
	prev, next, r := spans[i-1], spans[i+1], spans[i]
	return prev.Steady() && next.Steady() && r.FromLevel == prev.FromLevel && r.ToLevel == next.FromLevel
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
