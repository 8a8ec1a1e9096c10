// Package backendtest is the contract every backend.Backend passes: real
// executors run a small native plan against a loopback target and report to
// a loopback ingest, so the suite checks that the arrivals actually ran, not
// only what the backend says.
package backendtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime/runtimetest"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

// Factory returns a backend instance. The suite calls it again to play a
// restart of the job service: a new instance must find what earlier ones
// started. Its Stop grace must be at least StopGrace.
type Factory func(t *testing.T) backend.Backend

// SpecFunc adapts the suite's spec to the backend (a plan directory, ...);
// nil keeps it as is.
type SpecFunc func(t *testing.T, spec wire.ShardSpec) wire.ShardSpec

// Figures of the suite's plans.
const (
	// Rate is the arrivals per second of every plan.
	Rate = 20
	// ShortRun is the duration of the plans run to their end.
	ShortRun = 2 * time.Second
	// Planned is the arrivals of a short plan, all shards together.
	Planned = Rate * int64(ShortRun/time.Second)
	// StopGrace is the least grace the factory's backends must give Stop.
	StopGrace = 15 * time.Second
	// longRun is the duration of the plans that are stopped mid-run.
	longRun = 60 * time.Second
	// gracefulStop is the plans' own gracefulStop.
	gracefulStop = time.Second
	// Executors take this long at most to start and report (container
	// creation included, on a busy machine).
	startTimeout = 60 * time.Second
	token        = "backendtest-token"
)

// Run runs the contract against the backends newBackend returns. Every
// executor it starts belongs to a run whose ID starts with runPrefix, so a
// backend test can find (and clean up) what a failed run left.
func Run(t *testing.T, runPrefix string, newBackend Factory, specFor SpecFunc) {
	h := newHarness(t, runPrefix, specFor)
	t.Run("StartRunsTheShardToItsEnd", func(t *testing.T) { testStartRunsToTheEnd(t, h, newBackend(t)) })
	t.Run("StartIsIdempotent", func(t *testing.T) { testStartIsIdempotent(t, h, newBackend) })
	t.Run("UnknownExecutorIsMissing", func(t *testing.T) { testUnknownIsMissing(t, h, newBackend(t)) })
	t.Run("StopEndsItCleanly", func(t *testing.T) { testStopEndsItCleanly(t, h, newBackend(t)) })
	t.Run("RestartedBackendFindsItsExecutors", func(t *testing.T) { testRestartFindsExecutors(t, h, newBackend) })
}

// harness is the loopback target and ingest every executor uses.
type harness struct {
	prefix  string
	specFor SpecFunc
	target  *httptest.Server
	ingest  *runtimetest.Ingest

	mu     sync.Mutex
	served map[string]int64 // requests by path: one path per run
}

func newHarness(t *testing.T, prefix string, specFor SpecFunc) *harness {
	h := &harness{prefix: prefix, specFor: specFor, served: map[string]int64{}}
	h.target = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.served[r.URL.Path]++
		h.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(h.target.Close)
	h.ingest = runtimetest.NewIngest(t, token)
	return h
}

// runID is a run of this suite, unique per process so that leftovers of
// an earlier test process never answer for this one.
func (h *harness) runID(name string) string {
	return fmt.Sprintf("%s-%s-%d", h.prefix, name, time.Now().UnixNano()%1_000_000_000)
}

// servedFor is what the target served for a run (its requests go to
// /RUNID).
func (h *harness) servedFor(runID string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.served["/"+runID]
}

// spec is shard of shards of run, with arrivals at Rate for during.
func (h *harness) spec(t *testing.T, id wire.ShardID, shards int, during time.Duration) wire.ShardSpec {
	t.Helper()
	p, err := plan.Parse([]byte(fmt.Sprintf(`{
  "name": "backendtest",
  "target": {"baseUrl": %q},
  "scenarios": [{"name": "visit", "steps": [{"request": {"name": "home", "url": "/%s"}}]}],
  "load": {"open": [{"constantUsersPerSec": {"rate": %d, "during": "%s"}}], "gracefulStop": "%s"}
}`, h.target.URL, id.RunID, Rate, during, gracefulStop)))
	if err != nil {
		t.Fatalf("the suite's plan: %v", err)
	}
	spec := wire.ShardSpec{
		RunID: id.RunID, Shard: id.Shard, Shards: shards, Attempt: id.Attempt, Seed: 1,
		Plan: *p, Token: token, IngestURL: h.ingest.URL(), Location: "backendtest",
	}
	if h.specFor != nil {
		spec = h.specFor(t, spec)
	}
	return spec
}

// report sums what the ingest stored for one executor.
type report struct {
	snapshots int
	final     bool
	started   int64
}

