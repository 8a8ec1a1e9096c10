package influx

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// The measurement and tag schema, documented in grafana/README.md; the
// dashboards in grafana/provisioning query these names.
const (
	MeasurementRequests  = "loadfleet_requests"
	MeasurementErrors    = "loadfleet_errors"
	MeasurementExecutors = "loadfleet_executors"

	TagRunID    = "run_id"
	TagRequest  = "request"
	TagReason   = "reason"
	TagShard    = "shard"
	TagLocation = "location"

	// AllRequestsTag stands for series.AllRequests: InfluxDB drops a tag
	// whose value is empty, and the aggregate must stay selectable.
	AllRequestsTag = "_all"
	// unknownReason stands for an empty KO reason, for the same reason.
	unknownReason = "unknown"
)

// Field names of MeasurementRequests. The run-level ones are written on
// the AllRequestsTag series only.
const (
	fieldCount         = "count"
	fieldOK            = "ok"
	fieldKO            = "ko"
	fieldRPS           = "rps"
	fieldP50           = "p50_ms"
	fieldP90           = "p90_ms"
	fieldP95           = "p95_ms"
	fieldP99           = "p99_ms"
	fieldMax           = "max_ms"
	fieldMean          = "mean_ms"
	fieldActiveUsers   = "active_users"
	fieldPlanned       = "planned"
	fieldStarted       = "started"
	fieldDropped       = "dropped"
	fieldBytesSent     = "bytes_sent"
	fieldBytesReceived = "bytes_received"
)

// Field names of MeasurementExecutors.
const (
	fieldCPU             = "cpu_percent"
	fieldRSS             = "rss_bytes"
	fieldGoroutines      = "goroutines"
	fieldOpenConnections = "open_connections"
	fieldActiveSessions  = "active_sessions"
	fieldScheduleLagP99  = "schedule_lag_p99_ms"
	fieldDroppedArrivals = "dropped"
)

// Field name of MeasurementErrors.
const fieldErrorCount = "count"

func requestTag(name string) string {
	if name == series.AllRequests {
		return AllRequestsTag
	}
	return name
}

func requestName(tag string) string {
	if tag == AllRequestsTag {
		return series.AllRequests
	}
	return tag
}

// encode turns a batch into line protocol, one line per InfluxDB point,
// with second timestamps: a retried line overwrites itself (same series,
// same time), which makes retries idempotent.
func encode(b series.Batch) []string {
	lines := make([]string, 0, len(b.Points)*2+len(b.Executors))
	for _, p := range b.Points {
		lines = append(lines, requestLine(p))
		for _, reason := range slices.Sorted(maps.Keys(p.KOByReason)) {
			lines = append(lines, errorLine(p, reason))
		}
	}
	for _, e := range b.Executors {
		lines = append(lines, executorLine(e))
	}
	return lines
}

func requestLine(p series.Point) string {
	fields := map[string]any{
		fieldCount: p.Count, fieldOK: p.OK, fieldKO: p.KO,
		fieldRPS: finite(p.RPS),
		fieldP50: finite(p.P50Ms), fieldP90: finite(p.P90Ms), fieldP95: finite(p.P95Ms), fieldP99: finite(p.P99Ms),
		fieldMax: finite(p.MaxMs), fieldMean: finite(p.MeanMs),
	}
	if p.Request == series.AllRequests {
		fields[fieldActiveUsers] = p.ActiveUsers
		fields[fieldPlanned] = p.PlannedArrivals
		fields[fieldStarted] = p.StartedArrivals
		fields[fieldDropped] = p.Dropped
		fields[fieldBytesSent] = p.BytesSent
		fields[fieldBytesReceived] = p.BytesReceived
	}
	tags := map[string]string{TagRunID: p.RunID, TagRequest: requestTag(p.Request)}
	return line(MeasurementRequests, tags, fields, p.Time)
}

func errorLine(p series.Point, reason string) string {
	tag := reason
	if tag == "" {
		tag = unknownReason
	}
	tags := map[string]string{TagRunID: p.RunID, TagRequest: requestTag(p.Request), TagReason: tag}
	return line(MeasurementErrors, tags, map[string]any{fieldErrorCount: p.KOByReason[reason]}, p.Time)
}

func executorLine(e series.ExecutorPoint) string {
	tags := map[string]string{TagRunID: e.RunID, TagShard: strconv.Itoa(e.Shard)}
	if e.Location != "" {
		tags[TagLocation] = e.Location
	}
	fields := map[string]any{
		fieldCPU: finite(e.CPUPercent), fieldRSS: e.RSSBytes, fieldGoroutines: int64(e.Goroutines),
		fieldOpenConnections: e.OpenConnections, fieldActiveSessions: e.ActiveSessions,
		fieldScheduleLagP99: finite(e.ScheduleLagP99Ms), fieldDroppedArrivals: e.DroppedArrivals,
	}
	return line(MeasurementExecutors, tags, fields, e.Time)
}

func line(measurement string, tags map[string]string, fields map[string]any, t time.Time) string {
	p := write.NewPoint(measurement, tags, fields, t.Truncate(time.Second))
	return strings.TrimSuffix(write.PointToLineProtocol(p, time.Second), "\n")
}

// finite maps NaN and infinities to 0: line protocol cannot carry them, and
// InfluxDB would reject the whole request for one such value.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
