package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// An executor that never reports ready: the start barrier gives up after
// its timeout and the run errors with the missing shards named, its
// executors stopped.
func TestStartBarrierTimeoutNamesTheMissingShards(t *testing.T) {
	srv, served := target(t)
	data := t.TempDir()
	cfg := platformConfig(t, data)
	silent := filepath.Join(t.TempDir(), "silent-executor")
	// Starts, ignores its arguments and never calls the executor API.
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Locations = []app.LocationConfig{
		{Name: "local", Backend: "local", Command: []string{executorBin}},
		{Name: "silent", Backend: "local", Command: []string{silent}},
	}
	cfg.Worker.ReadyTimeout = 3 * time.Second
	api := client(startPlatform(t, app.TargetAll, cfg))
	plan := strings.Replace(constantPlan(srv.URL, 10, 10, 2, ""), `"count": 2`,
		`"count": 2, "locations": [{"name": "local", "weight": 1}, {"name": "silent", "weight": 1}]`, 1)
	run, err := api.StartRun(context.Background(), metadata.StartRequest{Plan: json.RawMessage(plan)})
	if err != nil {
		t.Fatal(err)
	}
	run = waitForState(t, api, run.ID, 30*time.Second, store.Errored)
	if !strings.Contains(run.Reason, "start barrier: shard(s) 1 (silent) not ready after 3s") {
		t.Fatalf("reason %q: want the barrier to name shard 1 and its location", run.Reason)
	}
	if served.Load() != 0 {
		t.Fatalf("%d requests before a start instant was ever published", served.Load())
	}
	requireExited(t, executorPID(t, filepath.Join(data, "executors", "silent"), run.ID, 1, 0))
}

// Past maxRestarts, a lost executor is not started again: the run errors
// with the reason and the limit.
func TestRestartLimitErrorsTheRun(t *testing.T) {
	srv, _ := target(t)
	data := t.TempDir()
	cfg := platformConfig(t, data)
	cfg.Worker.MaxRestarts = 1
	api := client(startPlatform(t, app.TargetAll, cfg))
	run, err := api.StartRun(context.Background(), metadata.StartRequest{
		Plan: json.RawMessage(constantPlan(srv.URL, 20, 60, 2, ""))})
	if err != nil {
		t.Fatal(err)
	}
	waitForState(t, api, run.ID, 30*time.Second, store.Running)
	dir := filepath.Join(data, "executors", "local")
	kill := func(attempt int) {
		t.Helper()
		pid := executorPID(t, dir, run.ID, 0, attempt)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	kill(0)
	waitForFile(t, filepath.Join(dir, run.ID, "0", "1", "executor.pid"), 20*time.Second)
	time.Sleep(time.Second) // the restarted executor at work
	kill(1)
	run = waitForState(t, api, run.ID, 30*time.Second, store.Errored)
	if !strings.Contains(run.Reason, "the run already restarted 1 executor(s), the limit") || len(run.Shards[0].Restarts) != 1 {
		t.Fatalf("reason %q, restarts %+v: want the limit named after one restart", run.Reason, run.Shards[0].Restarts)
	}
	requireExited(t, executorPID(t, dir, run.ID, 1, 0))
}

func waitForFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, timeout)
		}
	}
}

// requireExited checks that the executor process is gone: an errored run
// leaves nothing running.
func requireExited(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("executor pid %d still runs 10 s after the run errored", pid)
		}
	}
}
