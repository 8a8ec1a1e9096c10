package runtime

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/executors/stats"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Summary is a Sink that merges every snapshot in memory into the end-of-run
// summary of a standalone run: histograms are merged exactly, so the
// percentiles are those of all requests, never averages of per-second ones.
// It is safe for concurrent use.
type Summary struct {
	mu        sync.Mutex
	requests  map[string]*stats.Tally
	total     *stats.Tally
	arrivals  wire.Arrivals
	first     time.Time
	last      time.Time
	lagP99Ms  float64 // the worst interval's
	lag       *hdrhistogram.Histogram
	peakRSS   int64
	snapshots int
	final     bool
	errs      []error
}

// NewSummary returns an empty summary.
func NewSummary() *Summary {
	return &Summary{requests: map[string]*stats.Tally{}, total: stats.NewTally(),
		lag: hdrhistogram.New(wire.HistLowest, wire.HistHighest, wire.HistDigits)}
}

// Send merges one snapshot. A histogram that does not decode is recorded as
// an error of the summary (Err), not silently skipped.
func (s *Summary) Send(_ context.Context, snap wire.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snapshots == 0 || snap.Start.Before(s.first) {
		s.first = snap.Start
	}
	s.last = maxTime(s.last, snap.End)
	s.snapshots++
	s.final = s.final || snap.Final
	s.arrivals.Planned += snap.Arrivals.Planned
	s.arrivals.Started += snap.Arrivals.Started
	s.arrivals.Dropped += snap.Arrivals.Dropped
	s.arrivals.Interrupted += snap.Arrivals.Interrupted
	s.arrivals.Completed += snap.Arrivals.Completed
	s.lagP99Ms = max(s.lagP99Ms, snap.Health.ScheduleLagP99Ms)
	if len(snap.Health.ScheduleLag) > 0 {
		if lag, err := stats.DecodeHistogram(snap.Health.ScheduleLag); err != nil {
			s.errs = append(s.errs, fmt.Errorf("snapshot %d, schedule lag: %w", snap.Seq, err))
		} else {
			s.lag.Merge(lag)
		}
	}
	s.peakRSS = max(s.peakRSS, snap.Health.RSSBytes)
	for _, rs := range snap.Requests {
		acc := s.requests[rs.Name]
		if acc == nil {
			acc = stats.NewTally()
			s.requests[rs.Name] = acc
		}
		if err := addRequest(rs, acc, s.total); err != nil {
			s.errs = append(s.errs, fmt.Errorf("snapshot %d, request %q: %w", snap.Seq, rs.Name, err))
		}
	}
	return nil
}

// addRequest adds one request's interval to its tally and to the total,
// decoding each histogram once. The summary runs beside the tool, on its
// CPU, so it pauses between its passes over histograms (see stepPause).
func addRequest(rs wire.RequestStats, tallies ...*stats.Tally) error {
	in := stats.Interval{OK: rs.OK, Sent: rs.BytesSent, Received: rs.BytesReceived, KO: rs.KO}
	var err error
	if in.Latency, err = stats.DecodePacked(rs.Latency); err == nil {
		in.Service, err = stats.DecodePacked(rs.Service)
	}
	// The counts, and a histogram that decoded before one that did not,
	// are added even so: the error is the summary's (Err), as it always was.
	for _, t := range tallies {
		time.Sleep(stepPause)
		t.Add(in)
	}
	return err
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Close does nothing: the summary lives in memory.
func (s *Summary) Close(context.Context) error { return nil }

// Err reports histograms that could not be merged.
func (s *Summary) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) == 0 {
		return nil
	}
	return fmt.Errorf("summary: %d histograms not merged, first: %w", len(s.errs), s.errs[0])
}

// Report is the summary of a standalone run, as printed by --output json.
type Report struct {
	Arrivals        ReportArrivals  `json:"arrivals"`
	Total           RequestReport   `json:"total"`
	Requests        []RequestReport `json:"requests"`
	DurationSeconds float64         `json:"durationSeconds"`
	// ScheduleLagP99Ms is the p99 of how late the run's arrivals started,
	// from the merged lag histograms of every snapshot. A tool whose
	// snapshots carry only a per-interval p99 gets the worst of those
	// instead: an upper bound, never an average.
	ScheduleLagP99Ms float64 `json:"scheduleLagP99Ms"`
	// ScheduleLagWorstSecondP99Ms is the highest per-interval p99: where
	// the lag was at its worst.
	ScheduleLagWorstSecondP99Ms float64          `json:"scheduleLagWorstSecondP99Ms"`
	PeakRSSBytes                int64            `json:"peakRssBytes"`
	KO                          map[string]int64 `json:"ko"`
	// Final is false when the final snapshot never arrived.
	Final bool `json:"final"`
}

