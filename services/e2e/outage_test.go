package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// executorWithFlushWindow is a local executor command whose agents give up
// delivering their snapshots after window (30 s by default), so that a
// test outlives the window in seconds.
func executorWithFlushWindow(t *testing.T, window string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "executor.sh")
	body := fmt.Sprintf("#!/bin/sh\nexec %q \"$@\" --flush-timeout %s\n", executorBin, window)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}

// waitExecutorsGone waits until none of the run's executor processes is
// alive (their pid files name them), or fails after timeout.
func waitExecutorsGone(t *testing.T, data, runID string, shards int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for shard := range shards {
		pid := executorPID(t, filepath.Join(data, "executors", "local"), runID, shard, 0)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("executor of shard %d (pid %d) still running after %s", shard, pid, timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// outage is an all-in-one server, in its own process, killed with -9 while
// a run is under way, and started again on the same address and data.
type outage struct {
	addr, config, data string
	runID              string
	down               time.Time
}

// killMidRun starts the server with config (a worker section added to the
// local location of executors with the flush window), starts plan, and
// kills the server after it ran for the given time.
func killMidRun(t *testing.T, worker, flushWindow, plan string, after time.Duration) *outage {
	t.Helper()
	o := &outage{addr: freeAddr(t), data: t.TempDir(), config: fmt.Sprintf(
		"locations: [{name: local, backend: local, command: [%s]}]\nworker: %s\n", executorWithFlushWindow(t, flushWindow), worker)}
	first := serveAt(t, o.addr, "all", o.config, o.data)
	api := client(first.url)
	run, err := api.StartRun(context.Background(), metadata.StartRequest{Plan: json.RawMessage(plan)})
	if err != nil {
		t.Fatal(err)
	}
	o.runID = run.ID
	waitForState(t, api, run.ID, 30*time.Second, store.Running)
	time.Sleep(after)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	o.down = time.Now()
	return o
}

// restart starts the server again and waits for the run's verdict.
func (o *outage) restart(t *testing.T) (store.Run, report.Document) {
	t.Helper()
	api := client(serveAt(t, o.addr, "all", o.config, o.data).url)
	run := waitForState(t, api, o.runID, 90*time.Second, store.Passed, store.Failed, store.Errored)
	return run, reportOf(t, api, run.ID)
}

// The repro: the all-in-one server is killed with -9 five seconds
// into a 20 s run and comes back only after the executors finished their
// schedule and gave up delivering (their flush window, 3 s here). The
// restarted platform collects what they left in their spools and reports
// every arrival: never a verdict from the 15% that got through.
func TestServerKilledPastTheFlushWindowLosesNothing(t *testing.T) {
	srv, served := target(t)
	o := killMidRun(t, "{leaseTTL: 2s, startDelay: 1s}", "3s",
		constantPlan(srv.URL, 20, 20, 2, `{"metric": "errors.rate", "max": 0.01}`), 5*time.Second)
	// The executors load on, then wait for the ingest for 3 s, then exit
	// with their snapshots on disk.
	waitExecutorsGone(t, o.data, o.runID, 2, 60*time.Second)
	t.Logf("executors gone %v after the kill; %d requests served", time.Since(o.down).Round(time.Second), served.Load())
	run, doc := o.restart(t)
	if run.State != store.Passed || doc.Verdict != report.Passed {
		t.Fatalf("run %s (%s): want passed on the whole data; completeness %+v", run.State, doc.VerdictReason, doc.Completeness)
	}
	if doc.Arrivals.Planned != 400 || doc.Arrivals.Started != 400 || doc.Total.Count != 400 || served.Load() != 400 {
		t.Fatalf("arrivals %+v, %d requests counted, %d served; want all 400", doc.Arrivals, doc.Total.Count, served.Load())
	}
	if doc.Completeness == nil || !doc.Completeness.Complete || doc.Completeness.MissingArrivals != 0 {
		t.Fatalf("completeness %+v", doc.Completeness)
	}
	collected := 0
	for _, sh := range run.Shards {
		e, ok := sh.ExitOf(0)
		if !ok || e.CollectError != "" {
			t.Fatalf("shard %d: exit %+v recorded %v", sh.Index, e, ok)
		}
		collected += e.Collected
	}
	if collected == 0 {
		t.Fatal("no snapshot was collected from the spools: the test did not outlive the flush window")
	}
	t.Logf("collected %d snapshots from the executors' spools", collected)
}

// The control plane is killed mid-run and its executors' dead-man switch
// (4 s here) stops the load: the target sees no request from grace + 5 s
// on. The platform comes back before the schedule's end, restarts the
// shards for the rest of it, and the run errors, naming the arrivals that
// are missing and the dead-man stop; what the executors measured before
// stopping is all in the report.
func TestDeadManSwitchStopsTheLoadWhileTheControlPlaneIsGone(t *testing.T) {
	srv, served := target(t)
	o := killMidRun(t, "{leaseTTL: 2s, startDelay: 1s, controlGrace: 4s}", "2s", constantPlan(srv.URL, 20, 30, 2, ""), 3*time.Second)
	time.Sleep(time.Until(o.down.Add(4*time.Second + 5*time.Second)))
	stopped := served.Load()
	time.Sleep(3 * time.Second)
	if later := served.Load(); later != stopped {
		t.Fatalf("the target served %d requests between 9 s and 12 s after the control plane died: the load did not stop", later-stopped)
	}
	waitExecutorsGone(t, o.data, o.runID, 2, 30*time.Second)
	t.Logf("load stopped: %d requests served by then", stopped)
	run, doc := o.restart(t)
	if run.State != store.Errored || doc.Verdict != report.Errored || doc.Completeness == nil || doc.Completeness.Complete {
		t.Fatalf("run %s, report %s (%s): want errored on incomplete data", run.State, doc.Verdict, doc.VerdictReason)
	}
	for _, want := range []string{"dead-man switch stopped the load", "arrivals:", "missing"} {
		if !strings.Contains(doc.VerdictReason, want) {
			t.Errorf("verdict reason %q does not say %q", doc.VerdictReason, want)
		}
	}
	if doc.Total.Count != served.Load() {
		t.Errorf("the report counts %d requests, the target served %d: measured data was lost", doc.Total.Count, served.Load())
	}
	t.Logf("verdict: %s", doc.VerdictReason)
}
