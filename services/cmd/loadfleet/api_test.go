package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

// startServer runs an all-in-one server for the CLI to talk to.
func startServer(t *testing.T) string {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DisableGit = "127.0.0.1:0", t.TempDir(), true
	a, err := app.New(app.TargetAll, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return base
}

func TestTestsAndRunsCommands(t *testing.T) {
	server := startServer(t)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(planFile, []byte(validatortest.ConstantPlan()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := loadfleet(t, "tests", "create", planFile, "--server", server, "-o", "json")
	var test store.Test
	if code != exitOK || json.Unmarshal([]byte(out), &test) != nil || test.Version != 1 {
		t.Fatalf("tests create: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = loadfleet(t, "tests", "list", "--server", server)
	if code != exitOK || !strings.Contains(out, test.ID) {
		t.Fatalf("tests list: exit %d\n%s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"name": "x"}`), 0o644)
	code, _, errOut = loadfleet(t, "tests", "create", bad, "--server", server)
	if code != exitFailure || !strings.Contains(errOut, "invalid input") || !strings.Contains(errOut, "load") {
		t.Fatalf("an invalid plan: exit %d\n%s\nwant 1 and the problems", code, errOut)
	}

	code, out, _ = loadfleet(t, "runs", "list", "--server", server, "-o", "json")
	if code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Fatalf("runs list on a new server: exit %d %q", code, out)
	}
	code, _, errOut = loadfleet(t, "runs", "show", "r-nope", "--server", server)
	if code != exitFailure || !strings.Contains(errOut, "not found") {
		t.Fatalf("runs show of a missing run: exit %d %s", code, errOut)
	}
	code, _, errOut = loadfleet(t, "runs", "list", "--server", server, "--state", "sleeping")
	if code != exitFailure || !strings.Contains(errOut, `unknown state "sleeping"`) {
		t.Fatalf("runs list --state sleeping: exit %d %s", code, errOut)
	}
	code, _, errOut = loadfleet(t, "runs", "list", "--server", server, "-o", "yaml")
	if code != exitUsage {
		t.Fatalf("-o yaml: exit %d %s, want usage", code, errOut)
	}
}
