// Package series is the per-second time series of a run, merged across its
// executors: what the live view, the analysis and the report read. Sinks
// store it (the embedded store, InfluxDB); readers query it back.
package series

import (
	"context"
	"time"
)

// AllRequests is the Request of the points that aggregate every request.
const AllRequests = ""

// Point is one second of one request name (or of all of them), merged
// across every executor of the run. Latencies are measured from the
// intended start (free of coordinated omission) and are exact percentiles
// of the merged histogram, never averages of executors' percentiles.
type Point struct {
	RunID string `json:"runId"`
	// Time is the start of the second (UTC, whole seconds).
	Time    time.Time `json:"time"`
	Request string    `json:"request,omitempty"`
	Count   int64     `json:"count"`
	OK      int64     `json:"ok"`
	KO      int64     `json:"ko"`
	// KOByReason splits KO by reason (status_5xx, timeout, ...).
	KOByReason map[string]int64 `json:"koByReason,omitempty"`
	// RPS is requests completed per second over the point's interval.
	RPS    float64 `json:"rps"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
	MeanMs float64 `json:"meanMs"`
	// The run-level fields below are set only on AllRequests points.
	ActiveUsers int64 `json:"activeUsers,omitempty"`
	// PlannedArrivals and StartedArrivals count sessions due and started
	// in the second; Dropped those that could not start.
	PlannedArrivals int64 `json:"plannedArrivals,omitempty"`
	StartedArrivals int64 `json:"startedArrivals,omitempty"`
	Dropped         int64 `json:"dropped,omitempty"`
	BytesSent       int64 `json:"bytesSent,omitempty"`
	BytesReceived   int64 `json:"bytesReceived,omitempty"`
}

// ExecutorPoint is one executor's health over one second.
type ExecutorPoint struct {
	RunID            string    `json:"runId"`
	Time             time.Time `json:"time"`
	Shard            int       `json:"shard"`
	Location         string    `json:"location,omitempty"`
	CPUPercent       float64   `json:"cpuPercent"`
	RSSBytes         int64     `json:"rssBytes"`
	Goroutines       int       `json:"goroutines"`
	OpenConnections  int64     `json:"openConnections"`
	ActiveSessions   int64     `json:"activeSessions"`
	ScheduleLagP99Ms float64   `json:"scheduleLagP99Ms"`
	DroppedArrivals  int64     `json:"droppedArrivals"`
}

// Batch is what one merge tick produces.
type Batch struct {
	Points    []Point         `json:"points"`
	Executors []ExecutorPoint `json:"executors,omitempty"`
}

// Sink stores series. Write may buffer; Flush returns once everything
// written before it is stored (or ctx ends). Implementations are safe for
// concurrent use and never drop a point silently: a sink that cannot keep
// up returns an error.
type Sink interface {
	Write(ctx context.Context, b Batch) error
	Flush(ctx context.Context) error
	Close() error
}

// Query selects a run's series. An empty Request list means every request
// name plus AllRequests; zero times mean the whole run.
type Query struct {
	RunID    string
	Requests []string
	From, To time.Time
}

// Reader reads series back, ordered by time then request name.
type Reader interface {
	Points(ctx context.Context, q Query) ([]Point, error)
	ExecutorPoints(ctx context.Context, q Query) ([]ExecutorPoint, error)
}
