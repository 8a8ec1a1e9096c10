package schedule

import (
	"math"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func sec(s float64) plan.Duration { return plan.Duration(time.Duration(s * float64(time.Second))) }

func open(steps ...plan.OpenStep) plan.Load { return plan.Load{Open: steps} }

func TestTotals(t *testing.T) {
	tests := []struct {
		why  string
		load plan.Load
		want int64
	}{
		{"known answer: 100/s for 300 s", open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 100, During: sec(300)}}), 30000},
		{"known answer: ramp 10→100/s over 300 s is the trapezoid (10+100)/2·300", open(plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 10, To: 100, During: sec(300)}}), 16500},
		{"a ramp down is the same trapezoid", open(plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 100, To: 10, During: sec(300)}}), 16500},
		{"ramp from zero", open(plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 0, To: 10, During: sec(10)}}), 50},
		{"a fractional total rounds up: arrivals at 0, 2 s within 3 s", open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 0.5, During: sec(3)}}), 2},
		{"randomized keeps the exact count", open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 100, During: sec(300), Randomized: true}}), 30000},
		{"atOnceUsers", open(plan.OpenStep{AtOnceUsers: &plan.AtOnceUsers{Users: 7}}), 7},
		{"rampUsers", open(plan.OpenStep{RampUsers: &plan.RampUsers{Users: 50, During: sec(10)}}), 50},
		{"stressPeakUsers injects exactly its users", open(plan.OpenStep{StressPeakUsers: &plan.StressPeakUsers{Users: 1000, During: sec(20)}}), 1000},
		{"nothingFor adds no arrival", open(plan.OpenStep{NothingFor: &plan.NothingFor{During: sec(5)}}, plan.OpenStep{AtOnceUsers: &plan.AtOnceUsers{Users: 1}}), 1},
		{"increment: levels 10, 20, 30 for 10 s with 5 s ramps: 600 + 75 + 125", open(plan.OpenStep{IncrementUsersPerSec: &plan.IncrementUsersPerSec{Increment: 10, Times: 3, EachLevelLasting: sec(10), SeparatedByRampsLasting: sec(5), StartingFrom: 10}}), 600 + 75 + 125},
		{"maxDuration cuts a constant rate", plan.Load{Open: []plan.OpenStep{{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 100, During: sec(300)}}}, MaxDuration: sec(60)}, 6000},
		{"maxDuration cuts a randomized step by its drawn instants", plan.Load{Open: []plan.OpenStep{{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 100, During: sec(100), Randomized: true}}}, MaxDuration: sec(100)}, 10000},
		{"pattern constant", plan.Load{Pattern: &plan.Pattern{Constant: &plan.ConstantPattern{Rate: 20, During: sec(30)}}}, 600},
		{"pattern steps", plan.Load{Pattern: &plan.Pattern{Steps: &plan.StepsPattern{Rates: []float64{10, 20, 30}, EachLevelLasting: sec(10)}}}, 600},
		{"pattern spike: 10·10 + (10+50)/2·4 + 50·5 + (50+10)/2·4 + 10·10", plan.Load{Pattern: &plan.Pattern{Spike: &plan.SpikePattern{Base: 10, Peak: 50, Before: sec(10), RampUp: sec(4), Hold: sec(5), RampDown: sec(4), After: sec(10)}}}, 100 + 120 + 250 + 120 + 100},
	}
	for _, tt := range tests {
		o := NewOpen(ExpandOpen(tt.load), tt.load.MaxDuration.D(), 42)
		if got := o.Total(); got != tt.want {
			t.Errorf("%s: total %d, want %d", tt.why, got, tt.want)
		}
	}
}

func TestAtIsPacedFromTheStart(t *testing.T) {
	tests := []struct {
		why  string
		load plan.Load
		n    int64
		want time.Duration
	}{
		{"constant rate: the n-th arrival is at n/r", open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 100, During: sec(300)}}), 29999, 299990 * time.Millisecond},
		{"the first arrival is at the start", open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 100, During: sec(300)}}), 0, 0},
		{"a later step starts after the earlier ones", open(plan.OpenStep{NothingFor: &plan.NothingFor{During: sec(5)}}, plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 10, During: sec(1)}}), 3, 5300 * time.Millisecond},
		{"ramp 0→10 over 10 s: N(t)=t²/2, so arrival 2 is at 2 s", open(plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 0, To: 10, During: sec(10)}}), 2, 2 * time.Second},
		{"ramp 0→10 over 10 s: arrival 32 at 8 s", open(plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 0, To: 10, During: sec(10)}}), 32, 8 * time.Second},
		{"stressPeak: half the users arrive by the middle", open(plan.OpenStep{StressPeakUsers: &plan.StressPeakUsers{Users: 100, During: sec(20)}}), 50, 10 * time.Second},
		{"atOnce then constant: all at once share offset 0", open(plan.OpenStep{AtOnceUsers: &plan.AtOnceUsers{Users: 3}}, plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 1, During: sec(5)}}), 2, 0},
		{"atOnce then constant: the step after starts at its own start", open(plan.OpenStep{AtOnceUsers: &plan.AtOnceUsers{Users: 3}}, plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 1, During: sec(5)}}), 4, time.Second},
	}
	for _, tt := range tests {
		o := NewOpen(ExpandOpen(tt.load), 0, 1)
		if got := o.At(tt.n); (got - tt.want).Abs() > time.Microsecond {
			t.Errorf("%s: At(%d) = %v, want %v", tt.why, tt.n, got, tt.want)
		}
	}
}