func (h *harness) report(id wire.ShardID) report {
	var r report
	for _, s := range h.ingest.Stored(id.RunID, id.Shard, id.Attempt) {
		r.snapshots++
		r.final = r.final || s.Final
		r.started += s.Arrivals.Started
	}
	return r
}

func testStartRunsToTheEnd(t *testing.T, h *harness, b backend.Backend) {
	ctx := context.Background()
	id := wire.ShardID{RunID: h.runID("end"), Shard: 0, Attempt: 0}
	t.Cleanup(func() { removeAll(t, b, id) })
	if err := b.Start(ctx, id, h.spec(t, id, 1, ShortRun)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := status(t, b, id)
	if st.Phase != backend.Pending && st.Phase != backend.Running && st.Phase != backend.Exited {
		t.Fatalf("just after Start: %+v, want pending, running or exited", st)
	}
	st = waitForPhase(t, b, id, backend.Exited, startTimeout+ShortRun)
	if st.ExitCode != 0 {
		t.Errorf("exited %+v, want exit code 0\nlogs:\n%s", st, logs(t, b, id))
	}
	r := h.report(id)
	if !r.final || r.started != Planned || h.servedFor(id.RunID) != Planned {
		t.Errorf("ingest %+v, target served %d; want the %d planned arrivals started and served, and a final snapshot",
			r, h.servedFor(id.RunID), Planned)
	}
	if out := logs(t, b, id); strings.TrimSpace(out) == "" {
		t.Error("Logs are empty: the executor logs at least how its shard ended")
	}
	if err := b.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if st := status(t, b, id); st.Phase != backend.Missing {
		t.Errorf("after Remove: %+v, want missing", st)
	}
	if rc, err := b.Logs(ctx, id); !errors.Is(err, backend.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Logs after Remove: %v, want ErrNotFound", err)
	}
	if err := b.Remove(ctx, id); err != nil {
		t.Errorf("a second Remove: %v, want nil (idempotent)", err)
	}
}

// Starting an ID again, concurrently or from another instance, never runs
// a second executor: the target serves the planned arrivals once.
func testStartIsIdempotent(t *testing.T, h *harness, newBackend Factory) {
	ctx := context.Background()
	b := newBackend(t)
	id := wire.ShardID{RunID: h.runID("idem"), Shard: 0, Attempt: 0}
	t.Cleanup(func() { removeAll(t, b, id) })
	spec := h.spec(t, id, 1, ShortRun)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = b.Start(ctx, id, spec) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Start %d: %v", i, err)
		}
	}
	if err := newBackend(t).Start(ctx, id, spec); err != nil {
		t.Fatalf("Start from a restarted backend: %v", err)
	}
	waitForPhase(t, b, id, backend.Exited, startTimeout+ShortRun)
	if err := b.Start(ctx, id, spec); err != nil {
		t.Fatalf("Start once it exited: %v", err)
	}
	// A second executor would still be running its arrivals.
	time.Sleep(ShortRun + gracefulStop)
	if got := h.servedFor(id.RunID); got != Planned {
		t.Errorf("the target served %d requests, want %d: one executor", got, Planned)
	}
	if list := list(t, b, id.RunID); len(list) != 1 {
		t.Errorf("List: %+v, want one executor", list)
	}
}

func testUnknownIsMissing(t *testing.T, h *harness, b backend.Backend) {
	ctx := context.Background()
	id := wire.ShardID{RunID: h.runID("none"), Shard: 3, Attempt: 1}
	if st := status(t, b, id); st.Phase != backend.Missing || st.ID != id {
		t.Errorf("Status of an ID never started: %+v, want missing with its ID", st)
	}
	if err := b.Stop(ctx, id); err != nil {
		t.Errorf("Stop of a missing executor: %v, want nil", err)
	}
	if err := b.Remove(ctx, id); err != nil {
		t.Errorf("Remove of a missing executor: %v, want nil", err)
	}
	if l := list(t, b, id.RunID); len(l) != 0 {
		t.Errorf("List of a run never started: %+v, want none", l)
	}
	if rc, err := b.Logs(ctx, id); !errors.Is(err, backend.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Logs of a missing executor: %v, want ErrNotFound", err)
	}
}

// Stop is a clean stop: the executor ends within its gracefulStop, well
// before the grace runs out, and flushes its final snapshot.
func testStopEndsItCleanly(t *testing.T, h *harness, b backend.Backend) {
	id := wire.ShardID{RunID: h.runID("stop"), Shard: 0, Attempt: 2}
	if err := b.Start(context.Background(), id, h.spec(t, id, 1, longRun)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { removeAll(t, b, id) })
	waitForReports(t, h, b, id)
	stopAndCheck(t, h, b, id)
}

