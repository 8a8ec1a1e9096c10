package slack

import (
	"bytes"
	"image/png"
	"os"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

func TestLatencyPNG(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	series := func(n int, ms func(i int) float64) []notify.LatencyPoint {
		var out []notify.LatencyPoint
		for i := range n {
			out = append(out, notify.LatencyPoint{Time: start.Add(time.Duration(i) * time.Second), P50Ms: ms(i), P95Ms: 2 * ms(i), P99Ms: 3 * ms(i)})
		}
		return out
	}
	tests := []struct {
		name    string
		points  []notify.LatencyPoint
		wantErr bool
	}{
		{"a normal run draws", series(120, func(i int) float64 { return 10 + float64(i%13) }), false},
		{"all-zero latency still has a range to draw in", series(10, func(int) float64 { return 0 }), false},
		{"a flat line draws", series(10, func(int) float64 { return 42 }), false},
		{"one second is not a chart", series(1, func(int) float64 { return 5 }), true},
	}
	r, err := newChartRenderer()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := r.latencyPNG("Latency: test", tt.points)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if dir := os.Getenv("LF_CHART_OUT"); dir != "" {
				_ = os.WriteFile(dir+"/"+t.Name()[len("TestLatencyPNG/"):]+".png", data, 0o644)
			}
		})
	}
}
