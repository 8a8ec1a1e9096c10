// Package e2e drives the whole platform the way users do: plans in through
// the metadata API, executors started by the job service, snapshots merged
// by reporting, runs judged, in both topologies.
package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/metadataclient"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/worker"
)

// executorBin is the executor binary the local backend starts, and
// loadfleetBin the platform's binary, both built once.
var executorBin, loadfleetBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loadfleet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	executorBin = filepath.Join(dir, "loadfleet-executor")
	loadfleetBin = filepath.Join(dir, "loadfleet")
	for bin, pkg := range map[string]string{executorBin: "github.com/loadfleet/loadfleet/executors/cmd/loadfleet-executor",
		loadfleetBin: "github.com/loadfleet/loadfleet/services/cmd/loadfleet"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// target is a loopback HTTP target counting the requests it served.
func target(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// platformConfig is an all-in-one configuration on loopback whose local
// executors are the binary built by TestMain.
func platformConfig(t *testing.T, dataDir string) app.Config {
	cfg := app.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.DisableGit = true
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Locations = []app.LocationConfig{{Name: "local", Backend: "local", Command: []string{executorBin}}}
	cfg.Worker = worker.Config{StartDelay: time.Second, LeaseTTL: 3 * time.Second}
	return cfg
}

// startPlatform serves target with cfg until the test ends and returns its
// base URL.
func startPlatform(t *testing.T, target string, cfg app.Config) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := app.New(target, cfg, logger.With("target", target))
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve %s: %v", target, err)
		}
	})
	return base
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// constantPlan runs rate arrivals/s for seconds on shards executors.
func constantPlan(baseURL string, rate, seconds, shards int, criteria string) string {
	return fmt.Sprintf(`{
  "name": "e2e constant",
  "team": "shop", "project": "checkout",
  "target": {"baseUrl": %q},
  "scenarios": [{"name": "visit", "steps": [{"request": {"name": "home", "url": "/"}}]}],
  "load": {"pattern": {"constant": {"rate": %d, "during": "%ds"}}},
  "criteria": [%s],
  "executors": {"count": %d}
}`, baseURL, rate, seconds, criteria, shards)
}

// waitForState polls the run until it is in one of states, or fails.
func waitForState(t *testing.T, api metadata.API, runID string, timeout time.Duration, states ...store.State) store.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := api.Run(context.Background(), runID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if r.State == s {
				return r
			}
		}
		if r.State.Terminal() || time.Now().After(deadline) {
			t.Fatalf("run %s is %s (%s), want %v; transitions %+v", runID, r.State, r.Reason, states, r.Transitions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func client(base string) *metadataclient.Client { return metadataclient.New(base, "", nil) }

func itoa(n int) string { return fmt.Sprint(n) }
