package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/validator"
)

// Paths of the metadata API (see openapi.yaml).
const (
	TestsPath = "/v1/tests"
	RunsPath  = "/v1/runs"
	TeamsPath = "/v1/teams"
)

// maxBody bounds request bodies: a plan is at most plan.MaxPlanBytes, and a
// start request wraps one.
const maxBody = plan.MaxPlanBytes + 64<<10

// TestList and RunList are the bodies of the list endpoints.
type TestList struct {
	Tests []store.Test `json:"tests"`
}

// RunList is the body of GET /v1/runs.
type RunList struct {
	Runs []store.Run `json:"runs"`
}

// AbortRequest is the body of POST /v1/runs/{id}/abort.
type AbortRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Handler serves api over HTTP.
type Handler struct{ api API }

// Routes registers the metadata API on mux.
func Routes(mux *http.ServeMux, api API) {
	h := Handler{api: api}
	mux.HandleFunc("POST "+TestsPath, h.createTest)
	mux.HandleFunc("POST "+TestsPath+"/{id}/versions", h.createTest)
	mux.HandleFunc("GET "+TestsPath, h.listTests)
	mux.HandleFunc("GET "+TestsPath+"/{id}", h.getTest)
	mux.HandleFunc("POST "+RunsPath, h.startRun)
	mux.HandleFunc("GET "+RunsPath, h.listRuns)
	mux.HandleFunc("GET "+RunsPath+"/{id}", h.getRun)
	mux.HandleFunc("POST "+RunsPath+"/{id}/abort", h.abortRun)
	mux.HandleFunc("GET "+RunsPath+"/{id}/report", h.getReport)
	mux.HandleFunc("PUT "+TeamsPath+"/{name}", h.putTeam)
	mux.HandleFunc("GET "+TeamsPath+"/{name}", h.getTeam)
}

func (h Handler) putTeam(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var t store.Team
	if err := json.Unmarshal(body, &t); err != nil {
		answer(w, 0, nil, fieldError("", "the body is not a team: "+err.Error()))
		return
	}
	t.Name = r.PathValue("name")
	team, err := h.api.PutTeam(r.Context(), t)
	answer(w, http.StatusOK, team, err)
}

func (h Handler) getTeam(w http.ResponseWriter, r *http.Request) {
	team, err := h.api.Team(r.Context(), r.PathValue("name"))
	answer(w, http.StatusOK, team, err)
}

func (h Handler) createTest(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	t, err := h.api.CreateTest(r.Context(), r.PathValue("id"), body)
	answer(w, http.StatusCreated, t, err)
}

func (h Handler) listTests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"), "limit")
	if err != nil {
		answer(w, 0, nil, err)
		return
	}
	tests, err := h.api.Tests(r.Context(), store.TestFilter{Team: q.Get("team"), Project: q.Get("project"), Limit: limit})
	answer(w, http.StatusOK, TestList{Tests: nonNil(tests)}, err)
}

func (h Handler) getTest(w http.ResponseWriter, r *http.Request) {
	version, err := intParam(r.URL.Query().Get("version"), "version")
	if err != nil {
		answer(w, 0, nil, err)
		return
	}
	t, err := h.api.Test(r.Context(), r.PathValue("id"), version)
	answer(w, http.StatusOK, t, err)
}

func (h Handler) startRun(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req StartRequest
	if err := json.Unmarshal(body, &req); err != nil {
		answer(w, 0, nil, fieldError("", "the body is not a start request: "+err.Error()))
		return
	}
	run, err := h.api.StartRun(r.Context(), req)
	answer(w, http.StatusCreated, run, err)
}

func (h Handler) listRuns(w http.ResponseWriter, r *http.Request) {
	f, err := ParseRunFilter(r.URL.Query())
	if err != nil {
		answer(w, 0, nil, err)
		return
	}
	runs, err := h.api.Runs(r.Context(), f)
	answer(w, http.StatusOK, RunList{Runs: nonNil(runs)}, err)
}

