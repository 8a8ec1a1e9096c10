package metadata_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
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

// TestEveryBodyIsDepthChecked: every route that decodes a JSON body refuses
// one nesting deeper than plan.MaxDepth with 400 and the problem's pointer,
// wherever the nesting is (an inline plan, the overrides, an unknown field).
func TestEveryBodyIsDepthChecked(t *testing.T) {
	v := validator.New(validator.Config{Limits: validator.DefaultLimits()}, nil, nil, nil)
	srv := server(t, v)
	deep := strings.Repeat("[", 500) + strings.Repeat("]", 500)
	tests := []struct{ method, path, body, pointer string }{
		{"POST", metadata.TestsPath, `{"name":"x","labels":` + deep + `}`, "/labels"},
		{"POST", metadata.TestsPath + "/t-1/versions", `{"name":"x","labels":` + deep + `}`, "/labels"},
		{"POST", metadata.RunsPath, `{"plan":{"name":"x","labels":` + deep + `}}`, "/plan/labels"},
		{"POST", metadata.RunsPath, `{"testId":"t-1","overrides":{"baseUrl":` + deep + `}}`, "/overrides/baseUrl"},
		{"POST", metadata.RunsPath + "/r-1/abort", `{"reason":"x","extra":` + deep + `}`, "/extra"},
		{"PUT", metadata.TeamsPath + "/a", `{"slack":` + deep + `}`, "/slack"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.pointer, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body metadata.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || len(body.Problems) != 1 ||
				!strings.HasPrefix(body.Problems[0].Path, tt.pointer+"/0/0") || body.Problems[0].Column < 1 {
				t.Fatalf("status %d, body %+v; want 400 with one problem under %s", resp.StatusCode, body, tt.pointer)
			}
			if want := strings.Count(body.Problems[0].Path, "/"); want != plan.MaxDepth {
				t.Errorf("pointer %q has %d tokens, want %d (the container one level too deep)", body.Problems[0].Path, want, plan.MaxDepth)
			}
		})
	}
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
