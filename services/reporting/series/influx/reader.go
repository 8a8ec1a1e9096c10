package influx

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/query"

	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Open query bounds: Flux's range needs both.
var (
	earliest = time.Unix(0, 0).UTC()
	latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Reader is a series.Reader querying InfluxDB with Flux through the v2
// query API: InfluxDB 2.x, or 1.8 with [http] flux-enabled = true (there
// Bucket is "database/retention", e.g. "loadfleet/autogen"). Safe for
// concurrent use.
type Reader struct {
	client influxdb2.Client
	query  api.QueryAPI
	bucket string
}

// NewReader connects lazily: nothing is sent before the first query.
func NewReader(cfg Config) (*Reader, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client := newClient(cfg)
	return &Reader{client: client, query: client.QueryAPI(cfg.Org), bucket: cfg.Bucket}, nil
}

// Close releases the HTTP client.
func (r *Reader) Close() error {
	r.client.Close()
	return nil
}

type pointKey struct {
	t       int64
	request string
}

// Points returns the run's points in [q.From, q.To) (a zero bound is
// open), of q.Requests (every request plus series.AllRequests when empty),
// ordered by time then request name.
func (r *Reader) Points(ctx context.Context, q series.Query) ([]series.Point, error) {
	byKey := map[pointKey]*series.Point{}
	err := r.each(ctx, r.flux(q, MeasurementRequests, true), func(rec *query.FluxRecord) error {
		p := series.Point{
			RunID: q.RunID, Time: rec.Time().UTC(), Request: requestName(tagOf(rec, TagRequest)),
			Count: intOf(rec, fieldCount), OK: intOf(rec, fieldOK), KO: intOf(rec, fieldKO),
			RPS:   floatOf(rec, fieldRPS),
			P50Ms: floatOf(rec, fieldP50), P90Ms: floatOf(rec, fieldP90), P95Ms: floatOf(rec, fieldP95),
			P99Ms: floatOf(rec, fieldP99), MaxMs: floatOf(rec, fieldMax), MeanMs: floatOf(rec, fieldMean),
			ActiveUsers:     intOf(rec, fieldActiveUsers),
			PlannedArrivals: intOf(rec, fieldPlanned), StartedArrivals: intOf(rec, fieldStarted),
			Dropped:   intOf(rec, fieldDropped),
			BytesSent: intOf(rec, fieldBytesSent), BytesReceived: intOf(rec, fieldBytesReceived),
		}
		byKey[pointKey{p.Time.Unix(), p.Request}] = &p
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.each(ctx, r.flux(q, MeasurementErrors, false), func(rec *query.FluxRecord) error {
		p := byKey[pointKey{rec.Time().Unix(), requestName(tagOf(rec, TagRequest))}]
		if p == nil {
			return nil // its point is outside the query
		}
		reason := tagOf(rec, TagReason)
		if p.KOByReason == nil {
			p.KOByReason = map[string]int64{}
		}
		p.KOByReason[reason] = toInt(rec.Value())
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]series.Point, 0, len(byKey))
	for _, p := range byKey {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b series.Point) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Request, b.Request))
	})
	return out, nil
}

// ExecutorPoints returns the run's executor health in [q.From, q.To),
// ordered by time then shard. q.Requests does not apply.
func (r *Reader) ExecutorPoints(ctx context.Context, q series.Query) ([]series.ExecutorPoint, error) {
	q.Requests = nil
	var out []series.ExecutorPoint
	err := r.each(ctx, r.flux(q, MeasurementExecutors, true), func(rec *query.FluxRecord) error {
		shard, err := strconv.Atoi(tagOf(rec, TagShard))
		if err != nil {
			return fmt.Errorf("influx: executor point with shard tag %q: %w", tagOf(rec, TagShard), err)
		}
		out = append(out, series.ExecutorPoint{
			RunID: q.RunID, Time: rec.Time().UTC(), Shard: shard, Location: tagOf(rec, TagLocation),
			CPUPercent: floatOf(rec, fieldCPU), RSSBytes: intOf(rec, fieldRSS), Goroutines: int(intOf(rec, fieldGoroutines)),
			OpenConnections: intOf(rec, fieldOpenConnections), ActiveSessions: intOf(rec, fieldActiveSessions),
			ScheduleLagP99Ms: floatOf(rec, fieldScheduleLagP99), DroppedArrivals: intOf(rec, fieldDroppedArrivals),
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b series.ExecutorPoint) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Shard, b.Shard))
	})
	return out, nil
}

// flux is the query of one measurement of a run; pivot puts each
// timestamp's fields on one row.
func (r *Reader) flux(q series.Query, measurement string, pivot bool) string {
	from, to := earliest, latest
	if !q.From.IsZero() {
		from = q.From
	}
	if !q.To.IsZero() {
		to = q.To
	}
	// InfluxDB 1.8 reads range's stop inclusively (2.x exclusively); one
	// nanosecond less makes both half-open for second-stamped points.
	to = to.Add(-time.Nanosecond)
	var b strings.Builder
	fmt.Fprintf(&b, "from(bucket: %s)\n", fluxString(r.bucket))
	fmt.Fprintf(&b, "  |> range(start: %s, stop: %s)\n", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "  |> filter(fn: (r) => r._measurement == %s and r.%s == %s)\n",
		fluxString(measurement), TagRunID, fluxString(q.RunID))
	if len(q.Requests) > 0 {
		var or []string
		for _, req := range q.Requests {
			or = append(or, fmt.Sprintf("r.%s == %s", TagRequest, fluxString(requestTag(req))))
		}
		fmt.Fprintf(&b, "  |> filter(fn: (r) => %s)\n", strings.Join(or, " or "))
	}
	if pivot {
		b.WriteString(`  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")` + "\n")
	}
	return b.String()
}

func (r *Reader) each(ctx context.Context, flux string, fn func(*query.FluxRecord) error) error {
	res, err := r.query.Query(ctx, flux)
	if err != nil {
		return fmt.Errorf("influx: query: %w", err)
	}
	defer res.Close()
	for res.Next() {
		if err := fn(res.Record()); err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("influx: read query result: %w", err)
	}
	return nil
}

// fluxString quotes s as a Flux string literal; "${" would otherwise start
// an interpolation.
func fluxString(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`).Replace(s)
	return `"` + s + `"`
}

func tagOf(rec *query.FluxRecord, key string) string {
	s, _ := rec.ValueByKey(key).(string)
	return s
}

func intOf(rec *query.FluxRecord, key string) int64 { return toInt(rec.ValueByKey(key)) }

func floatOf(rec *query.FluxRecord, key string) float64 {
	switch v := rec.ValueByKey(key).(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return 0
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case uint64:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

var _ series.Reader = (*Reader)(nil)
