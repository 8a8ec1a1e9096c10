package analysis

import (
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func dur(d time.Duration) plan.Duration { return plan.Duration(d) }

func constantStep(rate float64, d time.Duration) plan.OpenStep {
	return plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: rate, During: dur(d)}}
}

func rampStep(from, to float64, d time.Duration) plan.OpenStep {
	return plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: from, To: to, During: dur(d)}}
}

func pauseStep(d time.Duration) plan.OpenStep {
	return plan.OpenStep{NothingFor: &plan.NothingFor{During: dur(d)}}
}

func closedConst(users int, d time.Duration) plan.ClosedStep {
	return plan.ClosedStep{ConstantConcurrentUsers: &plan.ConstantConcurrentUsers{Users: users, During: dur(d)}}
}

func closedRamp(from, to int, d time.Duration) plan.ClosedStep {
	return plan.ClosedStep{RampConcurrentUsers: &plan.RampConcurrentUsers{From: from, To: to, During: dur(d)}}
}

func TestShape(t *testing.T) {
	m := time.Minute
	tests := []struct {
		why  string
		load plan.Load
		want string
	}{
		{"a constant pattern maps directly", plan.Load{Pattern: &plan.Pattern{Constant: &plan.ConstantPattern{Rate: 10, During: dur(m)}}}, ShapeConstant},
		{"a ramp pattern maps directly", plan.Load{Pattern: &plan.Pattern{Ramp: &plan.RampPattern{From: 1, To: 10, During: dur(m)}}}, ShapeRamp},
		{"a steps pattern maps directly", plan.Load{Pattern: &plan.Pattern{Steps: &plan.StepsPattern{Rates: []float64{1, 2}, EachLevelLasting: dur(m)}}}, ShapeSteps},
		{"a spike pattern maps directly", plan.Load{Pattern: &plan.Pattern{Spike: &plan.SpikePattern{Base: 1, Peak: 9, Before: dur(m), Hold: dur(m), After: dur(m)}}}, ShapeSpike},
		{"one constant rate is constant", plan.Load{Open: []plan.OpenStep{constantStep(50, m)}}, ShapeConstant},
		{"a leading nothingFor is a delay, not a shape", plan.Load{Open: []plan.OpenStep{pauseStep(m), constantStep(50, m)}}, ShapeConstant},
		{"two constants at the same rate are one level", plan.Load{Open: []plan.OpenStep{constantStep(50, m), constantStep(50, m)}}, ShapeConstant},
		{"rampUsers spreads users evenly: a constant rate", plan.Load{Open: []plan.OpenStep{{RampUsers: &plan.RampUsers{Users: 600, During: dur(m)}}}}, ShapeConstant},
		{"one rate ramp is a ramp", plan.Load{Open: []plan.OpenStep{rampStep(1, 100, m)}}, ShapeRamp},
		{"incrementUsersPerSec is steps", plan.Load{Open: []plan.OpenStep{{IncrementUsersPerSec: &plan.IncrementUsersPerSec{Increment: 10, Times: 3, EachLevelLasting: dur(m), SeparatedByRampsLasting: dur(10 * time.Second)}}}}, ShapeSteps},
		{"rising constants are a staircase", plan.Load{Open: []plan.OpenStep{constantStep(10, m), constantStep(20, m), constantStep(30, m)}}, ShapeSteps},
		{"rising constants joined by ramps are a staircase", plan.Load{Open: []plan.OpenStep{constantStep(10, m), rampStep(10, 20, m), constantStep(20, m)}}, ShapeSteps},
		{"base, peak, base is a spike", plan.Load{Open: []plan.OpenStep{constantStep(10, m), rampStep(10, 100, time.Second), constantStep(100, m), constantStep(10, m)}}, ShapeSpike},
		{"falling constants are neither steps nor spike", plan.Load{Open: []plan.OpenStep{constantStep(30, m), constantStep(20, m)}}, ShapeMixed},
		{"a ramp that is not a transition makes it mixed", plan.Load{Open: []plan.OpenStep{rampStep(1, 50, m), constantStep(50, m)}}, ShapeMixed},
		{"atOnceUsers then a constant is mixed", plan.Load{Open: []plan.OpenStep{{AtOnceUsers: &plan.AtOnceUsers{Users: 10}}, constantStep(5, m)}}, ShapeMixed},
		{"a pause in the middle is mixed", plan.Load{Open: []plan.OpenStep{constantStep(5, m), pauseStep(m), constantStep(5, m)}}, ShapeMixed},
		{"constant concurrency is constant", plan.Load{Closed: []plan.ClosedStep{closedConst(20, m)}}, ShapeConstant},
		{"a concurrency ramp is a ramp", plan.Load{Closed: []plan.ClosedStep{closedRamp(1, 20, m)}}, ShapeRamp},
		{"incrementConcurrentUsers is steps", plan.Load{Closed: []plan.ClosedStep{{IncrementConcurrentUsers: &plan.IncrementConcurrentUsers{Increment: 5, Times: 4, EachLevelLasting: dur(m)}}}}, ShapeSteps},
		{"concurrency base, peak, base is a spike", plan.Load{Closed: []plan.ClosedStep{closedConst(5, m), closedConst(50, m), closedConst(5, m)}}, ShapeSpike},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			p := &plan.Plan{Name: "p", Load: tt.load}
			if got := Shape(p); got != tt.want {
				t.Fatalf("Shape = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSpansCutAtMaxDuration(t *testing.T) {
	p := &plan.Plan{Load: plan.Load{Open: []plan.OpenStep{rampStep(0, 100, 100*time.Second), constantStep(5, time.Minute)},
		MaxDuration: dur(50 * time.Second)}}
	spans := Spans(p)
	if len(spans) != 1 {
		t.Fatalf("spans = %+v, want the ramp only", spans)
	}
	if spans[0].End != 50*time.Second || spans[0].ToLevel != 50 {
		t.Fatalf("cut span = %+v, want end 50s at level 50", spans[0])
	}
}
