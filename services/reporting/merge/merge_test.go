package merge_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/merge/mergetest"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ms(vs ...int64) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = v * 1000
	}
	return out
}

// near tells a value from the upper edge of its histogram bucket (max and
// percentiles report that edge, 0.1% above the value at most).
func near(got, want float64) bool { return got >= want && got <= want*1.001 }

func mustAdd(t *testing.T, a *merge.Aggregator, snaps ...wire.Snapshot) {
	t.Helper()
	for _, s := range snaps {
		if _, err := a.Add(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDuplicatesChangeNothing(t *testing.T) {
	a := merge.New(merge.Config{RunID: "r"}, nil)
	s := mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Shard: 1, Seq: 1, Start: t0,
		Requests: []mergetest.Req{{Name: "home", OK: ms(10, 20)}}, Arrivals: wire.Arrivals{Planned: 2, Started: 2}})
	if dup, err := a.Add(s); dup || err != nil {
		t.Fatalf("first Add = %v, %v", dup, err)
	}
	before := a.Total("")
	for range 3 {
		if dup, err := a.Add(s); !dup || err != nil {
			t.Fatalf("resent Add = %v, %v; want a duplicate", dup, err)
		}
	}
	if after := a.Total(""); after.Count != before.Count || after.Arrivals != before.Arrivals || after.P50Ms != before.P50Ms {
		t.Errorf("a duplicate changed the totals: %+v -> %+v", before, after)
	}
	if a.Duplicates() != 3 {
		t.Errorf("Duplicates = %d, want 3", a.Duplicates())
	}
	// The same sequence number of a restarted attempt is new data.
	s.Attempt = 1
	if dup, err := a.Add(s); dup || err != nil {
		t.Fatalf("attempt 1 Add = %v, %v; want new", dup, err)
	}
	if got := a.Total("").Count; got != 4 {
		t.Errorf("Count = %d, want 4 (two attempts of 2)", got)
	}
}

func TestBadSnapshotsChangeNothing(t *testing.T) {
	good := func() wire.Snapshot {
		return mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Shard: 2, Seq: 7, Start: t0,
			Requests: []mergetest.Req{{Name: "home", OK: ms(10)}, {Name: "api", OK: ms(30)}}})
	}
	for _, tc := range []struct {
		why    string
		mutate func(*wire.Snapshot)
		want   error
	}{
		{"a latency histogram that is not HdrHistogram V2", func(s *wire.Snapshot) { s.Requests[1].Latency = []byte("garbage") }, merge.ErrBadSnapshot},
		{"a truncated service histogram", func(s *wire.Snapshot) { s.Requests[1].Service = s.Requests[1].Service[:10] }, merge.ErrBadSnapshot},
		{"a negative count", func(s *wire.Snapshot) { s.Requests[0].OK = -1 }, merge.ErrBadSnapshot},
		{"a negative ko count", func(s *wire.Snapshot) { s.Requests[0].KO = map[string]int64{"timeout": -3} }, merge.ErrBadSnapshot},
		{"negative arrivals", func(s *wire.Snapshot) { s.Arrivals.Started = -1 }, merge.ErrBadSnapshot},
		{"an empty request name would be taken for all requests", func(s *wire.Snapshot) { s.Requests[0].Name = "" }, merge.ErrBadSnapshot},
		{"an interval ending before it starts", func(s *wire.Snapshot) { s.End = s.Start.Add(-time.Second) }, merge.ErrBadSnapshot},
		{"a timestamp a year away from the run", func(s *wire.Snapshot) { s.Start, s.End = s.Start.AddDate(1, 0, 0), s.End.AddDate(1, 0, 0) }, merge.ErrBadSnapshot},
		{"sequence numbers start at 1", func(s *wire.Snapshot) { s.Seq = 0 }, merge.ErrBadSnapshot},
		{"another run's snapshot", func(s *wire.Snapshot) { s.RunID = "other" }, merge.ErrWrongRun},
		{"a histogram of values past the 1h range", func(s *wire.Snapshot) {
			h := hdrhistogramWithRange(t, 10*time.Hour)
			s.Requests[1].Latency = h
		}, merge.ErrBadSnapshot},
	} {
		t.Run(tc.why, func(t *testing.T) {
			a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
			mustAdd(t, a, mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Shard: 0, Seq: 1, Start: t0,
				Requests: []mergetest.Req{{Name: "home", OK: ms(5)}}}))
			before := a.Total("")
			bad := good()
			tc.mutate(&bad)
			dup, err := a.Add(bad)
			if !errors.Is(err, tc.want) || dup {
				t.Fatalf("Add = %v, %v; want %v", dup, err, tc.want)
			}
			if tc.want == merge.ErrBadSnapshot && (!strings.Contains(err.Error(), "shard 2") || !strings.Contains(err.Error(), fmt.Sprintf("seq %d", bad.Seq))) {
				t.Errorf("error %q does not name the shard and sequence", err)
			}
			if after := a.Total(""); after.Count != before.Count || after.P50Ms != before.P50Ms || len(a.Requests()) != 1 {
				t.Errorf("a bad snapshot changed the totals: %+v -> %+v, requests %v", before, after, a.Requests())
			}
			// The bad one was not remembered: the executor's corrected
			// resend of the same sequence number is merged.
			if dup, err := a.Add(good()); dup || err != nil {
				t.Fatalf("good resend = %v, %v", dup, err)
			}
			if got := a.Total("").Count; got != 3 {
				t.Errorf("Count = %d after the good resend, want 3", got)
			}
		})
	}
}

