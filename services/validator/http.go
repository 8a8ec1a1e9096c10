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
	Error    string                `json:"error,omitempty"`
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

// respond is the one place where validation outcomes become HTTP statuses.
func respond(res *Result, err error) (int, any) {
	switch {
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, httpserver.ErrorBody{Error: err.Error()}
	case errors.Is(err, errUnsupportedMediaType):
		return http.StatusUnsupportedMediaType, httpserver.ErrorBody{Error: err.Error()}
	case errors.Is(err, errReadBody):
		return http.StatusBadRequest, httpserver.ErrorBody{Error: err.Error()}
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable, httpserver.ErrorBody{Error: err.Error()}
	case err != nil:
		return http.StatusInternalServerError, httpserver.ErrorBody{Error: "internal error while validating the plan"}
	}
	body := Response{Valid: res.Valid, Problems: res.Problems, Explain: res.Explain,
		Source: res.Source, Notes: res.Notes}
	switch res.Reason {
	case ReasonTooLarge:
		body.Error = "the plan is too large"
		return http.StatusRequestEntityTooLarge, body
	case ReasonSyntax:
		body.Error = "the plan is not well-formed JSON"
		return http.StatusBadRequest, body
	case ReasonInvalid:
		body.Error = "the plan is invalid"
		return http.StatusUnprocessableEntity, body
	}
	return http.StatusOK, body
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
