package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/validator"
)

// ErrInvalidSpec is a shard spec the job service refuses to start; the
// concrete error is a *SpecError listing every problem.
var ErrInvalidSpec = errors.New("invalid shard spec")

// SpecError lists every problem of a refused spec, each at the JSON
// pointer of its field in the spec ("/plan/load/...", "/dir").
type SpecError struct {
	Problems []plan.Problem `json:"problems"`
}

func (e *SpecError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return ErrInvalidSpec.Error() + ": " + strings.Join(lines, "; ")
}

// PlanProblems lists the problems in the HTTP answer
// (httpserver.ProblemLister).
func (e *SpecError) PlanProblems() []plan.Problem { return e.Problems }

// Unwrap makes errors.Is(err, ErrInvalidSpec) hold.
func (e *SpecError) Unwrap() error { return ErrInvalidSpec }

// SpecRules are what every spec must satisfy before the job service starts
// an executor for it. Only the worker asks for executors, with specs of
// plans the validator accepted; the job service checks them again all the
// same (defence in depth: a spec is code and data the executor runs).
type SpecRules struct {
	// Limits are this server's ceilings on a plan's load: the validator's
	// own, applied by the same code.
	Limits validator.Limits
	// Roots are the directories a spec's dir may be in (or be): the git
	// cache's checkouts, the plan directory of `loadfleet run`. Symbolic
	// links are resolved before comparing. None: a spec names no dir.
	Roots []string
}

// maxAttempt bounds a spec's attempt: far above any maxRestarts, far
// below what would overflow a name.
const maxAttempt = 1000

// specChecker checks specs against rules.
type specChecker struct {
	rules     SpecRules
	validator *validator.Service
}

func newSpecChecker(rules SpecRules) *specChecker {
	roots := make([]string, 0, len(rules.Roots))
	for _, r := range rules.Roots {
		if r == "" {
			continue
		}
		if abs, err := filepath.Abs(r); err == nil {
			r = abs
		}
		if resolved, err := filepath.EvalSymlinks(r); err == nil {
			r = resolved
		}
		roots = append(roots, filepath.Clean(r))
	}
	rules.Roots = roots
	// The plan goes through the validator's own checks, offline: parsing
	// (schema, semantics) and the ceilings. No fetcher: nothing is fetched.
	return &specChecker{rules: rules, validator: validator.New(validator.Config{Limits: rules.Limits}, nil, nil, nil)}
}

// check returns a *SpecError listing every problem of spec for executor
// id, or nil.
func (c *specChecker) check(ctx context.Context, id wire.ShardID, spec wire.ShardSpec) error {
	var problems []plan.Problem
	add := func(path, format string, args ...any) {
		problems = append(problems, plan.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if spec.RunID == "" || spec.RunID != id.RunID || spec.Shard != id.Shard || spec.Attempt != id.Attempt {
		add("/runId", "the spec is for run %q shard %d attempt %d, the request for run %q shard %d attempt %d",
			spec.RunID, spec.Shard, spec.Attempt, id.RunID, id.Shard, id.Attempt)
	}
	if spec.Shards < 1 || spec.Shard < 0 || spec.Shard >= spec.Shards {
		add("/shard", "shard %d of %d: want 0 <= shard < shards", spec.Shard, spec.Shards)
	}
	if max := c.rules.Limits.MaxExecutors; max > 0 && spec.Shards > max {
		add("/shards", "%d shards is above this server's ceiling of %d executors (max executors)", spec.Shards, max)
	}
	if spec.Attempt < 0 || spec.Attempt > maxAttempt {
		add("/attempt", "attempt %d: want 0 to %d", spec.Attempt, maxAttempt)
	}
	if spec.ResumeAt < 0 {
		add("/resumeAtNs", "a negative resume offset")
	}
	if spec.Token == "" {
		add("/token", "the spec has no shard token")
	}
	if spec.IngestURL == "" {
		add("/ingestUrl", "the spec has no ingest URL: the executor would measure for nobody")
	}
	for path, raw := range map[string]string{"/controlUrl": spec.ControlURL, "/ingestUrl": spec.IngestURL} {
		if msg := checkURL(raw); msg != "" {
			add(path, "%s", msg)
		}
	}
	if msg := c.checkDir(spec.Dir); msg != "" {
		add("/dir", "%s", msg)
	}
	planProblems, err := c.checkPlan(ctx, &spec.Plan)
	if err != nil {
		return err
	}
	problems = append(problems, planProblems...)
	if len(problems) == 0 {
		return nil
	}
	return &SpecError{Problems: problems}
}

// checkPlan runs the validator's checks on the spec's plan.
func (c *specChecker) checkPlan(ctx context.Context, p *plan.Plan) ([]plan.Problem, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return []plan.Problem{{Path: "/plan", Message: "the plan does not encode: " + err.Error()}}, nil
	}
	res, err := c.validator.Validate(ctx, doc, validator.Options{Offline: true})
	if err != nil {
		return nil, fmt.Errorf("check the spec's plan: %w", err)
	}
	problems := make([]plan.Problem, len(res.Problems))
	for i, pr := range res.Problems {
		problems[i] = plan.Problem{Path: "/plan" + pr.Path, Message: pr.Message}
	}
	return problems, nil
}

// checkURL says what is wrong with a control or ingest URL ("" if
// nothing): an absolute http(s) URL with a host, no credentials in it.
func checkURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q: want an http or https URL", raw)
	case u.Host == "" || u.Opaque != "":
		return fmt.Sprintf("%q has no host", raw)
	case u.User != nil:
		return fmt.Sprintf("%q carries credentials: the shard token authenticates the executor", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("%q: a base URL has no query or fragment", raw)
	}
	return ""
}

// checkDir says what is wrong with a spec's dir ("" if nothing): it must
// be an absolute, clean path inside one of the roots once its symbolic
// links are resolved. The executor then opens it with os.Root, so nothing
// the plan names leaves it.
func (c *specChecker) checkDir(dir string) string {
	if dir == "" {
		return ""
	}
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return fmt.Sprintf("%q: want an absolute, clean path", dir)
	}
	if len(c.rules.Roots) == 0 {
		return fmt.Sprintf("%q: this job service accepts no plan directory (no git checkouts configured)", dir)
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Sprintf("%q cannot be resolved: %v", dir, err)
	}
	for _, root := range c.rules.Roots {
		if resolved == root || strings.HasPrefix(resolved, root+string(filepath.Separator)) {
			return ""
		}
	}
	return fmt.Sprintf("%q is outside the directories plans' files are read from (%s): a run reads its files from its own checkout",
		dir, strings.Join(c.rules.Roots, ", "))
}
