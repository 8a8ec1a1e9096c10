package schedule

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Open is the open-model schedule of a whole run: arrival n (from 0) is due
// at At(n) after the run's start instant.
type Open struct {
	steps    []Step
	counts   []int64 // arrivals per step, after the maxDuration cut
	before   []int64 // arrivals of all earlier steps
	total    int64
	duration time.Duration
	seed     uint64
	// norm[i] is, for a randomized step, the sum of its K+1 exponential
	// gaps: dividing partial sums by it gives uniform order statistics. It
	// costs O(K), so it is drawn on first use: validating or explaining a
	// plan never pays for it.
	norm []lazySum
}

type lazySum struct {
	once sync.Once
	v    float64
}

// NewOpen builds the schedule of steps laid end to end. A positive
// maxDuration drops every arrival due at or after it. Seed drives randomized
// (Poisson) steps; every shard of a run must use the run's seed.
func NewOpen(steps []Step, maxDuration time.Duration, seed uint64) *Open {
	o := &Open{steps: steps, seed: seed, norm: make([]lazySum, len(steps))}
	for i, s := range steps {
		o.duration = s.Start + s.Duration
		o.before = append(o.before, o.total)
		n := o.countBefore(i, maxDuration)
		o.counts = append(o.counts, n)
		o.total += n
	}
	if maxDuration > 0 && maxDuration < o.duration {
		o.duration = maxDuration
	}
	return o
}

// countBefore counts step i's arrivals due before the run offset limit.
func (o *Open) countBefore(i int, limit time.Duration) int64 {
	s := o.steps[i]
	if limit <= 0 || s.Start+s.Duration < limit {
		return s.Arrivals
	}
	if s.Start >= limit {
		return 0
	}
	local := (limit - s.Start).Seconds()
	if s.Randomized {
		st := o.newStream(i)
		var n int64
		for n < s.Arrivals && o.randomizedAt(i, st) < local {
			n++
		}
		return n
	}
	return min(s.Arrivals, arrivalsOf(s.curve.cumulative(local)))
}

// Total is the exact number of arrivals of the run.
func (o *Open) Total() int64 { return o.total }

// Duration is the run's planned length (the steps, cut at maxDuration).
func (o *Open) Duration() time.Duration { return o.duration }

// Steps returns the expanded steps.
func (o *Open) Steps() []Step { return o.steps }

// StepArrivals is the number of arrivals of step i after the maxDuration cut.
func (o *Open) StepArrivals(i int) int64 { return o.counts[i] }

// At returns the intended offset of arrival n of the whole run, 0 <= n <
// Total(). It is a pure function of the schedule; for randomized steps it
// costs O(n) within the step, so iterate with a Cursor instead.
func (o *Open) At(n int64) time.Duration {
	i := o.stepOf(n)
	k := n - o.before[i]
	s := o.steps[i]
	if !s.Randomized {
		return s.Start + seconds(s.curve.inverse(float64(k)))
	}
	st := o.newStream(i)
	var t float64
	for j := int64(0); j <= k; j++ {
		t = o.randomizedAt(i, st)
	}
	return s.Start + seconds(t)
}

// stepOf finds the step holding arrival n.
func (o *Open) stepOf(n int64) int {
	return sort.Search(len(o.steps), func(i int) bool { return o.before[i]+o.counts[i] > n })
}

// Share is how many of total arrivals (or users) shard i of n takes when
// shard i takes the indexes ≡ i (mod n): the shares of all shards add up to
// total exactly, and differ by at most one.
func Share(total int64, i, n int) int64 {
	if n <= 0 || i < 0 || i >= n || total <= 0 {
		return 0
	}
	q, r := total/int64(n), total%int64(n)
	if int64(i) < r {
		return q + 1
	}
	return q
}

// stream draws the exponential gaps of one randomized step. A PCG seeded by
// the run seed and the step index makes every shard draw the same sequence.
type stream struct {
	rng *rand.PCG
	sum float64
}

func (o *Open) newStream(step int) *stream {
	return &stream{rng: rand.NewPCG(o.seed, uint64(step))}
}

// exp draws an Exp(1) variate by inversion, from the PCG's raw output, so
// the sequence depends only on the PCG (whose output Go specifies).
func (s *stream) exp() float64 {
	u := float64(s.rng.Uint64()>>11) / (1 << 53) // [0, 1)
	return -math.Log1p(-u)
}

func (s *stream) gapSum(n int64) float64 {
	sum := 0.0
	for range n {
		sum += s.exp()
	}
	return sum
}

// randomizedAt advances st by one arrival and returns its local time. With
// K arrivals and partial sums S_j of K+1 exponential gaps, S_{k+1}/S_{K+1}
// are the order statistics of K uniforms: a Poisson process conditioned on
// exactly K arrivals, mapped through the step's cumulative curve so that a
// ramp stays a ramp.
func (o *Open) randomizedAt(i int, st *stream) float64 {
	st.sum += st.exp()
	c := o.steps[i].curve
	return c.inverse(c.total() * st.sum / o.normOf(i))
}

func (o *Open) normOf(i int) float64 {
	n := &o.norm[i]
	n.once.Do(func() { n.v = o.newStream(i).gapSum(o.steps[i].Arrivals + 1) })
	return n.v
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// Cursor walks one shard's arrivals in order: shard i of n takes the run's
// arrivals ≡ i (mod n). It is not safe for concurrent use.
type Cursor struct {
	o      *Open
	next   int64 // next arrival index of the run to return
	stride int64
	step   int     // step of the last stream position
	st     *stream // stream of a randomized step, positioned at local k
	k      int64   // local index the stream has produced up to (exclusive)
	peeked bool
	pn     int64
	pat    time.Duration
}

// Shard returns a cursor over shard i of n.
func (o *Open) Shard(i, n int) *Cursor {
	return &Cursor{o: o, next: int64(i), stride: int64(n), step: -1}
}

// Next returns the next arrival of the shard: its run index and intended
// offset. ok is false when the shard has no arrivals left.
func (c *Cursor) Next() (n int64, at time.Duration, ok bool) {
	if c.peeked {
		c.peeked = false
		return c.pn, c.pat, true
	}
	if c.next >= c.o.total {
		return 0, 0, false
	}
	n = c.next
	c.next += c.stride
	return n, c.offset(n), true
}

// SkipBefore drops the shard's arrivals due before offset (an executor
// restarted mid-run resumes from now) and returns how many it dropped.
func (c *Cursor) SkipBefore(offset time.Duration) int64 {
	var skipped int64
	for {
		n, at, ok := c.Next()
		if !ok {
			return skipped
		}
		if at >= offset {
			c.peeked, c.pn, c.pat = true, n, at
			return skipped
		}
		skipped++
	}
}

func (c *Cursor) offset(n int64) time.Duration {
	o := c.o
	i := o.stepOf(n)
	s := o.steps[i]
	k := n - o.before[i]
	if !s.Randomized {
		return s.Start + seconds(s.curve.inverse(float64(k)))
	}
	if i != c.step {
		c.step, c.st, c.k = i, o.newStream(i), 0
	}
	var t float64
	for ; c.k <= k; c.k++ {
		t = o.randomizedAt(i, c.st)
	}
	return s.Start + seconds(t)
}
