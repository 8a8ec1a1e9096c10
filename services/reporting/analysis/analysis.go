package analysis

import (
	"slices"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Result is the analysis of a run, as the report carries it. Only the part
// of its shape is set: Knee for ramps, Steps for steps, Spike for spikes,
// Constant for constant loads; a mixed load has none.
type Result struct {
	Shape    string    `json:"shape"`
	Knee     *Knee     `json:"knee,omitempty"`
	Steps    []Step    `json:"steps,omitempty"`
	Spike    *Spike    `json:"spike,omitempty"`
	Constant *Constant `json:"constant,omitempty"`
	// HighestPassingStep indexes Steps: the passing step with the highest
	// planned level; null when none passed.
	HighestPassingStep *int `json:"highestPassingStep,omitempty"`
	// StepThresholds are what each step was judged against.
	StepThresholds []Threshold `json:"stepThresholds,omitempty"`
}

// Options are the inputs of Analyze besides the plan and the series.
type Options struct {
	// StepLatency holds exact percentiles from the per-step merged
	// histograms, by span index; steps without one use the per-second
	// upper bound (LatencyPerSecondMax).
	StepLatency map[int]Latency
	// Thresholds judge each step; nil means StepThresholds(plan criteria).
	Thresholds []Threshold
}

// Analyze reads the run's AllRequests points (other points are ignored)
// as the plan's shape asks. start is the run's start instant: offset zero
// of the schedule.
func Analyze(p *plan.Plan, start time.Time, points []series.Point, opts Options) Result {
	all := make([]series.Point, 0, len(points))
	for _, pt := range points {
		if pt.Request == series.AllRequests {
			all = append(all, pt)
		}
	}
	slices.SortStableFunc(all, func(a, b series.Point) int { return a.Time.Compare(b.Time) })
	res := Result{Shape: Shape(p)}
	_, spans := classify(Spans(p))
	switch res.Shape {
	case ShapeConstant:
		if c := firstConstant(spans); c != nil {
			res.Constant = Stability(start, *c, all)
		}
	case ShapeRamp:
		if r := firstRamp(spans); r != nil {
			k := RampKnee(start, *r, all)
			res.Knee = &k
		}
	case ShapeSteps:
		res.StepThresholds = opts.Thresholds
		if res.StepThresholds == nil {
			res.StepThresholds = StepThresholds(p.Criteria)
		}
		res.Steps, res.HighestPassingStep = StepTable(start, spans, all, opts.StepLatency, res.StepThresholds)
	case ShapeSpike:
		res.Spike = SpikeOf(start, spans, all)
	}
	return res
}

func firstConstant(spans []schedule.Span) *schedule.Span {
	for i := range spans {
		if spans[i].Steady() {
			return &spans[i]
		}
	}
	return nil
}

func firstRamp(spans []schedule.Span) *schedule.Span {
	for i := range spans {
		if spans[i].Ramp() {
			return &spans[i]
		}
	}
	return nil
}
