package metadata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store/sqlite"
	"github.com/loadfleet/loadfleet/services/validator"
)

// server serves the metadata API over a fresh store, validating with v.
func server(t *testing.T, v validator.Validator) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.New(filepath.Join(t.TempDir(), "loadfleet.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	mux := http.NewServeMux()
	metadata.Routes(mux, metadata.New(st, v, logger, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestEveryBodyIsBoundsChecked: every route that decodes a JSON body refuses
// one nesting deeper than plan.MaxDepth, and one holding more than
// plan.MaxValues values, with 422 (as the validator does) and the problem's pointer, wherever the
// nesting or the values are (an inline plan, the overrides, an unknown
// field).
func TestEveryBodyIsBoundsChecked(t *testing.T) {
	v := validator.New(validator.Config{Limits: validator.DefaultLimits()}, nil, nil, nil)
	srv := server(t, v)
	deep := strings.Repeat("[", 500) + strings.Repeat("]", 500)
	many := "[" + strings.Repeat("0,", plan.MaxValues) + "0]"
	routes := []struct{ method, path, body, pointer string }{
		// body has a %s for the value.
		{"POST", metadata.TestsPath, `{"name":"x","labels":%s}`, "/labels"},
		{"POST", metadata.TestsPath + "/t-1/versions", `{"name":"x","labels":%s}`, "/labels"},
		{"POST", metadata.RunsPath, `{"plan":{"name":"x","labels":%s}}`, "/plan/labels"},
		{"POST", metadata.RunsPath, `{"testId":"t-1","overrides":{"baseUrl":%s}}`, "/overrides/baseUrl"},
		{"POST", metadata.RunsPath + "/r-1/abort", `{"reason":"x","extra":%s}`, "/extra"},
		{"PUT", metadata.TeamsPath + "/a", `{"slack":%s}`, "/slack"},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path+" "+rt.pointer, func(t *testing.T) {
			body := post(t, srv, rt.method, rt.path, fmt.Sprintf(rt.body, deep))
			if !strings.HasPrefix(body.Problems[0].Path, rt.pointer+"/0/0") {
				t.Fatalf("deep: problem %+v, want one under %s/0/0", body.Problems[0], rt.pointer)
			}
			if want := strings.Count(body.Problems[0].Path, "/"); want != plan.MaxDepth {
				t.Errorf("pointer %q has %d tokens, want %d (the container one level too deep)", body.Problems[0].Path, want, plan.MaxDepth)
			}
			// The values before the array are the same few in every body:
			// the limit is passed at an element near its end.
			body = post(t, srv, rt.method, rt.path, fmt.Sprintf(rt.body, many))
			if p := body.Problems[0]; !strings.HasPrefix(p.Path, rt.pointer+"/999") ||
				!strings.Contains(p.Message, fmt.Sprintf("the limit is %d", plan.MaxValues)) {
				t.Fatalf("many: problem %+v, want one under %s naming the limit", p, rt.pointer)
			}
		})
	}
}

// post sends body and requires a 422 invalid_plan with one problem that
// has a position.
func post(t *testing.T, srv *httptest.Server, method, path, body string) httpserver.ErrorBody {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb httpserver.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || eb.Code != httpserver.CodeInvalidPlan ||
		len(eb.Problems) != 1 || eb.Problems[0].Column < 1 {
		t.Fatalf("status %d, body %.300v; want 422 invalid_plan with one problem and its position", resp.StatusCode, eb)
	}
	return eb
}

// busyValidator is a validator whose slots are all taken.
type busyValidator struct{}

func (busyValidator) Validate(context.Context, []byte, validator.Options) (*validator.Result, error) {
	return nil, validator.ErrBusy
}

func TestBusyValidatorIs503WithRetryAfter(t *testing.T) {
	srv := server(t, busyValidator{})
	resp, err := srv.Client().Post(srv.URL+metadata.RunsPath, "application/json",
		strings.NewReader(`{"plan":{"name":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != validator.RetryAfterBusy {
		t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
