package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
	"github.com/loadfleet/loadfleet/services/job/backend/backendtest"
)

// executorBin is the loadfleet-executor binary, built once for the package.
var executorBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "local-backend-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	executorBin = filepath.Join(dir, "loadfleet-executor")
	build := exec.Command("go", "build", "-o", executorBin, "github.com/loadfleet/loadfleet/executors/cmd/loadfleet-executor")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build loadfleet-executor: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestContract(t *testing.T) {
	dir := t.TempDir()
	backendtest.Run(t, "local", func(t *testing.T) backend.Backend {
		return New(Config{Command: []string{executorBin}, Dir: dir, Grace: backendtest.StopGrace}, testLogger(t))
	}, nil)
}

// A pid file whose pid now belongs to another process (pids are reused) is
// not that executor: it is not reported running, and Stop signals nothing.
func TestReusedPIDIsNotClaimed(t *testing.T) {
	dir := t.TempDir()
	b := New(Config{Command: []string{executorBin}, Dir: dir, Grace: time.Second}, testLogger(t))
	id := backend.ShardID{RunID: "reused", Shard: 0}
	// This test process is alive, started when the pid file says, yet it is
	// no executor: its command line lacks the spec file.
	self := os.Getpid()
	ticks, err := startTicks(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeJSONFile(b.files(id).pid, pidRecord{ID: id, PID: self, StartTicks: ticks, Spec: b.files(id).spec}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(context.Background(), id)
	if err != nil || st.Phase != backend.Exited || st.ExitCode != -1 {
		t.Errorf("Status = %+v, %v; want exited with an unknown code", st, err)
	}
	// Were the pid claimed, this would SIGTERM the test's own process group.
	if err := b.Stop(context.Background(), id); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if l, err := b.List(context.Background(), "reused"); err != nil || len(l) != 1 || l[0].Phase != backend.Exited {
		t.Errorf("List = %+v, %v; want the one exited executor", l, err)
	}
}

// An executor that does not stop on SIGTERM is killed after the grace.
func TestStopKillsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	// A shell that ignores SIGTERM stands in for a stuck executor.
	stuck := []string{"/bin/sh", "-c", `trap "" TERM; echo stuck; while :; do sleep 0.1; done`, "sh"}
	b := New(Config{Command: stuck, Dir: dir, Grace: 300 * time.Millisecond}, testLogger(t))
	id := backend.ShardID{RunID: "stuck", Shard: 0}
	if err := b.Start(context.Background(), id, backendtestSpec(id)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the trap be set
	began := time.Now()
	if err := b.Stop(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	st, _ := b.Status(context.Background(), id)
	if st.Phase != backend.Exited || took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("after Stop (%v): %+v; want killed after the 300ms grace", took, st)
	}
	rc, err := b.Logs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if out, _ := io.ReadAll(rc); string(out) != "stuck\n" {
		t.Errorf("logs %q, want the child's output", out)
	}
	if err := b.Remove(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "stuck.*")); len(left) != 0 {
		t.Errorf("Remove left %v", left)
	}
}

func backendtestSpec(id backend.ShardID) wire.ShardSpec {
	return wire.ShardSpec{RunID: id.RunID, Shard: id.Shard, Shards: 1, Attempt: id.Attempt}
}
