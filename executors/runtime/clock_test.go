package runtime

import (
	"testing"
	"time"
)

func TestEstimateOffset(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	sample := func(sentMs, rttMs, serverMs int) ClockSample {
		sent := t0.Add(time.Duration(sentMs) * time.Millisecond)
		return ClockSample{Sent: sent, Received: sent.Add(time.Duration(rttMs) * time.Millisecond), Server: t0.Add(time.Duration(serverMs) * time.Millisecond)}
	}
	tests := []struct {
		name       string
		samples    []ClockSample
		wantOffset time.Duration
		wantRTT    time.Duration
		wantOK     bool
	}{
		{"no samples: no estimate", nil, 0, 0, false},
		{"server answers at the midpoint of a symmetric trip: exact",
			[]ClockSample{sample(0, 10, 5+2000)}, 2000 * time.Millisecond, 10 * time.Millisecond, true},
		{"server clock behind ours: negative offset",
			[]ClockSample{sample(0, 4, 2-500)}, -500 * time.Millisecond, 4 * time.Millisecond, true},
		{"the fastest trip wins: its error bound (rtt/2) is the smallest",
			[]ClockSample{sample(0, 100, 90+1000), sample(200, 2, 201+1000), sample(300, 50, 310+1000)},
			1000 * time.Millisecond, 2 * time.Millisecond, true},
		{"a sample with a negative round trip is ignored",
			[]ClockSample{sample(0, -5, 0), sample(10, 6, 13+7)}, 7 * time.Millisecond, 6 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offset, rtt, ok := EstimateOffset(tt.samples)
			if offset != tt.wantOffset || rtt != tt.wantRTT || ok != tt.wantOK {
				t.Errorf("EstimateOffset = %v, %v, %v; want %v, %v, %v", offset, rtt, ok, tt.wantOffset, tt.wantRTT, tt.wantOK)
			}
		})
	}
}

func TestBackoffStaysWithinBounds(t *testing.T) {
	const minWait, maxWait = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name     string
		failures int
		ceiling  time.Duration
	}{
		{"first failure: around the minimum", 1, minWait},
		{"doubles per failure", 3, 4 * minWait},
		{"capped at the maximum", 10, maxWait},
		{"no overflow after very many failures", 1000, maxWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 200 {
				got := backoff(tt.failures, minWait, maxWait)
				if got < minWait/2 || got > tt.ceiling {
					t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.failures, got, minWait/2, tt.ceiling)
				}
			}
		})
	}
}
