package command

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Setenv(wire.ShardSpecEnv, "") // otherwise "agent" alone has a spec source
	planFile := writeFile(t, "plan.json", `{}`)
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"launch"}},
		{"run needs a plan", []string{"run"}},
		{"run takes one plan", []string{"run", planFile, planFile}},
		{"unknown output format", []string{"run", planFile, "--output", "xml"}},
		{"unknown flag", []string{"run", planFile, "--fast"}},
		{"agent needs a spec source", []string{"agent"}},
		{"agent takes one spec source", []string{"agent", "--spec", planFile, "--control", "http://127.0.0.1:1", "--token", "t"}},
		{"agent control needs a token", []string{"agent", "--control", "http://127.0.0.1:1", "--token", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Execute(context.Background(), tt.args, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if stderr.Len() == 0 {
				t.Error("nothing printed to say what is wrong")
			}
		})
	}
}

func TestBadPlanExitsOneWithEveryProblemAndItsPath(t *testing.T) {
	planFile := writeFile(t, "plan.json", `{"name": "bad", "target": {"baseUrl": "http://127.0.0.1:1"},
		"load": {"open": [{"atOnceUsers": {"users": -1}}]}, "colour": "blue"}`)
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), []string{"run", planFile}, &stdout, &stderr)
	if code != exitError {
		t.Fatalf("exit %d, want %d", code, exitError)
	}
	for _, want := range []string{"\n/colour: ", "\n/load/open/0/atOnceUsers/users: "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks a line starting %q:\n%s", want[1:], stderr.String())
		}
	}
}

func TestMissingPlanFileExitsOne(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Execute(context.Background(), []string{"run", filepath.Join(t.TempDir(), "none.json")}, &stdout, &stderr); code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
