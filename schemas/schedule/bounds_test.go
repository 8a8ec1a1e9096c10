package schedule

import (
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func TestExpandedPast(t *testing.T) {
	inc := func(times int) plan.OpenStep {
		return plan.OpenStep{IncrementUsersPerSec: &plan.IncrementUsersPerSec{Increment: 1, Times: times, EachLevelLasting: sec(1)}}
	}
	if at := ExpandedPast(open(inc(3), inc(3)), 100); at != "" {
		t.Errorf("14 steps against 100: at = %q, want none", at)
	}
	if at := ExpandedPast(open(inc(3), inc(60)), 100); at != "/load/open/1" {
		t.Errorf("128 steps against 100: at = %q, want /load/open/1", at)
	}
}

func TestOpenDuration(t *testing.T) {
	steps := ExpandOpen(open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 1, During: sec(60)}}))
	if d := OpenDuration(steps, 0); d != time.Minute {
		t.Errorf("uncut = %s, want 1m", d)
	}
	if d := OpenDuration(steps, 10*time.Second); d != 10*time.Second {
		t.Errorf("cut = %s, want 10s", d)
	}
}
