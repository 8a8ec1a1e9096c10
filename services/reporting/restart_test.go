package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/metadata/store/sqlite"
	"github.com/loadfleet/loadfleet/services/reporting/merge/mergetest"
	"github.com/loadfleet/loadfleet/services/reporting/report"
	"github.com/loadfleet/loadfleet/services/reporting/series/embedded"
)

const restartPlan = `{"name":"restart","scenarios":[{"name":"s","steps":[{"request":{"name":"home","url":"/"}}]}],
"target":{"baseUrl":"http://127.0.0.1:1"},
"load":{"open":[{"constantUsersPerSec":{"rate":20,"during":"10s"}}]},
"criteria":[{"metric":"latency.p99","max":"2s"}]}`

// platform is what a reporting process keeps across its restarts: the
// metadata store and the series, both files.
type platform struct {
	store  store.Store
	series *embedded.Store
	logger *slog.Logger
}

func newPlatform(t *testing.T) platform {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	st, err := sqlite.New(filepath.Join(dir, "meta.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := embedded.New(filepath.Join(dir, "series.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(); _ = ss.Close() })
	return platform{store: st, series: ss, logger: logger}
}

// process is one life of the reporting service.
func (p platform) process(st store.Store) *Service {
	if st == nil {
		st = p.store
	}
	return New(Config{}, st, p.series, p.series, nil, p.logger, nil)
}

func (p platform) createRun(t *testing.T, id string, start time.Time) store.Run {
	t.Helper()
	run := store.Run{ID: id, Team: "t", Project: "p", State: store.Queued, Plan: json.RawMessage(restartPlan),
		Created: start.Add(-time.Minute), StartAt: &start,
		Shards: []store.Shard{{Index: 0, Location: "a", Attempt: 1, Ready: true}, {Index: 1, Location: "b", Attempt: 1, Ready: true}}}
	if err := p.store.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	return run
}

// snapshotsOf is a 10 s run of 2 shards, 10 requests a second each with
// latencies that differ by shard and second, so that a lost or doubled
// snapshot shows in the counts and percentiles.
func snapshotsOf(t *testing.T, runID string, start time.Time) []wire.Snapshot {
	return mergetest.Run(t, runID, start, 2, 10, func(shard, k int, s *mergetest.Shot) {
		s.Attempt = 1
		var ok []int64
		for i := range 10 {
			ok = append(ok, int64(1000*(1+shard)+100*k+i))
		}
		s.Requests = []mergetest.Req{{Name: "home", OK: ok}}
		s.Arrivals = wire.Arrivals{Planned: 10, Started: 10}
	})
}

func ingestAll(t *testing.T, s *Service, run store.Run, snaps []wire.Snapshot) {
	t.Helper()
	for _, snap := range snaps {
		acked, err := s.ingest(context.Background(), run, []wire.Snapshot{snap})
		if err != nil || len(acked) != 1 {
			t.Fatalf("ingest shard %d seq %d: acked %v, %v", snap.Shard, snap.Seq, acked, err)
		}
	}
}

// reportOf returns a run's stored report, and its JSON without what
// names the run (its series points carry the run ID too) or when it was
// written, for comparing runs.
func reportOf(t *testing.T, st store.Store, runID string) (report.Document, string) {
	t.Helper()
	raw, err := st.Report(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	var doc report.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	anon := doc
	anon.RunID, anon.CreatedAt, anon.EndedAt, anon.DurationSeconds = "", time.Time{}, time.Time{}, 0
	out, err := json.Marshal(anon)
	if err != nil {
		t.Fatal(err)
	}
	return doc, strings.ReplaceAll(string(out), runID, "")
}

// A reporting process that dies mid-run loses nothing it acknowledged: the
// next one merges the kept snapshots again and writes the same report as
// a process that lived through the run.
func TestARestartedReportingProcessWritesTheSameReport(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)

	whole := p.createRun(t, "r-whole", start)
	once := p.process(nil)
	ingestAll(t, once, whole, snapshotsOf(t, whole.ID, start))
	if _, err := once.Finish(ctx, whole.ID); err != nil {
		t.Fatal(err)
	}

	restarted := p.createRun(t, "r-restarted", start)
	snaps := snapshotsOf(t, restarted.ID, start)
	first := p.process(nil)
	ingestAll(t, first, restarted, snaps[:9])
	first.tick(ctx, time.Now())
	// The first process is gone; a second one takes the rest, including a
	// resend of what the first acknowledged last.
	second := p.process(nil)
	ingestAll(t, second, restarted, snaps[8:])
	if _, err := second.Finish(ctx, restarted.ID); err != nil {
		t.Fatal(err)
	}

	_, want := reportOf(t, p.store, whole.ID)
	doc, got := reportOf(t, p.store, restarted.ID)
	if got != want {
		t.Fatalf("report after a restart differs from the report of one process:\n got %s\nwant %s", got, want)
	}
	if doc.Total.Count != 200 {
		t.Fatalf("the report counts %d requests, want 200 (2 shards, 10 s, 10/s)", doc.Total.Count)
	}
	if kept, err := p.store.Snapshots(ctx, restarted.ID); err != nil || len(kept) != 0 {
		t.Fatalf("%d snapshots still kept after the report (%v), want none", len(kept), err)
	}
}

// failingKeeps refuses to keep snapshots, as a store that is down would.
type failingKeeps struct{ store.Store }

func (failingKeeps) PutSnapshots(context.Context, string, ...store.Snapshot) error {
	return errors.New("the store is down")
}

// A snapshot that could not be kept is not acknowledged, so its executor
// sends it again; that resend is kept although the merge already has it.
func TestASnapshotThatCouldNotBeKeptIsNotAcknowledged(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := p.createRun(t, "r-down", start)
	snaps := snapshotsOf(t, run.ID, start)

	s := p.process(failingKeeps{p.store})
	acked, err := s.ingest(ctx, run, snaps[:1])
	if err == nil || len(acked) != 0 {
		t.Fatalf("ingest while the store is down: acked %v, error %v; want no ack and an error", acked, err)
	}
	s.store = p.store
	ingestAll(t, s, run, snaps[:1])
	kept, err := p.store.Snapshots(ctx, run.ID)
	if err != nil || len(kept) != 1 || kept[0].Seq != snaps[0].Seq || kept[0].Shard != snaps[0].Shard {
		t.Fatalf("kept %+v (%v), want the resent snapshot", kept, err)
	}
}
