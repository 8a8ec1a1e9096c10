package validator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/gitsource"
)

// Config is the server-side configuration of the validator.
type Config struct {
	Limits Limits
}

// Fetcher fetches the git source of a plan; *gitsource.Fetcher implements
// it. Errors for problems of the plan must be understood by
// gitsource.Problems; any other error is internal.
type Fetcher interface {
	Fetch(ctx context.Context, src plan.GitSource) (*gitsource.Checkout, error)
}

// Service validates plans in process.
type Service struct {
	cfg     Config
	fetcher Fetcher
	logger  *slog.Logger
	metrics *metrics
	// parser compiles the plan schema once, on first use, so that New
	// stays infallible; a failure is a build defect reported by Validate.
	parser func() (*plan.Parser, error)
}

// New returns the validator service. A nil fetcher disables git sources:
// plans that have one are invalid. Metrics are registered on reg (nil: not
// registered); it panics if they already are, as two services must not
// share one registry.
func New(cfg Config, fetcher Fetcher, logger *slog.Logger, reg prometheus.Registerer) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, fetcher: fetcher, logger: logger, metrics: newMetrics(reg),
		parser: sync.OnceValues(plan.NewParser)}
}

// Validate runs every check on the plan document data: parsing (syntax,
// schema, semantics), this server's ceilings, the git source and the files
// the plan references. Problems of one stage are all reported; the source
// and files are checked even when the ceilings are exceeded, so the author
// sees everything at once. Only a document that does not parse stops early.
func (s *Service) Validate(ctx context.Context, data []byte, opts Options) (*Result, error) {
	start := time.Now()
	res, err := s.validate(ctx, data, opts)
	s.metrics.observe(outcome(res, err), time.Since(start))
	return res, err
}

func (s *Service) validate(ctx context.Context, data []byte, opts Options) (*Result, error) {
	parser, err := s.parser()
	if err != nil {
		return nil, fmt.Errorf("validator: %w", err)
	}
	p, res := parse(parser, data)
	if res != nil {
		return res, nil
	}
	res = &Result{Plan: p, Problems: s.cfg.Limits.check(p)}
	fsys, err := s.source(ctx, p, opts, res)
	if err != nil {
		return nil, err
	}
	if fsys != nil {
		res.Problems = append(res.Problems, checkFiles(p, fsys)...)
	} else if p.Source == nil && opts.ForRun {
		res.Problems = append(res.Problems, unreadableFiles(p)...)
	} else if p.Source == nil && hasFeeders(p) {
		res.Notes = append(res.Notes, "feeder files are relative to the plan file and were not checked: this validator cannot read them")
	}
	if len(res.Problems) > 0 {
		res.Reason = ReasonInvalid
		return res, nil
	}
	res.Valid = true
	explanation := schedule.Explain(p)
	res.Explain = &explanation
	return res, nil
}

// parse parses data, or returns the result rejecting it.
func parse(parser *plan.Parser, data []byte) (*plan.Plan, *Result) {
	p, err := parser.Parse(data)
	if err == nil {
		return p, nil
	}
	reason := ReasonInvalid
	switch {
	case errors.Is(err, plan.ErrTooLarge):
		reason = ReasonTooLarge
	case errors.Is(err, plan.ErrSyntax):
		reason = ReasonSyntax
	}
	var verr *plan.ValidationError
	if errors.As(err, &verr) && len(verr.Problems) > 0 {
		return nil, reject(reason, verr.Problems...)
	}
	// Everything Parse reports is about the document, whatever its type.
	return nil, reject(reason, plan.Problem{Path: "", Message: err.Error()})
}

// tooLarge is the result for a request body over the size limit, noticed
// before the whole of it was read (plan.Parse words its own).
func tooLarge() *Result {
	return reject(ReasonTooLarge, plan.Problem{Path: "",
		Message: fmt.Sprintf("plan is over the limit of %d bytes (1 MiB)", plan.MaxPlanBytes)})
}

// source fetches the plan's git source, when it has one, and returns the
// file system its files are checked against (nil: they are not checked).
// Problems and notes go into res; the error is for internal failures.
func (s *Service) source(ctx context.Context, p *plan.Plan, opts Options, res *Result) (fs.FS, error) {
	if p.Source == nil || p.Source.Git == nil {
		return opts.Dir, nil
	}
	switch {
	case opts.Offline:
		res.Notes = append(res.Notes, "the git source was not fetched (offline): its files were not checked")
		return nil, nil
	case s.fetcher == nil:
		res.Problems = append(res.Problems, plan.Problem{Path: "/source/git",
			Message: "git sources are disabled on this validator"})
		return nil, nil
	}
	co, err := s.fetcher.Fetch(ctx, *p.Source.Git)
	if err != nil {
		problems := gitsource.Problems(err)
		if problems == nil {
			return nil, fmt.Errorf("fetch the git source: %w", err)
		}
		res.Problems = append(res.Problems, problems...)
		return nil, nil
	}
	res.Source = &SourceInfo{URL: co.URL, Ref: co.Ref, SHA: co.SHA}
	return co.FS(), nil
}

// checkFiles checks the files the plan references against fsys.
func checkFiles(p *plan.Plan, fsys fs.FS) []plan.Problem {
	err := plan.CheckFiles(p, fsys)
	if err == nil {
		return nil
	}
	var verr *plan.ValidationError
	if errors.As(err, &verr) {
		return verr.Problems
	}
	return []plan.Problem{{Path: "", Message: err.Error()}}
}

// unreadableFiles are the feeder files of a plan without a git source that
// a platform is to run with no directory for them: its executors could
// never read them, so the run would fail once started.
func unreadableFiles(p *plan.Plan) []plan.Problem {
	var problems []plan.Problem
	for i, sc := range p.Scenarios {
		if sc.Feeder == nil {
			continue
		}
		problems = append(problems, plan.Problem{Path: fmt.Sprintf("/scenarios/%d/feeder/file", i),
			Message: fmt.Sprintf("file %q cannot be read by a server's executors: a plan run on a server reads its files "+
				"from its git source (put the plan and its files in git and set source.git), "+
				"or run it with `loadfleet run` without --server, which reads them beside the plan", sc.Feeder.File)})
	}
	return problems
}

func hasFeeders(p *plan.Plan) bool {
	for _, sc := range p.Scenarios {
		if sc.Feeder != nil {
			return true
		}
	}
	return false
}

var _ Validator = (*Service)(nil)
