package analysis

import (
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func spikePlan() *plan.Plan {
	return &plan.Plan{Name: "spike", Load: plan.Load{Pattern: &plan.Pattern{Spike: &plan.SpikePattern{
		Base: 20, Peak: 200, Before: dur(60 * time.Second), RampUp: dur(5 * time.Second),
		Hold: dur(30 * time.Second), RampDown: dur(5 * time.Second), After: dur(60 * time.Second)}}}}
}

func TestSpikeOf(t *testing.T) {
	// The spike runs from 60 s to 100 s. Baseline p95 is 30 ms; during the
	// spike it reaches 900 ms with 5% errors; after it p95 decays.
	tests := []struct {
		why          string
		after        func(sinceEnd int) float64
		wantRecovery *float64
	}{
		{"p95 back at baseline at once recovers in 0 s", func(int) float64 { return 31 }, ptr(0)},
		{"p95 decaying to within 20% after 12 s recovers in 12 s", func(s int) float64 {
			if s < 12 {
				return 200 - float64(s)
			}
			return 35 // within 36 = 30 × 1.2
		}, ptr(12)},
		{"one lucky second does not count as recovered", func(s int) float64 {
			switch {
			case s == 3:
				return 30
			case s < 20:
				return 100
			}
			return 33
		}, ptr(20)},
		{"p95 that never comes back within 20% never recovers", func(int) float64 { return 37 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			jitter := noise(3, 0.02)
			points := synth(160, func(s int) second {
				switch {
				case s < 60:
					return second{rps: 40, p95: 30 * jitter()}
				case s < 100:
					p95 := 300.0
					if s == 80 {
						p95 = 900
					}
					return second{rps: 400, p95: p95, errRate: 0.05}
				}
				return second{rps: 40, p95: tt.after(s - 100)}
			})
			_, spans := classify(Spans(spikePlan()))
			sp := SpikeOf(t0, spans, points)
			if sp == nil {
				t.Fatal("no spike analysis")
			}
			if sp.BaselineP95Ms < 29 || sp.BaselineP95Ms > 31 {
				t.Errorf("baseline %v, want ≈ 30", sp.BaselineP95Ms)
			}
			if sp.PeakP95Ms != 900 || sp.PeakErrorRate != 0.05 || sp.BaseRate != 20 || sp.PeakRate != 200 {
				t.Errorf("peak p95 %v errors %v rates %v→%v, want 900, 0.05, 20→200", sp.PeakP95Ms, sp.PeakErrorRate, sp.BaseRate, sp.PeakRate)
			}
			if sp.StartSeconds != 60 || sp.EndSeconds != 100 {
				t.Errorf("spike %v..%v s, want 60..100", sp.StartSeconds, sp.EndSeconds)
			}
			switch {
			case tt.wantRecovery == nil && sp.RecoverySeconds != nil:
				t.Errorf("recovered after %v s, want never", *sp.RecoverySeconds)
			case tt.wantRecovery != nil && (sp.RecoverySeconds == nil || *sp.RecoverySeconds != *tt.wantRecovery):
				t.Errorf("recovery %v, want %v s", sp.RecoverySeconds, *tt.wantRecovery)
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }
