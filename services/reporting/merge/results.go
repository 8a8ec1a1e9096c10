package merge

import (
	"maps"
	"slices"
	"time"

	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// Total is the summary of one request name (series.AllRequests for all of
// them) over the whole run, late snapshots included. For AllRequests,
// ScheduledArrivals is every arrival the plan's open-model steps make due.
func (a *Aggregator) Total(request string) Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.summary(a.total, request)
	if request == allRequests {
		for _, st := range a.cfg.Steps {
			s.ScheduledArrivals += st.Arrivals
		}
	}
	return s
}

// Step is the summary of one request name over load step i (an index in
// Config.Steps). A second counts in the step running at its middle; seconds
// before the first step count in the first, seconds after the last one
// (graceful stop) in the last. For AllRequests, ScheduledArrivals is the
// step's planned arrivals.
func (a *Aggregator) Step(i int, request string) Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i < 0 || i >= len(a.steps) {
		return Summary{Name: request}
	}
	s := a.summary(a.steps[i], request)
	if request == allRequests {
		s.ScheduledArrivals = a.cfg.Steps[i].Arrivals
	}
	return s
}

// Window is the summary of one request name over the seconds labelled in
// [from, to). From and To of the result are that span cut to the seconds
// holding data.
func (a *Aggregator) Window(from, to time.Time, request string) Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.hasData || a.start.IsZero() {
		return Summary{Name: request}
	}
	origin := a.origin()
	lo := max(ceilSeconds(from.Sub(origin)), a.minK)
	hi := min(ceilSeconds(to.Sub(origin)), a.maxK+1)
	acc := newGroup()
	a.mergeSeconds(acc, lo, hi, request)
	return a.windowSummary(acc, lo, hi, request)
}

// Windows calls fn with the summary of one request name over every window
// of d (rounded up to whole seconds) that starts on a run second holding
// data and ends by the last one: windows slide by one second. A run shorter
// than d makes one window of all its seconds. fn must not call the
// Aggregator; returning false stops the iteration. Adds wait meanwhile.
//
// Each slide costs a few merges of window-sized histograms, whatever d is
// (see slider): an hour of one-minute windows over 1,000 requests a second
// takes about a second.
func (a *Aggregator) Windows(d time.Duration, request string, fn func(Summary) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.hasData {
		return
	}
	width := max(ceilSeconds(d), 1)
	lo, end := a.minK, a.maxK+1
	hi := min(lo+width, end)
	w := &slider{a: a, request: request, back: newGroup(), scratch: newGroup()}
	for k := lo; k < hi; k++ {
		w.push(k)
	}
	for fn(a.windowSummary(w.merged(), lo, hi, request)) && hi < end {
		w.pop()
		w.push(hi)
		lo, hi = lo+1, hi+1
	}
}

// slider is a sliding window of run seconds kept as two stacks, so that
// sliding needs no subtraction (histograms have none): new seconds merge
// into back; front holds, top last, the merges of the older seconds from
// each one to the newest of them, built when front runs out. The window is
// front's top merged with back. Every second is merged twice (once into
// back, once when front is rebuilt), so a slide costs O(1) merges.
type slider struct {
	a       *Aggregator
	request string
	front   []*group
	back    *group
	backKs  []int64
	pool    []*group
	scratch *group
}

func (w *slider) push(k int64) {
	if sec := w.a.seconds[k]; sec != nil {
		w.back.mergeName(sec.group, w.request)
	}
	w.backKs = append(w.backKs, k)
}

// pop drops the oldest second of the window.
func (w *slider) pop() {
	if len(w.front) == 0 {
		for i := len(w.backKs) - 1; i >= 0; i-- {
			g := w.get()
			if n := len(w.front); n > 0 {
				g.mergeName(w.front[n-1], w.request)
			}
			if sec := w.a.seconds[w.backKs[i]]; sec != nil {
				g.mergeName(sec.group, w.request)
			}
			w.front = append(w.front, g)
		}
		w.back.reset()
		w.backKs = w.backKs[:0]
	}
	n := len(w.front) - 1
	w.pool = append(w.pool, w.front[n])
	w.front = w.front[:n]
}

func (w *slider) get() *group {
	if n := len(w.pool); n > 0 {
		g := w.pool[n-1]
		w.pool = w.pool[:n-1]
		g.reset()
		return g
	}
	return newGroup()
}

// merged is the whole window, in scratch space valid until the next call.
func (w *slider) merged() *group {
	w.scratch.reset()
	if n := len(w.front); n > 0 {
		w.scratch.mergeName(w.front[n-1], w.request)
	}
	w.scratch.mergeName(w.back, w.request)
	return w.scratch
}

func (a *Aggregator) mergeSeconds(acc *group, lo, hi int64, request string) {
	for k := lo; k < hi; k++ {
		if sec := a.seconds[k]; sec != nil {
			acc.mergeName(sec.group, request)
		}
	}
}

