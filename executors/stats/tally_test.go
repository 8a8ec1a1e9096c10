package stats

import (
	"math/rand/v2"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// TestTallyMatchesDenseHistograms pins that a Tally's sparse merge reports
// the numbers a dense histogram of the same values does: the executor's
// standalone summary merged dense histograms before it used Tally, and its
// output must not change.
func TestTallyMatchesDenseHistograms(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tally := NewTally()
	dense := NewHistogram()
	for range 20 {
		h := NewHistogram()
		for range 500 {
			v := min(int64(rng.ExpFloat64()*20_000)+1, wire.HistHighest)
			if rng.IntN(100) == 0 {
				v = rng.Int64N(wire.HistHighest) + 1
			}
			if err := h.RecordValue(v); err != nil {
				t.Fatal(err)
			}
		}
		dense.Merge(h)
		tally.Add(Interval{OK: 500, Latency: packed(t, h), Service: packed(t, h)})
	}
	s := tally.Summary("x")
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50Ms, ms(dense.ValueAtQuantile(50))},
		{"p75", s.P75Ms, ms(dense.ValueAtQuantile(75))},
		{"p90", s.P90Ms, ms(dense.ValueAtQuantile(90))},
		{"p95", s.P95Ms, ms(dense.ValueAtQuantile(95))},
		{"p99", s.P99Ms, ms(dense.ValueAtQuantile(99))},
		{"p99.9", s.P999Ms, ms(dense.ValueAtQuantile(99.9))},
		{"max", s.MaxMs, ms(dense.Max())},
		{"mean", s.MeanMs, dense.Mean() / 1000},
		{"service p99", s.ServiceP99Ms, ms(dense.ValueAtQuantile(99))},
	} {
		if c.got != c.want {
			t.Errorf("%s: tally %v, dense %v", c.name, c.got, c.want)
		}
	}
	if s.Count != 10_000 || s.OK != 10_000 {
		t.Errorf("count %d, ok %d, want 10000", s.Count, s.OK)
	}
}

func TestDecodePackedNormalizesOtherGeometries(t *testing.T) {
	other := hdrhistogram.New(1, 2*wire.HistHighest, 2)
	_ = other.RecordValue(1000)
	if h := packed(t, other); h.TotalCount() != 1 || h.SignificantFigures() != wire.HistDigits {
		t.Errorf("normalized: %d values, %d digits", h.TotalCount(), h.SignificantFigures())
	}
	_ = other.RecordValue(2 * wire.HistHighest)
	raw, err := EncodeHistogram(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodePacked(raw); err == nil {
		t.Error("a value past an hour decoded")
	}
}

func packed(t *testing.T, h *hdrhistogram.Histogram) *hdrhistogram.PackedHistogram {
	t.Helper()
	raw, err := EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePacked(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