// hdrhistogramWithRange encodes one value of d in a histogram whose range
// reaches it, as a foreign tool might.
func hdrhistogramWithRange(t *testing.T, d time.Duration) []byte {
	t.Helper()
	return encodeForeign(t, int64(d/time.Microsecond))
}

func TestForeignGeometryIsReRecorded(t *testing.T) {
	// A tool that encodes with 2 significant digits over another range:
	// its values are merged at their bucket's value.
	a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
	s := mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Seq: 1, Start: t0, Requests: []mergetest.Req{{Name: "x", OK: ms(1)}}})
	s.Requests[0].Latency = encodeForeign(t, 250_000)
	mustAdd(t, a, s)
	if got := a.Total("x").P50Ms; got < 249 || got > 251 {
		t.Errorf("p50 of a foreign 250 ms = %v ms", got)
	}
}

func TestBucketingByMidpoint(t *testing.T) {
	for _, tc := range []struct {
		why       string
		runStart  time.Time
		snapStart time.Time
		length    time.Duration
		offset    time.Duration // the shard's clock offset
		want      time.Time     // the point's label
	}{
		{"an interval paced from a whole-second start", t0, t0.Add(3 * time.Second), time.Second, 0, t0.Add(3 * time.Second)},
		{"a tick 300 ms late still counts in its own second", t0, t0.Add(3*time.Second + 300*time.Millisecond), time.Second, 0, t0.Add(3 * time.Second)},
		{"a tick 400 ms early still counts in its own second", t0, t0.Add(3*time.Second - 400*time.Millisecond), time.Second, 0, t0.Add(3 * time.Second)},
		{"a start at .300 labels run second k with the wall second holding most of it", t0.Add(300 * time.Millisecond), t0.Add(2300 * time.Millisecond), time.Second, 0, t0.Add(2 * time.Second)},
		{"a start at .700 labels run second k with the next wall second", t0.Add(700 * time.Millisecond), t0.Add(2700 * time.Millisecond), time.Second, 0, t0.Add(3 * time.Second)},
		{"a short final interval counts in the second it started", t0, t0.Add(5 * time.Second), 200 * time.Millisecond, 0, t0.Add(5 * time.Second)},
		{"a 3 s interval after a stall counts whole in its middle second", t0, t0.Add(4 * time.Second), 3 * time.Second, 0, t0.Add(5 * time.Second)},
		{"executor times are moved to the control plane's clock", t0, t0.Add(3 * time.Second), time.Second, 2 * time.Second, t0.Add(5 * time.Second)},
		{"a snapshot before the start instant (negative second)", t0, t0.Add(-time.Second), time.Second, 0, t0.Add(-time.Second)},
	} {
		t.Run(tc.why, func(t *testing.T) {
			a := merge.New(merge.Config{RunID: "r", Start: tc.runStart, ClockOffsets: map[int]time.Duration{0: tc.offset}}, nil)
			mustAdd(t, a, mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Seq: 1, Start: tc.snapStart, Length: tc.length,
				Requests: []mergetest.Req{{Name: "x", OK: ms(1)}}}))
			pts := a.Flush().Points
			if len(pts) != 2 || !pts[0].Time.Equal(tc.want) {
				t.Fatalf("points %+v, want 2 at %s", pts, tc.want)
			}
		})
	}
}

func TestStartTakenFromFirstSnapshot(t *testing.T) {
	a := merge.New(merge.Config{RunID: "r"}, nil)
	if got := a.Tick(t0.Add(time.Hour)); len(got.Points) != 0 {
		t.Fatalf("Tick before any data emitted %v", got)
	}
	mustAdd(t, a, mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Seq: 1, Start: t0.Add(200 * time.Millisecond), Requests: []mergetest.Req{{Name: "x", OK: ms(1)}}}))
	if got := a.Origin(); !got.Equal(t0) {
		t.Errorf("Origin = %s, want %s", got, t0)
	}
}

