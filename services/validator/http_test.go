package validator_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/validator"
	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

// newServer serves a validator with the default ceilings on loopback, with
// its own metrics registry.
func newServer(t *testing.T) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc := validator.New(validator.Config{Limits: validator.DefaultLimits()}, nil, nil, reg)
	mux := httpserver.NewMux(reg)
	svc.Routes(mux.ServeMux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, reg
}

// padded is the constant plan padded with spaces to exactly size bytes.
func padded(size int) string {
	doc := validatortest.ConstantPlan()
	return doc + strings.Repeat(" ", size-len(doc))
}

// unsized hides the length of a body so it is sent chunked.
type unsized struct{ io.Reader }

func TestHTTPStatuses(t *testing.T) {
	srv, reg := newServer(t)
	invalid := validatortest.OpenPlan(`{"open": [{"constantUsersPerSec": {"rate": -1, "during": "10s"}}]}`, `{"count": 1}`)
	tests := []struct {
		name        string
		method      string
		contentType string
		body        io.Reader
		wantStatus  int
		// wantKeys are exactly the top-level keys of the JSON body.
		wantKeys []string
		// wantCode is the body's machine-readable code (httpserver.Code*).
		wantCode string
	}{
		{"a valid plan is explained", "POST", "application/json",
			strings.NewReader(validatortest.ConstantPlan()), 200, []string{"valid", "explain"}, ""},
		{"a charset parameter of UTF-8 is fine", "POST", "application/json; charset=UTF-8",
			strings.NewReader(validatortest.ConstantPlan()), 200, []string{"valid", "explain"}, ""},
		{"malformed JSON is a bad request with its position", "POST", "application/json",
			strings.NewReader("{\n  \"name\": \"x\",\n}"), 400, []string{"valid", "error", "code", "problems"}, "syntax"},
		{"an invalid plan is unprocessable, with every problem", "POST", "application/json",
			strings.NewReader(invalid), 422, []string{"valid", "error", "code", "problems"}, "invalid_plan"},
		{"a body of exactly 1 MiB is read and validated", "POST", "application/json",
			strings.NewReader(padded(plan.MaxPlanBytes)), 200, []string{"valid", "explain"}, ""},
		{"a body of 1 MiB + 1 is too large, refused from its Content-Length", "POST", "application/json",
			strings.NewReader(padded(plan.MaxPlanBytes + 1)), 413, []string{"valid", "error", "code", "problems"}, "too_large"},
		{"a chunked body of 1 MiB + 1 is too large, refused while reading", "POST", "application/json",
			unsized{strings.NewReader(padded(plan.MaxPlanBytes + 1))}, 413, []string{"valid", "error", "code", "problems"}, "too_large"},
		{"text/plain is an unsupported media type", "POST", "text/plain",
			strings.NewReader(validatortest.ConstantPlan()), 415, []string{"error", "code"}, "unsupported_media_type"},
		{"a missing content type is an unsupported media type", "POST", "",
			strings.NewReader(validatortest.ConstantPlan()), 415, []string{"error", "code"}, "unsupported_media_type"},
		{"a charset other than UTF-8 is an unsupported media type", "POST", "application/json; charset=latin1",
			strings.NewReader(validatortest.ConstantPlan()), 415, []string{"error", "code"}, "unsupported_media_type"},
		{"GET is not allowed, and the error is JSON too", "GET", "",
			nil, 405, []string{"error", "code"}, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+validator.ValidatePath, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := decodeObject(t, resp, tt.wantStatus)
			if got, want := slices.Sorted(maps.Keys(body)), slices.Sorted(slices.Values(tt.wantKeys)); !slices.Equal(got, want) {
				t.Fatalf("body keys = %v, want %v; body %v", got, tt.wantKeys, body)
			}
			if code, _ := body["code"].(string); code != tt.wantCode {
				t.Fatalf("code = %q, want %q", code, tt.wantCode)
			}
		})
	}
	want := map[string]float64{"valid": 3, "syntax": 1, "invalid": 1, "too_large": 2,
		"unsupported_media_type": 3, "bad_request": 1}
	if got := requestsByOutcome(t, reg); !maps.Equal(got, want) {
		t.Fatalf("requests by outcome = %v, want %v", got, want)
	}
}

func TestHTTPResponseBodies(t *testing.T) {
	srv, _ := newServer(t)
	post := func(doc string) *http.Response {
		resp, err := srv.Client().Post(srv.URL+validator.ValidatePath, "application/json", strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	var ok validator.Response
	decode(t, post(validatortest.ConstantPlan()), 200, &ok)
	if !ok.Valid || ok.Explain == nil || *ok.Explain.TotalArrivals != 30000 || len(ok.Explain.Shards) != 2 {
		t.Fatalf("200 body = %+v, want valid with 30000 arrivals on 2 shards", ok)
	}

	var syntax validator.Response
	decode(t, post("{\n  \"name\": \"x\",\n}"), 400, &syntax)
	if p := syntax.Problems; syntax.Valid || len(p) != 1 || p[0].Line != 3 || p[0].Column == 0 {
		t.Fatalf("400 body = %+v, want one problem at line 3", syntax)
	}

	var invalid validator.Response
	decode(t, post(validatortest.OpenPlan(`{"open": [{"constantUsersPerSec": {"rate": -1, "during": "10s"}}]}`, `{"count": 1}`)), 422, &invalid)
	if p := invalid.Problems; invalid.Valid || len(p) == 0 || p[0].Path != "/load/open/0/constantUsersPerSec/rate" || p[0].Message == "" {
		t.Fatalf("422 body = %+v, want the problem at the rate", invalid)
	}
}

func TestHTTPServesOpsAndJSONErrors(t *testing.T) {
	srv, _ := newServer(t)
	tests := []struct {
		path       string
		wantStatus int
		wantIn     string
	}{
		{"/healthz", 200, `"ok"`},
		{"/readyz", 503, "not ready"}, // nobody said the mux is ready
		{"/metrics", 200, "loadfleet_validator_request_duration_seconds"},
		{"/no/such/route", 404, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := srv.Client().Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantIn) {
				t.Fatalf("GET %s = %d %s, want %d with %s", tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantIn)
			}
		})
	}
}

func decodeObject(t *testing.T, resp *http.Response, wantStatus int) map[string]any {
	t.Helper()
	var body map[string]any
	decode(t, resp, wantStatus, &body)
	return body
}

// decode requires status wantStatus and a JSON body, and decodes it into v.
func decode(t *testing.T, resp *http.Response, wantStatus int, v any) {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, wantStatus, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("body %s: %v", data, err)
	}
}

func TestOpenAPIDescribesTheEndpoint(t *testing.T) {
	doc := string(schemas.OpenAPI())
	for _, want := range []string{"  " + validator.ValidatePath + ":", `"200":`, `"400":`, `"405":`, `"413":`,
		`"415":`, `"422":`, `"500":`, `"503":`, "  /healthz:", "  /readyz:", "  /metrics:", "    ValidationResult:"} {
		if !strings.Contains(doc, want) {
			t.Errorf("openapi.yaml does not contain %q", want)
		}
	}
}
