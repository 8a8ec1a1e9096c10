package validator_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/validator"
	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

func TestServiceScenario(t *testing.T) {
	validatortest.Run(t, func(t *testing.T, cfg validator.Config, f validator.Fetcher) validator.Validator {
		return validator.New(cfg, f, nil, prometheus.NewRegistry())
	})
}

// feederPlan has one scenario whose feeder is data/users.csv, relative to
// the plan file.
const feederPlan = `{
  "name": "with-feeder",
  "target": {"baseUrl": "http://127.0.0.1:8080"},
  "scenarios": [{"name": "login", "feeder": {"file": "data/users.csv"},
                 "steps": [{"request": {"name": "login", "url": "/login?u=${user}"}}]}],
  "load": {"pattern": {"constant": {"rate": 10, "during": "10s"}}}
}`

func TestServiceChecksFilesAgainstOptionsDir(t *testing.T) {
	svc := validator.New(validator.Config{Limits: validator.DefaultLimits()}, nil, nil, nil)
	tests := []struct {
		name      string
		dir       *fstest.MapFS
		forRun    bool
		wantValid bool
		wantNote  bool
	}{
		{"the feeder next to the plan is read and accepted",
			&fstest.MapFS{"data/users.csv": {Data: []byte("user\nalice\n")}}, false, true, false},
		{"a missing feeder is a problem at its pointer",
			&fstest.MapFS{"other.csv": {Data: []byte("user\nalice\n")}}, false, false, false},
		{"a feeder that does not parse is a problem",
			&fstest.MapFS{"data/users.csv": {Data: []byte("user,user\nalice,bob\n")}}, false, false, false},
		{"without a directory the files are not checked, and the result says so",
			nil, false, true, true},
		{"for a run, a feeder with no directory to read it from is a problem: the run would fail",
			nil, true, false, false},
		{"for a run with the plan's directory (loadfleet run), the feeder is checked there",
			&fstest.MapFS{"data/users.csv": {Data: []byte("user\nalice\n")}}, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := validator.Options{ForRun: tt.forRun}
			if tt.dir != nil {
				opts.Dir = *tt.dir
			}
			res, err := svc.Validate(context.Background(), []byte(feederPlan), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid != tt.wantValid || (len(res.Notes) > 0) != tt.wantNote {
				t.Fatalf("valid %v notes %v problems %v; want valid %v, a note %v",
					res.Valid, res.Notes, res.Problems, tt.wantValid, tt.wantNote)
			}
			if !tt.wantValid && (len(res.Problems) != 1 || res.Problems[0].Path != "/scenarios/0/feeder/file") {
				t.Fatalf("problems = %v, want one at /scenarios/0/feeder/file", res.Problems)
			}
		})
	}
}

// countingFetcher is a fake Fetcher that only counts its calls.
type countingFetcher struct{ calls int }

func (f *countingFetcher) Fetch(context.Context, plan.GitSource) (*gitsource.Checkout, error) {
	f.calls++
	return nil, errors.New("fetch must not be called")
}

func TestServiceOfflineSkipsTheGitSource(t *testing.T) {
	fetcher := &countingFetcher{}
	svc := validator.New(validator.Config{Limits: validator.DefaultLimits()}, fetcher, nil, nil)
	doc := strings.Replace(feederPlan, `"target"`,
		`"source": {"git": {"url": "https://git.example.com/plans.git"}}, "target"`, 1)
	res, err := svc.Validate(context.Background(), []byte(doc), validator.Options{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid || res.Source != nil || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "offline") {
		t.Fatalf("valid %v source %v notes %v; want valid, no source, an offline note", res.Valid, res.Source, res.Notes)
	}
	if fetcher.calls != 0 {
		t.Fatalf("the fetcher was called %d times offline", fetcher.calls)
	}
}

func TestServiceReportsInternalFetchFailuresAsErrors(t *testing.T) {
	url := validatortest.GitRepo(t, map[string]string{"data/users.csv": "user\nalice\n"})
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := validatortest.GitConfig(t)
	cfg.CacheDir = filepath.Join(notADir, "cache") // cannot be created: not the plan's fault
	svc := validator.New(validator.Config{}, gitsource.New(cfg, nil), nil, nil)
	doc := strings.Replace(feederPlan, `"target"`, `"source": {"git": {"url": "`+url+`"}}, "target"`, 1)

	res, err := svc.Validate(context.Background(), []byte(doc), validator.Options{})
	if err == nil {
		t.Fatalf("Validate = %+v, nil; want an internal error", res)
	}
}

func TestServiceCountsOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc := validator.New(validator.Config{Limits: validator.DefaultLimits()}, nil, nil, reg)
	for _, doc := range []string{validatortest.ConstantPlan(), "{", "{}", validatortest.ConstantPlan()} {
		if _, err := svc.Validate(context.Background(), []byte(doc), validator.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{"valid": 2, "syntax": 1, "invalid": 1}
	if got := requestsByOutcome(t, reg); !maps.Equal(got, want) {
		t.Fatalf("requests by outcome = %v, want %v", got, want)
	}
}

// requestsByOutcome reads loadfleet_validator_requests_total from reg.
func requestsByOutcome(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "loadfleet_validator_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return got
}
