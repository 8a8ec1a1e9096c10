package influx

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loadfleet/loadfleet/services/reporting/series"
	"github.com/loadfleet/loadfleet/services/reporting/series/influx/influxtest"
)

// Outage timeline, in seconds of the run.
const (
	outageStartsAt = 5
	outageLasts    = 60 * time.Second
	runSeconds     = 72 // ends about 5 s after InfluxDB is back
)

// TestOutage is THE LONG TEST (about 75 s): InfluxDB is stopped for 60 s
// mid-run and started again, and no point is missing.
//
// It runs its own influxd (the shared one is never stopped): a run writes
// one second of series (3 request series, their KO reasons, 2 executors:
// 11 lines) every second; at second 5 influxd gets SIGTERM, 60 s later it
// is started again on the same port and data. Then the Sink is flushed and
// every point is read back. Meanwhile the client library's own WriteAPI
// writes one point and flushes during the outage: that point is lost,
// which is why the Sink has its own buffer.
func TestOutage(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("the outage test takes about 75 s")
	}
	srv := influxtest.Start(t)
	reg := prometheus.NewRegistry()
	cfg := Config{URL: srv.URL, Bucket: "loadfleet/autogen", CreateV1Database: true, MaxRetryInterval: 2 * time.Second}
	sink, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	runID := newRunID(t)
	start := time.Now().UTC().Truncate(time.Second).Add(time.Second)

	// The run: one batch per second, on time whatever InfluxDB does.
	var (
		mu          sync.Mutex
		written     series.Batch
		maxBuffered float64
	)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for sec := range runSeconds {
			at := start.Add(time.Duration(sec) * time.Second)
			time.Sleep(time.Until(at.Add(100 * time.Millisecond)))
			b := sampleRun(runID, at, 1)
			if err := sink.Write(context.Background(), b); err != nil {
				t.Errorf("Write of second %d: %v", sec, err)
				return
			}
			mu.Lock()
			written.Points = append(written.Points, b.Points...)
			written.Executors = append(written.Executors, b.Executors...)
			maxBuffered = max(maxBuffered, testutil.ToFloat64(sink.metrics.buffered))
			mu.Unlock()
		}
	}()

	time.Sleep(time.Until(start.Add(outageStartsAt * time.Second)))
	pid := srv.Pid()
	srv.Stop() // SIGTERM to the influxd this test started
	stoppedAt := time.Now()
	t.Logf("influxd (pid %d) stopped at second %.1f of the run", pid, stoppedAt.Sub(start).Seconds())

	time.Sleep(outageLasts / 2)
	assertBuffering(t, sink)
	libraryLost := writeThroughLibraryWriteAPI(srv.URL, cfg.Bucket, runID, start)

	time.Sleep(time.Until(stoppedAt.Add(outageLasts)))
	srv.Restart()
	restartedAt := time.Now()
	t.Logf("influxd restarted (pid %d) after %.1f s down", srv.Pid(), restartedAt.Sub(stoppedAt).Seconds())
	backlog := testutil.ToFloat64(sink.metrics.buffered)
	drained := waitDrained(sink, 30*time.Second)
	t.Logf("the %v lines buffered at the restart were stored %.1f s after it", backlog, drained.Sub(restartedAt).Seconds())

	<-writerDone
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	flushStart := time.Now()
	if err := sink.Flush(ctx); err != nil {
		t.Fatalf("Flush after the outage: %v", err)
	}
	t.Logf("final Flush: %s; lines written %v, failed write attempts %v, most lines buffered %v, dropped %v",
		time.Since(flushStart).Round(time.Millisecond), testutil.ToFloat64(sink.metrics.written),
		testutil.ToFloat64(sink.metrics.failures), maxBuffered, testutil.ToFloat64(sink.metrics.dropped))

	reader := newReader(t, cfg)
	got, err := reader.Points(ctx, series.Query{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := sortedPoints(written.Points)
	if len(want) != runSeconds*3 {
		t.Fatalf("the run wrote %d points, want %d", len(want), runSeconds*3)
	}
	if libraryLost == "" {
		t.Fatal("the library sentinel was not written")
	}
	for _, p := range got {
		if p.Request == libraryLost {
			t.Errorf("the client library's WriteAPI kept its point through the outage: its drop is no longer the reason for the Sink's own buffer")
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the outage: %d points read, %d written; first difference: %s",
			len(got), len(want), firstDifference(got, want))
	}
	execs, err := reader.ExecutorPoints(ctx, series.Query{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(execs, written.Executors) {
		t.Fatalf("after the outage: %d executor points read, %d written", len(execs), len(written.Executors))
	}
	if testutil.ToFloat64(sink.metrics.failures) == 0 {
		t.Error("no write failed: the outage did not happen")
	}
	t.Logf("all %d points and %d executor points of %d seconds are there (%d seconds written during the outage)",
		len(got), len(execs), runSeconds, int(outageLasts/time.Second))
	t.Logf("the client library's WriteAPI lost its point %q (Flush during the outage), as expected", libraryLost)
}

// assertBuffering checks, mid-outage, that writes are held, not lost:
// Flush cannot finish and the buffer holds lines.
func assertBuffering(t *testing.T, sink *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := sink.Flush(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush during the outage: %v, want a deadline error", err)
	}
	if n := testutil.ToFloat64(sink.metrics.buffered); n == 0 {
		t.Error("nothing buffered during the outage")
	}
	t.Logf("mid-outage: %v lines buffered, %v failed attempts; Flush: %v",
		testutil.ToFloat64(sink.metrics.buffered), testutil.ToFloat64(sink.metrics.failures), err)
}

// writeThroughLibraryWriteAPI writes one point of the run through the
// client library's asynchronous WriteAPI (default retry options) and
// flushes it while InfluxDB is down. It returns the point's request name.
func writeThroughLibraryWriteAPI(url, bucket, runID string, start time.Time) string {
	client := influxdb2.NewClientWithOptions(url, "", influxdb2.DefaultOptions().SetPrecision(time.Second))
	defer client.Close()
	w := client.WriteAPI("", bucket)
	const name = "library-writeapi-sentinel"
	w.WriteRecord(requestLine(series.Point{RunID: runID, Time: start, Request: name, Count: 1}))
	w.Flush()
	return name
}

// waitDrained returns when every line buffered at the call is stored.
func waitDrained(sink *Sink, limit time.Duration) time.Time {
	target := testutil.ToFloat64(sink.metrics.written) + testutil.ToFloat64(sink.metrics.buffered)
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && testutil.ToFloat64(sink.metrics.written) < target {
		time.Sleep(20 * time.Millisecond)
	}
	return time.Now()
}

func firstDifference(got, want []series.Point) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			return "got " + pointID(got[i]) + ", want " + pointID(want[i])
		}
	}
	if len(got) < len(want) {
		return "missing from " + pointID(want[len(got)])
	}
	if len(got) > len(want) {
		return "extra " + pointID(got[len(want)])
	}
	return "none"
}

func pointID(p series.Point) string {
	return p.Time.Format(time.TimeOnly) + " request " + p.Request
}
