// Package report is a run's one report document and its renderings (HTML,
// JUnit XML, Markdown). The document is what the metadata store keeps and
// what scripts read; every rendering is a pure function of it.
package report

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/analysis"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// SchemaVersion is the version of the Document layout; it grows when a
// field changes meaning or goes away (adding fields does not bump it).
const SchemaVersion = 1

// ErrInvalid is returned by renderings given a document they cannot render.
var ErrInvalid = errors.New("report: invalid document")

// Verdict is a run's outcome.
type Verdict string

// The verdicts of a run: passed and failed judge a run that completed;
// errored is a run that could not run (or lost data); aborted a run stopped
// early, by a user or by an abortOnFail criterion.
const (
	Passed  Verdict = "passed"
	Failed  Verdict = "failed"
	Errored Verdict = "errored"
	Aborted Verdict = "aborted"
)

// Document is a run's report. Its JSON (field names below are exact and
// stable for scripts) is, in JSON Schema terms:
//
//	{ schemaVersion: integer, runId: string (required),
//	  verdict: "passed"|"failed"|"errored"|"aborted" (required), verdictReason?: string,
//	  name: string (the plan's), team?, project?: string, labels?: {string: string},
//	  tool: string, toolVersions?: {string: string},
//	  createdAt, startedAt?, endedAt?: RFC 3339 date-time, durationSeconds: number,
//	  source?: {url, ref?, commit?, path?},
//	  plan?: the plan snapshot (testplan.schema.json),
//	  arrivals: {planned, started, dropped, interrupted: integer},
//	  total: Request, requests: [Request] sorted by name,
//	  criteria: [{metric, request?, op: "<="|">=", threshold: number, unit?, value: number|null,
//	              passed: boolean, window?, abortOnFail?, detail?}],
//	  analysis: analysis.Result {shape, knee?, steps?, highestPassingStep?, spike?, constant?},
//	  executors: [{shard, location?, backend, clockOffsetMs, restarts: [{at, reason?}]}],
//	  degraded?: [{from, to, reason, shards?}],
//	  series: {total: [series.Point], requests: [series.Point], executors: [series.ExecutorPoint]} }
//
// where Request is {name?, count, ok, ko, rps, p50Ms, p90Ms, p95Ms, p99Ms,
// maxMs, meanMs, serviceP99Ms, koByReason?: {reason: integer},
// bytes: {sent, received}}: the executor's standalone JSON summary fields
// plus the failure reasons and the bytes. Latencies are milliseconds from
// the intended start (free of coordinated omission).
type Document struct {
	SchemaVersion   int               `json:"schemaVersion"`
	RunID           string            `json:"runId"`
	Verdict         Verdict           `json:"verdict"`
	VerdictReason   string            `json:"verdictReason,omitempty"`
	Name            string            `json:"name"`
	Team            string            `json:"team,omitempty"`
	Project         string            `json:"project,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Tool            string            `json:"tool"`
	ToolVersions    map[string]string `json:"toolVersions,omitempty"`
	CreatedAt       time.Time         `json:"createdAt"`
	StartedAt       time.Time         `json:"startedAt,omitzero"`
	EndedAt         time.Time         `json:"endedAt,omitzero"`
	DurationSeconds float64           `json:"durationSeconds"`
	Source          *Source           `json:"source,omitempty"`
	// Plan is the plan as the run used it.
	Plan      json.RawMessage    `json:"plan,omitempty"`
	Arrivals  Arrivals           `json:"arrivals"`
	Total     Request            `json:"total"`
	Requests  []Request          `json:"requests"`
	Criteria  []Criterion        `json:"criteria"`
	Analysis  analysis.Result    `json:"analysis"`
	Executors []Executor         `json:"executors"`
	Degraded  []DegradedInterval `json:"degraded,omitempty"`
	// Completeness says whether the data accounts for the whole run; a
	// run whose data does not is never judged on its criteria.
	Completeness *Completeness `json:"completeness,omitempty"`
	Series       Series        `json:"series"`
}

// Completeness is the check that the merged data accounts for the run:
// every shard's snapshots through its final one, and the planned arrivals
// within a tolerance.
type Completeness struct {
	Complete bool `json:"complete"`
	// MissingArrivals were planned and neither started nor dropped by any
	// executor; Tolerance is the share of the plan that may be missing.
	MissingArrivals int64   `json:"missingArrivals"`
	Tolerance       float64 `json:"tolerance"`
	// Problems are what is missing; Notes what is missing within the
	// tolerance (the verdict then says it judged on partial data).
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// Source is where the run's scripts came from.
type Source struct {
	URL string `json:"url"`
	Ref string `json:"ref,omitempty"`
	// Commit is the SHA the ref resolved to when the run started.
	Commit string `json:"commit,omitempty"`
	Path   string `json:"path,omitempty"`
}

// Arrivals counts the run's sessions: planned by the schedule, started,
// dropped (could not start) and interrupted at the end of gracefulStop.
type Arrivals struct {
	Planned     int64 `json:"planned"`
	Started     int64 `json:"started"`
	Dropped     int64 `json:"dropped"`
	Interrupted int64 `json:"interrupted"`
}

// Request is one request name's results over the run, or all requests'
// (Total, no name). Its fields are those of the executor's standalone JSON
// summary, plus failures by reason and bytes.
type Request struct {
	Name         string           `json:"name,omitempty"`
	Count        int64            `json:"count"`
	OK           int64            `json:"ok"`
	KO           int64            `json:"ko"`
	RPS          float64          `json:"rps"`
	P50Ms        float64          `json:"p50Ms"`
	P90Ms        float64          `json:"p90Ms"`
	P95Ms        float64          `json:"p95Ms"`
	P99Ms        float64          `json:"p99Ms"`
	MaxMs        float64          `json:"maxMs"`
	MeanMs       float64          `json:"meanMs"`
	ServiceP99Ms float64          `json:"serviceP99Ms"`
	KOByReason   map[string]int64 `json:"koByReason,omitempty"`
	Bytes        Bytes            `json:"bytes"`
}

// Bytes counts what was sent and received.
type Bytes struct {
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
}

// Criterion is one criterion's verdict. Threshold and Value share Unit
// (ms for latencies, a fraction for errors.rate and drift, a ratio for
// throughput); Value is null when there was nothing to judge.
type Criterion struct {
	Metric      string   `json:"metric"`
	Request     string   `json:"request,omitempty"`
	Op          string   `json:"op"`
	Threshold   float64  `json:"threshold"`
	Unit        string   `json:"unit,omitempty"`
	Value       *float64 `json:"value"`
	Passed      bool     `json:"passed"`
	Window      string   `json:"window,omitempty"`
	AbortOnFail bool     `json:"abortOnFail,omitempty"`
	Detail      string   `json:"detail,omitempty"`
}

// The comparison operators of a criterion.
const (
	OpAtMost  = "<="
	OpAtLeast = ">="
)

// Executor is one shard of the run.
type Executor struct {
	Shard    int    `json:"shard"`
	Location string `json:"location,omitempty"`
	Backend  string `json:"backend"`
	// ClockOffsetMs is the executor's clock minus the worker's at ready.
	ClockOffsetMs float64   `json:"clockOffsetMs"`
	Restarts      []Restart `json:"restarts"`
}

// Restart is one restart of a shard.
type Restart struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// DegradedInterval is a time the results are less trustworthy: a shard
// silent or restarting, the schedule lagging.
type DegradedInterval struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
	Shards []int     `json:"shards,omitempty"`
}

// Series is what the charts are drawn from: per second, the AllRequests
// points (Total), the per-request points and each executor's health.
type Series struct {
	Total     []series.Point         `json:"total"`
	Requests  []series.Point         `json:"requests"`
	Executors []series.ExecutorPoint `json:"executors"`
}
