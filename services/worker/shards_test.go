package worker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting"
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

func TestSilenceChanges(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := func(degraded ...store.Interval) store.Run {
		return store.Run{StartAt: &start, Degraded: degraded,
			Shards: []store.Shard{{Index: 0, Ready: true}, {Index: 1, Ready: true, Attempt: 1}, {Index: 2, Ready: true, Done: true}}}
	}
	seen := func(shard, attempt int, at time.Duration) reporting.ShardProgress {
		return reporting.ShardProgress{Shard: shard, Attempt: attempt, LastSeen: start.Add(at)}
	}
	silent0 := store.Interval{Start: start, Reason: silentReason(0)}
	tests := []struct {
		name string
		run  store.Run
		prog []reporting.ShardProgress
		now  time.Duration
		want map[int]bool
	}{
		{"nothing is judged before a timeout has passed since the start", run(), nil, 5 * time.Second, nil},
		{"shards that spoke recently are fine; a done shard is never silent",
			run(), []reporting.ShardProgress{seen(0, 0, 14*time.Second), seen(1, 1, 14*time.Second)}, 15 * time.Second, map[int]bool{}},
		{"a shard silent past the timeout turns silent",
			run(), []reporting.ShardProgress{seen(0, 0, 2*time.Second), seen(1, 1, 14*time.Second)}, 15 * time.Second, map[int]bool{0: true}},
		{"snapshots of an earlier attempt do not count for the current one",
			run(), []reporting.ShardProgress{seen(0, 0, 14*time.Second), seen(1, 0, 14*time.Second)}, 15 * time.Second, map[int]bool{1: true}},
		{"a silent shard already recorded is not recorded again",
			run(silent0), []reporting.ShardProgress{seen(1, 1, 14*time.Second)}, 15 * time.Second, map[int]bool{}},
		{"a silent shard that speaks again ends its interval",
			run(silent0), []reporting.ShardProgress{seen(0, 0, 14*time.Second), seen(1, 1, 14*time.Second)}, 15 * time.Second, map[int]bool{0: false}},
	}
	for _, tt := range tests {
		got := silenceChanges(tt.run, reporting.Progress{Shards: tt.prog}, start.Add(tt.now), 10*time.Second)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
