package analysis

import (
	"math"
	"testing"
	"time"
)

// kneeTolerance is the stated accuracy of FindKnee on the synthetic
// shapes below: within 10% of the ramp's rate range of the true knee.
const kneeTolerance = 0.10

func TestFindKnee(t *testing.T) {
	const lo, hi = 10.0, 200.0
	tests := []struct {
		why  string
		p95  func(rate float64) float64
		knee float64 // 0: no knee
	}{
		{"flat then a linear rise has its knee where the rise starts", func(x float64) float64 { return 20 + 2*math.Max(0, x-120) }, 120},
		{"flat then a gentle linear rise is still found", func(x float64) float64 { return 20 + 0.5*math.Max(0, x-120) }, 120},
		{"flat then an exponential rise has its knee where the rise starts", func(x float64) float64 { return 20 + 20*(math.Exp(math.Max(0, x-120)/10)-1) }, 120},
		{"a slow exponential rise (doubling every 28/s) is found", func(x float64) float64 { return 20 * math.Exp(math.Max(0, x-80)/40) }, 80},
		{"linear growth from the start is not a knee", func(x float64) float64 { return 5 + 0.3*x }, 0},
		{"linear growth from zero is not a knee", func(x float64) float64 { return 0.3 * x }, 0},
		{"flat latency has no knee", func(float64) float64 { return 20 }, 0},
	}
	for _, tt := range tests {
		for seed := range uint64(3) {
			jitter := noise(seed, 0.05)
			var xs, ys []float64
			for x := lo; x <= hi; x++ {
				xs, ys = append(xs, x), append(ys, tt.p95(x)*jitter())
			}
			k := FindKnee(xs, ys)
			if tt.knee == 0 {
				if k.Found || k.Rate != nil {
					t.Errorf("%s (seed %d): knee at %v, want none", tt.why, seed, *k.Rate)
				}
				continue
			}
			if !k.Found || math.Abs(*k.Rate-tt.knee) > kneeTolerance*(hi-lo) {
				t.Errorf("%s (seed %d): knee %v, want %v ± %v", tt.why, seed, *k.Rate, tt.knee, kneeTolerance*(hi-lo))
				continue
			}
			if *k.SafeRate != *k.Rate*SafeFraction || k.MaxRate != hi || k.Method == "" {
				t.Errorf("%s: safe rate %v, max %v, method %q", tt.why, *k.SafeRate, k.MaxRate, k.Method)
			}
		}
	}
}

func TestFindKneeNeedsEnoughSeconds(t *testing.T) {
	k := FindKnee([]float64{1, 2, 3, 4, 5, 6}, []float64{1, 1, 1, 10, 100, 1000})
	if k.Found {
		t.Fatalf("6 seconds gave a knee %+v; a breakpoint needs %d on each side", k, kneeMinSide)
	}
}

// A saturated server: the offered rate ramps past its capacity of 150/s;
// throughput stops there while latency (from the intended start) climbs
// with the queue. The knee is the capacity.
func TestRampKneeAtSaturation(t *testing.T) {
	p := rampPlan(10, 200, 190*time.Second)
	spans := Spans(p)
	jitter := noise(1, 0.03)
	points := synth(190, func(s int) second {
		offered := 10 + float64(s)
		if offered <= 150 {
			return second{rps: offered * jitter(), p95: 25 * jitter()}
		}
		queued := offered - 150
		return second{rps: 150 * jitter(), p95: (25 + 40*queued) * jitter()}
	})
	k := RampKnee(t0, spans[0], points)
	if !k.Found || math.Abs(*k.Rate-150) > 15 {
		t.Fatalf("knee %+v, want 150 ± 15", k)
	}
	if k.Seconds != 190 {
		t.Fatalf("fit used %d seconds, want the 190 of the ramp", k.Seconds)
	}
}
