package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/executors/runtime/runtimetest"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

const token = "shard-token"

// recorder is a slog handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) errors(containing string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Level == slog.LevelError && strings.Contains(rec.Message, containing) {
			n++
		}
	}
	return n
}

func newHTTPSink(t *testing.T, in *runtimetest.Ingest, dir string, maxBytes int64, key wire.ShardID, logger *slog.Logger, reg prometheus.Registerer) *runtime.HTTPSink {
	t.Helper()
	s, err := runtime.NewHTTPSink(runtime.HTTPSinkConfig{
		URL: in.URL(), Token: token, SpoolDir: dir, MaxSpoolBytes: maxBytes, MaxBatch: 4,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, RequestTimeout: time.Second,
	}, key, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkStoredOnce asserts the ingest stored seq 1..n of the attempt, each
// once, the last one final, and returns them.
func checkStoredOnce(t *testing.T, in *runtimetest.Ingest, runID string, n uint64) []wire.Snapshot {
	t.Helper()
	stored := in.Stored(runID, 0, 0)
	if uint64(len(stored)) != n {
		t.Fatalf("ingest stored %d snapshots, want %d", len(stored), n)
	}
	for i, s := range stored {
		if s.Seq != uint64(i+1) {
			t.Fatalf("stored seqs have a gap: position %d holds seq %d", i, s.Seq)
		}
	}
	if !stored[n-1].Final {
		t.Error("the final snapshot is missing its flag")
	}
	return stored
}

// The ingest is down for 5 s and then back: every snapshot arrives exactly
// once.
func TestIngestDownFiveSecondsThenBackEverySnapshotStoredOnce(t *testing.T) {
	in := runtimetest.NewIngest(t, token)
	tool := &runtimetest.Tool{Duration: 7500 * time.Millisecond}
	key := wire.ShardID{RunID: "down"}
	sink := newHTTPSink(t, in, t.TempDir(), 0, key, discardLogger(), nil)
	r := newRunner(t, runtime.Config{Interval: 250 * time.Millisecond, FlushTimeout: 5 * time.Second}, tool, sink)

	var outage sync.WaitGroup
	outage.Go(func() {
		time.Sleep(1500 * time.Millisecond)
		in.Down() // connections refused from here
		time.Sleep(5 * time.Second)
		in.LoseAcks(2) // the first two batches after the outage are stored but not acknowledged
		in.Up()
	})
	res, err := r.Run(context.Background(), &wire.ShardSpec{RunID: key.RunID, Shards: 1})
	outage.Wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	stored := checkStoredOnce(t, in, key.RunID, res.Snapshots)
	if res.Snapshots < 30 {
		t.Errorf("only %d snapshots in 7.5 s at 250 ms", res.Snapshots)
	}
	dups := 0
	for k, n := range in.Received() {
		if n > 1 {
			dups++
		}
		if n > 3 { // the batch whose ack was lost twice arrives three times
			t.Errorf("seq %d received %d times", k.Seq, n)
		}
	}
	if dups == 0 {
		t.Error("no snapshot was received twice: the lost acknowledgements were not retried")
	}
	if started, _ := sumStarted(stored); started != tool.Sessions() {
		t.Errorf("ingest holds %d sessions, the tool made %d", started, tool.Sessions())
	}
	if sink.Pending() != 0 {
		t.Errorf("%d snapshots still spooled", sink.Pending())
	}
	t.Logf("%d snapshots, %d received twice, %d ingest requests", res.Snapshots, dups, in.Requests())
}

func snapshot(runID string, seq uint64, final bool) wire.Snapshot {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // fixed, so every snapshot has the same size
	return wire.Snapshot{RunID: runID, Seq: seq, Start: now, End: now, Final: final,
		Requests: []wire.RequestStats{{Name: "r", OK: 1, Latency: []byte(strings.Repeat("x", 200))}}}
}

func TestSpoolFullDropsNewSnapshotsLoudly(t *testing.T) {
	in := runtimetest.NewIngest(t, token)
	in.Down()
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	key := wire.ShardID{RunID: "full"}
	size, err := json.Marshal(snapshot(key.RunID, 1, false))
	if err != nil {
		t.Fatal(err)
	}
	// Room for three and a half snapshots.
	sink := newHTTPSink(t, in, t.TempDir(), int64(len(size)*7/2), key, slog.New(rec), reg)
	var dropped []uint64
	for seq := uint64(1); seq <= 10; seq++ {
		if err := sink.Send(context.Background(), snapshot(key.RunID, seq, seq == 10)); err != nil {
			if !errors.Is(err, runtime.ErrSpoolFull) {
				t.Fatalf("seq %d: %v", seq, err)
			}
			dropped = append(dropped, seq)
		}
	}
	if len(dropped) != 6 || dropped[0] != 4 || dropped[5] != 9 {
		t.Errorf("dropped %v, want 4..9 (the oldest kept, the final one kept)", dropped)
	}
	if n := rec.errors("SPOOL FULL"); n != 1 {
		t.Errorf("%d error records about the full spool, want exactly 1", n)
	}
	if got := sink.Dropped(); got != 6 {
		t.Errorf("Dropped() = %d", got)
	}
	want := `
# HELP loadfleet_executor_snapshots_dropped_total Snapshots dropped because the spool was full.
# TYPE loadfleet_executor_snapshots_dropped_total counter
loadfleet_executor_snapshots_dropped_total 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "loadfleet_executor_snapshots_dropped_total"); err != nil {
		t.Error(err)
	}
	in.Up()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = sink.Close(ctx)
	if !errors.Is(err, runtime.ErrSpoolFull) {
		t.Errorf("Close = %v, want ErrSpoolFull: dropped snapshots must fail the run", err)
	}
	var seqs []uint64
	for _, s := range in.Stored(key.RunID, 0, 0) {
		seqs = append(seqs, s.Seq)
	}
	if len(seqs) != 4 || seqs[3] != 10 {
		t.Errorf("stored %v, want 1 2 3 10", seqs)
	}
}

// An executor restarted for the same shard attempt sends what the previous
// one spooled, and continues the sequence instead of reusing numbers.
func TestRestartedExecutorReloadsTheSpool(t *testing.T) {
	in := runtimetest.NewIngest(t, token)
	in.Down()
	dir := t.TempDir()
	key := wire.ShardID{RunID: "restart"}
	first := newHTTPSink(t, in, dir, 0, key, discardLogger(), nil)
	for seq := uint64(1); seq <= 5; seq++ {
		if err := first.Send(context.Background(), snapshot(key.RunID, seq, false)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := first.Close(ctx); !errors.Is(err, runtime.ErrUndelivered) {
		t.Fatalf("Close with the ingest down = %v, want ErrUndelivered", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "restart", "0", "0", "*.json"))
	if len(files) != 5 {
		t.Fatalf("%d spool files after the first executor, want 5", len(files))
	}

	in.Up()
	second := newHTTPSink(t, in, dir, 0, key, discardLogger(), nil)
	if second.LastSeq() != 5 {
		t.Fatalf("LastSeq() = %d after reload, want 5", second.LastSeq())
	}
	tool := &runtimetest.Tool{Duration: 250 * time.Millisecond}
	r := newRunner(t, runtime.Config{Interval: 100 * time.Millisecond}, tool, second)
	res, err := r.Run(context.Background(), &wire.ShardSpec{RunID: key.RunID, Shards: 1})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	stored := checkStoredOnce(t, in, key.RunID, 5+res.Snapshots)
	if stored[5].Arrivals.Started == 0 && stored[5].Requests == nil {
		t.Error("seq 6 should be the restarted executor's first snapshot")
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "restart", "0", "0")); len(left) != 1 { // lastseq only
		t.Errorf("spool not emptied: %d entries", len(left))
	}
}

func TestHTTPSinkRetriesA503(t *testing.T) {
	in := runtimetest.NewIngest(t, token)
	in.Refuse(3)
	sink := newHTTPSink(t, in, t.TempDir(), 0, wire.ShardID{RunID: "503"}, discardLogger(), nil)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := sink.Send(context.Background(), snapshot("503", seq, seq == 3)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sink.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkStoredOnce(t, in, "503", 3)
	if in.Requests() < 4 {
		t.Errorf("%d requests: the three 503 answers were not retried", in.Requests())
	}
}
