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
