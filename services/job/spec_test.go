package job_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job"
	"github.com/loadfleet/loadfleet/services/job/backend"
	"github.com/loadfleet/loadfleet/services/job/jobclient"
	"github.com/loadfleet/loadfleet/services/validator"
)

// recorder is a backend that records what it was asked to start.
type recorder struct {
	mu      sync.Mutex
	started []wire.ShardSpec
}

func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Start(_ context.Context, _ wire.ShardID, spec wire.ShardSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, spec)
	return nil
}
func (r *recorder) Status(_ context.Context, id wire.ShardID) (backend.Status, error) {
	return backend.Status{ID: id, Phase: backend.Missing}, nil
}
func (r *recorder) List(context.Context, string) ([]backend.Status, error) { return nil, nil }
func (r *recorder) Stop(context.Context, wire.ShardID) error               { return nil }
func (r *recorder) Logs(context.Context, wire.ShardID) (io.ReadCloser, error) {
	return nil, backend.ErrNotFound
}
func (r *recorder) Remove(context.Context, wire.ShardID) error { return nil }

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.started)
}

func parse(t *testing.T, doc string) plan.Plan {
	t.Helper()
	p, err := plan.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

const validPlan = `{"name": "ok", "target": {"baseUrl": "http://127.0.0.1:9"},
	"scenarios": [{"name": "s", "steps": [{"request": {"name": "r", "url": "/"}}]}],
	"load": {"open": [{"constantUsersPerSec": {"rate": 10, "during": "10s"}}]}, "executors": {"count": 2}}`

// A hand-made spec reaching the job service directly is checked as the
// validator checks plans, and for what only a spec has (its shard, its
// URLs, its dir): a refused spec lists every problem and starts nothing.
func TestStartRefusesSpecsThatBreakTheRules(t *testing.T) {
	root := t.TempDir()
	checkout := filepath.Join(root, "checkouts", "abc")
	outside := t.TempDir()
	if err := os.MkdirAll(checkout, 0o755); err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join(root, "checkouts", "escape")
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	id := wire.ShardID{RunID: "r-1", Shard: 1, Attempt: 0}
	good := func() wire.ShardSpec {
		return wire.ShardSpec{RunID: "r-1", Shard: 1, Shards: 2, Plan: parse(t, validPlan), Token: "r-1.1.0.x",
			ControlURL: "http://127.0.0.1:8080", IngestURL: "http://127.0.0.1:8080", Dir: checkout}
	}
	cases := []struct {
		why    string
		change func(*wire.ShardSpec)
		want   []string // pointers of the problems; none: started
	}{
		{"a spec of a validated plan in its checkout starts", func(*wire.ShardSpec) {}, nil},
		{"no dir is fine: the plan reads no file", func(s *wire.ShardSpec) { s.Dir = "" }, nil},
		{"a 48 h load is over the server's ceiling", func(s *wire.ShardSpec) {
			s.Plan = parse(t, strings.Replace(validPlan, `"10s"`, `"48h"`, 1))
		}, []string{"/plan/load"}},
		{"a rate over the ceiling is refused too", func(s *wire.ShardSpec) {
			s.Plan = parse(t, strings.Replace(validPlan, `"rate": 10`, `"rate": 1000000`, 1))
		}, []string{"/plan/load/open/0"}},
		{"a plan the validator would refuse is refused", func(s *wire.ShardSpec) { s.Plan.Scenarios = nil }, []string{"/plan/scenarios"}},
		{"a dir outside the checkouts is refused", func(s *wire.ShardSpec) { s.Dir = outside }, []string{"/dir"}},
		{"a host directory of the caller's choice is refused", func(s *wire.ShardSpec) { s.Dir = "/etc" }, []string{"/dir"}},
		{"a dir that climbs out of the checkouts is refused", func(s *wire.ShardSpec) { s.Dir = checkout + "/../../.." }, []string{"/dir"}},
		{"a symbolic link out of the checkouts is refused", func(s *wire.ShardSpec) { s.Dir = escape }, []string{"/dir"}},
		{"a relative dir is refused", func(s *wire.ShardSpec) { s.Dir = "checkouts/abc" }, []string{"/dir"}},
		{"the shard must be one of the shards", func(s *wire.ShardSpec) { s.Shards = 1 }, []string{"/shard"}},
		{"the spec must be the request's executor", func(s *wire.ShardSpec) { s.RunID = "r-2" }, []string{"/runId"}},
		{"the attempt must be sane", func(s *wire.ShardSpec) { s.Attempt = -1 }, []string{"/attempt"}},
		{"more shards than executors allowed", func(s *wire.ShardSpec) { s.Shards = 500 }, []string{"/shards"}},
		{"URLs must be http(s) with a host", func(s *wire.ShardSpec) {
			s.ControlURL, s.IngestURL = "file:///etc/passwd", "http://user:pw@127.0.0.1/"
		}, []string{"/controlUrl", "/ingestUrl"}},
		{"a spec without token or ingest is refused", func(s *wire.ShardSpec) { s.Token, s.IngestURL = "", "" }, []string{"/ingestUrl", "/token"}},
	}
	for _, tc := range cases {
		t.Run(tc.why, func(t *testing.T) {
			rec := &recorder{}
			svc, err := job.New([]job.Location{{Name: "here", Backend: rec}},
				job.SpecRules{Limits: validator.DefaultLimits(), Roots: []string{filepath.Join(root, "checkouts")}}, testLogger(), nil)
			if err != nil {
				t.Fatal(err)
			}
			spec := good()
			tc.change(&spec)
			sid := id
			sid.Attempt = spec.Attempt
			err = svc.Start(context.Background(), "here", sid, spec)
			if tc.want == nil {
				if err != nil || rec.count() != 1 {
					t.Fatalf("Start: %v, %d started; want it started", err, rec.count())
				}
				return
			}
			var se *job.SpecError
			if !errors.As(err, &se) || !errors.Is(err, job.ErrInvalidSpec) {
				t.Fatalf("Start: %v, want a *SpecError", err)
			}
			var got []string
			for _, p := range se.Problems {
				got = append(got, p.Path)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.Join(got, " "), w) {
					t.Errorf("problems %v, want one at %s", se.Problems, w)
				}
			}
			if rec.count() != 0 {
				t.Errorf("a refused spec started %d executors", rec.count())
			}
		})
	}
}

// Over HTTP a refused spec is a 422 listing the problems, which the client
// returns as a *SpecError.
func TestRefusedSpecOverHTTP(t *testing.T) {
	rec := &recorder{}
	svc, err := job.New([]job.Location{{Name: "here", Backend: rec}},
		job.SpecRules{Limits: validator.DefaultLimits(), Roots: []string{t.TempDir()}}, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	job.Routes(mux, svc)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	id := wire.ShardID{RunID: "r-1", Shard: 0}
	spec := wire.ShardSpec{RunID: "r-1", Shards: 1, Token: "t", IngestURL: "http://127.0.0.1:1",
		Plan: parse(t, strings.Replace(validPlan, `"10s"`, `"48h"`, 1)), Dir: "/home"}
	err = jobclient.New(srv.URL, nil).Start(context.Background(), "here", id, spec)
	var se *job.SpecError
	if !errors.As(err, &se) || len(se.Problems) != 2 || !strings.Contains(err.Error(), "max duration") {
		t.Fatalf("Start over HTTP: %v, want a *SpecError with the duration and the dir", err)
	}
	if rec.count() != 0 {
		t.Fatal("a refused spec started an executor")
	}
}
