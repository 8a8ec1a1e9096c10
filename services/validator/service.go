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
	// MaxConcurrent bounds how many plans are parsed and checked at once
	// (zero: DefaultMaxConcurrent); git fetches, which wait on the network,
	// are not counted. A validation that finds every slot taken waits up to
	// QueueWait (zero: DefaultQueueWait), then fails with ErrBusy.
	MaxConcurrent int
	QueueWait     time.Duration
}

// Defaults of Config. Parsing a 1 MiB plan of many small values allocates
// up to about 65 MB, so four at once keep a validator's memory in the
// hundreds of megabytes whatever its clients send.
const (
	DefaultMaxConcurrent = 4
	DefaultQueueWait     = 2 * time.Second
)

// ErrBusy: every validation slot stayed taken for QueueWait. Not the plan's
// fault; the caller may retry shortly (HTTP: 503 with Retry-After).
var ErrBusy = errors.New("the validator is busy: too many plans are being validated at once; retry shortly")

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
	// slots holds a token per validation parsing or checking files now.
	slots chan struct{}
}

// New returns the validator service. A nil fetcher disables git sources:
// plans that have one are invalid. Metrics are registered on reg (nil: not
// registered); it panics if they already are, as two services must not
// share one registry.
func New(cfg Config, fetcher Fetcher, logger *slog.Logger, reg prometheus.Registerer) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	return &Service{cfg: cfg, fetcher: fetcher, logger: logger, metrics: newMetrics(reg),
		parser: sync.OnceValues(plan.NewParser), slots: make(chan struct{}, cfg.MaxConcurrent)}
}

// acquire takes a validation slot, waiting up to QueueWait; the caller
// calls the returned release once done with the memory-heavy work.
func (s *Service) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-s.slots }
	select {
	case s.slots <- struct{}{}:
		return release, nil
	default:
	}
	wait := time.NewTimer(s.cfg.QueueWait)
	defer wait.Stop()
	select {
	case s.slots <- struct{}{}:
		return release, nil
	case <-wait.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	p, res := parse(parser, data)
	if res != nil {
		release()
		return res, nil
	}
	res = &Result{Plan: p, Problems: s.cfg.Limits.check(p)}
	if p.Source != nil && p.Source.Git != nil && !opts.Offline {
		release() // a fetch waits on the network, not on this process
		release = nil
	}
	fsys, err := s.source(ctx, p, opts, res)
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	if release == nil {
		if release, err = s.acquire(ctx); err != nil {
			return nil, err
		}
	}
	defer release()
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
	reason := ReasonInvalid // plan.ErrTooDeep, ErrTooManyValues and ErrInvalid: 422, with a pointer
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
