package merge

import (
	"time"

	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Summary is the merged result of one request name (or of all of them) over
// a span: wire.Summary, the one result summary, whose counts and latencies
// a stats.Tally computes.
type Summary = wire.Summary

// group is every request name's measurements over one span, with the
// run-level counts of that span.
type group struct {
	byName   map[string]*stats.Tally // AllRequests included
	arrivals wire.Arrivals
	// first and last are the earliest start and latest end of the merged
	// snapshots, control plane clock.
	first, last time.Time
	// lo and hi are the first and last run seconds merged (when spanned).
	lo, hi  int64
	spanned bool
}

func newGroup() *group { return &group{byName: map[string]*stats.Tally{}} }

func (g *group) tally(name string) *stats.Tally {
	t := g.byName[name]
	if t == nil {
		t = stats.NewTally()
		g.byName[name] = t
	}
	return t
}

func (g *group) add(d *decoded) {
	all := g.tally(allRequests)
	for i := range d.requests {
		r := &d.requests[i]
		g.tally(r.name).Add(r.Interval)
		all.Add(r.Interval)
	}
	g.addArrivals(d.snap.Arrivals)
	g.cover(d.start, d.end)
}

func (g *group) addArrivals(a wire.Arrivals) {
	g.arrivals.Planned += a.Planned
	g.arrivals.Started += a.Started
	g.arrivals.Dropped += a.Dropped
	g.arrivals.Interrupted += a.Interrupted
	g.arrivals.Completed += a.Completed
}

func (g *group) cover(start, end time.Time) {
	if g.first.IsZero() || start.Before(g.first) {
		g.first = start
	}
	if end.After(g.last) {
		g.last = end
	}
}

// mergeName merges one request name of o (or every name's total, for
// AllRequests) and o's run-level counts.
func (g *group) mergeName(o *group, name string) {
	if t := o.byName[name]; t != nil {
		g.tally(name).Merge(t)
	}
	g.addArrivals(o.arrivals)
	if !o.first.IsZero() {
		g.cover(o.first, o.last)
	}
	if o.spanned {
		g.span(o.lo)
		g.span(o.hi)
	}
}

func (g *group) span(k int64) {
	if !g.spanned || k < g.lo {
		g.lo = k
	}
	if !g.spanned || k > g.hi {
		g.hi = k
	}
	g.spanned = true
}

func (g *group) reset() {
	for _, t := range g.byName {
		t.Reset()
	}
	g.arrivals, g.first, g.last = wire.Arrivals{}, time.Time{}, time.Time{}
	g.lo, g.hi, g.spanned = 0, 0, false
}

// summary of one request name over the group's span.
func (g *group) summary(name string) Summary {
	var s Summary
	if t := g.byName[name]; t != nil {
		s = t.Summary(name)
	} else {
		s.Name = name
	}
	if name == allRequests {
		s.Arrivals = g.arrivals
	}
	if !g.first.IsZero() {
		s.DurationSeconds = g.last.Sub(g.first).Seconds()
	}
	if s.DurationSeconds > 0 {
		s.RPS = float64(s.Count) / s.DurationSeconds
	}
	return s
}
