// Package reporting is the reporting service: it ingests executors'
// snapshots, merges them exactly, writes the live series, judges runs
// against their criteria (live, for abortOnFail, and at the end) and builds
// the report every rendering and notification comes from.
package reporting

import (
	"context"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// API is what the worker and the CLI ask of reporting, in process
// (*Service) or over HTTP (reportingclient).
type API interface {
	// Progress is the live view of a run: what every shard sent last, the
	// current rates and latency, and the abortOnFail criterion that failed,
	// if one did. A run nothing was ingested for yet has an empty Progress.
	Progress(ctx context.Context, runID string) (Progress, error)
	// Finish closes a run's ingest once its executors stopped: it merges
	// what is left, evaluates the criteria, stores the report and queues the
	// notifications. It is idempotent: a second call returns the stored
	// verdict.
	Finish(ctx context.Context, runID string) (Verdict, error)
	// Collect merges snapshots that executors measured but never
	// delivered, read from their spools by the worker once they exited.
	// Like the ingest, it is idempotent by (shard, attempt, seq).
	Collect(ctx context.Context, runID string, snaps []wire.Snapshot) error
}

// Verdict is a run's outcome, as its report says.
type Verdict = report.Verdict

// Verdicts of a report.
const (
	Passed  = report.Passed
	Failed  = report.Failed
	Errored = report.Errored
	Aborted = report.Aborted
)

// Progress is a run's live state.
type Progress struct {
	RunID  string          `json:"runId"`
	Shards []ShardProgress `json:"shards"`
	// The latest complete second, merged across shards.
	Time        time.Time `json:"time,omitzero"`
	RPS         float64   `json:"rps"`
	PlannedRate float64   `json:"plannedRate"`
	// StartedRate is the arrivals that started in that same second, so it
	// compares with PlannedRate on one basis.
	StartedRate float64 `json:"startedRate"`
	P95Ms       float64 `json:"p95Ms"`
	ErrorRate   float64 `json:"errorRate"`
	ActiveUsers int64   `json:"activeUsers"`
	// Totals since the start.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	Planned  int64 `json:"planned"`
	Started  int64 `json:"started"`
	Dropped  int64 `json:"dropped"`
	// AbortReason says which abortOnFail criterion failed, and by how much.
	AbortReason string `json:"abortReason,omitempty"`
}

// ShardProgress is what one shard attempt sent last.
type ShardProgress struct {
	Shard    int       `json:"shard"`
	Attempt  int       `json:"attempt"`
	LastSeq  uint64    `json:"lastSeq"`
	LastSeen time.Time `json:"lastSeen,omitzero"`
	Final    bool      `json:"final"`
}