func TestTickEmitsCompleteSecondsOnce(t *testing.T) {
	snaps := mergetest.Run(t, "r", t0, 2, 4, func(shard, k int, s *mergetest.Shot) {
		s.Requests = []mergetest.Req{{Name: "x", OK: ms(int64(10 * (k + 1)))}}
	})
	byShardSecond := func(shard, k int) wire.Snapshot { return snaps[k*2+shard] }
	times := func(b series.Batch) []int {
		var out []int
		for _, p := range b.Points {
			if p.Request == series.AllRequests {
				out = append(out, int(p.Time.Sub(t0)/time.Second))
			}
		}
		return out
	}

	t.Run("by lateness when the shard count is unknown", func(t *testing.T) {
		a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
		mustAdd(t, a, byShardSecond(0, 0), byShardSecond(1, 0), byShardSecond(0, 1))
		if got := times(a.Tick(t0.Add(2999 * time.Millisecond))); len(got) != 0 {
			t.Errorf("second 0 emitted %v before its end + 2 s", got)
		}
		if got := times(a.Tick(t0.Add(3 * time.Second))); fmt.Sprint(got) != "[0]" {
			t.Errorf("Tick at 3 s emitted %v, want [0]", got)
		}
		if got := times(a.Tick(t0.Add(3 * time.Second))); len(got) != 0 {
			t.Errorf("a second Tick re-emitted %v", got)
		}
		if got := a.Complete(); !got.Equal(t0.Add(time.Second)) {
			t.Errorf("Complete = %s, want %s", got, t0.Add(time.Second))
		}
	})
	t.Run("as soon as every shard reported past the second", func(t *testing.T) {
		a := merge.New(merge.Config{RunID: "r", Start: t0, Shards: 2}, nil)
		mustAdd(t, a, byShardSecond(0, 0), byShardSecond(0, 1), byShardSecond(1, 0))
		if got := times(a.Tick(t0.Add(2 * time.Second))); len(got) != 0 {
			t.Errorf("emitted %v while shard 1 may still send second 0", got)
		}
		mustAdd(t, a, byShardSecond(1, 1))
		if got := times(a.Tick(t0.Add(2 * time.Second))); fmt.Sprint(got) != "[0]" {
			t.Errorf("emitted %v, want [0]", got)
		}
		// A shard's gap holds the second back: shard 1's second 2 is
		// missing while its second 3 (final) arrived.
		mustAdd(t, a, byShardSecond(0, 2), byShardSecond(0, 3), byShardSecond(1, 3))
		if got := times(a.Tick(t0.Add(4 * time.Second))); fmt.Sprint(got) != "[1]" {
			t.Errorf("emitted %v, want [1] (shard 1 has a gap at 2)", got)
		}
		mustAdd(t, a, byShardSecond(1, 2))
		if got := times(a.Tick(t0.Add(4 * time.Second))); fmt.Sprint(got) != "[2 3]" {
			t.Errorf("emitted %v, want [2 3] once every shard sent its final snapshot", got)
		}
	})
}

func TestLateAndOutOfOrderSnapshots(t *testing.T) {
	snaps := mergetest.Run(t, "r", t0, 2, 3, func(shard, k int, s *mergetest.Shot) {
		s.Requests = []mergetest.Req{{Name: "x", OK: ms(int64(100*shard + k + 1))}}
	})
	a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
	// Out of order: second 2 first, then 0; shard 1's second 0 is late.
	mustAdd(t, a, snaps[4], snaps[5], snaps[0], snaps[2], snaps[3])
	b := a.Tick(t0.Add(10 * time.Second))
	if len(b.Points) != 6 || b.Points[0].Count != 1 {
		t.Fatalf("Tick = %+v, want 3 seconds with second 0 holding one request", b.Points)
	}
	if a.LateSnapshots() != 0 {
		t.Errorf("LateSnapshots = %d before the late one", a.LateSnapshots())
	}
	mustAdd(t, a, snaps[1])
	if a.LateSnapshots() != 1 {
		t.Errorf("LateSnapshots = %d, want 1", a.LateSnapshots())
	}
	if again := a.Flush(); len(again.Points) != 0 {
		t.Errorf("the late second was emitted again: %+v", again.Points)
	}
	if got := a.Total("x"); got.Count != 6 || !near(got.MaxMs, 103) {
		t.Errorf("Total = count %d max %v, want the late snapshot merged (6, 103)", got.Count, got.MaxMs)
	}
	if got := a.Window(t0, t0.Add(time.Second), "x"); got.Count != 2 || !near(got.MaxMs, 101) {
		t.Errorf("Window of second 0 = count %d max %v, want the late one in it (2, 101)", got.Count, got.MaxMs)
	}
}

