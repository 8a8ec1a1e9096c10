package runtime_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/executors/runtime/runtimetest"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// collectSink keeps every snapshot in memory, in the order sent.
type collectSink struct {
	snaps  []wire.Snapshot
	closed bool
	refuse map[uint64]bool
}

func (c *collectSink) Send(_ context.Context, s wire.Snapshot) error {
	if c.refuse[s.Seq] {
		return runtime.ErrSpoolFull
	}
	c.snaps = append(c.snaps, s)
	return nil
}

func (c *collectSink) Close(context.Context) error { c.closed = true; return nil }

func newRunner(t *testing.T, cfg runtime.Config, tool runtime.Tool, sink runtime.Sink) *runtime.Runner {
	t.Helper()
	r, err := runtime.NewRunner(cfg, tool, sink, discardLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkSequence asserts seq first..first+n-1 without gaps, contiguous
// intervals, and a final flag on the last snapshot only.
func checkSequence(t *testing.T, snaps []wire.Snapshot, first uint64) {
	t.Helper()
	if len(snaps) == 0 {
		t.Fatal("no snapshots")
	}
	for i, s := range snaps {
		if s.Seq != first+uint64(i) {
			t.Fatalf("snapshot %d has seq %d, want %d", i, s.Seq, first+uint64(i))
		}
		if i > 0 && !s.Start.Equal(snaps[i-1].End) {
			t.Errorf("seq %d starts at %v, previous ended at %v", s.Seq, s.Start, snaps[i-1].End)
		}
		if s.Final != (i == len(snaps)-1) {
			t.Errorf("seq %d: final = %v", s.Seq, s.Final)
		}
	}
}

func sumStarted(snaps []wire.Snapshot) (started, ok int64) {
	for _, s := range snaps {
		started += s.Arrivals.Started
		for _, r := range s.Requests {
			ok += r.OK
		}
	}
	return started, ok
}

func TestRunnerEmitsNumberedSnapshotsAndEverythingMeasured(t *testing.T) {
	tool := &runtimetest.Tool{Duration: 1100 * time.Millisecond}
	sink := &collectSink{}
	summary := runtime.NewSummary()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	file, err := runtime.NewFileSink(out)
	if err != nil {
		t.Fatal(err)
	}
	spec := &wire.ShardSpec{RunID: "r1", Shard: 0, Shards: 1}
	r := newRunner(t, runtime.Config{Interval: 200 * time.Millisecond}, tool, runtime.Tee{sink, summary, file})
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !sink.closed {
		t.Error("sink not closed")
	}
	if n := tool.Closes(); n != 1 {
		t.Errorf("tool closed %d times, want once", n)
	}
	checkSequence(t, sink.snaps, 1)
	// 1.1 s at 200 ms: 5 ticks, then the final one.
	if n := len(sink.snaps); n != 6 || res.Snapshots != 6 {
		t.Errorf("%d snapshots (result %d), want 6", n, res.Snapshots)
	}
	started, ok := sumStarted(sink.snaps)
	if started != tool.Sessions() || ok != tool.Sessions() || started < 50 {
		t.Errorf("snapshots carry %d started and %d ok, the tool made %d sessions", started, ok, tool.Sessions())
	}
	for _, s := range sink.snaps {
		if s.RunID != "r1" || s.Health.RSSBytes <= 0 || s.Health.Goroutines <= 0 {
			t.Errorf("seq %d: run %q, rss %d, goroutines %d", s.Seq, s.RunID, s.Health.RSSBytes, s.Health.Goroutines)
		}
		if s.Health.ActiveSessions != 1 {
			t.Errorf("seq %d: tool health not merged: %+v", s.Seq, s.Health)
		}
	}
	rep := summary.Report()
	if rep.Arrivals.Started != started || rep.Total.OK != ok || !rep.Final {
		t.Errorf("summary %+v disagrees with the snapshots (%d started)", rep, started)
	}
	lines := readJSONL(t, out)
	if len(lines) != len(sink.snaps) || !lines[len(lines)-1].Final {
		t.Errorf("file sink has %d lines, want %d ending with the final one", len(lines), len(sink.snaps))
	}
}

func readJSONL(t *testing.T, path string) []wire.Snapshot {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []wire.Snapshot
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var s wire.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunnerReportsReadyWithClockOffsetAndStartsOnTime(t *testing.T) {
	const skew = 3 * time.Second // the control plane's clock is ahead
	spec := wire.ShardSpec{RunID: "r2", Shard: 1, Shards: 2, Token: "tok"}
	control := runtimetest.NewControl(t, spec, skew)
	control.FailNext(7) // not reachable at first: the handshake is retried
	spec.ControlURL = control.URL
	tool := &runtimetest.Tool{Duration: 300 * time.Millisecond}
	sink := &collectSink{}
	r := newRunner(t, runtime.Config{Interval: 100 * time.Millisecond, PollInterval: 20 * time.Millisecond}, tool, sink)

	var wantStart time.Time
	go func() {
		for control.Ready() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		at := control.Now().Add(300 * time.Millisecond)
		wantStart = at.Add(-skew) // our clock
		control.Start(at)
	}()
	res, err := r.Run(context.Background(), &spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	ready := control.Ready()
	if ready.Tool != "fake" || ready.ToolVersion != "1" || ready.Shard != 1 {
		t.Errorf("ready = %+v", ready)
	}
	if d := (ready.ClockOffset - skew).Abs(); d > 20*time.Millisecond {
		t.Errorf("clock offset %v, want %v within 20ms", ready.ClockOffset, skew)
	}
	if d := res.Start.Sub(wantStart).Abs(); d > 20*time.Millisecond {
		t.Errorf("start instant off by %v", d)
	}
	if d := tool.Started().Sub(wantStart); d < 0 || d > 50*time.Millisecond {
		t.Errorf("tool ran %v after the start instant, want within [0, 50ms]", d)
	}
	checkSequence(t, sink.snaps, 1)
}

func TestRunnerAbortsOnControlPlaneAbortAndFlushes(t *testing.T) {
	spec := wire.ShardSpec{RunID: "r3", Shards: 1, Token: "tok"}
	control := runtimetest.NewControl(t, spec, 0)
	spec.ControlURL = control.URL
	control.Start(time.Now())
	const graceful = 300 * time.Millisecond
	tool := &runtimetest.Tool{Duration: time.Minute, GracefulStop: graceful}
	sink := &collectSink{}
	r := newRunner(t, runtime.Config{Interval: 100 * time.Millisecond, PollInterval: 20 * time.Millisecond}, tool, sink)
	time.AfterFunc(400*time.Millisecond, control.Abort)
	began := time.Now()
	res, err := r.Run(context.Background(), &spec)
	if !errors.Is(err, runtime.ErrAborted) || !res.Aborted {
		t.Fatalf("Run = %+v, %v; want aborted", res, err)
	}
	if took := time.Since(began); took > 400*time.Millisecond+graceful+300*time.Millisecond {
		t.Errorf("abort took %v", took)
	}
	if !tool.Cancelled() {
		t.Error("the tool's context was not cancelled")
	}
	checkSequence(t, sink.snaps, 1)
	last := sink.snaps[len(sink.snaps)-1]
	if last.Arrivals.Interrupted != 1 {
		t.Errorf("final snapshot lost what the tool measured during gracefulStop: %+v", last.Arrivals)
	}
	if started, _ := sumStarted(sink.snaps); started != tool.Sessions() {
		t.Errorf("snapshots carry %d sessions, the tool made %d", started, tool.Sessions())
	}
}

func TestRunnerCancelledBeforeStartClosesTheStream(t *testing.T) {
	tool := &runtimetest.Tool{Duration: time.Second}
	sink := &collectSink{}
	start := time.Now().Add(time.Hour)
	spec := &wire.ShardSpec{RunID: "r4", Shards: 1, StartAt: &start}
	r := newRunner(t, runtime.Config{}, tool, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := r.Run(ctx, spec)
	if !errors.Is(err, runtime.ErrAborted) {
		t.Fatalf("Run: %v, want ErrAborted", err)
	}
	if !tool.Started().IsZero() {
		t.Error("the tool ran although the shard was cancelled before its start")
	}
	if n := tool.Closes(); n != 1 {
		t.Errorf("tool closed %d times, want once: what Prepare holds must be released without a run", n)
	}
	if len(sink.snaps) != 1 || !sink.snaps[0].Final || sink.snaps[0].Seq != 1 {
		t.Errorf("want one empty final snapshot, got %+v", sink.snaps)
	}
}

func TestRunnerFailsLoudlyWhenTheSinkDropsSnapshots(t *testing.T) {
	tool := &runtimetest.Tool{Duration: 350 * time.Millisecond}
	sink := &collectSink{refuse: map[uint64]bool{2: true}}
	r := newRunner(t, runtime.Config{Interval: 100 * time.Millisecond}, tool, sink)
	res, err := r.Run(context.Background(), &wire.ShardSpec{RunID: "r5", Shards: 1})
	if !errors.Is(err, runtime.ErrSnapshotsLost) || res.Lost != 1 {
		t.Fatalf("Run = %+v, %v; want one lost snapshot and ErrSnapshotsLost", res, err)
	}
}
