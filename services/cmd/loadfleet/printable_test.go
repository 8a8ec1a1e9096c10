package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/services/app"
)

func TestPrintable(t *testing.T) {
	tests := []struct {
		why, in, want string
	}{
		{"plain names are untouched", "checkout /api/cart", "checkout /api/cart"},
		{"letters of every script are text", "Zahlung – 支払い ✓", "Zahlung – 支払い ✓"},
		{"a replacement character that was sent as one is text", "bad \uFFFD byte", "bad \uFFFD byte"},
		{"backslashes stay as they are", `C:\plans`, `C:\plans`},
		{"an ANSI sequence that clears the screen prints as text", "home\x1b[2J", `home\x1b[2J`},
		{"colours too", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a newline would forge a line of output", "a\nPASS  all good", `a\nPASS  all good`},
		{"a carriage return would overwrite the line", "ok\rFAIL", `ok\rFAIL`},
		{"a tab would shift a table's columns", "a\tb", `a\tb`},
		{"other C0 characters: bell, backspace, NUL", "\a\b\x00", `\x07\x08\x00`},
		{"DEL", "x\x7f", `x\x7f`},
		{"C1: the one-character CSI", "a\u009b2J", `a\u009b2J`},
		{"C1: the operating system command that sets a title", "\u009d0;pwned\u009c", `\u009d0;pwned\u009c`},
		{"a bidirectional override reorders what is shown", "abc\u202edcba", `abc\u202edcba`},
		{"a bidirectional isolate", "\u2066x\u2069", `\u2066x\u2069`},
		{"a byte that is not UTF-8 (a raw C1 CSI on 8-bit terminals)", "a\x9b2J", `a\x9b2J`},
		{"a truncated UTF-8 sequence", "a\xe2\x82", `a\xe2\x82`},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			if got := printable(tt.in); got != tt.want {
				t.Fatalf("printable(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPrintableLinesKeepsItsOwnLineBreaks(t *testing.T) {
	got := printableLines("invalid input:\n  /name: \x1b[2J too long")
	if want := "invalid input:\n  /name: \\x1b[2J too long"; got != want {
		t.Fatalf("printableLines = %q, want %q", got, want)
	}
}

// A plan whose names carry a screen-clearing ANSI sequence and a newline
// (a forged "PASS" line) is run, listed and shown: the CLI prints them
// escaped, never as terminal control.
func TestCLIPrintsUserNamesInert(t *testing.T) {
	bin, err := buildExecutor()
	if err != nil {
		t.Fatal(err)
	}
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	plan := fmt.Sprintf(`{"name": "evil\u001b[2J\nFAKE", "team": "t\u001b[31m", "project": "p\u009b2J",
  "target": {"baseUrl": %q},
  "scenarios": [{"name": "visit", "steps": [{"request": {"name": "home\u001b[2J\nPASS", "url": "/"}}]}],
  "load": {"pattern": {"constant": {"rate": 10, "during": "1s"}}},
  "criteria": [{"metric": "latency.p99", "request": "home\u001b[2J\nPASS", "max": "5s"}],
  "executors": {"count": 1}}`, target.URL)
	if err := os.WriteFile(planFile, []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	inert := func(what, out string, want ...string) {
		t.Helper()
		if strings.ContainsAny(out, "\x1b\u009b") || strings.Contains(out, "\nPASS") || strings.Contains(out, "\nFAKE") {
			t.Errorf("%s printed terminal control or a forged line:\n%q", what, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no %q in\n%s", what, w, out)
			}
		}
	}

	code, out, errOut := loadfleet(t, "run", planFile, "--data-dir", data, "--executor-command", bin, "--progress-interval", "100ms")
	if code != exitOK {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	inert("run's summary", out, `home\x1b[2J\nPASS`)
	inert("run's progress", errOut)

	// A criterion on an unknown request: the problem lists the known names.
	unknown := filepath.Join(dir, "unknown.json")
	if err := os.WriteFile(unknown, []byte(strings.Replace(plan, `"request": "home\u001b[2J\nPASS", "max"`, `"request": "nope", "max"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = loadfleet(t, "validate", "--offline", unknown)
	if code != exitFailure {
		t.Fatalf("validate with an unknown request: exit %d\n%s%s", code, out, errOut)
	}
	inert("validate", out+errOut, `known requests: home\x1b[2J\nPASS`)

	// The same data directory, served: the run is listed and shown.
	cfg := app.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DisableGit = "127.0.0.1:0", data, true
	cfg.Locations = []app.LocationConfig{{Name: "local", Backend: "local", Command: []string{bin}}}
	a, err := app.New(app.TargetAll, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, stop, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()

	code, out, errOut = loadfleet(t, "runs", "list", "--server", server)
	if code != exitOK {
		t.Fatalf("runs list: exit %d %s", code, errOut)
	}
	inert("runs list", out, `t\x1b[31m`, `p\u009b2J`)
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, errOut = loadfleet(t, "runs", "show", id, "--server", server)
	if code != exitOK {
		t.Fatalf("runs show: exit %d %s", code, errOut)
	}
	inert("runs show", out, `team t\x1b[31m`)
	code, out, errOut = loadfleet(t, "tests", "create", planFile, "--server", server)
	if code != exitOK {
		t.Fatalf("tests create: exit %d %s", code, errOut)
	}
	inert("tests create", out, `evil\x1b[2J\nFAKE`)
	code, out, _ = loadfleet(t, "tests", "list", "--server", server)
	inert("tests list", out, `evil\x1b[2J\nFAKE`)
}
