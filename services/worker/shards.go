package worker

import (
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// planShards decides the run's shards: how many (the plan's count, or
// "auto" from the peak load and the per-executor maxima) and where (spread
// over the plan's locations by weight; no locations means the server's
// default one). Pure, so the split is table-tested.
func planShards(p *plan.Plan, defaultLocation string) []store.Shard {
	n := schedule.ExecutorCount(p)
	names, weights := []string{defaultLocation}, []float64{1}
	if locs := p.Executors.Locations; len(locs) > 0 {
		names, weights = make([]string, len(locs)), make([]float64, len(locs))
		for i, l := range locs {
			names[i], weights[i] = l.Name, 1
			if l.Weight != nil {
				weights[i] = *l.Weight
			}
		}
	}
	shards := make([]store.Shard, 0, n)
	for i, count := range schedule.Spread(n, weights) {
		for range count {
			shards = append(shards, store.Shard{Index: len(shards), Location: names[i]})
		}
	}
	return shards
}

// runLength is how long the run's load lasts by its schedule.
func runLength(p *plan.Plan) time.Duration {
	return time.Duration(schedule.Explain(p).DurationSeconds * float64(time.Second))
}
