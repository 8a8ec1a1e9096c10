package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A short spike in the example's shape, so the test takes seconds.
const shortSpike = `{"name": "short spike", "target": {"baseUrl": "http://replaced.invalid"},
  "scenarios": [{"name": "flash-sale", "steps": [
    {"request": {"name": "sale", "url": "/sale", "checks": [{"status": [200]}]}},
    {"request": {"name": "reserve", "method": "POST", "url": "/api/reserve",
      "body": {"form": {"sku": "FLASH-1", "session": "${session()}"}}, "checks": [{"status": [200, 409]}]}}]}],
  "load": {"pattern": {"spike": {"base": 10, "peak": 40, "before": "1s", "rampUp": "1s", "hold": "2s", "rampDown": "1s", "after": "1s"}}},
  "criteria": [{"metric": "errors.rate", "max": 0.01}],
  "executors": {"count": 2}}`

// The demo runs the plan against its own service, says where the report
// is, and serves the platform until interrupted.
func TestDemoRunsAndServesUntilInterrupted(t *testing.T) {
	bin, err := buildExecutor()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	planFile := filepath.Join(dir, "spike.json")
	if err := os.WriteFile(planFile, []byte(shortSpike), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCommand(t, "demo", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--plan", planFile, "--executor-command", bin)
	out, errOut, exited, interrupt := &c.out, &c.errOut, c.exited, c.interrupt

	serving := regexp.MustCompile(`HTML report: (\S+)\s+(http://\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C stops it") {
		select {
		case code := <-exited:
			t.Fatalf("demo exited %d before serving\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run after 60 s\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
	}
	m := serving.FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "PASSED") || !strings.Contains(errOut.String(), "demo service on http://127.0.0.1:") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
	file, err := os.ReadFile(m[1])
	if err != nil || !strings.Contains(string(file), "<html") {
		t.Fatalf("the report file %s: %v", m[1], err)
	}
	// The report shows the plan as run: its owner's only, as is its directory.
	for path, want := range map[string]os.FileMode{m[1]: 0o600, filepath.Dir(m[1]): 0o700, filepath.Join(dir, "data"): 0o700} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %s, want %s", path, info.Mode().Perm(), want)
		}
	}
	resp, err := http.Get(m[2])
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(served), "<html") {
		t.Fatalf("GET %s while the demo serves = %d", m[2], resp.StatusCode)
	}

	interrupt()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("demo exit %d after Ctrl-C, want 0 (the run passed)", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo still runs 20 s after the interrupt")
	}
	if _, err := http.Get(m[2]); err == nil {
		t.Fatal("the platform still answers after the demo ended")
	}
}
