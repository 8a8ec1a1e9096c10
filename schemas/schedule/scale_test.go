package schedule

import (
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func TestScale(t *testing.T) {
	minute := plan.Duration(time.Minute)
	closed := plan.Load{Closed: []plan.ClosedStep{
		{RampConcurrentUsers: &plan.RampConcurrentUsers{From: 0, To: 10, During: minute}},
		{IncrementConcurrentUsers: &plan.IncrementConcurrentUsers{Increment: 4, Times: 2, EachLevelLasting: minute, StartingFrom: 1}},
	}}
	Scale(&closed, 0.5)
	r, inc := closed.Closed[0].RampConcurrentUsers, closed.Closed[1].IncrementConcurrentUsers
	if r.From != 0 || r.To != 5 || inc.Increment != 2 || inc.StartingFrom != 1 {
		t.Errorf("closed scaled to %+v %+v: 0 stays 0, others halve, at least 1", r, inc)
	}
	spike := plan.Load{Pattern: &plan.Pattern{Spike: &plan.SpikePattern{Base: 10, Peak: 100, Hold: minute}}}
	Scale(&spike, 2)
	if s := spike.Pattern.Spike; s.Base != 20 || s.Peak != 200 || s.Hold != minute {
		t.Errorf("spike scaled to %+v: rates double, durations stay", s)
	}
}
