package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

func encode(t *testing.T, valuesUs ...int64) []byte {
	t.Helper()
	h := hdrhistogram.New(wire.HistLowest, wire.HistHighest, wire.HistDigits)
	for _, v := range valuesUs {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := stats.EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestSummaryMergesHistogramsExactly(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Second 1: 990 fast requests (1 ms). Second 2: 10 slow ones (500 ms).
	// Over the run, 1% are slow: p99 is 1 ms, p99.9 would be 500 ms.
	// Averaging the per-second p99s would give about 250 ms: wrong.
	fast, slow := repeat(1000, 990), repeat(500_000, 10)
	snaps := []wire.Snapshot{
		{Seq: 1, Start: t0, End: t0.Add(time.Second), Arrivals: wire.Arrivals{Planned: 990, Started: 990},
			Health:   wire.Health{RSSBytes: 10 << 20, ScheduleLagP99Ms: 0.2, ScheduleLag: encode(t, repeat(200, 990)...)},
			Requests: []wire.RequestStats{{Name: "home", OK: 990, Latency: encode(t, fast...), Service: encode(t, fast...)}}},
		{Seq: 2, Start: t0.Add(time.Second), End: t0.Add(2 * time.Second), Final: true,
			Arrivals: wire.Arrivals{Planned: 12, Started: 10, Dropped: 2},
			Health:   wire.Health{RSSBytes: 30 << 20, ScheduleLagP99Ms: 0.7, ScheduleLag: encode(t, repeat(700, 10)...)},
			Requests: []wire.RequestStats{{Name: "search", OK: 8, KO: map[string]int64{"timeout": 2},
				Latency: encode(t, slow...), Service: encode(t, repeat(2000, 10)...)}}},
	}
	s := runtime.NewSummary()
	for _, snap := range snaps {
		if err := s.Send(context.Background(), snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	r := s.Report()
	tests := []struct {
		name      string
		got, want float64
	}{
		{"total count is ok plus ko", float64(r.Total.Count), 1000},
		{"total p99 comes from the merged histogram", r.Total.P99Ms, 1},
		{"total max is the slow request", r.Total.MaxMs, 500.223}, // HDR bucket upper edge at 3 digits
		{"total mean is exact", r.Total.MeanMs, (990*1.0 + 10*500.223) / 1000},
		{"rps over the run's two seconds", r.Total.RPS, 500},
		{"per request: search p50", r.Requests[1].P50Ms, 500.223},
		{"per request: search service p99 from the service histogram", r.Requests[1].ServiceP99Ms, 2.001},
		{"ko counted", float64(r.KO["timeout"]), 2},
		{"arrivals summed", float64(r.Arrivals.Planned), 1002},
		{"dropped summed", float64(r.Arrivals.Dropped), 2},
		{"lag p99 of all arrivals, from the merged lags (1% were 0.7 ms late)", r.ScheduleLagP99Ms, 0.2},
		{"lag p99 of the worst second", r.ScheduleLagWorstSecondP99Ms, 0.7},
		{"peak rss", float64(r.PeakRSSBytes), 30 << 20},
		{"duration", r.DurationSeconds, 2},
	}
	for _, tt := range tests {
		if diff := tt.got - tt.want; diff > 0.01 || diff < -0.01 {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if len(r.Requests) != 2 || r.Requests[0].Name != "home" || r.Requests[1].Name != "search" {
		t.Fatalf("requests = %+v", r.Requests)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TOTAL", "search", "arrivals: planned 1002, started 1000, dropped 2, interrupted 0", "ko: timeout 2"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	_ = json.Unmarshal(b, &keys)
	for _, k := range []string{"arrivals", "total", "requests", "durationSeconds", "scheduleLagP99Ms", "scheduleLagWorstSecondP99Ms", "peakRssBytes", "ko"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON summary lacks %q: %s", k, b)
		}
	}
}

// A tool whose snapshots carry only the per-second p99 of its lag gets
// the worst of them as the run's: an upper bound, never an average.
func TestSummaryLagWithoutHistogramsIsTheWorstSecond(t *testing.T) {
	s := runtime.NewSummary()
	for i, p99 := range []float64{0.3, 1.5, 0.4} {
		_ = s.Send(context.Background(), wire.Snapshot{Seq: uint64(i + 1), Health: wire.Health{ScheduleLagP99Ms: p99}})
	}
	if r := s.Report(); r.ScheduleLagP99Ms != 1.5 || r.ScheduleLagWorstSecondP99Ms != 1.5 {
		t.Errorf("lag p99 %v, worst second %v; want 1.5 for both", r.ScheduleLagP99Ms, r.ScheduleLagWorstSecondP99Ms)
	}
}

func TestSummaryReportsUndecodableHistograms(t *testing.T) {
	s := runtime.NewSummary()
	_ = s.Send(context.Background(), wire.Snapshot{Seq: 1, Requests: []wire.RequestStats{{Name: "x", OK: 1, Latency: []byte("not a histogram")}}})
	if s.Err() == nil {
		t.Error("a histogram that does not decode must not be skipped silently")
	}
}
