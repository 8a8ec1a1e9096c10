package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var buildExecutor = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "loadfleet-run-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "loadfleet-executor")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/loadfleet/loadfleet/executors/cmd/loadfleet-executor").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the executor: %v\n%s", err, out)
	}
	return bin, nil
})

func runPlan(t *testing.T, baseURL, criteria string) string {
	path := filepath.Join(t.TempDir(), "plan.json")
	plan := fmt.Sprintf(`{"name": "cli run", "target": {"baseUrl": %q},
  "scenarios": [{"name": "visit", "steps": [{"request": {"name": "home", "url": "/"}}]}],
  "load": {"pattern": {"constant": {"rate": 20, "during": "2s"}}},
  "criteria": [%s], "executors": {"count": 2}}`, baseURL, criteria)
	if err := os.WriteFile(path, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// `loadfleet run` without --server runs the plan on a platform in process
// and its exit status is the verdict.
func TestRunExitStatusIsTheVerdict(t *testing.T) {
	bin, err := buildExecutor()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	common := []string{"--data-dir", filepath.Join(dir, "data"), "--executor-command", bin}

	junit, html := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "report.html")
	args := append([]string{"run", runPlan(t, srv.URL, `{"metric": "errors.rate", "max": 0.01}`),
		"--junit", junit, "--report", html}, common...)
	code, out, errOut := loadfleet(t, args...)
	if code != exitOK || !strings.Contains(out, "PASSED") || !strings.Contains(out, "40 planned, 40 started") {
		t.Fatalf("a passing run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, f := range []string{junit, html} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(30 * time.Millisecond) }))
	defer slow.Close()
	args = append([]string{"run", runPlan(t, slow.URL, `{"metric": "latency.p99", "max": "10ms"}`)}, common...)
	code, out, _ = loadfleet(t, args...)
	if code != exitFailure || !strings.Contains(out, "FAIL") {
		t.Fatalf("a failing criterion: exit %d, want 1\n%s", code, out)
	}

	args = append([]string{"run", runPlan(t, srv.URL, `{"metric": "nope", "max": 1}`)}, common...)
	code, _, errOut = loadfleet(t, args...)
	if code != exitUsage || !strings.Contains(errOut, "/criteria/0") || strings.Contains(errOut, "--help") {
		t.Fatalf("an invalid plan: exit %d, want 2 with the problem's path\n%s", code, errOut)
	}

	code, _, errOut = loadfleet(t, "run", "x.json", "--set", "speed=11")
	if code != exitUsage || !strings.Contains(errOut, "unknown key") {
		t.Fatalf("--set speed=11: exit %d %s", code, errOut)
	}
}

// Ctrl-C aborts the run `loadfleet run` started, and the exit status says
// so (3), with what was measured until then.
func TestInterruptAbortsTheRun(t *testing.T) {
	bin, err := buildExecutor()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "long.json")
	long := fmt.Sprintf(`{"name": "long", "target": {"baseUrl": %q},
  "scenarios": [{"name": "visit", "steps": [{"request": {"name": "home", "url": "/"}}]}],
  "load": {"pattern": {"constant": {"rate": 20, "during": "120s"}}}, "executors": {"count": 2}}`, srv.URL)
	if err := os.WriteFile(path, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCommand(t, "run", path, "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--executor-command", bin, "--progress-interval", "200ms")
	out, errOut, exited, interrupt := &c.out, &c.errOut, c.exited, c.interrupt
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errOut.String(), "requests ") { // measuring
		if time.Now().After(deadline) {
			t.Fatalf("the run is not measuring after 30 s:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	interrupted := time.Now()
	interrupt()
	select {
	case code := <-exited:
		if code != exitRunError || !strings.Contains(errOut.String(), "interrupted: aborting run") ||
			!strings.Contains(out.String(), "ABORTED") {
			t.Fatalf("exit %d, want 3 and the run aborted\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
		}
		t.Logf("the run ended %v after the interrupt", time.Since(interrupted).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after the interrupt:\n%s", errOut.String())
	}
}

// backgroundCommand is a loadfleet command running in this process until
// it exits or is interrupted (Ctrl-C).
type backgroundCommand struct {
	out, errOut syncBuffer
	exited      chan int
	interrupt   context.CancelFunc
}

func startCommand(t *testing.T, args ...string) *backgroundCommand {
	t.Helper()
	ctx, interrupt := context.WithCancel(context.Background())
	t.Cleanup(interrupt)
	c := &backgroundCommand{exited: make(chan int, 1), interrupt: interrupt}
	go func() { c.exited <- run(ctx, args, &c.out, &c.errOut) }()
	return c
}

// `loadfleet run` without --server reads a plan's feeder beside the plan:
// its platform in process is given the plan's directory, and every arrival
// carries a row of the file.
func TestRunReadsTheFeederBesideThePlan(t *testing.T) {
	bin, err := buildExecutor()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte("user\ncarol\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(plan, []byte(fmt.Sprintf(`{"name": "feed", "target": {"baseUrl": %q},
  "scenarios": [{"name": "s", "feeder": {"file": "users.csv"}, "steps": [{"request": {"name": "u", "url": "/u/${user}"}}]}],
  "load": {"open": [{"constantUsersPerSec": {"rate": 5, "during": "1s"}}]}, "executors": {"count": 2}}`, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := loadfleet(t, "run", plan, "--data-dir", filepath.Join(t.TempDir(), "data"), "--executor-command", bin)
	mu.Lock()
	defer mu.Unlock()
	if code != exitOK || len(paths) != 5 || slices.ContainsFunc(paths, func(p string) bool { return p != "/u/carol" }) {
		t.Fatalf("exit %d, the target got %q; want 5 requests with the feeder's row\nstdout:\n%s\nstderr:\n%s", code, paths, out, errOut)
	}
}
