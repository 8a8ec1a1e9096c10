package plan_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

const examplesDir = "../examples"

// exampleNames lists the examples the issue asks for; a missing one fails
// the test.
func exampleNames() []string {
	return []string{
		"constant.json", "ramp.json", "steps.json", "spike.json", "closed.json",
		"smoke.json", "multi-scenario.json", "jmeter-git.json",
	}
}

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestExamplesAreValid(t *testing.T) {
	found, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(exampleNames()) {
		t.Errorf("examples %v, want exactly %v (add new ones to the list)", found, exampleNames())
	}
	parser, err := plan.NewParser()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range exampleNames() {
		t.Run(name, func(t *testing.T) {
			p, err := parser.Parse(readExample(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if p.Source == nil {
				// Without a git source, files are relative to the plan's directory.
				if err := plan.CheckFiles(p, os.DirFS(examplesDir)); err != nil {
					t.Fatal(err)
				}
			}
			e := schedule.Explain(p)
			if e.DurationSeconds < 0 || len(e.Steps) == 0 || e.PeakRate < 0 || len(e.Shards) != e.Executors {
				t.Fatalf("explanation %+v", e)
			}
			if !strings.HasPrefix(p.Target.BaseURL, "http://127.0.0.1:") {
				t.Fatalf("examples target loopback, not %s", p.Target.BaseURL)
			}
		})
	}
}

// TestExamplesExplain pins what the examples mean, so that an edit that
// changes their load is deliberate.
func TestExamplesExplain(t *testing.T) {
	tests := []struct {
		why      string
		name     string
		arrivals int64 // open models
		peak     int   // closed models
		seconds  float64
	}{
		{"100/s for 5 minutes is exactly 30,000 arrivals", "constant.json", 30000, 0, 300},
		{"a ramp from 10 to 100/s over 300 s is exactly 16,500", "ramp.json", 16500, 0, 300},
		{"20+40+60+80+100 per second, 2 minutes each", "steps.json", 120 * 300, 0, 600},
		{"one user, one pass", "smoke.json", 1, 0, 0},
		{"the closed example peaks at its last level", "closed.json", 0, 125, 60 + 300 + 3*120 + 2*30},
		{"the jmeter example peaks at 20 users", "jmeter-git.json", 0, 20, 360},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			p, err := plan.Parse(readExample(t, tt.name))
			if err != nil {
				t.Fatal(err)
			}
			e := schedule.Explain(p)
			if tt.arrivals > 0 && (e.TotalArrivals == nil || *e.TotalArrivals != tt.arrivals) {
				t.Errorf("total arrivals %v, want %d", e.TotalArrivals, tt.arrivals)
			}
			if tt.peak > 0 && (e.PeakUsers == nil || *e.PeakUsers != tt.peak) {
				t.Errorf("peak users %v, want %d", e.PeakUsers, tt.peak)
			}
			if e.DurationSeconds != tt.seconds {
				t.Errorf("duration %v s, want %v", e.DurationSeconds, tt.seconds)
			}
		})
	}
}

func TestMultiScenarioFeeder(t *testing.T) {
	p, err := plan.Parse(readExample(t, "multi-scenario.json"))
	if err != nil {
		t.Fatal(err)
	}
	records, err := plan.ReadFeeder(os.DirFS(examplesDir), p.Scenarios[1].Feeder)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 3 || records[0]["user"] != "alice" || records[2]["password"] != "carol-pass" {
		t.Fatalf("records %v", records)
	}
}

func TestJMeterExampleNeedsItsScript(t *testing.T) {
	p, err := plan.Parse(readExample(t, "jmeter-git.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.EffectiveTool() != plan.ToolJMeter || p.Source.Git.Path != "plans/checkout.jmx" || p.Source.Git.Ref != "main" {
		t.Fatalf("source %+v", p.Source.Git)
	}
	// The examples directory is not the perf-tests checkout: the script is missing.
	err = plan.CheckFiles(p, os.DirFS(examplesDir))
	var verr *plan.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Path != "/source/git/path" {
		t.Fatalf("want a missing-script problem, got %v", err)
	}
}

func TestDefaultCapacitiesAgreeWithSchedule(t *testing.T) {
	if plan.DefaultMaxRatePerExecutor != schedule.DefaultMaxRatePerExecutor ||
		plan.DefaultMaxUsersPerExecutor != schedule.DefaultMaxUsersPerExecutor {
		t.Fatal("plan checks auto fleets with other defaults than schedule sizes them")
	}
}

func TestDurationsMarshalInSchemaUnits(t *testing.T) {
	tests := []struct {
		why string
		d   time.Duration
		out string
	}{
		{"whole units as time.Duration writes them", 90 * time.Second, `"1m30s"`},
		{"milliseconds", 250 * time.Millisecond, `"250ms"`},
		{"under a millisecond, fractional ms instead of µs", 500 * time.Microsecond, `"0.5ms"`},
		{"a nanosecond", time.Nanosecond, `"0.000001ms"`},
		{"zero", 0, `"0s"`},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			out, err := plan.Duration(tt.d).MarshalJSON()
			if err != nil || string(out) != tt.out {
				t.Fatalf("got %s %v, want %s", out, err, tt.out)
			}
			var back plan.Duration
			if err := back.UnmarshalJSON(out); err != nil || back.D() != tt.d {
				t.Fatalf("%s reads back as %v %v", out, back, err)
			}
		})
	}
}
