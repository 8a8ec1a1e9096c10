package reporting

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/analysis"
	"github.com/loadfleet/loadfleet/services/reporting/completeness"
	"github.com/loadfleet/loadfleet/services/reporting/criteria"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/report"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// buildReport assembles a finished run's report document from its merge,
// its criteria, its series and the run record.
func (s *Service) buildReport(ctx context.Context, run store.Run, lr *liveRun) (*report.Document, error) {
	points, err := s.reader.Points(ctx, series.Query{RunID: run.ID})
	if err != nil {
		return nil, fmt.Errorf("read the run's series: %w", err)
	}
	execs, err := s.reader.ExecutorPoints(ctx, series.Query{RunID: run.ID})
	if err != nil {
		return nil, fmt.Errorf("read the executors' series: %w", err)
	}
	p, agg := lr.plan, lr.agg
	total := agg.Total(series.AllRequests)
	doc := &report.Document{SchemaVersion: report.SchemaVersion, RunID: run.ID, Name: p.Name, Team: run.Team,
		Project: run.Project, Labels: p.Labels, Tool: toolOf(p), ToolVersions: run.ToolVersions,
		CreatedAt: run.Created, Plan: run.Plan,
		Arrivals: report.Arrivals{Planned: max(total.ScheduledArrivals, total.Arrivals.Planned),
			Started: total.Arrivals.Started, Dropped: total.Arrivals.Dropped, Interrupted: total.Arrivals.Interrupted},
		Total:     requestOf(total),
		Requests:  []report.Request{},
		Executors: executorsOf(run),
		Degraded:  degradedOf(run),
	}
	doc.Total.Name = ""
	if run.StartAt != nil {
		doc.StartedAt = *run.StartAt
	}
	doc.EndedAt = time.Now().UTC()
	if !doc.StartedAt.IsZero() {
		doc.DurationSeconds = doc.EndedAt.Sub(doc.StartedAt).Seconds()
	}
	if src := run.Source; src != nil {
		doc.Source = &report.Source{URL: src.URL, Ref: src.Ref, Commit: src.Commit, Path: src.Path}
	}
	for _, name := range agg.Requests() {
		if name != series.AllRequests {
			doc.Requests = append(doc.Requests, requestOf(agg.Total(name)))
		}
	}
	results := criteria.Evaluate(p.Criteria, agg)
	doc.Criteria = criteriaOf(results)
	doc.Analysis = analysis.Analyze(p, agg.Origin(), points, analysis.Options{StepLatency: stepLatency(agg)})
	doc.Series = seriesOf(points, execs)
	whole := completeness.Judge(completeness.Input{Shards: shardsOf(run), Coverage: agg.Coverage(),
		Planned: total.ScheduledArrivals, Started: total.Arrivals.Started, Dropped: total.Arrivals.Dropped,
		Tolerance: s.cfg.MissingTolerance})
	doc.Completeness = &whole
	doc.Verdict, doc.VerdictReason = verdict(run, total, results, whole)
	// The report is read by people the run's credentials are not for, and
	// its open link may be shared: it keeps no secret of the plan.
	return report.Redacted(doc), nil
}

// shardsOf is what completeness needs of the run's shards.
func shardsOf(run store.Run) []completeness.Shard {
	out := make([]completeness.Shard, len(run.Shards))
	for i, sh := range run.Shards {
		out[i] = completeness.Shard{Index: sh.Index, Attempt: sh.Attempt}
		if e, ok := sh.ExitOf(sh.Attempt); ok {
			out[i].Exit = &completeness.Exit{Attempt: e.Attempt, Code: e.Code, Detail: e.Detail, CollectError: e.CollectError}
		}
	}
	return out
}

