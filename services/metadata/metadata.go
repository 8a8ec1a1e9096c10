// Package metadata is the metadata service: saved tests, runs and their
// state, reports. It validates what it stores, applies a run's overrides,
// and queues runs for the workers. metadataclient is its HTTP client.
package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/big"
	"net/mail"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/report"
	"github.com/loadfleet/loadfleet/services/validator"
)

// API is the metadata service, in process (*Service) or over HTTP
// (metadataclient). Every method is safe for concurrent use. Invalid input
// is a *plan.ValidationError; missing records wrap store.ErrNotFound.
type API interface {
	// CreateTest validates a plan and saves it: as a new test, or as a new
	// version of test id when id is not empty.
	CreateTest(ctx context.Context, id string, planDoc []byte) (store.Test, error)
	Tests(ctx context.Context, f store.TestFilter) ([]store.Test, error)
	Test(ctx context.Context, id string, version int) (store.Test, error)
	// StartRun queues a run of a saved test or of an inline plan.
	StartRun(ctx context.Context, req StartRequest) (store.Run, error)
	Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	Run(ctx context.Context, id string) (store.Run, error)
	// AbortRun asks the run's worker to stop it; a queued run is aborted at
	// once. Aborting an ended run is a no-op that returns it.
	AbortRun(ctx context.Context, id, reason string) (store.Run, error)
	// Report returns a run's report document (store.ErrNotFound before it
	// is written).
	Report(ctx context.Context, runID string) (json.RawMessage, error)
	// PutTeam sets a team's notification defaults (what every run of the
	// team notifies, besides its plan's own); Team reads them.
	PutTeam(ctx context.Context, t store.Team) (store.Team, error)
	Team(ctx context.Context, name string) (store.Team, error)
}