func TestShardsAddUpAndInterleave(t *testing.T) {
	loads := []plan.Load{
		open(plan.OpenStep{RampUsersPerSec: &plan.RampUsersPerSec{From: 10, To: 100, During: sec(300)}}),
		open(plan.OpenStep{AtOnceUsers: &plan.AtOnceUsers{Users: 5}}, plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 33.3, During: sec(7), Randomized: true}}),
	}
	for _, l := range loads {
		o := NewOpen(ExpandOpen(l), 0, 7)
		for _, n := range []int{1, 3, 4, 7} {
			var sum int64
			for i := range n {
				c := o.Shard(i, n)
				var count int64
				prev := time.Duration(-1)
				for {
					idx, at, ok := c.Next()
					if !ok {
						break
					}
					if idx%int64(n) != int64(i) {
						t.Fatalf("shard %d/%d got arrival %d", i, n, idx)
					}
					if at < prev {
						t.Fatalf("shard %d/%d: arrival %d at %v before previous %v", i, n, idx, at, prev)
					}
					if at != o.At(idx) {
						t.Fatalf("cursor and At disagree on arrival %d: %v vs %v", idx, at, o.At(idx))
					}
					prev = at
					count++
				}
				if count != Share(o.Total(), i, n) {
					t.Errorf("shard %d/%d walked %d arrivals, Share says %d", i, n, count, Share(o.Total(), i, n))
				}
				sum += count
			}
			if sum != o.Total() {
				t.Errorf("%d shards add up to %d, want %d", n, sum, o.Total())
			}
		}
	}
}

func TestShare(t *testing.T) {
	tests := []struct {
		why   string
		total int64
		i, n  int
		want  int64
	}{
		{"even split", 30000, 2, 4, 7500},
		{"the remainder goes to the lowest shards", 10, 1, 4, 3},
		{"past the remainder", 10, 2, 4, 2},
		{"more shards than arrivals", 2, 3, 4, 0},
		{"a shard index out of range takes nothing", 10, 4, 4, 0},
	}
	for _, tt := range tests {
		if got := Share(tt.total, tt.i, tt.n); got != tt.want {
			t.Errorf("%s: Share(%d,%d,%d) = %d, want %d", tt.why, tt.total, tt.i, tt.n, got, tt.want)
		}
	}
}

func TestRandomizedIsPoissonLike(t *testing.T) {
	l := open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 1000, During: sec(20), Randomized: true}})
	o := NewOpen(ExpandOpen(l), 0, 99)
	c := o.Shard(0, 1)
	var gaps []float64
	prev := time.Duration(0)
	for {
		_, at, ok := c.Next()
		if !ok {
			break
		}
		gaps = append(gaps, (at - prev).Seconds())
		prev = at
	}
	mean, sq := 0.0, 0.0
	for _, g := range gaps {
		mean += g
	}
	mean /= float64(len(gaps))
	for _, g := range gaps {
		sq += (g - mean) * (g - mean)
	}
	cv := math.Sqrt(sq/float64(len(gaps))) / mean
	// Exponential gaps have a coefficient of variation of 1; even pacing 0.
	if math.Abs(cv-1) > 0.05 || math.Abs(mean-0.001) > 0.00005 {
		t.Errorf("gaps: mean %v, cv %v; want mean 1ms, cv 1", mean, cv)
	}
	if other := NewOpen(ExpandOpen(l), 0, 99); other.At(1234) != o.At(1234) {
		t.Error("the same seed must give the same instants on every shard")
	}
}