func (a *Aggregator) windowSummary(acc *group, lo, hi int64, request string) Summary {
	s := acc.summary(request)
	if hi > lo {
		s.From, s.To = a.label(lo), a.label(hi)
	}
	return s
}

func (a *Aggregator) summary(g *group, request string) Summary {
	s := g.summary(request)
	if g.spanned {
		s.From, s.To = a.label(g.lo), a.label(g.hi+1)
	}
	return s
}

// Requests lists the request names seen, sorted, without AllRequests.
func (a *Aggregator) Requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	names := slices.Sorted(maps.Keys(a.total.byName))
	return slices.DeleteFunc(names, func(n string) bool { return n == allRequests })
}

// Steps returns the run's load steps (Config.Steps).
func (a *Aggregator) Steps() []schedule.Span { return slices.Clone(a.cfg.Steps) }

// Origin is the label of run second 0: the start instant rounded to the
// second (zero while the start is unknown). Run second k is labelled
// Origin()+k·1s and spans [start+k·1s, start+(k+1)·1s).
func (a *Aggregator) Origin() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.start.IsZero() {
		return time.Time{}
	}
	return a.origin()
}

// Extent returns the labels of the first second holding data and of the
// second after the last one; zero times without data.
func (a *Aggregator) Extent() (first, end time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.hasData {
		return time.Time{}, time.Time{}
	}
	return a.label(a.minK), a.label(a.maxK + 1)
}

// Complete returns the label of the first second not emitted yet: every
// second before it is complete. It is zero until Tick or Flush emitted.
func (a *Aggregator) Complete() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == minSecond || a.start.IsZero() {
		return time.Time{}
	}
	return a.label(a.next)
}

// LateSnapshots counts the snapshots merged after their second was emitted.
func (a *Aggregator) LateSnapshots() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.late
}

// Duplicates counts the snapshots ignored as already merged.
func (a *Aggregator) Duplicates() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dups
}

// Shards returns what each shard's latest attempt sent, by shard.
func (a *Aggregator) Shards() []ShardProgress {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ShardProgress, 0, len(a.shards))
	for _, shard := range slices.Sorted(maps.Keys(a.shards)) {
		st := a.shards[shard]
		seqs := a.seqs[shardKey{shard, st.attempt}]
		out = append(out, ShardProgress{Shard: shard, Attempt: st.attempt, LastSeq: seqs.max,
			LastEnd: st.lastEnd, Final: st.finalSeq != 0})
	}
	return out
}

func (a *Aggregator) origin() time.Time { return a.start.Round(time.Second).UTC() }

func (a *Aggregator) label(k int64) time.Time {
	return a.origin().Add(time.Duration(k) * time.Second)
}

// Coverage is what arrived of one shard attempt's snapshot sequence: the
// evidence a verdict needs that nothing it judges on is missing.
type Coverage struct {
	Shard, Attempt int
	// Received snapshots; 1..Contiguous all arrived; MaxSeq is the highest.
	Received, Contiguous, MaxSeq uint64
	// FinalSeq is the final snapshot's number, 0 when it never came.
	FinalSeq uint64
	// StopReason is the final snapshot's (wire.Snapshot.StopReason).
	StopReason string
	// LastSecond is the run second of the latest snapshot in sequence
	// (that of Contiguous), -1 when snapshot 1 never came.
	LastSecond int64
	// Gaps are missing numbers below MaxSeq.
	Gaps []SeqGap
}

// Coverage lists every shard attempt that sent anything, by shard then
// attempt.
func (a *Aggregator) Coverage() []Coverage {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(a.seqs), func(x, y shardKey) int {
		if x.shard != y.shard {
			return x.shard - y.shard
		}
		return x.attempt - y.attempt
	})
	out := make([]Coverage, 0, len(keys))
	for _, k := range keys {
		s := a.seqs[k]
		c := Coverage{Shard: k.shard, Attempt: k.attempt, Received: s.upTo + uint64(len(s.above)),
			Contiguous: s.upTo, MaxSeq: s.max, FinalSeq: s.final, StopReason: s.stopReason,
			LastSecond: -1, Gaps: s.gaps()}
		if s.upTo > 0 {
			c.LastSecond = s.upToK
		}
		out = append(out, c)
	}
	return out
}

// Behind lists the shards (of Config.Shards) whose data does not reach the
// end of run second k yet: no snapshot of theirs ends past it, in sequence,
// and they have not sent their final one. A judgement on the seconds up to
// k is then one on partial data.
func (a *Aggregator) Behind(k int64) []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for i := range a.cfg.Shards {
		st := a.shards[i]
		if st == nil {
			out = append(out, i)
			continue
		}
		seqs := a.seqs[shardKey{i, st.attempt}]
		if st.finalSeq != 0 && seqs.upTo >= st.finalSeq {
			continue
		}
		if seqs.upTo == 0 || seqs.upToK < k {
			out = append(out, i)
		}
	}
	return out
}

// Second is the run second a label (Origin()+k·1s) stands for.
func (a *Aggregator) Second(label time.Time) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return floorSeconds(label.Sub(a.origin()))
}
