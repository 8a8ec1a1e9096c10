// Package merge is the exact aggregation core of reporting: it merges the
// per-second snapshots of every executor of one run into per-second points
// (for the live series) and into cumulative results for the whole run, each
// load step and any window of whole seconds (for the report and the
// criteria). Histograms are merged bucket by bucket, so every percentile is
// exactly the one a single histogram of all the run's values would give;
// no percentile is ever averaged.
//
// # Seconds
//
// Executors pace their snapshots from the run's start instant, so snapshot
// j of every shard covers about [start+(j-1)s, start+j s). A snapshot counts
// in the run second k = floor((midpoint - start) / 1s) of its interval's
// midpoint: half a second from both edges, so timer jitter and clock-offset
// errors below half a second never move it to a neighbour (truncating its
// start would sit right on the edge, doubling one second and emptying the
// next for a millisecond of jitter). Run second k is labelled
// Origin()+k·1s, Origin being the start instant rounded to the second: the
// label is the wall-clock second holding most of it. A longer interval
// (after an executor stalled) counts whole in its midpoint's second.
//
// # Memory
//
// Every second keeps, per request name and for all of them, its counts and
// two sparse histograms (latency and service time) of about 0.2 kB each plus
// 5 bytes per populated bucket (6 to 12 once a bucket counts past 255). A
// bucket spans 0.1% of its value, so a histogram never has more buckets than
// requests, nor more than ~23.5k. 1,000 requests a second spread
// log-uniformly over 1 ms to 1 s fill ~950 buckets: ~10 kB per second per
// request name for both histograms, ~36 MB per hour; narrower distributions
// (the usual case) take a fraction of that. Cumulative results (run, steps)
// are the same structure once per span.
package merge

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Errors of Add.
var (
	// ErrBadSnapshot marks a snapshot that cannot be merged: a histogram
	// that does not decode, a negative count, an impossible interval.
	ErrBadSnapshot = errors.New("bad snapshot")
	// ErrWrongRun marks a snapshot of another run.
	ErrWrongRun = errors.New("snapshot of another run")
)

const allRequests = series.AllRequests

// DefaultLateness is how long after a second ends Tick waits for its
// snapshots when not every shard has reported past it.
const DefaultLateness = 2 * time.Second

// minSecond is next before anything was emitted.
const minSecond = math.MinInt64

// Config describes the run an Aggregator merges.
type Config struct {
	RunID string
	// Start is the run's start instant, control plane clock. When zero, the
	// first snapshot's start is taken.
	Start time.Time
	// Steps are the plan's load steps (StepsOf).
	Steps []schedule.Span
	// Shards, when positive, is the number of shards: a second is then
	// complete as soon as every shard reported past it or ended, without
	// waiting for the lateness.
	Shards int
	// Lateness is how long after its end a second is complete anyway
	// (DefaultLateness when zero).
	Lateness time.Duration
	// ClockOffsets convert each shard's snapshot times to the control
	// plane's clock (wire.Ready.ClockOffset); SetClockOffset changes them.
	ClockOffsets map[int]time.Duration
	// Locations name each shard's location on its ExecutorPoints.
	Locations map[int]string
}

// ShardProgress is what one shard sent so far, from its latest attempt.
type ShardProgress struct {
	Shard   int       `json:"shard"`
	Attempt int       `json:"attempt"`
	LastSeq uint64    `json:"lastSeq"`
	LastEnd time.Time `json:"lastEnd,omitzero"`
	Final   bool      `json:"final"`
}

// Aggregator merges the snapshots of one run. It is safe for concurrent use.
type Aggregator struct {
	cfg    Config
	logger *slog.Logger

	mu      sync.Mutex
	start   time.Time
	offsets map[int]time.Duration
	seqs    map[shardKey]*seqSet
	shards  map[int]*shardState
	seconds map[int64]*second
	// minK and maxK bound the seconds holding data (valid when hasData).
	minK, maxK int64
	hasData    bool
	// next is the first second not emitted yet.
	next       int64
	total      *group
	steps      []*group
	late, dups int64
}

type shardKey struct{ shard, attempt int }

type shardState struct {
	attempt  int
	finalSeq uint64 // 0 until the final snapshot arrived
	lastEnd  time.Time
}

// second is one run second: its measurements and each shard's health.
type second struct {
	*group
	health map[int]shardHealth
}

type shardHealth struct {
	attempt int
	end     time.Time
	health  wire.Health
}

