package native

import (
	"sort"

	"github.com/loadfleet/loadfleet/executors/native/session"
)

// picker chooses the scenario of session n by weight, as a pure function of
// n: u(n) = frac(n·φ) (golden-ratio multiplicative hashing, a low-discrepancy
// Weyl sequence) falls into scenario i's share of [0, 1). Because it depends
// on n alone, N shards taking n ≡ i (mod N) together choose exactly what one
// injector would, and any run of consecutive sessions matches the weights
// closely (the sequence fills [0,1) evenly), unlike independent draws.
type picker struct {
	scenarios []*session.Scenario
	cum       []float64 // cumulative weights, normalised to end at 1
}

func newPicker(scenarios []*session.Scenario) *picker {
	p := &picker{scenarios: scenarios}
	total := 0.0
	for _, s := range scenarios {
		total += max(s.Weight, 0)
	}
	acc := 0.0
	for _, s := range scenarios {
		acc += max(s.Weight, 0)
		p.cum = append(p.cum, acc/total)
	}
	return p
}

// golden is 2^64/φ, odd: multiplying by it modulo 2^64 is frac(n/φ) in
// fixed point.
const golden = 0x9E3779B97F4A7C15

func (p *picker) pick(n int64) *session.Scenario {
	if len(p.scenarios) == 1 {
		return p.scenarios[0]
	}
	u := float64((uint64(n)*golden)>>11) / (1 << 53)
	i := sort.SearchFloat64s(p.cum, u)
	// SearchFloat64s finds the first cum >= u; u == cum[i] belongs to i+1.
	for i < len(p.cum)-1 && p.cum[i] <= u {
		i++
	}
	return p.scenarios[min(i, len(p.scenarios)-1)]
}
