package wire

import "time"

// Summary is the merged result of one request name (or of all of them) over
// a span: a standalone run, a whole run, a load step or a window. It is the
// one result vocabulary: the executor's standalone summary and the control
// plane's merge both compute it (executors/stats.Tally), and the report,
// the criteria and `loadfleet-executor run` read it. Latencies are in
// milliseconds, from the intended start, and are exact percentiles of the
// merged histogram (of the geometry HistLowest..HistHighest, HistDigits).
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
	// on summaries of all requests only (arrivals are not per request).
	Arrivals Arrivals `json:"arrivals,omitzero"`
	// ScheduledArrivals is what the plan's schedule makes due over the span,
	// independently of what executors reported: set for the whole run and
	// for open-model steps, zero for windows and closed models.
	ScheduledArrivals int64 `json:"scheduledArrivals,omitempty"`
}