// A new instance lists the executors an earlier one started, and stops
// and removes them.
func testRestartFindsExecutors(t *testing.T, h *harness, newBackend Factory) {
	ctx := context.Background()
	first := newBackend(t)
	run := h.runID("restart")
	ids := []wire.ShardID{{RunID: run, Shard: 0}, {RunID: run, Shard: 1}}
	t.Cleanup(func() { removeAll(t, first, ids...) })
	for _, id := range ids {
		if err := first.Start(ctx, id, h.spec(t, id, len(ids), longRun)); err != nil {
			t.Fatalf("Start %+v: %v", id, err)
		}
	}
	for _, id := range ids {
		waitForReports(t, h, first, id)
	}
	again := newBackend(t)
	found := list(t, again, run)
	if len(found) != len(ids) {
		t.Fatalf("List after a restart: %+v, want the %d executors", found, len(ids))
	}
	for _, st := range found {
		if st.ID.RunID != run || st.Phase != backend.Running {
			t.Errorf("listed %+v, want a running executor of %s", st, run)
		}
	}
	if err := again.Remove(ctx, ids[0]); err == nil {
		t.Error("Remove of a running executor succeeded; want an error until it exited")
	}
	if st := status(t, again, ids[0]); st.Phase != backend.Running {
		t.Errorf("after refused Remove: %+v, want still running", st)
	}
	for _, id := range ids {
		stopAndCheck(t, h, again, id)
	}
	for _, id := range ids {
		if err := again.Remove(ctx, id); err != nil {
			t.Errorf("Remove %+v: %v", id, err)
		}
	}
	if l := list(t, first, run); len(l) != 0 {
		t.Errorf("List from the first instance after Remove: %+v, want none", l)
	}
}

// stopAndCheck stops a running executor and checks that it ended cleanly.
func stopAndCheck(t *testing.T, h *harness, b backend.Backend, id wire.ShardID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StopGrace+10*time.Second)
	defer cancel()
	began := time.Now()
	if err := b.Stop(ctx, id); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(began)
	st := waitForPhase(t, b, id, backend.Exited, 10*time.Second)
	// Well under StopGrace: it stopped by itself, it was not killed.
	if limit := gracefulStop + 5*time.Second; took > limit {
		t.Errorf("Stop took %v, want under %v (gracefulStop %v)", took, limit, gracefulStop)
	}
	r := h.report(id)
	if !r.final || r.started == 0 || r.started >= Rate*int64(longRun/time.Second)/2 {
		t.Errorf("after Stop the ingest has %+v; want a final snapshot after some, not all, arrivals\nstatus %+v\nlogs:\n%s", r, st, logs(t, b, id))
	}
	t.Logf("%s shard %d: Stop took %v; %+v; exit %d (%s)", id.RunID, id.Shard, took.Round(time.Millisecond), r, st.ExitCode, st.Detail)
}

// waitForReports waits until the executor has reported a snapshot: it
// runs, and it reaches the ingest.
func waitForReports(t *testing.T, h *harness, b backend.Backend, id wire.ShardID) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(startTimeout)
	for h.report(id).snapshots == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot from %+v within %v; status %+v\nlogs:\n%s", id, startTimeout, status(t, b, id), logs(t, b, id))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s shard %d: first snapshot stored %v after Start returned", id.RunID, id.Shard, time.Since(began).Round(time.Millisecond))
	if st := status(t, b, id); st.Phase != backend.Running {
		t.Fatalf("reporting, yet %+v; want running", st)
	}
}

func waitForPhase(t *testing.T, b backend.Backend, id wire.ShardID, want backend.Phase, timeout time.Duration) backend.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := status(t, b, id)
		if st.Phase == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%+v still %s after %v, want %s\nlogs:\n%s", id, st.Phase, timeout, want, logs(t, b, id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(t *testing.T, b backend.Backend, id wire.ShardID) backend.Status {
	t.Helper()
	st, err := b.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status %+v: %v", id, err)
	}
	return st
}

func list(t *testing.T, b backend.Backend, runID string) []backend.Status {
	t.Helper()
	l, err := b.List(context.Background(), runID)
	if err != nil {
		t.Fatalf("List %s: %v", runID, err)
	}
	return l
}

// logs returns an executor's output, or why there is none.
func logs(t *testing.T, b backend.Backend, id wire.ShardID) string {
	t.Helper()
	rc, err := b.Logs(context.Background(), id)
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Sprintf("%s(reading logs: %v)", data, err)
	}
	return string(data)
}

// removeAll stops and removes executors at the end of a test, whether it
// passed or not: nothing keeps running after the suite.
func removeAll(t *testing.T, b backend.Backend, ids ...wire.ShardID) {
	t.Helper()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), StopGrace+10*time.Second)
		if err := b.Stop(ctx, id); err != nil {
			t.Errorf("Stop %+v: %v", id, err)
		}
		if err := b.Remove(ctx, id); err != nil {
			t.Errorf("Remove %+v: %v", id, err)
		}
		cancel()
	}
}
