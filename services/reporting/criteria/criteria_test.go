package criteria_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/reporting/criteria"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/merge/mergetest"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// second is what one synthetic second holds: latencies of ok requests and
// of failed ones (ms), and arrivals.
type second struct {
	name             string
	ok, failed       []int64
	planned, started int64
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func micros(msVals []int64) []int64 {
	out := make([]int64, len(msVals))
	for i, v := range msVals {
		out[i] = v * 1000
	}
	return out
}

// load is a plan load of constant steps, each (rate, seconds).
func load(steps ...[2]float64) plan.Load {
	var l plan.Load
	for _, s := range steps {
		l.Open = append(l.Open, plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{
			Rate: s[0], During: plan.Duration(time.Duration(s[1]) * time.Second)}})
	}
	return l
}

func rampLoad(from, to float64, seconds int) plan.Load {
	return plan.Load{Open: []plan.OpenStep{{RampUsersPerSec: &plan.RampUsersPerSec{From: from, To: to,
		During: plan.Duration(time.Duration(seconds) * time.Second)}}}}
}

// build merges a synthetic one-shard run of n seconds into an Aggregator
// without emitting anything.
func build(t *testing.T, l plan.Load, n int, fill func(k int) []second) *merge.Aggregator {
	t.Helper()
	a := merge.New(merge.Config{RunID: "r", Start: t0, Steps: merge.StepsOf(&plan.Plan{Load: l})}, nil)
	for _, s := range snapshots(t, n, fill) {
		if _, err := a.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func snapshots(t *testing.T, n int, fill func(k int) []second) []wire.Snapshot {
	return mergetest.Run(t, "r", t0, 1, n, func(_, k int, s *mergetest.Shot) {
		for _, sec := range fill(k) {
			s.Arrivals.Planned += sec.planned
			s.Arrivals.Started += sec.started
			if len(sec.ok)+len(sec.failed) == 0 {
				continue
			}
			r := mergetest.Req{Name: sec.name, OK: micros(sec.ok)}
			if len(sec.failed) > 0 {
				r.KO = map[string][]int64{"status_5xx": micros(sec.failed)}
			}
			s.Requests = append(s.Requests, r)
		}
	})
}

func maxMs(d time.Duration) *plan.Threshold {
	pd := plan.Duration(d)
	return &plan.Threshold{Duration: &pd}
}

func num(v float64) *plan.Threshold { return &plan.Threshold{Number: &v} }

// near allows for the histogram bucket: values are reported at the upper
// edge of their bucket, at most 0.1% above.
func near(got, want float64) bool {
	return math.Abs(got-want) <= math.Abs(want)*0.001+1e-9
}

func TestEvaluateKnownAnswers(t *testing.T) {
	// 20 s at 10 arrivals/s planned, 9 started each second. "fast" answers
	// in 10 ms; "slow" in 100 ms and fails one request in ten with 200 ms.
	a := build(t, load([2]float64{10, 20}), 20, func(int) []second {
		return []second{
			{name: "fast", ok: repeat(10, 9), planned: 10, started: 9},
			{name: "slow", ok: repeat(100, 8), failed: []int64{200}},
		}
	})
	for _, tc := range []struct {
		why    string
		c      plan.Criterion
		value  float64
		passed bool
		noData bool
	}{
		{"a request's own p95 is judged on its own histogram",
			plan.Criterion{Metric: "latency.p95", Request: "fast", Max: maxMs(20 * time.Millisecond)}, 10, true, false},
		{"all requests' p95 mixes both: 9 of 18 are slow, so p95 is slow's",
			plan.Criterion{Metric: "latency.p95", Max: maxMs(150 * time.Millisecond)}, 200, false, false},
		{"p50 of all requests is the 50th percentile of the mix (fast)",
			plan.Criterion{Metric: "latency.p50", Max: maxMs(50 * time.Millisecond)}, 10, true, false},
		{"p75 falls among the slow (reported at its bucket's upper edge, 100.031)",
			plan.Criterion{Metric: "latency.p75", Request: "slow", Max: maxMs(101 * time.Millisecond)}, 100, true, false},
		{"p90 of slow: 1 of 9 is 200 ms, so p90 is 200",
			plan.Criterion{Metric: "latency.p90", Request: "slow", Max: maxMs(150 * time.Millisecond)}, 200, false, false},
		{"p99.9 and max see the failures' latency too",
			plan.Criterion{Metric: "latency.p99.9", Max: maxMs(time.Second)}, 200, true, false},
		{"max", plan.Criterion{Metric: "latency.max", Request: "fast", Max: maxMs(10 * time.Millisecond)}, 10, false, false},
		{"mean of slow is (8·100+200)/9",
			plan.Criterion{Metric: "latency.mean", Request: "slow", Max: maxMs(time.Second)}, 1000.0 / 9, true, false},
		{"a latency given as whole seconds", plan.Criterion{Metric: "latency.p99", Request: "slow", Max: num(1)}, 200, true, false},
		{"errors.rate of all requests: 1 of 18",
			plan.Criterion{Metric: "errors.rate", Max: num(0.05)}, 1.0 / 18, false, false},
		{"errors.rate of one request: 1 of 9",
			plan.Criterion{Metric: "errors.rate", Request: "slow", Max: num(0.2)}, 1.0 / 9, true, false},
		{"throughput.ratio: 180 started of 200 scheduled",
			plan.Criterion{Metric: "throughput.ratio", Min: num(0.95)}, 0.9, false, false},
		{"throughput is the run's even when a request is named",
			plan.Criterion{Metric: "throughput.ratio", Request: "slow", Min: num(0.85)}, 0.9, true, false},
		{"a request that never ran cannot pass",
			plan.Criterion{Metric: "latency.p95", Request: "ghost", Max: maxMs(time.Second)}, 0, false, true},
	} {
		t.Run(tc.why, func(t *testing.T) {
			r := criteria.Evaluate([]plan.Criterion{tc.c}, a)[0]
			if r.Passed != tc.passed || r.NoData != tc.noData || !near(r.Value, tc.value) {
				t.Errorf("result %+v, want value %v passed %v noData %v", r, tc.value, tc.passed, tc.noData)
			}
			if r.Detail == "" || !strings.Contains(r.Detail, tc.c.Metric) {
				t.Errorf("detail %q does not name the metric", r.Detail)
			}
		})
	}
}

func TestResultFields(t *testing.T) {
	a := build(t, load([2]float64{1, 5}), 5, func(int) []second { return []second{{name: "x", ok: []int64{300}}} })
	w := plan.Duration(2 * time.Second)
	rs := criteria.Evaluate([]plan.Criterion{
		{Metric: "latency.p99", Request: "x", Max: maxMs(250 * time.Millisecond), AbortOnFail: true, Window: w},
		{Metric: "errors.rate", Min: num(0.5)},
		{Metric: "latency.p42", Max: num(1)},
		{Metric: "errors.rate"},
	}, a)
	first := rs[0]
	if first.Threshold != 250 || first.Unit != criteria.UnitMs || first.Op != criteria.OpMax || !first.AbortOnFail ||
		first.Window != "2s" || first.Passed || !near(first.Value, 300) || first.To.Sub(first.From) != 2*time.Second {
		t.Errorf("windowed latency result = %+v", first)
	}
	if !strings.Contains(first.Detail, "breaks max 250 ms") {
		t.Errorf("detail = %q", first.Detail)
	}
	if r := rs[1]; r.Op != criteria.OpMin || r.Unit != criteria.UnitRatio || r.Threshold != 0.5 || r.Value != 0 || r.Passed {
		t.Errorf("min errors.rate = %+v (0 < min 0.5 fails)", r)
	}
	if rs[2].Passed || !strings.Contains(rs[2].Detail, "unknown metric") {
		t.Errorf("unknown metric = %+v", rs[2])
	}
	if rs[3].Passed || !strings.Contains(rs[3].Detail, "neither max nor min") {
		t.Errorf("criterion without bound = %+v", rs[3])
	}
	if criteria.Passed(rs) || !criteria.Passed(nil) {
		t.Error("Passed is wrong")
	}
}

func TestWindowedCriteria(t *testing.T) {
	// 120 s at 10 ms, but 500 ms during seconds 60-64: 5 s of 120 is
	// 4% of the requests, under the whole run's p95, over a 30 s window's.
	spike := func(k int) []second {
		v := int64(10)
		if k >= 60 && k < 65 {
			v = 500
		}
		return []second{{name: "x", ok: repeat(v, 10), planned: 10, started: 10 - int64(k/100)*5}}
	}
	a := build(t, load([2]float64{10, 120}), 120, spike)
	for _, tc := range []struct {
		why      string
		c        plan.Criterion
		value    float64
		passed   bool
		from, to int // worst window, run seconds
	}{
		{"the whole run's p95 hides a 5 s spike",
			plan.Criterion{Metric: "latency.p95", Max: maxMs(100 * time.Millisecond)}, 10, true, 0, 120},
		{"a 30 s window shows it; the worst is the first window where 2 slow seconds (6.7%) lift p95",
			plan.Criterion{Metric: "latency.p95", Max: maxMs(100 * time.Millisecond), Window: plan.Duration(30 * time.Second)}, 500, false, 32, 62},
		{"a window longer than the run is the whole run",
			plan.Criterion{Metric: "latency.p95", Max: maxMs(100 * time.Millisecond), Window: plan.Duration(time.Hour)}, 10, true, 0, 120},
		{"a min criterion keeps the lowest window: started drops to 5/s from 100 s",
			plan.Criterion{Metric: "throughput.ratio", Min: num(0.8), Window: plan.Duration(10 * time.Second)}, 0.5, false, 100, 110},
		{"a fractional window is rounded up to whole seconds",
			plan.Criterion{Metric: "latency.max", Max: maxMs(time.Second), Window: plan.Duration(1500 * time.Millisecond)}, 500, true, 59, 61},
	} {
		t.Run(tc.why, func(t *testing.T) {
			r := criteria.Evaluate([]plan.Criterion{tc.c}, a)[0]
			from, to := int(r.From.Sub(t0)/time.Second), int(r.To.Sub(t0)/time.Second)
			if r.Passed != tc.passed || !near(r.Value, tc.value) || from != tc.from || to != tc.to {
				t.Errorf("result %+v (window %d-%d), want value %v passed %v window %d-%d", r, from, to, tc.value, tc.passed, tc.from, tc.to)
			}
		})
	}
}

func TestDrift(t *testing.T) {
	rising := func(from, to int64, n int) func(int) []second {
		return func(k int) []second {
			v := from + (to-from)*int64(k)/int64(n-1)
			return []second{{name: "x", ok: repeat(v, 20)}}
		}
	}
	for _, tc := range []struct {
		why    string
		load   plan.Load
		n      int
		fill   func(int) []second
		value  float64
		noData bool
		note   string
	}{
		{"a 3-minute plateau: p95 of minute 0 vs minute 2",
			load([2]float64{10, 180}), 180, func(k int) []second {
				return []second{{name: "x", ok: repeat(100+int64(k/60)*25, 20)}}
			}, 0.5, false, "stable minutes"},
		{"the ramp's minute is not stable: minutes 1 and 3 of a ramp then a plateau",
			plan.Load{Open: append(rampLoad(0, 10, 60).Open, load([2]float64{10, 180}).Open...)}, 240, func(k int) []second {
				v := int64(100)
				switch {
				case k < 60:
					v = 1000 // warm-up: ignored
				case k >= 180:
					v = 120
				}
				return []second{{name: "x", ok: repeat(v, 20)}}
			}, 0.2, false, "stable minutes"},
		{"a plan shorter than two minutes falls back to thirds",
			load([2]float64{10, 90}), 90, rising(100, 100, 90), 0, false, "thirds"},
		{"a ramp has no stable minute: thirds (first 0-29 s vs last 60-89 s)",
			rampLoad(1, 10, 90), 90, func(k int) []second { return []second{{name: "x", ok: repeat(100+int64(k/30)*50, 20)}} },
			1, false, "thirds"},
		{"under three seconds there is nothing to compare",
			load([2]float64{10, 2}), 2, rising(100, 200, 2), 0, true, "three seconds"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			a := build(t, tc.load, tc.n, tc.fill)
			r := criteria.Evaluate([]plan.Criterion{{Metric: "latency.p95.drift", Max: num(0.1)}}, a)[0]
			// Both p95 are bucket edges: the ratio is within 0.2%.
			if r.NoData != tc.noData || math.Abs(r.Value-tc.value) > 0.002 || !strings.Contains(r.Detail, tc.note) {
				t.Errorf("result %+v, want value %v noData %v, detail with %q", r, tc.value, tc.noData, tc.note)
			}
			if !tc.noData && r.Passed != (tc.value <= 0.1) {
				t.Errorf("passed = %v for drift %v, max 0.1", r.Passed, r.Value)
			}
		})
	}
}

func TestWatcherNeedsAMinimumSample(t *testing.T) {
	// The first request of the run is slow and fails; the rest are fine.
	fill := func(k int) []second {
		if k == 0 {
			return []second{{name: "x", failed: []int64{5000}, planned: 1, started: 1}}
		}
		return []second{{name: "x", ok: repeat(10, 20), planned: 20, started: 20}}
	}
	cs := []plan.Criterion{
		{Metric: "latency.max", Max: maxMs(time.Second), AbortOnFail: false}, // never live
		{Metric: "errors.rate", Max: num(0.01), AbortOnFail: true},
		{Metric: "latency.p99", Max: maxMs(time.Second), AbortOnFail: true},
		// Live, only what is due so far counts as planned.
		{Metric: "throughput.ratio", Min: num(0.99), AbortOnFail: true},
	}
	a := merge.New(merge.Config{RunID: "r", Start: t0, Steps: merge.StepsOf(&plan.Plan{Load: load([2]float64{20, 600})})}, nil)
	w := criteria.NewWatcher(cs, a, criteria.WatchConfig{})
	snaps := snapshots(t, 30, fill)
	for k, s := range snaps {
		if _, err := a.Add(s); err != nil {
			t.Fatal(err)
		}
		a.Tick(t0.Add(time.Duration(k+1) * time.Second))
		r, abort := w.Check()
		// Until 10 s are merged, the failed first request is over 1% of
		// the few so far; past 10 s and 100 requests it is 1 of 200+.
		if abort {
			t.Fatalf("aborted at second %d: %+v", k, r)
		}
		// Without the minimum sample, the same data aborts early.
		eager := criteria.NewWatcher(cs, a, criteria.WatchConfig{MinDuration: time.Nanosecond, MinRequests: 1})
		if _, abort := eager.Check(); abort != (k <= 4) { // 1 failed of 1+20k: over 1% until k=5
			t.Errorf("second %d: an eager watcher aborts %v", k, abort)
		}
	}
	// Now the errors keep coming: the cumulative rate passes 1%.
	for k := 30; k < 40; k++ {
		s := snapshots(t, k+1, func(int) []second {
			return []second{{name: "x", ok: repeat(10, 10), failed: repeat(10, 10), planned: 20, started: 20}}
		})[k]
		if _, err := a.Add(s); err != nil {
			t.Fatal(err)
		}
		a.Tick(t0.Add(time.Duration(k+1) * time.Second))
		if r, abort := w.Check(); abort {
			if r.Metric != "errors.rate" || r.Passed || !r.AbortOnFail || !strings.Contains(r.Detail, "so far") {
				t.Errorf("abort result = %+v", r)
			}
			return
		}
	}
	t.Fatal("a 50% error rate did not abort the run")
}

func TestWatcherWindowIsTheLatestComplete(t *testing.T) {
	c := plan.Criterion{Metric: "latency.p95", Max: maxMs(100 * time.Millisecond), Window: plan.Duration(10 * time.Second), AbortOnFail: true}
	// Slow from 20 s to 24 s, fine around it.
	fill := func(k int) []second {
		v := int64(10)
		if k >= 20 && k < 25 {
			v = 400
		}
		return []second{{name: "x", ok: repeat(v, 10)}}
	}
	a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
	w := criteria.NewWatcher([]plan.Criterion{c}, a, criteria.WatchConfig{})
	var aborts []int
	for k, s := range snapshots(t, 40, fill) {
		if _, err := a.Add(s); err != nil {
			t.Fatal(err)
		}
		a.Tick(t0.Add(time.Duration(k)*time.Second + 3*time.Second)) // second k complete
		if r, abort := w.Check(); abort {
			aborts = append(aborts, k)
			if !strings.Contains(r.Detail, "last 10s window") {
				t.Errorf("detail = %q", r.Detail)
			}
		}
	}
	// p95 of 10 s fails once 1 of the 10 seconds is slow: from the window
	// ending with second 20 to the one starting with second 24.
	if fmt.Sprint(aborts) != "[20 21 22 23 24 25 26 27 28 29 30 31 32 33]" {
		t.Errorf("live failures at seconds %v", aborts)
	}
}

// TestLiveAndFinalAgreeOnWindows checks the promise of the package comment:
// a windowed criterion checked live every second fails at some point if and
// only if the final verdict fails it.
func TestLiveAndFinalAgreeOnWindows(t *testing.T) {
	for _, spikeAt := range []int{0, 3, 17, 28, 35} {
		for _, spikeLen := range []int{1, 2, 6} {
			t.Run(fmt.Sprintf("spike %d+%d", spikeAt, spikeLen), func(t *testing.T) {
				c := plan.Criterion{Metric: "errors.rate", Max: num(0.1), Window: plan.Duration(8 * time.Second), AbortOnFail: true}
				fill := func(k int) []second {
					if k >= spikeAt && k < spikeAt+spikeLen {
						return []second{{name: "x", ok: repeat(10, 5), failed: repeat(10, 5)}}
					}
					return []second{{name: "x", ok: repeat(10, 10)}}
				}
				a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
				w := criteria.NewWatcher([]plan.Criterion{c}, a, criteria.WatchConfig{})
				live := false
				for k, s := range snapshots(t, 36, fill) {
					if _, err := a.Add(s); err != nil {
						t.Fatal(err)
					}
					a.Tick(t0.Add(time.Duration(k)*time.Second + 3*time.Second))
					_, abort := w.Check()
					live = live || abort
				}
				a.Flush()
				_, abort := w.Check()
				live = live || abort
				final := criteria.Evaluate([]plan.Criterion{c}, a)[0]
				if live == final.Passed {
					t.Errorf("live failed %v, final passed %v (%s)", live, final.Passed, final.Detail)
				}
			})
		}
	}
}

func TestWatcherDriftNeedsTwoStableMinutes(t *testing.T) {
	c := plan.Criterion{Metric: "latency.p95.drift", Max: num(0.2), AbortOnFail: true}
	fill := func(k int) []second { return []second{{name: "x", ok: repeat(100+int64(k), 10)}} }
	a := merge.New(merge.Config{RunID: "r", Start: t0, Steps: merge.StepsOf(&plan.Plan{Load: load([2]float64{10, 300})})}, nil)
	w := criteria.NewWatcher([]plan.Criterion{c}, a, criteria.WatchConfig{})
	for k, s := range snapshots(t, 121, fill) {
		if _, err := a.Add(s); err != nil {
			t.Fatal(err)
		}
		a.Tick(t0.Add(time.Duration(k)*time.Second + 3*time.Second))
		r, abort := w.Check()
		// p95 rises 1 ms a second: minute 1 (160 ms) vs minute 0 (~100 ms)
		// is a 60% drift, known once minute 1 completes (after second 119).
		if abort != (k >= 119) {
			t.Fatalf("second %d: abort %v (%+v)", k, abort, r)
		}
	}
}
