package schedule

import (
	"fmt"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func TestSpans(t *testing.T) {
	l := open(
		plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 0, To: 10, During: sec(10)}},
		plan.OpenStep{AtOnceUsers: &plan.AtOnceUsers{Users: 5}},
		plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 10, To: 20, During: sec(10)}},
		plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 20, During: sec(10)}},
	)
	l.MaxDuration = sec(15)
	var got []string
	for _, s := range SpansWithArrivals(l) {
		got = append(got, fmt.Sprintf("%d %s %s-%s %g-%g %d", s.Index, s.Kind, s.Start, s.End, s.FromLevel, s.ToLevel, s.Arrivals))
	}
	want := "[0 rampUsersPerSec 0s-10s 0-10 50 1 atOnceUsers 10s-10s 5-5 5 2 rampUsersPerSec 10s-15s 10-15 63]"
	if fmt.Sprint(got) != want {
		t.Errorf("spans = %v\nwant %s (the cut ramp ends at the level reached, the step after the cut is dropped)", got, want)
	}
}

func TestSpanLevels(t *testing.T) {
	closed := plan.Load{Closed: []plan.ClosedStep{
		{ConstantConcurrentUsers: &plan.ConstantConcurrentUsers{Users: 0, During: sec(5)}},
		{RampConcurrentUsers: &plan.RampConcurrentUsers{From: 0, To: 4, During: sec(5)}},
		{ConstantConcurrentUsers: &plan.ConstantConcurrentUsers{Users: 4, During: sec(5)}},
	}}
	var got []string
	for _, s := range Spans(closed) {
		got = append(got, fmt.Sprintf("%s steady=%v constant=%v ramp=%v", s.Kind, s.Steady(), s.Constant(), s.Ramp()))
	}
	want := "[constantConcurrentUsers steady=true constant=false ramp=false rampConcurrentUsers steady=false constant=false ramp=true constantConcurrentUsers steady=true constant=true ramp=false]"
	if fmt.Sprint(got) != want {
		t.Errorf("got %v\nwant %s (a level of 0 is steady, not a constant load)", got, want)
	}
	inc := open(plan.OpenStep{IncrementUsersPerSec: &plan.IncrementUsersPerSec{Increment: 1, Times: 3, EachLevelLasting: sec(1)}})
	if s := NamedShape(inc); s != "steps" {
		t.Errorf("one increment step names %q, want steps", s)
	}
	if s := NamedShape(closed); s != "" {
		t.Errorf("a closed load of several steps names %q, want none", s)
	}
}
