package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// countingTarget is a loopback HTTP target counting the requests it got;
// each waits hold (or until the client goes away).
func countingTarget(t *testing.T, hold time.Duration) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func openPlanJSON(baseURL, load string) string {
	return fmt.Sprintf(`{
  "name": "e2e",
  "target": {"baseUrl": %q},
  "scenarios": [{"name": "visit", "steps": [{"request": {"name": "home", "url": "/"}}]}],
  "load": %s
}`, baseURL, load)
}

func plannedTotal(t *testing.T, planFile string, seed uint64) int64 {
	t.Helper()
	p, err := readPlan(planFile)
	if err != nil {
		t.Fatal(err)
	}
	return schedule.NewOpen(schedule.ExpandOpen(p.Load), p.Load.MaxDuration.D(), seed).Total()
}

// Standalone runs whose arrival counts match the plan exactly.
func TestStandaloneRunArrivalsMatchThePlanExactly(t *testing.T) {
	srv, served := countingTarget(t, 0)
	planFile := writeFile(t, "plan.json", openPlanJSON(srv.URL,
		`{"open": [{"constantUsersPerSec": {"rate": 40, "during": "2s"}}, {"atOnceUsers": {"users": 7}}], "gracefulStop": "5s"}`))
	want := plannedTotal(t, planFile, 1)
	if want != 87 {
		t.Fatalf("the schedule plans %d arrivals, want 80 + 7", want)
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), []string{"run", planFile, "--output", "json", "--out", out}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var rep runtime.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	a := rep.Arrivals
	if a.Planned != want || a.Started != want || a.Dropped != 0 || a.Interrupted != 0 {
		t.Errorf("arrivals %+v, want %d planned and started", a, want)
	}
	if got := served.Load(); got != want {
		t.Errorf("the target served %d requests, want %d", got, want)
	}
	if rep.Total.Count != want || rep.Total.OK != want || len(rep.Requests) != 1 || rep.Requests[0].Name != "home" {
		t.Errorf("total %+v, requests %+v", rep.Total, rep.Requests)
	}
	if rep.Total.P99Ms <= 0 || rep.Total.ServiceP99Ms <= 0 || rep.DurationSeconds < 1.9 || rep.DurationSeconds > 4 {
		t.Errorf("implausible figures: p99 %v ms, service p99 %v ms, duration %v s", rep.Total.P99Ms, rep.Total.ServiceP99Ms, rep.DurationSeconds)
	}
	// A second's snapshot, then the final one: a third appears only when
	// the last arrivals (at 2 s) finish after the 2 s tick, which is a race.
	snaps := readSnapshots(t, out)
	var started int64
	for _, s := range snaps {
		started += s.Arrivals.Started
	}
	if len(snaps) < 2 || !snaps[len(snaps)-1].Final || started != want {
		t.Errorf("%d snapshots in --out with %d arrivals started, want at least 2 ending with the final one, %d started", len(snaps), started, want)
	}
	t.Logf("planned %d, started %d, served %d, p99 %.2f ms, duration %.2f s, %d snapshots",
		a.Planned, a.Started, served.Load(), rep.Total.P99Ms, rep.DurationSeconds, len(snaps))
}

func TestStandaloneTextSummary(t *testing.T) {
	srv, _ := countingTarget(t, 0)
	planFile := writeFile(t, "plan.json", openPlanJSON(srv.URL, `{"open": [{"atOnceUsers": {"users": 5}}]}`))
	var stdout, stderr bytes.Buffer
	if code := Execute(context.Background(), []string{"run", planFile}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"TOTAL", "home", "p99", "arrivals: planned 5, started 5, dropped 0, interrupted 0"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
}

func readSnapshots(t *testing.T, path string) []wire.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.Snapshot
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var s wire.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %d of %s: %v", len(out)+1, path, err)
		}
		out = append(out, s)
	}
	return out
}

// buildBinary builds loadfleet-executor (a main calling this package) into
// a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loadfleet-executor")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/loadfleet-executor")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// SIGTERM stops a run cleanly: sessions in flight get gracefulStop, then
// everything measured is flushed, the final snapshot included.
func TestSIGTERMStopsCleanlyWithinGracefulStop(t *testing.T) {
	bin := buildBinary(t)
	const gracefulStop = time.Second
	srv, _ := countingTarget(t, 3*time.Second) // sessions are in flight when the signal comes
	planFile := writeFile(t, "plan.json", openPlanJSON(srv.URL,
		`{"open": [{"constantUsersPerSec": {"rate": 20, "during": "60s"}}], "gracefulStop": "1s"}`))
	out := filepath.Join(t.TempDir(), "results.jsonl")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "run", planFile, "--out", out, "--output", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	const margin = 1500 * time.Millisecond
	select {
	case err := <-exited:
		took := time.Since(signalled)
		t.Logf("exited %v after SIGTERM (%v); stderr:\n%s", took, err, stderr.String())
		if cmd.ProcessState.ExitCode() != exitError {
			t.Errorf("exit code %d, want %d: an aborted run did not complete", cmd.ProcessState.ExitCode(), exitError)
		}
	case <-time.After(gracefulStop + margin):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("still running %v after SIGTERM", gracefulStop+margin)
	}
	snaps := readSnapshots(t, out)
	if len(snaps) == 0 || !snaps[len(snaps)-1].Final {
		t.Fatalf("--out has %d snapshots and no final one", len(snaps))
	}
	var started, interrupted int64
	for i, s := range snaps {
		if s.Seq != uint64(i+1) {
			t.Errorf("line %d has seq %d", i+1, s.Seq)
		}
		started += s.Arrivals.Started
		interrupted += s.Arrivals.Interrupted
	}
	if started < 15 || interrupted == 0 {
		t.Errorf("started %d, interrupted %d: want the sessions of the first second, those in flight interrupted", started, interrupted)
	}
	var rep runtime.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Arrivals.Started != started {
		t.Errorf("summary after SIGTERM: %v; %s", err, stdout.String())
	}
}
