package influx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loadfleet/loadfleet/services/reporting/series"
	"github.com/loadfleet/loadfleet/services/reporting/series/influx/influxtest"
)

// newRunID is unique per test and per execution: the shared InfluxDB keeps
// what earlier runs wrote. The space, comma, quote and "${" check the
// escaping of line protocol and of Flux string literals.
func newRunID(t *testing.T) string {
	return fmt.Sprintf(`%s, "q" ${x} %d`, t.Name(), time.Now().UnixNano())
}

// sampleRun is seconds of one run starting at start: two request names
// and the aggregate (with KO reasons), and two executors, one without a
// location.
func sampleRun(runID string, start time.Time, seconds int) series.Batch {
	var b series.Batch
	for s := range seconds {
		at := start.Add(time.Duration(s) * time.Second)
		for i, req := range []string{"login", series.AllRequests, "search"} {
			p := series.Point{
				RunID: runID, Time: at, Request: req,
				Count: int64(100 + s + i), OK: int64(97 + s + i), KO: 3,
				KOByReason: map[string]int64{"status_5xx": 2, "timeout": 1},
				RPS:        float64(100+s+i) + 0.5,
				P50Ms:      10.25 + float64(s), P90Ms: 20.5, P95Ms: 30.75, P99Ms: 41, MaxMs: 99.5, MeanMs: 12.125,
			}
			if req == series.AllRequests {
				p.ActiveUsers, p.PlannedArrivals, p.StartedArrivals, p.Dropped = int64(50+s), 20, 19, 1
				p.BytesSent, p.BytesReceived = 123456, 7654321
			}
			b.Points = append(b.Points, p)
		}
		for shard, loc := range []string{"eu-west", ""} {
			b.Executors = append(b.Executors, series.ExecutorPoint{
				RunID: runID, Time: at, Shard: shard, Location: loc,
				CPUPercent: 40.5 + float64(shard), RSSBytes: 64 << 20, Goroutines: 120 + s,
				OpenConnections: int64(30 + shard), ActiveSessions: 25, ScheduleLagP99Ms: 1.5, DroppedArrivals: int64(shard),
			})
		}
	}
	return b
}