// New returns an empty Aggregator for one run.
func New(cfg Config, logger *slog.Logger) *Aggregator {
	if cfg.Lateness <= 0 {
		cfg.Lateness = DefaultLateness
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Steps = slices.Clone(cfg.Steps)
	cfg.Locations = maps.Clone(cfg.Locations)
	a := &Aggregator{
		cfg: cfg, logger: logger.With("run", cfg.RunID),
		start: cfg.Start, offsets: maps.Clone(cfg.ClockOffsets),
		seqs: map[shardKey]*seqSet{}, shards: map[int]*shardState{}, seconds: map[int64]*second{},
		next: minSecond, total: newGroup(),
	}
	if a.offsets == nil {
		a.offsets = map[int]time.Duration{}
	}
	for range cfg.Steps {
		a.steps = append(a.steps, newGroup())
	}
	return a
}

// SetClockOffset sets the clock offset of a shard (control plane clock minus
// the executor's) for the snapshots added after it.
func (a *Aggregator) SetClockOffset(shard int, offset time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.offsets[shard] = offset
}

// Add merges one snapshot. It is idempotent by (Shard, Attempt, Seq): a
// snapshot already merged changes nothing and reports duplicate. A snapshot
// that cannot be merged (ErrBadSnapshot, ErrWrongRun) changes nothing
// either. A snapshot of a second already emitted by Tick is merged into
// every cumulative result and counted by LateSnapshots, but not emitted
// again.
func (a *Aggregator) Add(s wire.Snapshot) (duplicate bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg.RunID != "" && s.RunID != a.cfg.RunID {
		return false, fmt.Errorf("shard %d seq %d: %w %q", s.Shard, s.Seq, ErrWrongRun, s.RunID)
	}
	key := shardKey{s.Shard, s.Attempt}
	if seqs := a.seqs[key]; seqs != nil && seqs.has(s.Seq) {
		a.dups++
		return true, nil
	}
	d, err := decode(&s, a.offsets[s.Shard])
	if err == nil {
		err = a.place(d)
	}
	if err != nil {
		a.logger.Warn("snapshot refused", "shard", s.Shard, "attempt", s.Attempt, "seq", s.Seq, "err", err)
		return false, fmt.Errorf("shard %d attempt %d seq %d: %w", s.Shard, s.Attempt, s.Seq, err)
	}
	a.merge(key, d)
	return false, nil
}

// place finds the run second of a decoded snapshot, taking the run's start
// from it when the config had none.
func (a *Aggregator) place(d *decoded) error {
	start := a.start
	if start.IsZero() {
		start = d.start
	}
	mid := d.start.Add(d.end.Sub(d.start) / 2)
	dist := mid.Sub(start)
	if dist > maxDistance || dist < -maxDistance || d.end.Sub(d.start) > maxDistance {
		return fmt.Errorf("%w: interval %s to %s is too far from the run start %s", ErrBadSnapshot, d.start, d.end, start)
	}
	a.start = start
	d.k = floorSeconds(dist)
	return nil
}

func (a *Aggregator) merge(key shardKey, d *decoded) {
	seqs := a.seqs[key]
	if seqs == nil {
		seqs = &seqSet{}
		a.seqs[key] = seqs
	}
	seqs.insert(d.snap.Seq, d.k)
	if d.snap.Final {
		seqs.final, seqs.stopReason = d.snap.Seq, d.snap.StopReason
	}
	if d.k < a.next {
		a.late++
		a.logger.Debug("late snapshot", "shard", key.shard, "attempt", key.attempt, "seq", d.snap.Seq, "second", a.label(d.k))
	}
	sec := a.second(d.k)
	sec.add(d)
	sec.span(d.k)
	sec.setHealth(key, d)
	a.total.add(d)
	a.total.span(d.k)
	if i := stepAt(a.cfg.Steps, time.Duration(d.k)*time.Second+time.Second/2); i >= 0 {
		a.steps[i].add(d)
		a.steps[i].span(d.k)
	}
	a.track(key, d)
}

func (a *Aggregator) second(k int64) *second {
	sec := a.seconds[k]
	if sec == nil {
		sec = &second{group: newGroup(), health: map[int]shardHealth{}}
		a.seconds[k] = sec
	}
	if !a.hasData || k < a.minK {
		a.minK = k
	}
	if !a.hasData || k > a.maxK {
		a.maxK = k
	}
	a.hasData = true
	return sec
}

// setHealth keeps, per shard, the health of its latest attempt's latest
// snapshot in the second.
func (sec *second) setHealth(key shardKey, d *decoded) {
	cur, ok := sec.health[key.shard]
	if ok && (cur.attempt > key.attempt || cur.attempt == key.attempt && cur.end.After(d.end)) {
		return
	}
	sec.health[key.shard] = shardHealth{attempt: key.attempt, end: d.end, health: d.snap.Health}
}

func (a *Aggregator) track(key shardKey, d *decoded) {
	st := a.shards[key.shard]
	if st == nil || st.attempt < key.attempt {
		st = &shardState{attempt: key.attempt}
		a.shards[key.shard] = st
	}
	if st.attempt != key.attempt {
		return // a straggler of an earlier attempt
	}
	if d.snap.Final {
		st.finalSeq = d.snap.Seq
	}
	if d.end.After(st.lastEnd) {
		st.lastEnd = d.end
	}
}

// Tick emits the seconds that are complete at now (control plane clock), in
// time order: a second is complete once it ended Lateness ago, or once every
// shard (Config.Shards) sent, without gaps, a snapshot of a later second or
// its final one. Seconds without any snapshot emit nothing.
func (a *Aggregator) Tick(now time.Time) series.Batch {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.start.IsZero() {
		return series.Batch{}
	}
	limit := floorSeconds(now.Sub(a.start)-a.cfg.Lateness) - 1
	if k, ok := a.shardsLimit(); ok && k > limit {
		limit = k
	}
	return a.emitThrough(limit)
}

// Flush emits every second not emitted yet: the run ended.
func (a *Aggregator) Flush() series.Batch {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.hasData {
		return series.Batch{}
	}
	return a.emitThrough(a.maxK)
}

// shardsLimit is the last second every shard is done with.
func (a *Aggregator) shardsLimit() (int64, bool) {
	if a.cfg.Shards <= 0 || !a.hasData {
		return 0, false
	}
	limit := a.maxK
	for i := range a.cfg.Shards {
		st := a.shards[i]
		if st == nil {
			return 0, false
		}
		seqs := a.seqs[shardKey{i, st.attempt}]
		if st.finalSeq != 0 && seqs.upTo >= st.finalSeq {
			continue
		}
		if seqs.upTo == 0 {
			return 0, false
		}
		limit = min(limit, seqs.upToK-1)
	}
	return limit, true
}

func (a *Aggregator) emitThrough(limit int64) series.Batch {
	var b series.Batch
	if limit < a.next {
		return b
	}
	var ks []int64
	for k := range a.seconds {
		if k >= a.next && k <= limit {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for _, k := range ks {
		sec := a.seconds[k]
		b.Points = append(b.Points, a.points(k, sec)...)
		b.Executors = append(b.Executors, a.executorPoints(k, sec)...)
		for _, t := range sec.byName {
			t.Compact()
		}
	}
	a.next = limit + 1
	return b
}

func (a *Aggregator) points(k int64, sec *second) []series.Point {
	var out []series.Point
	for _, name := range slices.Sorted(maps.Keys(sec.byName)) {
		s := sec.byName[name].Summary(name)
		p := series.Point{
			RunID: a.cfg.RunID, Time: a.label(k), Request: name,
			Count: s.Count, OK: s.OK, KO: s.KO, KOByReason: s.KOByReason,
			RPS:   float64(s.Count), // requests completed in this one second
			P50Ms: s.P50Ms, P90Ms: s.P90Ms, P95Ms: s.P95Ms, P99Ms: s.P99Ms, MaxMs: s.MaxMs, MeanMs: s.MeanMs,
		}
		if name == allRequests {
			for _, h := range sec.health {
				p.ActiveUsers += h.health.ActiveSessions
			}
			p.PlannedArrivals, p.StartedArrivals, p.Dropped = sec.arrivals.Planned, sec.arrivals.Started, sec.arrivals.Dropped
			p.BytesSent, p.BytesReceived = s.BytesSent, s.BytesReceived
		}
		out = append(out, p)
	}
	return out
}

func (a *Aggregator) executorPoints(k int64, sec *second) []series.ExecutorPoint {
	var out []series.ExecutorPoint
	for _, shard := range slices.Sorted(maps.Keys(sec.health)) {
		h := sec.health[shard].health
		out = append(out, series.ExecutorPoint{
			RunID: a.cfg.RunID, Time: a.label(k), Shard: shard, Location: a.cfg.Locations[shard],
			CPUPercent: h.CPUPercent, RSSBytes: h.RSSBytes, Goroutines: h.Goroutines,
			OpenConnections: h.OpenConnections, ActiveSessions: h.ActiveSessions,
			ScheduleLagP99Ms: h.ScheduleLagP99Ms, DroppedArrivals: h.DroppedArrivals,
		})
	}
	return out
}

// floorSeconds is d in whole seconds, rounded toward minus infinity.
func floorSeconds(d time.Duration) int64 {
	k := int64(d / time.Second)
	if d < 0 && d%time.Second != 0 {
		k--
	}
	return k
}

// ceilSeconds is d in whole seconds, rounded toward plus infinity.
func ceilSeconds(d time.Duration) int64 {
	k := int64(d / time.Second)
	if d > 0 && d%time.Second != 0 {
		k++
	}
	return k
}
