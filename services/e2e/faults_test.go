package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// An abort stops every executor within 5 s and the run ends aborted.
func TestAbortStopsEverythingWithinFiveSeconds(t *testing.T) {
	srv, _ := target(t)
	data := t.TempDir()
	base := startPlatform(t, app.TargetAll, platformConfig(t, data))
	api := client(base)
	run, err := api.StartRun(context.Background(), metadata.StartRequest{
		Plan: json.RawMessage(constantPlan(srv.URL, 20, 60, 2, ""))})
	if err != nil {
		t.Fatal(err)
	}
	waitForState(t, api, run.ID, 30*time.Second, store.Running)
	time.Sleep(1500 * time.Millisecond) // some load first
	pids := []int{
		executorPID(t, filepath.Join(data, "executors", "local"), run.ID, 0, 0),
		executorPID(t, filepath.Join(data, "executors", "local"), run.ID, 1, 0),
	}
	aborted := time.Now()
	if _, err := api.AbortRun(context.Background(), run.ID, "stop it"); err != nil {
		t.Fatal(err)
	}
	// The processes themselves, not the job list: the end-of-run cleanup
	// removes job records, and an empty list proves nothing.
	for alive := len(pids); alive > 0; {
		alive = 0
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				alive++
			}
		}
		if alive > 0 && time.Since(aborted) > 5*time.Second {
			t.Fatalf("%d of %d executor processes still alive 5 s after the abort", alive, len(pids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("every executor stopped %v after the abort", time.Since(aborted).Round(time.Millisecond))
	run = waitForState(t, api, run.ID, 30*time.Second, store.Aborted)
	if doc := reportOf(t, api, run.ID); doc.Verdict != report.Aborted || doc.Total.Count == 0 {
		t.Fatalf("report verdict %s with %d requests; want aborted with what was measured", doc.Verdict, doc.Total.Count)
	}
}

// kill -9 of an executor mid-run: the worker starts it again for the rest
// of its schedule, records the degraded interval, and the run's arrivals
// stay within 2% of the plan.
func TestKilledExecutorIsRestarted(t *testing.T) {
	srv, _ := target(t)
	data := t.TempDir()
	base := startPlatform(t, app.TargetAll, platformConfig(t, data))
	api := client(base)
	run, err := api.StartRun(context.Background(), metadata.StartRequest{
		Plan: json.RawMessage(constantPlan(srv.URL, 100, 20, 4, ""))})
	if err != nil {
		t.Fatal(err)
	}
	waitForState(t, api, run.ID, 30*time.Second, store.Running)
	time.Sleep(4 * time.Second)
	pid := executorPID(t, filepath.Join(data, "executors", "local"), run.ID, 2, 0)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	run = waitForState(t, api, run.ID, 60*time.Second, store.Passed)
	sh := run.Shards[2]
	if sh.Attempt != 1 || len(sh.Restarts) != 1 || sh.Restarts[0].End == nil || len(run.Degraded) != 1 || run.Degraded[0].End == nil {
		t.Fatalf("shard 2 %+v, degraded %+v: want one restart, its interval closed", sh, run.Degraded)
	}
	for i, other := range run.Shards {
		if i != 2 && other.Attempt != 0 {
			t.Errorf("shard %d restarted too: %+v", i, other)
		}
	}
	doc := reportOf(t, api, run.ID)
	planned, started := doc.Arrivals.Planned, doc.Arrivals.Started
	if planned != 2000 || float64(started) < 0.98*float64(planned) || started > planned {
		t.Fatalf("started %d of %d planned arrivals; want within 2%%", started, planned)
	}
	t.Logf("started %d of %d arrivals (%.2f%%); degraded for %v", started, planned,
		100*float64(started)/float64(planned), run.Degraded[0].End.Sub(run.Degraded[0].Start).Round(time.Millisecond))
	if len(doc.Executors[2].Restarts) != 1 || len(doc.Degraded) != 1 {
		t.Fatalf("the report does not show the restart: %+v %+v", doc.Executors[2], doc.Degraded)
	}
}

// executorPID reads the pid the local backend recorded for a shard attempt,
// in the attempt's own directory.
func executorPID(t *testing.T, dir, runID string, shard, attempt int) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, runID, itoa(shard), itoa(attempt), "executor.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.PID <= 0 {
		t.Fatalf("pid file %s: %v", data, err)
	}
	return rec.PID
}

// An abortOnFail criterion that fails live stops the run long before its
// schedule ends, and the run fails with that criterion as the reason.
func TestAbortOnFailStopsTheRun(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	base := startPlatform(t, app.TargetAll, platformConfig(t, t.TempDir()))
	api := client(base)
	started := time.Now()
	run, err := api.StartRun(context.Background(), metadata.StartRequest{Plan: json.RawMessage(
		constantPlan(failing.URL, 30, 120, 2, `{"metric": "errors.rate", "max": 0.05, "abortOnFail": true}`))})
	if err != nil {
		t.Fatal(err)
	}
	run = waitForState(t, api, run.ID, 60*time.Second, store.Failed)
	if took := time.Since(started); took > 45*time.Second {
		t.Fatalf("the run took %v; an abortOnFail criterion should stop a 120 s run within seconds of its minimum sample", took)
	}
	doc := reportOf(t, api, run.ID)
	if doc.Verdict != report.Failed || doc.Criteria[0].Passed || !strings.Contains(run.Reason, "abortOnFail") {
		t.Fatalf("verdict %s, criteria %+v, reason %q", doc.Verdict, doc.Criteria, run.Reason)
	}
	t.Logf("stopped after %v: %s", time.Since(started).Round(time.Second), run.Reason)
}