// verdict judges the run: a user's abort wins; then a run stopped by an
// abortOnFail criterion failed, on the data it had; then a run whose data
// does not account for it (a shard's snapshots missing, arrivals missing
// past the tolerance) errored, never passed; then the criteria.
func verdict(run store.Run, total merge.Summary, results []criteria.Result, whole completeness.Result) (report.Verdict, string) {
	if run.AbortWanted {
		return report.Aborted, run.Reason
	}
	if total.Count == 0 && total.ScheduledArrivals > 0 {
		return report.Errored, "no measurement arrived from the executors"
	}
	stoppedByCriterion := strings.HasPrefix(run.Reason, "abortOnFail")
	if !whole.Complete && !stoppedByCriterion {
		return report.Errored, completeness.Summary(whole)
	}
	var failed []string
	for _, r := range results {
		if !r.Passed {
			failed = append(failed, r.Detail)
		}
	}
	partial := ""
	if len(whole.Notes) > 0 {
		partial = "judged on partial data: " + strings.Join(whole.Notes, "; ")
	}
	if len(failed) > 0 {
		reason := strings.Join(failed, "; ")
		if stoppedByCriterion {
			reason = run.Reason
		}
		return report.Failed, joinReasons(reason, partial)
	}
	return report.Passed, partial
}

func joinReasons(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

func toolOf(p *plan.Plan) string {
	if p.Tool == "" {
		return string(plan.ToolNative)
	}
	return string(p.Tool)
}

func requestOf(s merge.Summary) report.Request {
	return report.Request{Name: s.Name, Count: s.Count, OK: s.OK, KO: s.KO, RPS: s.RPS,
		P50Ms: s.P50Ms, P90Ms: s.P90Ms, P95Ms: s.P95Ms, P99Ms: s.P99Ms, MaxMs: s.MaxMs, MeanMs: s.MeanMs,
		ServiceP99Ms: s.ServiceP99Ms, KOByReason: s.KOByReason,
		Bytes: report.Bytes{Sent: s.BytesSent, Received: s.BytesReceived}}
}

func criteriaOf(results []criteria.Result) []report.Criterion {
	out := make([]report.Criterion, 0, len(results))
	for _, r := range results {
		c := report.Criterion{Metric: r.Metric, Request: r.Request, Op: report.OpAtMost, Threshold: r.Threshold,
			Unit: r.Unit, Passed: r.Passed, Window: r.Window, AbortOnFail: r.AbortOnFail, Detail: r.Detail}
		if r.Op == "min" {
			c.Op = report.OpAtLeast
		}
		if !r.NoData {
			v := r.Value
			c.Value = &v
		}
		out = append(out, c)
	}
	return out
}

// stepLatency gives the analysis the exact per-step percentiles of the
// merged histograms.
func stepLatency(agg *merge.Aggregator) map[int]analysis.Latency {
	out := map[int]analysis.Latency{}
	for i, st := range agg.Steps() {
		if s := agg.Step(i, series.AllRequests); s.Count > 0 {
			out[st.Index] = analysis.Latency{P95Ms: s.P95Ms, P99Ms: s.P99Ms}
		}
	}
	return out
}

func executorsOf(run store.Run) []report.Executor {
	out := make([]report.Executor, 0, len(run.Shards))
	for _, sh := range run.Shards {
		e := report.Executor{Shard: sh.Index, Location: sh.Location, Backend: sh.Backend,
			ClockOffsetMs: float64(sh.ClockOffset) / float64(time.Millisecond), Restarts: []report.Restart{}}
		for _, r := range sh.Restarts {
			e.Restarts = append(e.Restarts, report.Restart{At: r.Start, Reason: r.Reason})
		}
		out = append(out, e)
	}
	return out
}

func degradedOf(run store.Run) []report.DegradedInterval {
	var out []report.DegradedInterval
	for _, d := range run.Degraded {
		to := time.Now().UTC()
		if d.End != nil {
			to = *d.End
		}
		di := report.DegradedInterval{From: d.Start, To: to, Reason: d.Reason}
		for _, sh := range run.Shards {
			if slices.ContainsFunc(sh.Restarts, func(r store.Interval) bool { return r.Start.Equal(d.Start) }) {
				di.Shards = append(di.Shards, sh.Index)
			}
		}
		out = append(out, di)
	}
	return out
}

func seriesOf(points []series.Point, execs []series.ExecutorPoint) report.Series {
	s := report.Series{Total: []series.Point{}, Requests: []series.Point{}, Executors: execs}
	for _, p := range points {
		if p.Request == series.AllRequests {
			s.Total = append(s.Total, p)
		} else {
			s.Requests = append(s.Requests, p)
		}
	}
	if s.Executors == nil {
		s.Executors = []series.ExecutorPoint{}
	}
	return s
}