func sharedConfig(t *testing.T) Config {
	return Config{URL: influxtest.URL(t), Bucket: influxtest.Bucket}
}

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newReader(t *testing.T, cfg Config) *Reader {
	t.Helper()
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func flush(t *testing.T, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripKeepsEveryField(t *testing.T) {
	store, err := Open(sharedConfig(t), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	sink, reader := store.Sink, store.Reader
	runID := newRunID(t)
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	in := sampleRun(runID, start, 5)
	ctx := context.Background()
	if err := sink.Write(ctx, in); err != nil {
		t.Fatal(err)
	}
	flush(t, sink)

	got, err := reader.Points(ctx, series.Query{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	want := sortedPoints(in.Points)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("points differ:\n got %d %+v\nwant %d %+v", len(got), head(got), len(want), head(want))
	}
	execs, err := reader.ExecutorPoints(ctx, series.Query{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(execs, in.Executors) { // written in time, shard order
		t.Fatalf("executor points differ:\n got %+v\nwant %+v", execs, in.Executors)
	}
}

func TestReaderSelects(t *testing.T) {
	cfg := sharedConfig(t)
	sink, reader := newSink(t, cfg), newReader(t, cfg)
	runID := newRunID(t)
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	ctx := context.Background()
	if err := sink.Write(ctx, sampleRun(runID, start, 5)); err != nil {
		t.Fatal(err)
	}
	// Another run in the same seconds must never show.
	if err := sink.Write(ctx, sampleRun(runID+"-other", start, 5)); err != nil {
		t.Fatal(err)
	}
	flush(t, sink)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }

	tests := []struct {
		why       string
		q         series.Query
		wantTimes []int
		wantReqs  string // sorted, comma-separated, "" for AllRequests
	}{
		{"the whole run: every request and the aggregate", series.Query{RunID: runID},
			[]int{0, 1, 2, 3, 4}, ",login,search"},
		{"one request name", series.Query{RunID: runID, Requests: []string{"search"}},
			[]int{0, 1, 2, 3, 4}, "search"},
		{"the aggregate by its empty name", series.Query{RunID: runID, Requests: []string{series.AllRequests}},
			[]int{0, 1, 2, 3, 4}, ""},
		{"From inclusive, To exclusive", series.Query{RunID: runID, From: at(1), To: at(3)},
			[]int{1, 2}, ",login,search"},
		{"a fractional To keeps the second it falls into", series.Query{RunID: runID, To: at(1).Add(time.Millisecond)},
			[]int{0, 1}, ",login,search"},
		{"an unknown run", series.Query{RunID: runID + "-nope"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := reader.Points(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var times []int
			reqs := map[string]bool{}
			for _, p := range got {
				if p.RunID != runID {
					t.Fatalf("point of run %q", p.RunID)
				}
				if s := int(p.Time.Sub(start) / time.Second); len(times) == 0 || times[len(times)-1] != s {
					times = append(times, s)
				}
				reqs[p.Request] = true
			}
			if !reflect.DeepEqual(times, tt.wantTimes) {
				t.Errorf("seconds %v, want %v", times, tt.wantTimes)
			}
			if tt.wantTimes != nil && joinKeys(reqs) != tt.wantReqs {
				t.Errorf("requests %q, want %q", joinKeys(reqs), tt.wantReqs)
			}
		})
	}
	execs, err := reader.ExecutorPoints(ctx, series.Query{RunID: runID, From: at(4)})
	if err != nil || len(execs) != 2 {
		t.Fatalf("executor points from the last second: %d, %v; want 2", len(execs), err)
	}
}

// A retried write re-sends lines InfluxDB may already hold: the same
// series and second overwrite, never add.
func TestRewriteOverwrites(t *testing.T) {
	cfg := sharedConfig(t)
	sink, reader := newSink(t, cfg), newReader(t, cfg)
	runID := newRunID(t)
	start := time.Now().UTC().Truncate(time.Second).Add(-2 * time.Minute)
	ctx := context.Background()
	b := sampleRun(runID, start, 3)
	for range 2 {
		if err := sink.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, sink)
	got, err := reader.Points(ctx, series.Query{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(b.Points) {
		t.Fatalf("%d points after writing %d twice", len(got), len(b.Points))
	}
}

func TestNonFiniteValuesDoNotPoisonTheBatch(t *testing.T) {
	cfg := sharedConfig(t)
	sink, reader := newSink(t, cfg), newReader(t, cfg)
	runID := newRunID(t)
	p := series.Point{RunID: runID, Time: time.Now().UTC().Truncate(time.Second), Count: 1, MeanMs: math.NaN(), MaxMs: math.Inf(1)}
	if err := sink.Write(context.Background(), series.Batch{Points: []series.Point{p}}); err != nil {
		t.Fatal(err)
	}
	flush(t, sink)
	got, err := reader.Points(context.Background(), series.Query{RunID: runID})
	if err != nil || len(got) != 1 || got[0].Count != 1 || got[0].MeanMs != 0 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// InfluxDB answers 404 for an unknown database: retrying cannot help, so
// the batch is given up at once, and loudly.
func TestRefusedBatchIsReported(t *testing.T) {
	cfg := sharedConfig(t)
	cfg.Bucket = "loadfleet_no_such_db/autogen"
	reg := prometheus.NewRegistry()
	sink, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Write(context.Background(), sampleRun(newRunID(t), time.Now(), 1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sink.Flush(ctx); !errors.Is(err, ErrDropped) {
		t.Fatalf("Flush: %v, want ErrDropped", err)
	}
	if n := testutil.ToFloat64(sink.metrics.dropped); n != 11 { // 3 requests + 6 reasons + 2 executors
		t.Errorf("dropped lines metric %v, want 11", n)
	}
}

// With nothing listening, Write buffers up to BufferLimit, then rejects
// whole batches; Flush and Close say what is not stored.
func TestBufferLimitRejectsLoudly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + l.Addr().String()
	l.Close()
	reg := prometheus.NewRegistry()
	sink, err := New(Config{
		URL: deadURL, Bucket: "loadfleet/autogen", BufferLimit: 25, BatchSize: 5,
		RetryInterval: 10 * time.Millisecond, MaxRetryInterval: 50 * time.Millisecond, CloseTimeout: 300 * time.Millisecond,
	}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	one := sampleRun("r", time.Now(), 1) // 11 lines
	for i := range 2 {
		if err := sink.Write(ctx, one); err != nil {
			t.Fatalf("write %d (22 of 25 lines): %v", i, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := sink.Flush(short); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "22 lines") {
		t.Errorf("Flush during the outage: %v", err)
	}
	err = sink.Write(ctx, one)
	if !errors.Is(err, ErrBufferFull) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("third write (33 > 25 lines): %v, want ErrBufferFull naming the cause", err)
	}
	if n := testutil.ToFloat64(sink.metrics.buffered); n != 22 {
		t.Errorf("buffered %v, want 22: a rejected batch is not partly kept", n)
	}
	if err := sink.Close(); !errors.Is(err, ErrDropped) || !strings.Contains(err.Error(), "22 lines") {
		t.Errorf("Close during the outage: %v, want ErrDropped with 22 lines", err)
	}
	if err := sink.Write(ctx, one); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		why  string
		cfg  Config
		want string // substring of the error; "" means valid
	}{
		{"a 1.8 bucket and no token is valid", Config{URL: "http://127.0.0.1:8086", Bucket: "loadfleet/autogen"}, ""},
		{"a 2.x org, bucket and token is valid", Config{URL: "https://influx.example:8086", Org: "acme", Bucket: "loadfleet", Token: "t"}, ""},
		{"the URL must be http(s)", Config{URL: "127.0.0.1:8086", Bucket: "b"}, "not an http(s) URL"},
		{"the bucket is required", Config{URL: "http://h"}, "bucket is empty"},
		{"a batch cannot exceed the buffer", Config{URL: "http://h", Bucket: "b", BatchSize: 10, BufferLimit: 5}, "exceeds bufferLimit"},
		{"durations cannot be negative", Config{URL: "http://h", Bucket: "b", MaxRetryTime: -time.Second}, "maxRetryTime -1s is negative"},
		{"CREATE DATABASE needs a database name", Config{URL: "http://h", Bucket: "/autogen", CreateV1Database: true}, "createV1Database"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			err := tt.cfg.withDefaults().validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want ErrConfig with %q", err, tt.want)
			}
		})
	}
}

func TestEncodeSchema(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 600_000_000, time.UTC) // sub-second part is dropped
	b := series.Batch{
		Points: []series.Point{
			{RunID: "r 1", Time: at, Request: "GET /a,b", Count: 2, OK: 1, KO: 1, KOByReason: map[string]int64{"timeout": 1}, RPS: 2},
			{RunID: "r 1", Time: at, Count: 2, ActiveUsers: 4},
		},
		Executors: []series.ExecutorPoint{{RunID: "r 1", Time: at, Shard: 3, Goroutines: 7}},
	}
	lines := encode(b)
	want := []string{
		`loadfleet_requests,request=GET\ /a\,b,run_id=r\ 1 count=2i,ko=1i,max_ms=0,mean_ms=0,ok=1i,p50_ms=0,p90_ms=0,p95_ms=0,p99_ms=0,rps=2 1735787045`,
		`loadfleet_errors,reason=timeout,request=GET\ /a\,b,run_id=r\ 1 count=1i 1735787045`,
		`loadfleet_requests,request=_all,run_id=r\ 1 active_users=4i,bytes_received=0i,bytes_sent=0i,count=2i,dropped=0i,ko=0i,max_ms=0,mean_ms=0,ok=0i,p50_ms=0,p90_ms=0,p95_ms=0,p99_ms=0,planned=0i,rps=0,started=0i 1735787045`,
		`loadfleet_executors,run_id=r\ 1,shard=3 active_sessions=0i,cpu_percent=0,dropped=0i,goroutines=7i,open_connections=0i,rss_bytes=0i,schedule_lag_p99_ms=0 1735787045`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("line protocol:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func sortedPoints(in []series.Point) []series.Point {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b series.Point) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Request, b.Request))
	})
	return out
}

func head[T any](s []T) []T { return s[:min(3, len(s))] }

func joinKeys(m map[string]bool) string { return strings.Join(slices.Sorted(maps.Keys(m)), ",") }
