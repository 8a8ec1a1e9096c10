package httpserver

import (
	"errors"
	"net/http"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Codes are the stable, machine-readable "code" of an ErrorBody (see the
// Error schema in openapi.yaml). Clients map answers back to errors by
// code, never by the text of "error", which is for people and may change.
const (
	CodeBadRequest           = "bad_request"            // 400: the request itself is malformed
	CodeSyntax               = "syntax"                 // 400: the plan is not well-formed JSON
	CodeUnauthorized         = "unauthorized"           // 401
	CodeForbidden            = "forbidden"              // 403
	CodeNotFound             = "not_found"              // 404
	CodeUnknownLocation      = "unknown_location"       // 404: no such location of the job service
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeConflict             = "conflict"               // 409: a concurrent update won
	CodeIllegalTransition    = "illegal_transition"     // 409: the run's state does not allow it
	CodeRunEnded             = "run_ended"              // 409: the run is already reported
	CodeGone                 = "gone"                   // 410
	CodeTooLarge             = "too_large"              // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeInvalidPlan          = "invalid_plan"           // 422: the plan (or the request's fields) break a rule
	CodeInvalidSpec          = "invalid_spec"           // 422: the job service refuses a shard spec
	CodeInternal             = "internal"               // 500: an error no table row names
	CodeBusy                 = "busy"                   // 503 with Retry-After: retry shortly
	CodeUnavailable          = "unavailable"            // 503: a dependency cannot be reached
)

// ErrorBody is the JSON body of every error response. Problems lists what
// is wrong with a refused plan or spec, one entry per problem.
type ErrorBody struct {
	Error    string         `json:"error"`
	Code     string         `json:"code"`
	Problems []plan.Problem `json:"problems,omitempty"`
}

// Mapping is one row of an error table: an error that errors.Is matches
// Err gets Status and Code.
type Mapping struct {
	Err    error
	Status int
	Code   string
}

// Errors is a service's error table, the one place where its errors
// become statuses. The first matching row wins, so a specific error goes
// before a general one; an error no row matches is a 500 (CodeInternal).
// Each service builds its table from its own sentinels (this package
// imports no service) and usually appends PlanErrors. Rows may share a
// code; a client maps a code back to the first row that has it.
type Errors []Mapping

// PlanErrors are the rows of a plan refused by plan.Parse or
// plan.CheckBounds: the same status and code from every route that takes
// a plan (a function, not a variable, so that no caller can change it).
func PlanErrors() Errors {
	return Errors{
		{plan.ErrTooLarge, http.StatusRequestEntityTooLarge, CodeTooLarge},
		{plan.ErrSyntax, http.StatusBadRequest, CodeSyntax},
		{plan.ErrInvalid, http.StatusUnprocessableEntity, CodeInvalidPlan},
		{plan.ErrTooDeep, http.StatusUnprocessableEntity, CodeInvalidPlan},
		{plan.ErrTooManyValues, http.StatusUnprocessableEntity, CodeInvalidPlan},
	}
}

// Status is the status and code of err: the first row that matches, or
// 500 and CodeInternal.
func (t Errors) Status(err error) (status int, code string) {
	for _, m := range t {
		if errors.Is(err, m.Err) {
			return m.Status, m.Code
		}
	}
	return http.StatusInternalServerError, CodeInternal
}

// Write answers err with its status and an ErrorBody carrying its code and,
// for a refused plan or spec, its problems.
func (t Errors) Write(w http.ResponseWriter, err error) {
	status, code := t.Status(err)
	WriteJSON(w, status, ErrorBody{Error: err.Error(), Code: code, Problems: problemsOf(err)})
}

// ProblemLister is an error that lists problems (job.SpecError); Write
// puts them in the body. plan.ValidationError is recognised as such.
type ProblemLister interface {
	PlanProblems() []plan.Problem
}

func problemsOf(err error) []plan.Problem {
	var ve *plan.ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	var pl ProblemLister
	if errors.As(err, &pl) {
		return pl.PlanProblems()
	}
	return nil
}

// CodeOfStatus is the code of an error answered by status alone (WriteError):
// the general code of that status.
func CodeOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusConflict:
		return CodeConflict
	case http.StatusGone:
		return CodeGone
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusUnsupportedMediaType:
		return CodeUnsupportedMediaType
	case http.StatusUnprocessableEntity:
		return CodeInvalidPlan
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	return CodeInternal
}
