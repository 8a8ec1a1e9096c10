package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/series"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sampleRun is 5 seconds of run r1 with two request names, the aggregate,
// two executors, and a point of another run that no query of r1 may see.
func sampleRun() series.Batch {
	var b series.Batch
	for s := range 5 {
		for _, req := range []string{"login", series.AllRequests, "search"} {
			p := series.Point{
				RunID: "r1", Time: at(s), Request: req,
				Count: int64(10 + s), OK: int64(9 + s), KO: 1, KOByReason: map[string]int64{"status_5xx": 1},
				RPS: float64(10 + s), P50Ms: 1.5, P90Ms: 2.5, P95Ms: 3.5, P99Ms: 4.5, MaxMs: 9.25, MeanMs: 2,
			}
			if req == series.AllRequests {
				p.ActiveUsers, p.PlannedArrivals, p.StartedArrivals, p.Dropped = 7, 5, 4, 1
				p.BytesSent, p.BytesReceived = 1000, 20000
			}
			b.Points = append(b.Points, p)
		}
		for shard := range 2 {
			b.Executors = append(b.Executors, series.ExecutorPoint{
				RunID: "r1", Time: at(s), Shard: 1 - shard, Location: fmt.Sprintf("eu-%d", shard),
				CPUPercent: 12.5, RSSBytes: 1 << 20, Goroutines: 30, OpenConnections: 8,
				ActiveSessions: 3, ScheduleLagP99Ms: 0.75, DroppedArrivals: int64(shard),
			})
		}
	}
	b.Points = append(b.Points, series.Point{RunID: "r2", Time: at(2), Request: "login", Count: 99})
	return b
}

func TestRoundTripKeepsEveryField(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "series.db"))
	ctx := context.Background()
	in := sampleRun()
	if err := s.Write(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Points(ctx, series.Query{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 15 {
		t.Fatalf("got %d points, want 15 (5 s x 3 requests, none of r2)", len(got))
	}
	// Written login, "", search: read back by time then request name.
	if got[0].Request != series.AllRequests || got[1].Request != "login" || got[2].Request != "search" {
		t.Errorf("order within a second: %q %q %q", got[0].Request, got[1].Request, got[2].Request)
	}
	if want := in.Points[1]; !reflect.DeepEqual(got[0], want) { // second 0, AllRequests
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
	execs, err := s.ExecutorPoints(ctx, series.Query{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(execs) != 10 || execs[0].Shard != 0 || execs[1].Shard != 1 {
		t.Fatalf("executor points: %d, first shards %v", len(execs), execs[:2])
	}
	if !reflect.DeepEqual(execs[0], in.Executors[1]) {
		t.Errorf("executor round trip:\n got %+v\nwant %+v", execs[0], in.Executors[1])
	}
}

func TestQuerySelects(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "series.db"))
	ctx := context.Background()
	if err := s.Write(ctx, sampleRun()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		why       string
		q         series.Query
		wantTimes []int // seconds, one per returned point
		wantReqs  []string
	}{
		{"one request name selects only it", series.Query{RunID: "r1", Requests: []string{"search"}},
			[]int{0, 1, 2, 3, 4}, []string{"search"}},
		{"AllRequests is selectable by its empty name", series.Query{RunID: "r1", Requests: []string{series.AllRequests}},
			[]int{0, 1, 2, 3, 4}, []string{""}},
		{"From is inclusive, To exclusive", series.Query{RunID: "r1", Requests: []string{"login"}, From: at(1), To: at(3)},
			[]int{1, 2}, []string{"login"}},
		{"a fractional From starts at the next whole second", series.Query{RunID: "r1", Requests: []string{"login"}, From: at(1).Add(time.Millisecond)},
			[]int{2, 3, 4}, []string{"login"}},
		{"a fractional To keeps the second it falls into", series.Query{RunID: "r1", Requests: []string{"login"}, To: at(1).Add(time.Millisecond)},
			[]int{0, 1}, []string{"login"}},
		{"an unknown run has no points", series.Query{RunID: "nope"}, nil, nil},
		{"an unknown request name has no points", series.Query{RunID: "r1", Requests: []string{"nope"}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := s.Points(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var times []int
			reqs := map[string]bool{}
			for _, p := range got {
				times = append(times, int(p.Time.Sub(t0)/time.Second))
				reqs[p.Request] = true
			}
			if !reflect.DeepEqual(times, tt.wantTimes) {
				t.Errorf("times %v, want %v", times, tt.wantTimes)
			}
			if len(reqs) != len(tt.wantReqs) {
				t.Errorf("requests %v, want %v", reqs, tt.wantReqs)
			}
			for _, r := range tt.wantReqs {
				if !reqs[r] {
					t.Errorf("request %q missing from %v", r, reqs)
				}
			}
		})
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "series.db") // the directory is created
	s, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Write(ctx, sampleRun()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Points(ctx, series.Query{RunID: "r1"}); !errors.Is(err, ErrClosed) {
		t.Errorf("query after Close: %v, want ErrClosed", err)
	}
	got, err := open(t, path).Points(ctx, series.Query{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 15 {
		t.Fatalf("after reopening: %d points, want 15", len(got))
	}
}

func TestNonFiniteValuesAreStoredAsZero(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "series.db"))
	ctx := context.Background()
	p := series.Point{RunID: "r", Time: at(0), MeanMs: math.NaN(), MaxMs: math.Inf(1)}
	if err := s.Write(ctx, series.Batch{Points: []series.Point{p}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Points(ctx, series.Query{RunID: "r"})
	if err != nil || len(got) != 1 || got[0].MeanMs != 0 || got[0].MaxMs != 0 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// Merge ticks of several runs write at once while the live view reads.
func TestConcurrentWritersAndReaders(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "series.db"))
	ctx := context.Background()
	const writers, seconds = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for sec := range seconds {
				p := series.Point{RunID: fmt.Sprint("run", w), Time: at(sec), Count: int64(sec)}
				if err := s.Write(ctx, series.Batch{Points: []series.Point{p}}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range seconds {
				if _, err := s.Points(ctx, series.Query{RunID: fmt.Sprint("run", w)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := range writers {
		got, err := s.Points(ctx, series.Query{RunID: fmt.Sprint("run", w)})
		if err != nil || len(got) != seconds {
			t.Fatalf("run%d: %d points, %v; want %d", w, len(got), err, seconds)
		}
	}
}

func TestRefusesThePreReleaseLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "series.db")
	s := open(t, path)
	for _, stmt := range []string{`DROP TABLE points`, `CREATE TABLE points (run_id TEXT, t INTEGER, request TEXT, doc TEXT)`, `PRAGMA user_version = 0`} {
		if _, err := s.db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if _, err := New(path, nil); err == nil || !strings.Contains(err.Error(), "pre-release layout") {
		t.Fatalf("New on the pre-release layout: %v", err)
	}
}
