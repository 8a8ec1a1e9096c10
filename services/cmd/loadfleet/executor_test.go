package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

func TestExecutorPassesItsCommandLineThrough(t *testing.T) {
	t.Setenv(wire.ShardSpecEnv, "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"version is the executor's", []string{"executor", "version"}, exitOK, "loadfleet-executor"},
		{"its flags are the executor's, not cobra's", []string{"executor", "help"}, exitOK, "agent [--spec FILE"},
		{"an agent without a spec source is a usage error", []string{"executor", "agent"}, exitUsage, "LOADFLEET_SHARD_SPEC"},
		{"a missing plan fails the run", []string{"executor", "run", filepath.Join(t.TempDir(), "none.json")}, exitFailure, "read plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := loadfleet(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout+stderr, tt.wantOut) {
				t.Errorf("exit %d, want %d; output lacks %q?\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, tt.wantOut, stdout, stderr)
			}
		})
	}
}

// A plan run through `loadfleet executor run` really sends its arrivals.
func TestExecutorRunsAPlan(t *testing.T) {
	var served atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { served.Add(1) }))
	defer target.Close()
	planFile := filepath.Join(t.TempDir(), "plan.json")
	plan := `{"name": "exec", "target": {"baseUrl": "` + target.URL + `"},
		"scenarios": [{"name": "visit", "steps": [{"request": {"name": "home", "url": "/"}}]}],
		"load": {"open": [{"atOnceUsers": {"users": 4}}]}}`
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := loadfleet(t, "executor", "run", planFile)
	if code != exitOK || !strings.Contains(stdout, "arrivals: planned 4, started 4") || served.Load() != 4 {
		t.Fatalf("exit %d, served %d\nstdout:\n%s\nstderr:\n%s", code, served.Load(), stdout, stderr)
	}
}
