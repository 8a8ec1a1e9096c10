package merge_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/merge/mergetest"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// distributions draw latencies in microseconds, each shaped like something
// a load test meets.
var distributions = []struct {
	name string
	draw func(r *rand.Rand) int64
}{
	{"uniform 1-50ms", func(r *rand.Rand) int64 { return 1000 + r.Int64N(49000) }},
	{"lognormal around 20ms", func(r *rand.Rand) int64 { return int64(math.Exp(r.NormFloat64()*0.6 + math.Log(20000))) }},
	{"bimodal cache hit/miss", func(r *rand.Rand) int64 {
		if r.IntN(10) < 8 {
			return 300 + r.Int64N(200)
		}
		return 80000 + r.Int64N(40000)
	}},
	{"exponential long tail", func(r *rand.Rand) int64 { return 1 + int64(r.ExpFloat64()*15000) }},
	{"timeouts at the 1h cap", func(r *rand.Rand) int64 {
		if r.IntN(100) == 0 {
			return wire.HistHighest
		}
		return 1 + r.Int64N(5000)
	}},
}

// reference is one dense histogram per request name holding every value.
type reference map[string]*hdrhistogram.Histogram

func (ref reference) record(t *testing.T, name string, vs []int64) {
	for _, key := range []string{name, series.AllRequests} {
		h := ref[key]
		if h == nil {
			h = stats.NewHistogram()
			ref[key] = h
		}
		for _, v := range vs {
			if err := h.RecordValue(v); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type want struct{ p50, p75, p90, p95, p99, p999, max, mean float64 }

func wantOf(h *hdrhistogram.Histogram) want {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return want{ms(h.ValueAtQuantile(50)), ms(h.ValueAtQuantile(75)), ms(h.ValueAtQuantile(90)),
		ms(h.ValueAtQuantile(95)), ms(h.ValueAtQuantile(99)), ms(h.ValueAtQuantile(99.9)),
		ms(h.Max()), h.Mean() / 1000}
}

func gotOf(s merge.Summary) want {
	return want{s.P50Ms, s.P75Ms, s.P90Ms, s.P95Ms, s.P99Ms, s.P999Ms, s.MaxMs, s.MeanMs}
}

// TestMergeOfFourExecutorsIsExact is the acceptance test: four
// executors measure random values from different distributions, each
// encodes a histogram per second, and the merge gives exactly (==, not
// approximately) the percentiles, max and mean of one histogram holding all
// their values: for the run, per request, per second and per window.
func TestMergeOfFourExecutorsIsExact(t *testing.T) {
	const shards, seconds = 4, 12
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 11))
	total := reference{}
	perSecond := make([]reference, seconds)
	window := reference{} // seconds 3 to 8
	snaps := mergetest.Run(t, "r1", start, shards, seconds, func(shard, k int, s *mergetest.Shot) {
		if perSecond[k] == nil {
			perSecond[k] = reference{}
		}
		for i, name := range []string{"browse", "checkout"} {
			// Each shard and request draws from its own distribution, so
			// the merged one is a mixture no single executor saw.
			d := distributions[(shard+i*2)%len(distributions)]
			n := 50 + rng.IntN(400)
			vs := make([]int64, n)
			for j := range vs {
				vs[j] = min(max(d.draw(rng), 1), wire.HistHighest)
			}
			s.Requests = append(s.Requests, mergetest.Req{Name: name, OK: vs})
			total.record(t, name, vs)
			perSecond[k].record(t, name, vs)
			if k >= 3 && k < 9 {
				window.record(t, name, vs)
			}
		}
	})
	agg := merge.New(merge.Config{RunID: "r1", Start: start, Shards: shards}, nil)
	// Shuffled: the merge must not depend on arrival order.
	rng.Shuffle(len(snaps), func(i, j int) { snaps[i], snaps[j] = snaps[j], snaps[i] })
	for _, s := range snaps {
		if _, err := agg.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{series.AllRequests, "browse", "checkout"} {
		if got, w := gotOf(agg.Total(name)), wantOf(total[name]); got != w {
			t.Errorf("Total(%q) = %+v, want %+v", name, got, w)
		}
		if got := agg.Total(name).Count; got != total[name].TotalCount() {
			t.Errorf("Total(%q).Count = %d, want %d", name, got, total[name].TotalCount())
		}
		from, to := start.Add(3*time.Second), start.Add(9*time.Second)
		if got, w := gotOf(agg.Window(from, to, name)), wantOf(window[name]); got != w {
			t.Errorf("Window(%q) = %+v, want %+v", name, got, w)
		}
	}
	// Service times are half the latencies, so their p99 is that of the
	// halved values: check it against a reference too.
	svc := stats.NewHistogram()
	for _, s := range snaps {
		for _, rs := range s.Requests {
			h, err := stats.DecodeHistogram(rs.Service)
			if err != nil {
				t.Fatal(err)
			}
			svc.Merge(h)
		}
	}
	if got, w := agg.Total("").ServiceP99Ms, float64(svc.ValueAtQuantile(99))/1000; got != w {
		t.Errorf("ServiceP99Ms = %v, want %v", got, w)
	}

	// Sliding windows are built incrementally: each must be exactly the
	// window merged from scratch.
	for _, width := range []time.Duration{time.Second, 5 * time.Second, 7 * time.Second} {
		var sliding []merge.Summary
		agg.Windows(width, "checkout", func(s merge.Summary) bool {
			sliding = append(sliding, s)
			return true
		})
		for _, s := range sliding {
			if fresh := agg.Window(s.From, s.To, "checkout"); !reflect.DeepEqual(s, fresh) {
				t.Errorf("sliding window %s-%s = %+v, merged afresh %+v", s.From, s.To, s, fresh)
			}
		}
		if want := seconds - int(width/time.Second) + 1; len(sliding) != want {
			t.Errorf("%d windows of %s, want %d", len(sliding), width, want)
		}
	}

	points := agg.Flush().Points
	if len(points) != seconds*3 {
		t.Fatalf("Flush emitted %d points, want %d", len(points), seconds*3)
	}
	for _, p := range points {
		k := int(p.Time.Sub(start) / time.Second)
		h := perSecond[k][p.Request]
		w := wantOf(h)
		got := want{p.P50Ms, w.p75, p.P90Ms, p.P95Ms, p.P99Ms, w.p999, p.MaxMs, p.MeanMs}
		if got != w || p.Count != h.TotalCount() || p.RPS != float64(h.TotalCount()) {
			t.Errorf("point %s %q = %+v count %d, want %+v count %d", p.Time, p.Request, got, p.Count, w, h.TotalCount())
		}
	}
}
