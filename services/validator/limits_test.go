package validator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func dur(d time.Duration) plan.Duration { return plan.Duration(d) }

func constant(rate float64, during time.Duration) plan.OpenStep {
	return plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: rate, During: dur(during)}}
}

func users(n int, during time.Duration) plan.ClosedStep {
	return plan.ClosedStep{ConstantConcurrentUsers: &plan.ConstantConcurrentUsers{Users: n, During: dur(during)}}
}

func TestLimitsCheck(t *testing.T) {
	limits := Limits{MaxRate: 100, MaxUsers: 50, MaxDuration: time.Hour, MaxExecutors: 4}
	tests := []struct {
		name   string
		limits Limits
		plan   plan.Plan
		// want are "path: a word of the message" for every problem.
		want []string
	}{
		{"a load under every ceiling passes", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(50, time.Minute)}}}, nil},
		{"a rate exactly at the ceiling passes: ceilings are inclusive", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(100, time.Minute)}}}, nil},
		{"zero ceilings mean none, however large the load", Limits{},
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(1e9, 1000*time.Hour)}},
				Executors: plan.Executors{Count: plan.Count{N: 10_000}}}, nil},
		{"the rate problem points at the step that reaches the peak", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(10, time.Minute), constant(101, time.Minute)}}},
			[]string{"/load/open/1: max rate"}},
		{"atOnceUsers counts as that many arrivals within a second", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{{AtOnceUsers: &plan.AtOnceUsers{Users: 500}}}}},
			[]string{"/load/open/0: max rate"}},
		{"the users problem points at the closed step that reaches the peak", limits,
			plan.Plan{Load: plan.Load{Closed: []plan.ClosedStep{users(10, time.Minute), users(60, time.Minute)}}},
			[]string{"/load/closed/1: max users"}},
		{"a load longer than the ceiling is refused at /load", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(1, 2*time.Hour)}}},
			[]string{"/load: max duration"}},
		{"maxDuration cutting a long load under the ceiling makes it pass", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(1, 2*time.Hour)}, MaxDuration: dur(time.Hour)}},
			nil},
		{"a maxDuration above the ceiling is where the duration problem points", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(1, 3*time.Hour)}, MaxDuration: dur(2 * time.Hour)}},
			[]string{"/load/maxDuration: max duration"}},
		{"a fixed executor count over the ceiling", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(1, time.Minute)}},
				Executors: plan.Executors{Count: plan.Count{N: 5}}},
			[]string{"/executors/count: max executors"}},
		{"auto resolving over the ceiling says so", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(100, time.Minute)}},
				Executors: plan.Executors{Count: plan.Count{Auto: true}, MaxRatePerExecutor: 10}},
			[]string{`/executors/count: "auto" resolves to 10`}},
		{"every ceiling is reported at once", limits,
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{constant(1000, 2*time.Hour)}},
				Executors: plan.Executors{Count: plan.Count{N: 5}}},
			[]string{"/load/open/0: max rate", "/load: max duration", "/executors/count: max executors"}},
		{"a load expanding into too many steps is refused before it is expanded", Limits{},
			plan.Plan{Load: plan.Load{Open: []plan.OpenStep{{IncrementUsersPerSec: &plan.IncrementUsersPerSec{
				Increment: 1, Times: 1 << 40, EachLevelLasting: dur(time.Second)}}}}},
			[]string{"/load/open/0: steps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.limits.check(&tt.plan)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %v, want %v", got, tt.want)
			}
			for i, w := range tt.want {
				path, word, _ := strings.Cut(w, ": ")
				if got[i].Path != path || !strings.Contains(got[i].Message, word) {
					t.Fatalf("problem %d = %v, want at %s mentioning %q", i, got[i], path, word)
				}
			}
		})
	}
}

func TestDefaultLimitsAreAllSet(t *testing.T) {
	l := DefaultLimits()
	if slices.Contains([]float64{l.MaxRate, float64(l.MaxUsers), l.MaxDuration.Seconds(), float64(l.MaxExecutors)}, 0) {
		t.Fatalf("DefaultLimits() = %+v: a zero ceiling means none", l)
	}
}
