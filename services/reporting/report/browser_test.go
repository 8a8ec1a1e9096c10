package report

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1280,2000", "--dump-dom", "file://"+file)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
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
