package merge

import (
	"maps"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Summary is the merged result of one request name (or of all of them) over
// a span: the whole run, a load step or a window. Its JSON field names are
// those of the executor's standalone summary (runtime.RequestReport), plus
// what the criteria and the report need besides. Latencies are in
// milliseconds, from the intended start, and are exact percentiles of the
// merged histogram.
type Summary struct {
	Name string `json:"name,omitempty"`
	// From and To are the labels of the span's first second and of the
	// second after its last one.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// DurationSeconds is the time the merged snapshots cover, from the
	// earliest start to the latest end; RPS is Count over it.
	DurationSeconds float64          `json:"durationSeconds"`
	Count           int64            `json:"count"`
	OK              int64            `json:"ok"`
	KO              int64            `json:"ko"`
	KOByReason      map[string]int64 `json:"koByReason,omitempty"`
	RPS             float64          `json:"rps"`
	P50Ms           float64          `json:"p50Ms"`
	P75Ms           float64          `json:"p75Ms"`
	P90Ms           float64          `json:"p90Ms"`
	P95Ms           float64          `json:"p95Ms"`
	P99Ms           float64          `json:"p99Ms"`
	P999Ms          float64          `json:"p999Ms"`
	MaxMs           float64          `json:"maxMs"`
	MeanMs          float64          `json:"meanMs"`
	// ServiceP99Ms is the p99 of the time from the actual send.
	ServiceP99Ms  float64 `json:"serviceP99Ms"`
	BytesSent     int64   `json:"bytesSent"`
	BytesReceived int64   `json:"bytesReceived"`
	// Arrivals are the sessions the executors reported over the span; set
	// on AllRequests summaries only (arrivals are not per request).
	Arrivals wire.Arrivals `json:"arrivals,omitzero"`
	// ScheduledArrivals is what the plan's schedule makes due over the span,
	// independently of what executors reported: set for the whole run and
	// for open-model steps, zero for windows and closed models.
	ScheduledArrivals int64 `json:"scheduledArrivals,omitempty"`
}

// tally is one request name's measurements over a span.
type tally struct {
	ok, sent, received int64
	ko                 map[string]int64
	latency, service   *hdrhistogram.PackedHistogram
}

func newTally() *tally {
	return &tally{latency: newPacked(), service: newPacked()}
}

// newPacked returns an empty sparse histogram of loadfleet's geometry. A
// packed histogram holds only populated buckets (4 bytes of index plus 1 to 8
// of count each) and merges in time linear in them, where a dense one is
// ~190 kB whatever it holds.
func newPacked() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(wire.HistLowest, wire.HistHighest, wire.HistDigits)
}

func (t *tally) add(r *request) {
	t.ok += r.ok
	t.sent += r.sent
	t.received += r.received
	t.addKO(r.ko)
	if r.latency != nil {
		t.latency.Merge(r.latency)
	}
	if r.service != nil {
		t.service.Merge(r.service)
	}
}

func (t *tally) merge(o *tally) {
	t.ok += o.ok
	t.sent += o.sent
	t.received += o.received
	t.addKO(o.ko)
	t.latency.Merge(o.latency)
	t.service.Merge(o.service)
}

func (t *tally) addKO(ko map[string]int64) {
	for reason, n := range ko {
		if n == 0 {
			continue
		}
		if t.ko == nil {
			t.ko = map[string]int64{}
		}
		t.ko[reason] += n
	}
}

func (t *tally) reset() {
	t.ok, t.sent, t.received = 0, 0, 0
	clear(t.ko)
	t.latency.Reset()
	t.service.Reset()
}

// compact gives back the spare capacity of a span that will rarely change
// again (an emitted second).
func (t *tally) compact() {
	t.latency.Compact()
	t.service.Compact()
}

// quantiles are the percentiles a Summary reports, in its field order.
var quantiles = []float64{50, 75, 90, 95, 99, 99.9}

func (t *tally) summary(name string) Summary {
	s := Summary{Name: name, OK: t.ok, BytesSent: t.sent, BytesReceived: t.received}
	if len(t.ko) > 0 {
		s.KOByReason = maps.Clone(t.ko)
	}
	for _, n := range t.ko {
		s.KO += n
	}
	s.Count = s.OK + s.KO
	if t.latency.TotalCount() > 0 {
		v := t.latency.ValueAtPercentilesSlice(quantiles)
		s.P50Ms, s.P75Ms, s.P90Ms, s.P95Ms, s.P99Ms, s.P999Ms = ms(v[0]), ms(v[1]), ms(v[2]), ms(v[3]), ms(v[4]), ms(v[5])
		s.MaxMs = ms(t.latency.Max())
		s.MeanMs = t.latency.Mean() / 1000
	}
	if t.service.TotalCount() > 0 {
		s.ServiceP99Ms = ms(t.service.ValueAtPercentile(99))
	}
	return s
}

func ms(us int64) float64 { return float64(us) / 1000 }

// group is every request name's measurements over one span, with the
// run-level counts of that span.
type group struct {
	byName   map[string]*tally // AllRequests included
	arrivals wire.Arrivals
	// first and last are the earliest start and latest end of the merged
	// snapshots, control plane clock.
	first, last time.Time
	// lo and hi are the first and last run seconds merged (when spanned).
	lo, hi  int64
	spanned bool
}

func newGroup() *group { return &group{byName: map[string]*tally{}} }

func (g *group) tally(name string) *tally {
	t := g.byName[name]
	if t == nil {
		t = newTally()
		g.byName[name] = t
	}
	return t
}

func (g *group) add(d *decoded) {
	all := g.tally(allRequests)
	for i := range d.requests {
		r := &d.requests[i]
		g.tally(r.name).add(r)
		all.add(r)
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
		g.tally(name).merge(t)
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
		t.reset()
	}
	g.arrivals, g.first, g.last = wire.Arrivals{}, time.Time{}, time.Time{}
	g.lo, g.hi, g.spanned = 0, 0, false
}

// summary of one request name over the group's span.
func (g *group) summary(name string) Summary {
	var s Summary
	if t := g.byName[name]; t != nil {
		s = t.summary(name)
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