func TestPointsCarryRunLevelFields(t *testing.T) {
	a := merge.New(merge.Config{RunID: "r", Start: t0, Locations: map[int]string{0: "eu", 1: "us"}}, nil)
	for shard := range 2 {
		mustAdd(t, a, mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Shard: shard, Seq: 1, Start: t0,
			Requests: []mergetest.Req{{Name: "a", OK: ms(10), KO: map[string][]int64{"status_5xx": ms(20)}}, {Name: "b", OK: ms(30)}},
			Arrivals: wire.Arrivals{Planned: 5, Started: 4, Dropped: 1},
			Health:   wire.Health{ActiveSessions: 7, CPUPercent: 10, DroppedArrivals: 1}}))
	}
	// Shard 1 restarted: its attempt 1 health replaces attempt 0's.
	mustAdd(t, a, mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Shard: 1, Attempt: 1, Seq: 1, Start: t0.Add(100 * time.Millisecond),
		Length: 500 * time.Millisecond, Health: wire.Health{ActiveSessions: 2}}))
	b := a.Flush()
	if len(b.Points) != 3 {
		t.Fatalf("points = %+v", b.Points)
	}
	all, pa := b.Points[0], b.Points[1]
	if all.Request != series.AllRequests || all.Count != 6 || all.KO != 2 || all.KOByReason["status_5xx"] != 2 ||
		all.ActiveUsers != 9 || all.PlannedArrivals != 10 || all.StartedArrivals != 8 || all.Dropped != 2 ||
		all.BytesSent != 600 || all.BytesReceived != 6000 || all.RPS != 6 {
		t.Errorf("AllRequests point = %+v", all)
	}
	if pa.Request != "a" || pa.Count != 4 || pa.ActiveUsers != 0 || pa.BytesSent != 0 {
		t.Errorf("request point = %+v, want run-level fields unset", pa)
	}
	if len(b.Executors) != 2 || b.Executors[0].Location != "eu" || b.Executors[1].ActiveSessions != 2 || b.Executors[1].Location != "us" {
		t.Errorf("executor points = %+v", b.Executors)
	}
	shards := a.Shards()
	if len(shards) != 2 || shards[1].Attempt != 1 || shards[1].LastSeq != 1 {
		t.Errorf("Shards = %+v", shards)
	}
}

func TestStepCumulative(t *testing.T) {
	p := &plan.Plan{Load: plan.Load{Open: []plan.OpenStep{
		{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 10, During: plan.Duration(5 * time.Second)}},
		{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 20, During: plan.Duration(5 * time.Second)}},
	}}}
	a := merge.New(merge.Config{RunID: "r", Start: t0, Steps: merge.StepsOf(p)}, nil)
	// 11 seconds: the 11th is the graceful stop, counted in the last step.
	mustAdd(t, a, mergetest.Run(t, "r", t0, 1, 11, func(_, k int, s *mergetest.Shot) {
		rate := int64(10)
		if k >= 5 {
			rate = 20
		}
		vs := make([]int64, rate)
		for i := range vs {
			vs[i] = rate * 1000 // 10 ms at 10/s, 20 ms at 20/s
		}
		s.Requests = []mergetest.Req{{Name: "x", OK: vs}}
		s.Arrivals = wire.Arrivals{Planned: rate, Started: rate}
	})...)
	for _, tc := range []struct {
		step                      int
		count, scheduled, planned int64
		p99                       float64
	}{
		{0, 50, 50, 50, 10},
		{1, 120, 100, 120, 20},
	} {
		s := a.Step(tc.step, series.AllRequests)
		if s.Count != tc.count || s.ScheduledArrivals != tc.scheduled || s.Arrivals.Planned != tc.planned || !near(s.P99Ms, tc.p99) {
			t.Errorf("Step(%d) = count %d scheduled %d planned %d p99 %v, want %+v", tc.step, s.Count, s.ScheduledArrivals, s.Arrivals.Planned, s.P99Ms, tc)
		}
	}
	if s := a.Step(0, "x"); s.Count != 50 || !s.From.Equal(t0) || !s.To.Equal(t0.Add(5*time.Second)) {
		t.Errorf("Step(0, x) = %+v", s)
	}
	if s := a.Total(""); s.ScheduledArrivals != 150 || s.Count != 170 || s.DurationSeconds != 11 || s.RPS != 170.0/11 {
		t.Errorf("Total = %+v", s)
	}
	if s := a.Step(5, ""); s.Count != 0 {
		t.Errorf("Step out of range = %+v", s)
	}
}