func TestSkipBeforeResumesFromNow(t *testing.T) {
	o := NewOpen(ExpandOpen(open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 100, During: sec(10)}})), 0, 0)
	c := o.Shard(1, 2)
	if skipped := c.SkipBefore(5 * time.Second); skipped != 250 {
		t.Errorf("skipped %d, want the 250 arrivals of shard 1 in the first 5 s", skipped)
	}
	n, at, _ := c.Next()
	if n != 501 || at != 5010*time.Millisecond {
		t.Errorf("resumed at arrival %d at %v, want 501 at 5.01s", n, at)
	}
}

func TestClosed(t *testing.T) {
	l := plan.Load{Closed: []plan.ClosedStep{
		{RampConcurrentUsers: &plan.RampConcurrentUsers{From: 0, To: 10, During: sec(10)}},
		{ConstantConcurrentUsers: &plan.ConstantConcurrentUsers{Users: 10, During: sec(5)}},
		{IncrementConcurrentUsers: &plan.IncrementConcurrentUsers{Increment: 5, Times: 2, EachLevelLasting: sec(5), SeparatedByRampsLasting: sec(5), StartingFrom: 15}},
	}}
	c := NewClosed(ExpandClosed(l), 0)
	tests := []struct {
		why  string
		at   time.Duration
		want int
	}{
		{"a ramp starts at From", 0, 0},
		{"one user per second on 0→10 over 10 s", 3500 * time.Millisecond, 3},
		{"constant level", 12 * time.Second, 10},
		{"increment: first level is startingFrom", 16 * time.Second, 15},
		{"increment: ramp between levels", 22500 * time.Millisecond, 17},
		{"increment: second level", 26 * time.Second, 20},
		{"after the end", 31 * time.Second, 0},
	}
	for _, tt := range tests {
		if got := c.UsersAt(tt.at); got != tt.want {
			t.Errorf("%s: UsersAt(%v) = %d, want %d", tt.why, tt.at, got, tt.want)
		}
	}
	if c.Peak() != 20 || c.Duration() != 30*time.Second {
		t.Errorf("peak %d duration %v, want 20 and 30s", c.Peak(), c.Duration())
	}
	// At every change instant the shards' users add up to the run's.
	const n = 3
	timelines := make([][]Level, n)
	for i := range n {
		timelines[i] = c.ShardTimeline(i, n)
	}
	for at := time.Duration(0); at <= 31*time.Second; at += 250 * time.Millisecond {
		sum := 0
		for i := range n {
			sum += usersOf(timelines[i], at)
		}
		if sum != c.UsersAt(at) {
			t.Fatalf("at %v shards hold %d users, the run %d", at, sum, c.UsersAt(at))
		}
	}
}

func usersOf(tl []Level, at time.Duration) int {
	u := 0
	for _, l := range tl {
		if l.At > at {
			break
		}
		u = l.Users
	}
	return u
}

func TestExecutorCountAndSpread(t *testing.T) {
	constant := func(rate float64) plan.Load {
		return open(plan.OpenStep{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: rate, During: sec(10)}})
	}
	tests := []struct {
		why  string
		p    plan.Plan
		want int
	}{
		{"unset is one", plan.Plan{Load: constant(100)}, 1},
		{"an explicit count wins", plan.Plan{Load: constant(100), Executors: plan.Executors{Count: plan.Count{N: 4}}}, 4},
		{"auto: peak rate over the maximum, rounded up", plan.Plan{Load: constant(2500), Executors: plan.Executors{Count: plan.Count{Auto: true}, MaxRatePerExecutor: 1000}}, 3},
		{"auto: exact multiples do not round up", plan.Plan{Load: constant(3000), Executors: plan.Executors{Count: plan.Count{Auto: true}, MaxRatePerExecutor: 1000}}, 3},
		{"auto: closed model uses peak users", plan.Plan{Load: plan.Load{Closed: []plan.ClosedStep{{ConstantConcurrentUsers: &plan.ConstantConcurrentUsers{Users: 250, During: sec(5)}}}}, Executors: plan.Executors{Count: plan.Count{Auto: true}, MaxUsersPerExecutor: 100}}, 3},
	}
	for _, tt := range tests {
		if got := ExecutorCount(&tt.p); got != tt.want {
			t.Errorf("%s: %d executors, want %d", tt.why, got, tt.want)
		}
	}
	spreads := []struct {
		why     string
		shards  int
		weights []float64
		want    []int
	}{
		{"proportional", 4, []float64{3, 1}, []int{3, 1}},
		{"largest remainder gets the rest", 5, []float64{1, 1, 1}, []int{2, 2, 1}},
		{"a zero weight gets nothing", 3, []float64{0, 1}, []int{0, 3}},
	}
	for _, tt := range spreads {
		got := Spread(tt.shards, tt.weights)
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: Spread = %v, want %v", tt.why, got, tt.want)
				break
			}
		}
	}
}
