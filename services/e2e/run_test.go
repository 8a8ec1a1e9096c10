package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/report"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Four local executors together make exactly the arrivals of the plan, and
// the run passes its criteria with a report that says so.
func TestFourLocalExecutorsAddUpToThePlan(t *testing.T) {
	srv, served := target(t)
	base := startPlatform(t, app.TargetAll, platformConfig(t, t.TempDir()))
	api := client(base)
	run, err := api.StartRun(context.Background(), metadata.StartRequest{
		Plan: json.RawMessage(constantPlan(srv.URL, 50, 4, 4, `{"metric": "errors.rate", "max": 0.01}`))})
	if err != nil {
		t.Fatal(err)
	}
	run = waitForState(t, api, run.ID, 60*time.Second, store.Passed)
	doc := reportOf(t, api, run.ID)
	if doc.Arrivals.Planned != 200 || doc.Arrivals.Started != 200 || doc.Total.Count != 200 || served.Load() != 200 {
		t.Fatalf("arrivals %+v, %d requests measured, %d served; want exactly 200 of each", doc.Arrivals, doc.Total.Count, served.Load())
	}
	if len(run.Shards) != 4 || len(doc.Executors) != 4 {
		t.Fatalf("%d shards, %d executors in the report; want 4", len(run.Shards), len(doc.Executors))
	}
	for _, sh := range run.Shards {
		if !sh.Ready || !sh.Done || sh.Attempt != 0 || sh.ToolVersion == "" || sh.Backend != "local" {
			t.Errorf("shard %+v: want ready, done, first attempt, a tool version, the local backend", sh)
		}
	}
	if doc.Verdict != report.Passed || len(doc.Criteria) != 1 || !doc.Criteria[0].Passed {
		t.Fatalf("verdict %s, criteria %+v", doc.Verdict, doc.Criteria)
	}
	if run.ToolVersions["native"] == "" {
		t.Fatalf("tool versions %v: want the native injector's", run.ToolVersions)
	}
	requireRenderings(t, base, run.ID, doc)
	requireSeries(t, base, run.ID, doc)
}

// requireSeries reads the run's merged per-second series back through the
// query API: its seconds add up to the report's total.
func requireSeries(t *testing.T, server, runID string, doc report.Document) {
	t.Helper()
	resp, err := http.Get(server + "/v1/runs/" + runID + "/series?request=")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var batch series.Batch
	if err := json.NewDecoder(resp.Body).Decode(&batch); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET series: %d %v", resp.StatusCode, err)
	}
	var sum int64
	for _, p := range batch.Points {
		if p.Request != series.AllRequests {
			t.Fatalf("asked for the all-requests series, got %q", p.Request)
		}
		sum += p.Count
	}
	if sum != doc.Total.Count || len(batch.Executors) == 0 {
		t.Fatalf("series seconds add up to %d requests (report: %d), %d executor points", sum, doc.Total.Count, len(batch.Executors))
	}
}

// requireRenderings renders the stored report with `loadfleet report` in
// every format and checks each agrees with the document.
func requireRenderings(t *testing.T, server, runID string, doc report.Document) {
	t.Helper()
	dir := t.TempDir()
	for format, check := range map[string]func([]byte) error{
		"json": func(b []byte) error {
			var again report.Document
			if err := json.Unmarshal(b, &again); err != nil || again.Total.Count != doc.Total.Count {
				return fmt.Errorf("json: %v, %d requests", err, again.Total.Count)
			}
			return nil
		},
		"junit": func(b []byte) error {
			var suite struct {
				Tests int `xml:"tests,attr"`
			}
			if err := xml.Unmarshal(b, &suite); err != nil || suite.Tests != len(doc.Criteria)+1 {
				return fmt.Errorf("junit: %v, %d tests for %d criteria", err, suite.Tests, len(doc.Criteria))
			}
			return nil
		},
		"html": func(b []byte) error {
			if !bytes.Contains(b, []byte(runID)) || !bytes.Contains(b, []byte("uPlot")) {
				return errors.New("html: no run ID or no chart library")
			}
			return nil
		},
		"md": func(b []byte) error {
			if !bytes.Contains(bytes.ToLower(b), []byte(string(doc.Verdict))) {
				return errors.New("md: no verdict")
			}
			return nil
		},
	} {
		out := filepath.Join(dir, "report."+format)
		cmd := exec.Command(loadfleetBin, "report", runID, "--server", server, "--format", format, "--out", out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("loadfleet report --format %s: %v\n%s", format, err, msg)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := check(b); err != nil {
			t.Error(err)
		}
	}
}

func reportOf(t *testing.T, api metadata.API, runID string) report.Document {
	t.Helper()
	raw, err := api.Report(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	var doc report.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
