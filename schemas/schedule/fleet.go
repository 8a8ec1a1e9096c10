package schedule

import (
	"math"
	"sort"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Defaults for "auto" when the plan does not set the per-executor maxima.
const (
	DefaultMaxRatePerExecutor  = 5000.0
	DefaultMaxUsersPerExecutor = 5000
)

// ExecutorCount resolves the plan's executor count: the number it gives, one
// when unset, or for "auto" the peak load divided by the per-executor
// maximum, rounded up (peak arrival rate for open models, peak users for
// closed ones).
func ExecutorCount(p *plan.Plan) int {
	c := p.Executors.Count
	if !c.Auto {
		return max(1, c.N)
	}
	if len(p.Load.Closed) > 0 {
		maxUsers := p.Executors.MaxUsersPerExecutor
		if maxUsers <= 0 {
			maxUsers = DefaultMaxUsersPerExecutor
		}
		peak := NewClosed(ExpandClosed(p.Load), p.Load.MaxDuration.D()).Peak()
		return max(1, (peak+maxUsers-1)/maxUsers)
	}
	maxRate := p.Executors.MaxRatePerExecutor
	if maxRate <= 0 {
		maxRate = DefaultMaxRatePerExecutor
	}
	return max(1, int(math.Ceil(PeakRate(ExpandOpen(p.Load))/maxRate-eps)))
}

// PeakRate is the highest arrival rate of any step, per second.
func PeakRate(steps []Step) float64 {
	peak := 0.0
	for _, s := range steps {
		peak = math.Max(peak, s.PeakRate())
	}
	return peak
}

// Spread assigns shards to locations in proportion to their weights, by
// largest remainder: it returns how many shards each location gets, adding
// up to shards exactly. Ties go to the earlier location.
func Spread(shards int, weights []float64) []int {
	out := make([]int, len(weights))
	sum := 0.0
	for _, w := range weights {
		sum += math.Max(0, w)
	}
	if len(weights) == 0 || sum <= 0 || shards <= 0 {
		return out
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(weights))
	given := 0
	for i, w := range weights {
		exact := float64(shards) * math.Max(0, w) / sum
		out[i] = int(math.Floor(exact + eps))
		given += out[i]
		rems[i] = rem{i, exact - float64(out[i])}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; given < shards; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}
