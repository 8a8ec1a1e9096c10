// Package validator is the validator service: it tells the author of a test
// plan everything that is wrong with it at once (syntax, schema, semantics,
// this server's ceilings, the git source and the files it references), and
// for a valid plan explains the load as it will actually run.
//
// The Validator interface has two implementations: *Service, in process, and
// validatorclient.Client, over HTTP. Which one a caller gets is decided in
// the composition root (package app).
package validator

import (
	"context"
	"io/fs"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// Validator validates test plans.
//
// Validate is safe for concurrent use and has no side effects beyond filling
// the git cache. An invalid plan is not an error: it is a Result with Valid
// false and its problems. The error is for failures that are not the plan's
// fault (a cancelled context, an unwritable git cache, an unreachable
// validator service).
type Validator interface {
	Validate(ctx context.Context, data []byte, opts Options) (*Result, error)
}

// Options are the caller's side of a validation.
type Options struct {
	// Dir is the directory the relative files (feeders) of a plan without a
	// git source are checked against: the plan file's directory for the
	// CLI. Nil means those files are not checked. Only the in-process
	// Service can use it.
	Dir fs.FS
	// ForRun says the plan is validated to be run by this platform, whose
	// executors read the files of a plan without a git source from Dir
	// alone: without Dir, such files are problems of the plan (they could
	// never be read at run time), not notes. Over HTTP: ?forRun=true.
	ForRun bool
	// Offline skips fetching the git source; the files in it are then not
	// checked, and Result.Notes says so. Only the in-process Service can
	// use it.
	Offline bool
}

// Reason classifies a result. Callers that answer over a protocol map it to
// their status (see the HTTP handler); the zero value is a valid plan.
type Reason string

// Reasons of a result.
const (
	// ReasonValid: no problem found.
	ReasonValid Reason = ""
	// ReasonTooLarge: the document is over plan.MaxPlanBytes; nothing else
	// was checked.
	ReasonTooLarge Reason = "too_large"
	// ReasonSyntax: the document is not JSON; its problem carries the line
	// and column.
	ReasonSyntax Reason = "syntax"
	// ReasonInvalid: the document is JSON but not a valid plan.
	ReasonInvalid Reason = "invalid"
)

// Result is the outcome of validating one plan.
type Result struct {
	Valid  bool
	Reason Reason
	// Problems lists every problem found, each with the JSON pointer of
	// what it is about.
	Problems []plan.Problem
	// Explain is the load as it will run; set when the plan is valid.
	Explain *schedule.Explanation
	// Plan is the parsed plan; set when the document parsed (also when a
	// later check found problems).
	Plan *plan.Plan
	// Source is the commit the git source resolved to, when it was fetched.
	Source *SourceInfo
	// Notes say which checks were skipped and why (for example the files
	// of a git source under Options.Offline).
	Notes []string
}

// SourceInfo is the git commit a plan's source resolved to.
type SourceInfo struct {
	URL string `json:"url"`
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

// reject returns the result of a plan refused for reason.
func reject(reason Reason, problems ...plan.Problem) *Result {
	return &Result{Reason: reason, Problems: problems}
}