func (h Handler) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := h.api.Run(r.Context(), r.PathValue("id"))
	answer(w, http.StatusOK, run, err)
}

func (h Handler) abortRun(w http.ResponseWriter, r *http.Request) {
	var req AbortRequest
	if body, ok := readBody(w, r); !ok {
		return
	} else if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			answer(w, 0, nil, fieldError("", "the body is not an abort request: "+err.Error()))
			return
		}
	}
	run, err := h.api.AbortRun(r.Context(), r.PathValue("id"), req.Reason)
	answer(w, http.StatusOK, run, err)
}

func (h Handler) getReport(w http.ResponseWriter, r *http.Request) {
	doc, err := h.api.Report(r.Context(), r.PathValue("id"))
	if err != nil {
		answer(w, 0, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

// ParseRunFilter reads a run filter from query parameters: team, project,
// state (comma-separated), since and until (RFC 3339), limit.
func ParseRunFilter(q map[string][]string) (store.RunFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := store.RunFilter{Team: get("team"), Project: get("project")}
	var problems []plan.Problem
	if s := get("state"); s != "" {
		for _, name := range strings.Split(s, ",") {
			st := store.State(strings.TrimSpace(name))
			if !st.Valid() {
				problems = append(problems, plan.Problem{Path: "state",
					Message: fmt.Sprintf("unknown state %q (states: %s)", name, stateNames())})
			}
			f.States = append(f.States, st)
		}
	}
	for _, t := range []struct {
		key string
		to  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := get(t.key); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				problems = append(problems, plan.Problem{Path: t.key, Message: fmt.Sprintf("%q is not an RFC 3339 time", v)})
			}
			*t.to = at
		}
	}
	limit, err := intParam(get("limit"), "limit")
	var ve *plan.ValidationError
	if errors.As(err, &ve) {
		problems = append(problems, ve.Problems...)
	}
	f.Limit = limit
	if len(problems) > 0 {
		return f, &plan.ValidationError{Kind: plan.ErrInvalid, Problems: problems}
	}
	return f, nil
}

func stateNames() string {
	names := make([]string, len(store.States))
	for i, s := range store.States {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func intParam(v, name string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fieldError(name, fmt.Sprintf("%q is not a non-negative integer", v))
	}
	return n, nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		status := http.StatusBadRequest
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		httpserver.WriteError(w, status, "cannot read the request body: "+err.Error())
		return nil, false
	}
	// Every body is JSON decoded into a value; the depth and value-count
	// bounds of plans apply to all of them, before anything is decoded.
	if err := plan.CheckBounds(body); err != nil {
		answer(w, 0, nil, err)
		return nil, false
	}
	return body, true
}

// Errors is the metadata API's error table: the one place where the
// service's errors become statuses, and the codes metadataclient maps
// back. A refused plan is a 422 (400 if it is not JSON, 413 if too large),
// as from the validator's own route.
func Errors() httpserver.Errors {
	return append(httpserver.PlanErrors(),
		httpserver.Mapping{Err: validator.ErrBusy, Status: http.StatusServiceUnavailable, Code: httpserver.CodeBusy},
		httpserver.Mapping{Err: store.ErrNotFound, Status: http.StatusNotFound, Code: httpserver.CodeNotFound},
		httpserver.Mapping{Err: store.ErrIllegalTransition, Status: http.StatusConflict, Code: httpserver.CodeIllegalTransition},
		httpserver.Mapping{Err: store.ErrConflict, Status: http.StatusConflict, Code: httpserver.CodeConflict},
	)
}

// answer writes v with status, or the error as Errors says.
func answer(w http.ResponseWriter, status int, v any, err error) {
	if err == nil {
		httpserver.WriteJSON(w, status, v)
		return
	}
	if errors.Is(err, validator.ErrBusy) {
		w.Header().Set("Retry-After", validator.RetryAfterBusy)
	}
	Errors().Write(w, err)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
