package e2e

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/metadataclient"
	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// rampPlan ramps from 10 to 50 arrivals/s over 5 s: 150 arrivals. Its base
// URL is replaced with --set, as a CI job adapts a plan to its environment.
func rampPlan(t *testing.T, criteria string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ramp.json")
	doc := fmt.Sprintf(`{"name": "checkout ramp", "team": "shop", "project": "checkout",
  "target": {"baseUrl": "http://replaced.invalid"},
  "scenarios": [{"name": "browse", "steps": [{"request": {"name": "home", "url": "/", "checks": [{"status": [200]}]}}]}],
  "load": {"pattern": {"ramp": {"from": 10, "to": 50, "during": "5s"}}},
  "criteria": [%s], "executors": {"count": 2}}`, criteria)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The public path in both topologies: `loadfleet run` of a ramp plan with a
// token, live progress, the verdict as exit status, and HTML and JUnit
// files that are the stored report's renderings.
func TestRunCommandInBothTopologies(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(5 * time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(slow.Close)
	topologies := map[string]func(t *testing.T) string{
		"all-in-one": func(t *testing.T) string {
			return serve(t, "all", withAuth(""), t.TempDir()).url
		},
		"microservices": func(t *testing.T) string {
			data := t.TempDir()
			common := withAuth(fmt.Sprintf("store: {driver: sqlite, path: %s}\n", filepath.Join(data, "loadfleet.db")))
			validator := serve(t, "validator", withAuth(""), data)
			job := serve(t, "job", withAuth(fmt.Sprintf("locations: [{name: local, backend: local, command: [%s, executor]}]\n", loadfleetBin)), data)
			reporting := serve(t, "reporting", common, data)
			serve(t, "worker", common+fmt.Sprintf("services: {job: %s, reporting: %s}\n", job.url, reporting.url), data)
			return serve(t, "metadata", common+fmt.Sprintf("services: {validator: %s, reporting: %s}\n", validator.url, reporting.url), data).url
		},
	}
	for name, start := range topologies {
		t.Run(name, func(t *testing.T) {
			server := start(t)
			passing := cliRun(t, server, rampPlan(t, `{"metric": "errors.rate", "max": 0.01}, {"metric": "latency.p95", "max": "2s"}`), slow.URL)
			if passing.code != 0 || !strings.Contains(passing.stdout, "PASSED") || !strings.Contains(passing.stdout, "150 planned, 150 started") {
				t.Fatalf("a passing ramp: exit %d\n%s\n%s", passing.code, passing.stdout, passing.stderr)
			}
			requireLiveProgress(t, passing.stderr)
			requireStoredRenderings(t, server, passing, report.Passed)

			failing := cliRun(t, server, rampPlan(t, `{"metric": "latency.p99", "max": "1ms"}`), slow.URL)
			if failing.code != 1 || !strings.Contains(failing.stdout, "FAIL  latency.p99") {
				t.Fatalf("a failing criterion: exit %d, want 1\n%s\n%s", failing.code, failing.stdout, failing.stderr)
			}
			requireStoredRenderings(t, server, failing, report.Failed)

			denied := exec.Command(loadfleetBin, "run", failing.plan, "--server", server, "--token", "not-the-token")
			out, err := denied.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "API token is not valid") {
				t.Fatalf("a wrong token: %v\n%s; want exit 2 saying so", err, out)
			}
		})
	}
}

type cliResult struct {
	plan, junit, html string
	code              int
	stdout, stderr    string
	runID             string
}

// cliRun runs `loadfleet run` as a CI job would: the token in the
// environment, the base URL set on the command line.
func cliRun(t *testing.T, server, plan, baseURL string) cliResult {
	t.Helper()
	dir := t.TempDir()
	r := cliResult{plan: plan, junit: filepath.Join(dir, "junit.xml"), html: filepath.Join(dir, "report.html")}
	cmd := exec.Command(loadfleetBin, "run", plan, "--server", server, "--set", "baseUrl="+baseURL,
		"--junit", r.junit, "--report", r.html, "--progress-interval", "500ms")
	cmd.Env = append(os.Environ(), "LOADFLEET_TOKEN="+apiToken)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	if _, after, ok := strings.Cut(r.stderr, "run "); ok {
		r.runID, _, _ = strings.Cut(after, " ")
	}
	return r
}

// requireLiveProgress checks that the run was followed while it ran: plain
// lines (stderr is not a terminal) with the live figures.
func requireLiveProgress(t *testing.T, stderr string) {
	t.Helper()
	live := 0
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "running") || !strings.Contains(line, "executors 2/2 ready") {
			continue
		}
		m := liveLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		live++
		// Started and planned arrivals count the same second, so against a
		// fast target they agree up to an arrival on a second's edge.
		started, _ := strconv.Atoi(m[1])
		planned, _ := strconv.Atoi(m[2])
		if started < planned-2 || started > planned+2 {
			t.Errorf("live line %q: %d arrivals/s started, %d planned", line, started, planned)
		}
	}
	if live < 2 {
		t.Fatalf("%d live progress lines, want at least 2:\n%s", live, stderr)
	}
}

var liveLine = regexp.MustCompile(`arrivals (\d+)/s \(planned (\d+)/s\)  requests \d+/s  p95 [\d.]+ ms`)

// requireStoredRenderings checks that the files the CLI wrote are exactly
// the stored report's renderings, with the expected verdict.
func requireStoredRenderings(t *testing.T, server string, r cliResult, verdict report.Verdict) {
	t.Helper()
	api := metadataclient.New(server, apiToken, nil)
	doc := reportOf(t, api, r.runID)
	if doc.Verdict != verdict || doc.Arrivals.Planned != 150 {
		t.Fatalf("stored report of %s: verdict %s, %d planned; want %s, 150", r.runID, doc.Verdict, doc.Arrivals.Planned, verdict)
	}
	for path, render := range map[string]func(io.Writer, *report.Document) error{r.html: report.HTML, r.junit: report.JUnit} {
		written, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var stored bytes.Buffer
		if err := render(&stored, &doc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(written, stored.Bytes()) {
			t.Fatalf("%s differs from the stored report's rendering", filepath.Base(path))
		}
	}
	var suite struct {
		Failures int `xml:"failures,attr"`
	}
	junit, _ := os.ReadFile(r.junit)
	if err := xml.Unmarshal(junit, &suite); err != nil || (suite.Failures > 0) != (verdict == report.Failed) {
		t.Fatalf("JUnit: %v, %d failures for a %s run", err, suite.Failures, verdict)
	}
}
