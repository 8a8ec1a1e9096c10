package embedded_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/series"
	"github.com/loadfleet/loadfleet/services/reporting/series/embedded"
)

func TestWriteAndQuery(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.New(filepath.Join(t.TempDir(), "series.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var b series.Batch
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		for _, req := range []string{"", "home", "cart"} {
			b.Points = append(b.Points, series.Point{RunID: "r-1", Time: at, Request: req, Count: int64(i + 1),
				KOByReason: map[string]int64{"timeout": 1}})
		}
		b.Executors = append(b.Executors, series.ExecutorPoint{RunID: "r-1", Time: at, Shard: 1, CPUPercent: 50},
			series.ExecutorPoint{RunID: "r-1", Time: at, Shard: 0, CPUPercent: 40})
		b.Points = append(b.Points, series.Point{RunID: "r-other", Time: at})
	}
	if err := st.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	// A replayed point replaces, never duplicates.
	if err := st.Write(ctx, series.Batch{Points: []series.Point{{RunID: "r-1", Time: t0, Request: "home", Count: 9}}}); err != nil {
		t.Fatal(err)
	}
	all, err := st.Points(ctx, series.Query{RunID: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 9 || all[0].Request != "" || all[1].Request != "cart" || all[2].Count != 9 || all[0].KOByReason["timeout"] != 1 {
		t.Fatalf("points = %+v, want 9 ordered by time then request, the replay applied", all)
	}
	some, err := st.Points(ctx, series.Query{RunID: "r-1", Requests: []string{"home"}, From: t0.Add(time.Second), To: t0.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != 1 || some[0].Count != 2 {
		t.Fatalf("filtered = %+v, want home at second 1 only", some)
	}
	execs, err := st.ExecutorPoints(ctx, series.Query{RunID: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(execs) != 6 || execs[0].Shard != 0 || execs[1].Shard != 1 {
		t.Fatalf("executor points = %+v", execs)
	}
}
