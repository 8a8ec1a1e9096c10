package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime/runtimetest"
	"github.com/loadfleet/loadfleet/schemas/plan"
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
	id := wire.ShardID{RunID: "reused", Shard: 0}
	// This test process is alive, started when the pid file says, yet it is
	// no executor: its command line lacks the spec file.
	self := os.Getpid()
	ticks, err := startTicks(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.files(id).mkdirs(); err != nil {
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
	id := wire.ShardID{RunID: "stuck", Shard: 0}
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
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("Remove left %v in %s", left, dir)
	}
}

func backendtestSpec(id wire.ShardID) wire.ShardSpec {
	return wire.ShardSpec{RunID: id.RunID, Shard: id.Shard, Shards: 1, Attempt: id.Attempt}
}

// An executor gets its own directory, private to the server's user, and
// only PATH, HOME and TZ of the environment: a secret in the server's
// environment never reaches it. This reads the running executor's
// /proc/PID/environ, which is what the kernel gave it.
func TestExecutorHasItsOwnDirectoryAndAMinimalEnvironment(t *testing.T) {
	const secret = "lf-test-secret-4f1d"
	t.Setenv("LOADFLEET_TEST_API_TOKEN", secret)
	t.Setenv("TZ", "Europe/Paris")
	dir := t.TempDir()
	b := New(Config{Command: []string{executorBin}, Dir: dir, Grace: backendtest.StopGrace}, testLogger(t))
	id := wire.ShardID{RunID: "env/../run", Shard: 1, Attempt: 2}
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	ingest := runtimetest.NewIngest(t, "env-token")
	p, err := plan.Parse([]byte(fmt.Sprintf(`{"name": "env", "target": {"baseUrl": %q},
		"scenarios": [{"name": "s", "steps": [{"request": {"name": "r", "url": "/"}}]}],
		"load": {"open": [{"constantUsersPerSec": {"rate": 1, "during": "60s"}}], "gracefulStop": "1s"}}`, target.URL)))
	if err != nil {
		t.Fatal(err)
	}
	spec := wire.ShardSpec{RunID: id.RunID, Shard: id.Shard, Shards: 2, Attempt: id.Attempt, Plan: *p,
		Token: "env-token", IngestURL: ingest.URL()}
	if err := b.Start(context.Background(), id, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Stop(context.Background(), id)
		_ = b.Remove(context.Background(), id)
	})
	f := b.files(id)
	var rec pidRecord
	if err := readJSONFile(f.pid, &rec); err != nil {
		t.Fatal(err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", rec.PID))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(environ), secret) {
		t.Errorf("the executor's environment holds the server's secret: %q", environ)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00") {
		name, value, _ := strings.Cut(kv, "=")
		got[name] = value
	}
	want := map[string]string{"PATH": os.Getenv("PATH"), "HOME": f.work, "TZ": "Europe/Paris"}
	if !maps.Equal(got, want) {
		t.Errorf("environment %v, want exactly %v", got, want)
	}
	if !strings.HasPrefix(f.dir, dir+"/") || strings.Contains(strings.TrimPrefix(f.dir, dir), "/../") {
		t.Errorf("executor directory %s is not inside %s", f.dir, dir)
	}
	for _, d := range []string{filepath.Dir(filepath.Dir(f.dir)), filepath.Dir(f.dir), f.dir, f.spool, f.work} {
		if st, err := os.Stat(d); err != nil || st.Mode().Perm() != 0o700 || !st.IsDir() {
			t.Errorf("%s: %v, %v; want a 0700 directory", d, st.Mode(), err)
		}
	}
	for _, file := range []string{f.spec, f.log, f.pid} {
		if st, err := os.Stat(file); err != nil {
			t.Errorf("%s: %v; want a 0600 file", file, err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", file, st.Mode())
		}
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", rec.PID))
	if err != nil || cwd != f.work {
		t.Errorf("working directory %q (%v), want %s", cwd, err, f.work)
	}
}

// Two attempts of one shard and two runs never share a file: each has its
// own directory, and removing one leaves the other's.
func TestEveryAttemptHasItsOwnFiles(t *testing.T) {
	b := New(Config{Command: []string{executorBin}, Dir: t.TempDir()}, testLogger(t))
	ids := []wire.ShardID{{RunID: "r1", Shard: 0}, {RunID: "r1", Shard: 0, Attempt: 1}, {RunID: "r1", Shard: 1},
		{RunID: "r2", Shard: 0}, {RunID: "..", Shard: 0}, {RunID: ".", Shard: 0}, {RunID: "a/b", Shard: 0}}
	seen := map[string]wire.ShardID{}
	for _, id := range ids {
		f := b.files(id)
		for _, p := range []string{f.dir, f.spec, f.log, f.pid, f.exit, f.spool, f.work} {
			if other, ok := seen[p]; ok {
				t.Errorf("%+v and %+v share %s", id, other, p)
			}
			seen[p] = id
			if rel, err := filepath.Rel(b.cfg.Dir, p); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%+v: %s is outside %s", id, p, b.cfg.Dir)
			}
		}
	}
}