func TestWindowsSlideBySecond(t *testing.T) {
	a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
	mustAdd(t, a, mergetest.Run(t, "r", t0, 1, 5, func(_, k int, s *mergetest.Shot) {
		s.Requests = []mergetest.Req{{Name: "x", OK: ms(int64(k + 1))}}
	})...)
	var got []string
	a.Windows(3*time.Second, "x", func(s merge.Summary) bool {
		got = append(got, fmt.Sprintf("%d-%d:%.0f", s.From.Sub(t0)/time.Second, s.To.Sub(t0)/time.Second, s.MaxMs))
		return true
	})
	if fmt.Sprint(got) != "[0-3:3 1-4:4 2-5:5]" {
		t.Errorf("windows = %v", got)
	}
	got = nil
	a.Windows(time.Minute, "x", func(s merge.Summary) bool {
		got = append(got, fmt.Sprintf("%d-%d:%d", s.From.Sub(t0)/time.Second, s.To.Sub(t0)/time.Second, s.Count))
		return true
	})
	if fmt.Sprint(got) != "[0-5:5]" {
		t.Errorf("a run shorter than the window = %v, want one window of everything", got)
	}
}

func TestStepsOf(t *testing.T) {
	sec := func(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Second) }
	for _, tc := range []struct {
		why  string
		load plan.Load
		want string
	}{
		{"a ramp then a plateau", plan.Load{Open: []plan.OpenStep{
			{RampUsersPerSec: &plan.RampUsersPerSec{From: 0, To: 10, During: sec(10)}},
			{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 10, During: sec(20)}}}},
			"[rampUsersPerSec 0s-10s 50 false constantUsersPerSec 10s-30s 200 true]"},
		{"maxDuration cuts the last step", plan.Load{MaxDuration: sec(15), Open: []plan.OpenStep{
			{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 10, During: sec(10)}},
			{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 10, During: sec(10)}},
			{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 10, During: sec(10)}}}},
			"[constantUsersPerSec 0s-10s 100 true constantUsersPerSec 10s-15s 50 true]"},
		{"a closed model", plan.Load{Closed: []plan.ClosedStep{
			{RampConcurrentUsers: &plan.RampConcurrentUsers{From: 1, To: 5, During: sec(10)}},
			{ConstantConcurrentUsers: &plan.ConstantConcurrentUsers{Users: 5, During: sec(10)}}}},
			"[rampConcurrentUsers 0s-10s 0 false constantConcurrentUsers 10s-20s 0 true]"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			var got []string
			for _, s := range merge.StepsOf(&plan.Plan{Load: tc.load}) {
				got = append(got, fmt.Sprintf("%s %s-%s %d %v", s.Kind, s.Start, s.End, s.Arrivals, s.Constant()))
			}
			if fmt.Sprintf("[%s]", strings.Join(got, " ")) != tc.want {
				t.Errorf("StepsOf = %v, want %s", got, tc.want)
			}
		})
	}
}

// TestConcurrentAddAndTick runs ingest and ticks at once (go test -race
// checks the locking); the totals must be those of every snapshot. Ticks
// are at the start instant, so only the every-shard rule emits: each second
// exactly once, however the goroutines interleave.
func TestConcurrentAddAndTick(t *testing.T) {
	const shards, seconds = 4, 20
	snaps := mergetest.Run(t, "r", t0, shards, seconds, func(shard, k int, s *mergetest.Shot) {
		s.Requests = []mergetest.Req{{Name: "x", OK: ms(int64(shard + 1))}}
	})
	a := merge.New(merge.Config{RunID: "r", Start: t0, Shards: shards}, nil)
	var wg sync.WaitGroup
	points := make(chan int, seconds*2*4)
	for shard := range shards {
		wg.Go(func() {
			for k := range seconds {
				if _, err := a.Add(snaps[k*shards+shard]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			points <- len(a.Tick(t0).Points)
			_ = a.Total("")
		}
	})
	wg.Wait()
	close(points)
	emitted := len(a.Flush().Points)
	for n := range points {
		emitted += n
	}
	if emitted != seconds*2 {
		t.Errorf("emitted %d points, want %d (every second once)", emitted, seconds*2)
	}
	if got := a.Total("x").Count; got != shards*seconds {
		t.Errorf("Count = %d, want %d", got, shards*seconds)
	}
}