// StartRequest names what to run: a saved test (TestID, Version 0 for the
// latest) or an inline Plan, adapted by Overrides.
type StartRequest struct {
	TestID    string          `json:"testId,omitempty"`
	Version   int             `json:"version,omitempty"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	Overrides store.Overrides `json:"overrides,omitzero"`
}

// The team and project of plans that name none.
const (
	DefaultTeam    = "default"
	DefaultProject = "default"
)

// Store is what the metadata service needs of the metadata store: teams,
// projects and tests, and runs as the API creates, lists and aborts them
// (never their leases, snapshots or outbox). *sqlite.Store and
// *mongo.Store satisfy it; the methods are documented on store.Store.
type Store interface {
	PutTeam(ctx context.Context, t store.Team) error
	Team(ctx context.Context, name string) (store.Team, error)
	PutProject(ctx context.Context, p store.Project) error
	SaveTest(ctx context.Context, t store.Test) (store.Test, error)
	Test(ctx context.Context, id string, version int) (store.Test, error)
	Tests(ctx context.Context, f store.TestFilter) ([]store.Test, error)
	CreateRun(ctx context.Context, r store.Run) error
	Run(ctx context.Context, id string) (store.Run, error)
	Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	Transition(ctx context.Context, id string, to store.State, reason string, at time.Time) (store.Run, error)
	RequestAbort(ctx context.Context, id, reason string) (store.Run, error)
	Report(ctx context.Context, runID string) (json.RawMessage, error)
}

// Service is the metadata service in process.
type Service struct {
	store     Store
	validator validator.Validator
	// planFiles are the files of inline plans (see SetPlanFiles).
	planFiles fs.FS
	logger    *slog.Logger
	runs      *prometheus.CounterVec
	now       func() time.Time
}

// New returns the metadata service over st, validating plans with v.
func New(st Store, v validator.Validator, logger *slog.Logger, reg prometheus.Registerer) *Service {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "loadfleet_metadata_runs_started_total", Help: "Runs queued, by team.",
	}, []string{"team"})
	if reg != nil {
		reg.MustRegister(runs)
	}
	return &Service{store: st, validator: v, logger: logger, runs: runs, now: time.Now}
}

// SetPlanFiles gives the directory inline plans' relative files (feeders)
// are read from: what the platform `loadfleet run` starts in process gets,
// the plan file's directory. A server has none: its runs read their files
// from their git source, and an inline plan with a feeder file is refused.
// Call it before serving; it needs an in-process validator.
func (s *Service) SetPlanFiles(fsys fs.FS) { s.planFiles = fsys }

// CreateTest implements API.
func (s *Service) CreateTest(ctx context.Context, id string, planDoc []byte) (store.Test, error) {
	p, _, err := s.validate(ctx, planDoc)
	if err != nil {
		return store.Test{}, err
	}
	if id == "" {
		id = newID("t")
	} else if old, err := s.store.Test(ctx, id, 0); err != nil {
		return store.Test{}, err
	} else if old.Team != p.Team || old.Project != p.Project {
		return store.Test{}, fieldError("/team", fmt.Sprintf(
			"test %s belongs to team %q, project %q; a new version cannot move it", id, old.Team, old.Project))
	}
	if err := s.ensureProject(ctx, p.Team, p.Project); err != nil {
		return store.Test{}, err
	}
	return s.store.SaveTest(ctx, store.Test{ID: id, Name: p.Name, Team: p.Team, Project: p.Project,
		Plan: compact(planDoc), Created: s.now().UTC()})
}

// Tests implements API.
func (s *Service) Tests(ctx context.Context, f store.TestFilter) ([]store.Test, error) {
	return s.store.Tests(ctx, f)
}

// Test implements API.
func (s *Service) Test(ctx context.Context, id string, version int) (store.Test, error) {
	return s.store.Test(ctx, id, version)
}

// StartRun implements API.
func (s *Service) StartRun(ctx context.Context, req StartRequest) (store.Run, error) {
	doc := []byte(req.Plan)
	run := store.Run{ID: newID("r"), State: store.Queued, Created: s.now().UTC(), Overrides: req.Overrides,
		Seed: randomSeed(), Transitions: []store.Transition{}}
	switch {
	case req.TestID != "" && len(req.Plan) > 0:
		return store.Run{}, fieldError("/plan", "give either a test ID or a plan, not both")
	case req.TestID != "":
		t, err := s.store.Test(ctx, req.TestID, req.Version)
		if err != nil {
			return store.Run{}, err
		}
		doc, run.TestID, run.TestVersion = t.Plan, t.ID, t.Version
	case len(req.Plan) == 0:
		return store.Run{}, fieldError("/plan", "a run needs a test ID or a plan")
	}
	doc, err := withOverrides(doc, req.Overrides)
	if err != nil {
		return store.Run{}, err
	}
	p, res, err := s.validate(ctx, doc)
	if err != nil {
		return store.Run{}, err
	}
	run.Team, run.Project, run.Plan = p.Team, p.Project, doc
	if src := res.Source; src != nil && p.Source != nil && p.Source.Git != nil {
		run.Source = &store.Source{URL: src.URL, Ref: src.Ref, Path: p.Source.Git.Path, Commit: src.SHA}
	}
	if err := s.ensureProject(ctx, p.Team, p.Project); err != nil {
		return store.Run{}, err
	}
	if err := s.store.CreateRun(ctx, run); err != nil {
		return store.Run{}, err
	}
	s.runs.WithLabelValues(p.Team).Inc()
	s.logger.Info("run queued", "run", run.ID, "team", run.Team, "project", run.Project, "test", run.TestID)
	return s.Run(ctx, run.ID)
}

// Runs implements API.
func (s *Service) Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	runs, err := s.store.Runs(ctx, f)
	for i := range runs {
		runs[i] = Redact(runs[i])
	}
	return runs, err
}

// Run implements API.
func (s *Service) Run(ctx context.Context, id string) (store.Run, error) {
	r, err := s.store.Run(ctx, id)
	return Redact(r), err
}

// AbortRun implements API.
func (s *Service) AbortRun(ctx context.Context, id, reason string) (store.Run, error) {
	if reason == "" {
		reason = "aborted by a user"
	}
	r, err := s.store.RequestAbort(ctx, id, reason)
	if err != nil || r.State != store.Queued {
		return Redact(r), err
	}
	// No worker holds a queued run: end it here. Losing the race to a
	// worker that just claimed it is fine, the worker sees AbortWanted.
	ended, err := s.store.Transition(ctx, id, store.Aborted, reason, s.now().UTC())
	if errors.Is(err, store.ErrIllegalTransition) {
		return s.Run(ctx, id)
	}
	return Redact(ended), err
}

// Report implements API.
func (s *Service) Report(ctx context.Context, runID string) (json.RawMessage, error) {
	if _, err := s.store.Run(ctx, runID); err != nil {
		return nil, err
	}
	doc, err := s.store.Report(ctx, runID)
	if err != nil {
		return nil, err
	}
	// Reports are stored redacted; one stored before redaction existed is
	// redacted on its way out.
	return report.RedactJSON(doc)
}

// PutTeam implements API.
func (s *Service) PutTeam(ctx context.Context, t store.Team) (store.Team, error) {
	var problems []plan.Problem
	if strings.TrimSpace(t.Name) == "" {
		problems = append(problems, plan.Problem{Path: "/name", Message: "a team needs a name"})
	}
	for i, addr := range t.Email {
		if _, err := mail.ParseAddress(addr); err != nil {
			problems = append(problems, plan.Problem{Path: fmt.Sprintf("/email/%d", i), Message: fmt.Sprintf("%q is not an email address", addr)})
		}
	}
	for i, ch := range t.Slack {
		if strings.TrimSpace(ch) == "" {
			problems = append(problems, plan.Problem{Path: fmt.Sprintf("/slack/%d", i), Message: "a Slack channel cannot be empty"})
		}
	}
	if len(problems) > 0 {
		return store.Team{}, &plan.ValidationError{Kind: plan.ErrInvalid, Problems: problems}
	}
	if old, err := s.store.Team(ctx, t.Name); err == nil {
		t.Created = old.Created
	} else {
		t.Created = s.now().UTC()
	}
	if err := s.store.PutTeam(ctx, t); err != nil {
		return store.Team{}, err
	}
	return s.store.Team(ctx, t.Name)
}

// Team implements API.
func (s *Service) Team(ctx context.Context, name string) (store.Team, error) {
	return s.store.Team(ctx, name)
}

// Redact removes the secrets of a run (its executors' tokens) before it
// leaves the control plane.
func Redact(r store.Run) store.Run {
	if len(r.Shards) == 0 {
		return r
	}
	shards := make([]store.Shard, len(r.Shards))
	for i, sh := range r.Shards {
		sh.Token, sh.PastTokens = "", nil
		shards[i] = sh
	}
	r.Shards = shards
	return r
}

// validate checks a plan document and returns it parsed.
func (s *Service) validate(ctx context.Context, doc []byte) (*plan.Plan, *validator.Result, error) {
	res, err := s.validator.Validate(ctx, doc, validator.Options{ForRun: true, Dir: s.planFiles})
	if err != nil {
		return nil, nil, fmt.Errorf("validate the plan: %w", err)
	}
	if !res.Valid {
		kind := plan.ErrInvalid
		switch res.Reason {
		case validator.ReasonSyntax:
			kind = plan.ErrSyntax
		case validator.ReasonTooLarge:
			kind = plan.ErrTooLarge
		}
		return nil, nil, &plan.ValidationError{Kind: kind, Problems: res.Problems}
	}
	// Plans without a team or project are filed under "default", so every
	// run can be listed by both.
	if res.Plan.Team == "" {
		res.Plan.Team = DefaultTeam
	}
	if res.Plan.Project == "" {
		res.Plan.Project = DefaultProject
	}
	return res.Plan, res, nil
}

func (s *Service) ensureProject(ctx context.Context, team, project string) error {
	if _, err := s.store.Team(ctx, team); errors.Is(err, store.ErrNotFound) {
		if err := s.store.PutTeam(ctx, store.Team{Name: team, Created: s.now().UTC()}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return s.store.PutProject(ctx, store.Project{Team: team, Name: project, Created: s.now().UTC()})
}

// withOverrides returns the plan document with the overrides applied. A
// plan that does not parse is returned as is, for the validator to report.
func withOverrides(doc []byte, o store.Overrides) ([]byte, error) {
	if o == (store.Overrides{}) {
		return doc, nil
	}
	var p plan.Plan
	if err := json.Unmarshal(doc, &p); err != nil {
		return doc, nil
	}
	if err := applyOverrides(&p, o); err != nil {
		return nil, err
	}
	return json.Marshal(&p)
}

func compact(doc []byte) json.RawMessage {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return doc
	}
	b, err := json.Marshal(v)
	if err != nil {
		return doc
	}
	return b
}

// newID returns a random identifier with a prefix saying what it names.
func newID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func randomSeed() uint64 {
	n, err := rand.Int(rand.Reader, new(big.Int).SetUint64(math.MaxUint64))
	if err != nil {
		return uint64(time.Now().UnixNano())
	}
	return n.Uint64()
}

var _ API = (*Service)(nil)
