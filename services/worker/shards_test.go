package worker

import (
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func weight(w float64) *float64 { return &w }

func TestPlanShards(t *testing.T) {
	constant := func(rate float64) plan.Load {
		return plan.Load{Pattern: &plan.Pattern{Constant: &plan.ConstantPattern{Rate: rate, During: plan.Duration(60e9)}}}
	}
	tests := []struct {
		name string
		p    plan.Plan
		want string // location of each shard, in order
	}{
		{"no executors section: one shard at the default location",
			plan.Plan{Load: constant(100)}, "local"},
		{"a count without locations: all at the default location",
			plan.Plan{Load: constant(100), Executors: plan.Executors{Count: plan.Count{N: 3}}}, "local local local"},
		{"auto: peak rate over the per-executor maximum, rounded up",
			plan.Plan{Load: constant(1200), Executors: plan.Executors{Count: plan.Count{Auto: true}, MaxRatePerExecutor: 500}},
			"local local local"},
		{"weights spread shards by largest remainder",
			plan.Plan{Load: constant(100), Executors: plan.Executors{Count: plan.Count{N: 4},
				Locations: []plan.Location{{Name: "eu", Weight: weight(3)}, {Name: "us", Weight: weight(1)}}}},
			"eu eu eu us"},
		{"locations without weights share evenly",
			plan.Plan{Load: constant(100), Executors: plan.Executors{Count: plan.Count{N: 2},
				Locations: []plan.Location{{Name: "a"}, {Name: "b"}}}},
			"a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shards := planShards(&tt.p, "local")
			var got []string
			for i, sh := range shards {
				if sh.Index != i {
					t.Fatalf("shard %d has index %d", i, sh.Index)
				}
				got = append(got, sh.Location)
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("locations = %v, want %s", got, tt.want)
			}
		})
	}
}
