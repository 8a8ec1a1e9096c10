package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/internal/componenttest"
)

// chromium finds a headless-capable Chromium. Under CI=true a missing one
// fails the test (scripts/ci-deps.sh must install it: apt-get install -y
// chromium); elsewhere the test is skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	componenttest.Missing(t, "chromium is not installed (apt-get install -y chromium); CI needs it to check that the report's charts render")
	return ""
}

// The report opened from a file by a real browser draws every chart: uPlot
// turns each chart container into a canvas, which only happens if the
// inlined library and data work with no network.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, render(t, HTML, sampleDocument()), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := dumpDOM(t, bin, dir, "file://"+file)
	const charts = 7
	if n := strings.Count(dom, "<canvas"); n != charts {
		t.Fatalf("%d canvases in the rendered page, want %d (one per chart)", n, charts)
	}
	if n := strings.Count(dom, `class="uplot`); n != charts {
		t.Fatalf("%d uPlot charts in the rendered page, want %d", n, charts)
	}
	if !strings.Contains(dom, "shard 1 (us-east)") {
		t.Fatal("the executor charts' legends are missing from the rendered page")
	}
}

// browserCrashAttempts bounds how often a browser that died from a signal
// is started again. Chromium occasionally segfaults while starting on a busy
// machine (CI saw it once in many runs), before it has read the page; that
// says nothing about the report. A crash on every attempt still fails.
const browserCrashAttempts = 3

// dumpDOM loads url in headless Chromium and returns the DOM after its
// scripts ran. Each attempt gets a fresh profile; a failure carries the
// browser's own stderr so that a crash can be diagnosed from the CI log.
func dumpDOM(t *testing.T, bin, dir, url string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
			"--disable-dev-shm-usage", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run",
			"--user-data-dir="+filepath.Join(dir, fmt.Sprintf("profile-%d", attempt)),
			"--window-size=1280,2000", "--dump-dom", url)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil {
			return string(out)
		}
		if !diedFromSignal(err) || timedOut || attempt == browserCrashAttempts {
			t.Fatalf("chromium (attempt %d): %v\nstderr:\n%s", attempt, err, tail(stderr.String(), 4000))
		}
		t.Logf("chromium crashed on attempt %d (%v); starting it again. stderr:\n%s", attempt, err, tail(stderr.String(), 2000))
	}
}

func diedFromSignal(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	return ok && status.Signaled()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