// ReportArrivals counts the sessions of the run.
type ReportArrivals struct {
	Planned     int64 `json:"planned"`
	Started     int64 `json:"started"`
	Dropped     int64 `json:"dropped"`
	Interrupted int64 `json:"interrupted"`
}

// RequestReport is one request name's (or all requests') results. Latency
// is from the intended start; ServiceP99Ms from the actual send.
type RequestReport struct {
	Name         string  `json:"name,omitempty"`
	Count        int64   `json:"count"`
	OK           int64   `json:"ok"`
	KO           int64   `json:"ko"`
	RPS          float64 `json:"rps"`
	P50Ms        float64 `json:"p50Ms"`
	P90Ms        float64 `json:"p90Ms"`
	P95Ms        float64 `json:"p95Ms"`
	P99Ms        float64 `json:"p99Ms"`
	MaxMs        float64 `json:"maxMs"`
	MeanMs       float64 `json:"meanMs"`
	ServiceP99Ms float64 `json:"serviceP99Ms"`
}

// Report computes the summary of what was sent so far.
func (s *Summary) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Report{
		Arrivals: ReportArrivals{
			Planned: s.arrivals.Planned, Started: s.arrivals.Started,
			Dropped: s.arrivals.Dropped, Interrupted: s.arrivals.Interrupted,
		},
		ScheduleLagP99Ms:            s.lagP99Ms,
		ScheduleLagWorstSecondP99Ms: s.lagP99Ms,
		PeakRSSBytes:                s.peakRSS,
		KO:                          map[string]int64{},
		Final:                       s.final,
		Requests:                    []RequestReport{},
	}
	if s.lag.TotalCount() > 0 {
		r.ScheduleLagP99Ms = ms(s.lag.ValueAtQuantile(99))
	}
	if s.snapshots > 0 {
		r.DurationSeconds = s.last.Sub(s.first).Seconds()
	}
	total := s.total.Summary("")
	if total.KOByReason != nil {
		r.KO = total.KOByReason
	}
	r.Total = requestReport(total, r.DurationSeconds)
	for _, name := range slices.Sorted(maps.Keys(s.requests)) {
		r.Requests = append(r.Requests, requestReport(s.requests[name].Summary(name), r.DurationSeconds))
	}
	return r
}

// requestReport is the part of s that --output json prints, with its RPS
// over the run's duration: the standalone report keeps its own field set,
// which scripts read.
func requestReport(s wire.Summary, seconds float64) RequestReport {
	r := RequestReport{Name: s.Name, Count: s.Count, OK: s.OK, KO: s.KO,
		P50Ms: s.P50Ms, P90Ms: s.P90Ms, P95Ms: s.P95Ms, P99Ms: s.P99Ms,
		MaxMs: s.MaxMs, MeanMs: s.MeanMs, ServiceP99Ms: s.ServiceP99Ms}
	if seconds > 0 {
		r.RPS = float64(r.Count) / seconds
	}
	return r
}

func ms(us int64) float64 { return float64(us) / 1000 }

// WriteText prints the report as a table, then the arrivals and the
// failures by reason.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tcount\tok\tko\trps\tp50\tp90\tp95\tp99\tmax\tmean\tservice p99\t")
	row := func(q RequestReport, name string) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			name, q.Count, q.OK, q.KO, q.RPS, q.P50Ms, q.P90Ms, q.P95Ms, q.P99Ms, q.MaxMs, q.MeanMs, q.ServiceP99Ms)
	}
	for _, q := range r.Requests {
		row(q, q.Name)
	}
	row(r.Total, "TOTAL")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "latencies in ms, from the intended start; duration %.2fs\n", r.DurationSeconds)
	fmt.Fprintf(w, "arrivals: planned %d, started %d, dropped %d, interrupted %d\n",
		r.Arrivals.Planned, r.Arrivals.Started, r.Arrivals.Dropped, r.Arrivals.Interrupted)
	fmt.Fprintf(w, "schedule lag p99: %.3f ms (worst second %.3f ms); peak RSS: %.1f MiB\n",
		r.ScheduleLagP99Ms, r.ScheduleLagWorstSecondP99Ms, float64(r.PeakRSSBytes)/(1<<20))
	if len(r.KO) > 0 {
		reasons := make([]string, 0, len(r.KO))
		for _, k := range slices.Sorted(maps.Keys(r.KO)) {
			reasons = append(reasons, fmt.Sprintf("%s %d", k, r.KO[k]))
		}
		fmt.Fprintf(w, "ko: %s\n", strings.Join(reasons, ", "))
	}
	if !r.Final {
		fmt.Fprintln(w, "WARNING: the final snapshot is missing; the results are incomplete")
	}
	return nil
}

var _ Sink = (*Summary)(nil)
