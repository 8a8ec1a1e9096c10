package analysis

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAnalyzeDispatchesByShape(t *testing.T) {
	sp := spikePlan()
	stairs, _, stairF := staircase()
	tests := []struct {
		why    string
		plan   func() ([]byte, Result)
		wantIn []string // JSON fragments that must be present
	}{
		{"a ramp carries its knee and method", func() ([]byte, Result) {
			pts := synth(190, func(s int) second {
				x := 10 + float64(s)
				return second{rps: x, p95: 20 + 2*max(0, x-120)}
			})
			return marshal(t, Analyze(rampPlan(10, 200, 190*time.Second), t0, pts, Options{}))
		}, []string{`"shape":"ramp"`, `"knee":{"found":true,"rate":`, `"safeRate":`, `"method":"continuous two-segment`}},
		{"steps carry the table and the highest passing step", func() ([]byte, Result) {
			maxMs := 250.0
			return marshal(t, Analyze(stairs, t0, synth(270, stairF), Options{Thresholds: []Threshold{{Metric: MetricP95, Max: &maxMs}}}))
		}, []string{`"shape":"steps"`, `"steps":[{"index":0`, `"highestPassingStep":2`}},
		{"a spike carries baseline, peak and recovery", func() ([]byte, Result) {
			pts := synth(160, func(s int) second {
				if s >= 60 && s < 100 {
					return second{rps: 400, p95: 500}
				}
				return second{rps: 40, p95: 30}
			})
			return marshal(t, Analyze(sp, t0, pts, Options{}))
		}, []string{`"shape":"spike"`, `"baselineP95Ms":30`, `"peakP95Ms":500`, `"recoverySeconds":0`}},
		{"a mixed load has only its shape", func() ([]byte, Result) {
			return marshal(t, Analyze(openPlan(constantStep(30, time.Minute), constantStep(20, time.Minute)), t0, nil, Options{}))
		}, []string{`{"shape":"mixed"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			b, _ := tt.plan()
			for _, frag := range tt.wantIn {
				if !strings.Contains(string(b), frag) {
					t.Errorf("%s\nlacks %s", b, frag)
				}
			}
		})
	}
}

func marshal(t *testing.T, r Result) ([]byte, Result) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, r
}
