package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/gitsource/gitsourcetest"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// A plan whose feeder lives in its git source reads it at run time from
// the checkout of the commit the validator checked, not from the
// executors' working directory: every arrival carries a row of it. An
// inline plan with a feeder file is refused when queued, saying why.
func TestFeederOfAGitSourceIsReadFromTheRunsCheckout(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	repo := gitsourcetest.Repo(t, map[string]string{"load/ok.csv": "user\nalice\nbob\n"})
	cfg := platformConfig(t, t.TempDir())
	cfg.DisableGit, cfg.Git = false, gitsourcetest.Config(t)
	api := client(startPlatform(t, app.TargetAll, cfg))

	feederPlan := func(source string) string {
		return fmt.Sprintf(`{"name": "feeder", %s "target": {"baseUrl": %q},
  "scenarios": [{"name": "s", "feeder": {"file": "load/ok.csv"}, "steps": [{"request": {"name": "user", "url": "/users/${user}"}}]}],
  "load": {"open": [{"constantUsersPerSec": {"rate": 5, "during": "2s"}}]}, "executors": {"count": 2}}`, source, srv.URL)
	}
	run, err := api.StartRun(context.Background(), metadata.StartRequest{
		Plan: json.RawMessage(feederPlan(fmt.Sprintf(`"source": {"git": {"url": %q, "ref": "main"}},`, repo)))})
	if err != nil {
		t.Fatal(err)
	}
	if run.Source == nil || len(run.Source.Commit) != 40 {
		t.Fatalf("run source %+v, want the resolved commit", run.Source)
	}
	run = waitForState(t, api, run.ID, 90*time.Second, store.Passed)
	mu.Lock()
	got := slices.Clone(paths)
	mu.Unlock()
	fromFeeder := func(p string) bool { return p == "/users/alice" || p == "/users/bob" }
	if len(got) != 10 || slices.ContainsFunc(got, func(p string) bool { return !fromFeeder(p) }) {
		t.Fatalf("the target got %q; want 10 requests, each with a row of the checkout's feeder", got)
	}

	_, err = api.StartRun(context.Background(), metadata.StartRequest{Plan: json.RawMessage(feederPlan(""))})
	var ve *plan.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "/scenarios/0/feeder/file") || !strings.Contains(err.Error(), "git source") {
		t.Fatalf("an inline plan with a feeder file: %v; want it refused at /scenarios/0/feeder/file, saying why", err)
	}
}
