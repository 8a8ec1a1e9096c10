package validator

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/httpserver"
)

// ValidatePath is the route of the validation endpoint: POST the plan as an
// application/json body.
const ValidatePath = "/v1/validate"

// Response is the JSON body of every answer of ValidatePath that is about
// the plan (200, 400, 413, 422). Other errors are httpserver.ErrorBody.
type Response struct {
	Valid bool `json:"valid"`
	// Error summarises why the plan was refused; empty when valid.
	Error string `json:"error,omitempty"`
	// Code is the refusal's code, the one every route that takes a plan
	// answers (httpserver.PlanErrors): syntax, too_large or invalid_plan.
	Code     string                `json:"code,omitempty"`
	Problems []plan.Problem        `json:"problems,omitempty"`
	Explain  *schedule.Explanation `json:"explain,omitempty"`
	Source   *SourceInfo           `json:"source,omitempty"`
	Notes    []string              `json:"notes,omitempty"`
}

// RetryAfterBusy is the Retry-After (seconds) of a 503 for ErrBusy: the
// slots free as fast as plans parse, well under a second each.
const RetryAfterBusy = "1"

// Errors of an HTTP request that never reached Validate.
var (
	errUnsupportedMediaType = errors.New("the plan must be sent as Content-Type: application/json")
	errBodyTooLarge         = errors.New("request body too large")
	errReadBody             = errors.New("cannot read the request body")
	errMethodNotAllowed     = errors.New("method not allowed: use POST")
)

// Routes registers the validator's HTTP API on mux.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc(ValidatePath, s.serveValidate)
}

func (s *Service) serveValidate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var res *Result
	data, err := readPlan(w, r)
	switch {
	case err == nil:
		res, err = s.Validate(r.Context(), data, Options{ForRun: r.URL.Query().Get("forRun") == "true"})
	case errors.Is(err, errBodyTooLarge):
		res, err = tooLarge(), nil
		s.metrics.observe(string(ReasonTooLarge), time.Since(start))
	default:
		s.metrics.observe(requestOutcome(err), time.Since(start))
	}
	if err != nil && requestOutcome(err) == outcomeError {
		s.logger.Error("validation failed", "error", err)
	}
	status, body := respond(res, err)
	if errors.Is(err, errMethodNotAllowed) {
		w.Header().Set("Allow", http.MethodPost)
	}
	if errors.Is(err, ErrBusy) {
		w.Header().Set("Retry-After", RetryAfterBusy)
	}
	httpserver.WriteJSON(w, status, body)
}

// errorTable is where the errors of a request that got no validation
// result become statuses; an error it does not name is a 500, whose cause
// is logged rather than told.
func errorTable() httpserver.Errors {
	return httpserver.Errors{
		{Err: errMethodNotAllowed, Status: http.StatusMethodNotAllowed, Code: httpserver.CodeMethodNotAllowed},
		{Err: errUnsupportedMediaType, Status: http.StatusUnsupportedMediaType, Code: httpserver.CodeUnsupportedMediaType},
		{Err: errReadBody, Status: http.StatusBadRequest, Code: httpserver.CodeBadRequest},
		{Err: ErrBusy, Status: http.StatusServiceUnavailable, Code: httpserver.CodeBusy},
	}
}

// errInternal is what a 500 says.
var errInternal = errors.New("internal error while validating the plan")

// respond is where validation outcomes become HTTP statuses: a refused
// plan has the status and code of httpserver.PlanErrors, as on every
// route that takes a plan.
func respond(res *Result, err error) (int, any) {
	if err != nil {
		status, code := errorTable().Status(err)
		if code == httpserver.CodeInternal {
			err = errInternal
		}
		return status, httpserver.ErrorBody{Error: err.Error(), Code: code}
	}
	body := Response{Valid: res.Valid, Problems: res.Problems, Explain: res.Explain,
		Source: res.Source, Notes: res.Notes}
	kind, message := refusal(res.Reason)
	if kind == nil {
		return http.StatusOK, body
	}
	var status int
	status, body.Code = httpserver.PlanErrors().Status(kind)
	body.Error = message
	return status, body
}

// refusal is the plan error of a refusal's reason, and its summary in
// Response.Error; nil for a valid plan.
func refusal(r Reason) (error, string) {
	switch r {
	case ReasonTooLarge:
		return plan.ErrTooLarge, "the plan is too large"
	case ReasonSyntax:
		return plan.ErrSyntax, "the plan is not well-formed JSON"
	case ReasonInvalid:
		return plan.ErrInvalid, "the plan is invalid"
	}
	return nil, ""
}

// readPlan reads the request body, never more than plan.MaxPlanBytes + 1.
func readPlan(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, errMethodNotAllowed
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > plan.MaxPlanBytes {
		return nil, errBodyTooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, plan.MaxPlanBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errBodyTooLarge
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errReadBody, err)
	}
	return data, nil
}

// checkContentType accepts application/json, with no charset or UTF-8 (the
// only encoding JSON allows between systems, RFC 8259).
func checkContentType(header string) error {
	mediaType, params, err := mime.ParseMediaType(header)
	if err != nil || mediaType != "application/json" {
		return errUnsupportedMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errUnsupportedMediaType
	}
	return nil
}

func requestOutcome(err error) string {
	switch {
	case errors.Is(err, errUnsupportedMediaType):
		return outcomeUnsupportedMediaType
	case errors.Is(err, errReadBody), errors.Is(err, errMethodNotAllowed):
		return outcomeBadRequest
	case errors.Is(err, ErrBusy):
		return outcomeBusy
	}
	return outcomeError
}
