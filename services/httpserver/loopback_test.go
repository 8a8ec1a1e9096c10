package httpserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		why  string
		host string
		want bool
	}{
		{"the loopback name", "localhost", true},
		{"names are case-insensitive", "LocalHost", true},
		{"the usual loopback address", "127.0.0.1", true},
		{"all of 127.0.0.0/8 is loopback", "127.8.9.10", true},
		{"the IPv6 loopback", "::1", true},
		{"IPv4-mapped loopback", "::ffff:127.0.0.1", true},
		{"every interface is not loopback", "0.0.0.0", false},
		{"every IPv6 interface is not loopback", "::", false},
		{"no host means every interface", "", false},
		{"a private address is reachable from the network", "192.168.1.10", false},
		{"a public address", "203.0.113.7", false},
		{"link-local IPv6", "fe80::1", false},
		{"names are never resolved: a rebound name is a name", "rebind.evil.example", false},
		{"a subdomain of localhost is a name like any other", "app.localhost", false},
		{"the fully qualified form is not the literal name", "localhost.", false},
		{"brackets are the caller's to strip", "[::1]", false},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			if got := IsLoopbackHost(tt.host); got != tt.want {
				t.Fatalf("IsLoopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestGuardLoopback(t *testing.T) {
	reached := false
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	ownType := func(path string) bool { return path == "/v1/ingest" }
	const json = "application/json"
	tests := []struct {
		why                       string
		method, path, host        string
		origin, contentType, body string
		wantStatus                int
		wantErrorText             string
	}{
		{"the CLI: loopback host, JSON, no Origin", "POST", "/v1/runs", "127.0.0.1:8080", "", json, "{}", 204, ""},
		{"JSON with a charset", "POST", "/v1/runs", "127.0.0.1:8080", "", "application/json; charset=utf-8", "{}", 204, ""},
		{"localhost by name, with a port", "GET", "/v1/runs", "localhost:8080", "", "", "", 204, ""},
		{"IPv6 loopback", "GET", "/v1/runs", "[::1]:8080", "", "", "", 204, ""},
		{"any 127.x address", "GET", "/healthz", "127.1.2.3:8080", "", "", "", 204, ""},
		{"a Host without port", "GET", "/v1/runs", "localhost", "", "", "", 204, ""},
		{"the server's own page, by another loopback name", "POST", "/v1/runs", "127.0.0.1:8080", "http://localhost:8080", json, "{}", 204, ""},
		{"a body-less POST needs no type", "POST", "/v1/runs/r-1/abort", "127.0.0.1:8080", "", "", "", 204, ""},
		{"the ingest keeps the executors' types", "POST", "/v1/ingest", "127.0.0.1:8080", "", "application/octet-stream", "x", 204, ""},

		{"the issue's repro: every check fails, the Host first", "POST", "/v1/runs", "rebind.evil.example",
			"http://rebind.evil.example", "text/plain", "{}", 403, "not a loopback"},
		{"DNS rebinding: the page's own name, rebound to 127.0.0.1", "GET", "/v1/runs", "rebind.evil.example:8080", "", "", "", 403, "rebind.evil.example"},
		{"rebinding reaches HTML reports too", "GET", "/v1/reports/r-1.html", "rebind.evil.example:8080", "", "", "", 403, "Host"},
		{"rebinding reaches the ops endpoints too", "GET", "/metrics", "evil.example", "", "", "", 403, "Host"},
		{"no Host at all is not loopback", "GET", "/v1/runs", "", "", "", "", 403, "Host"},
		{"CSRF: a foreign page posting JSON", "POST", "/v1/runs", "127.0.0.1:8080", "https://evil.example", json, "{}", 403, "evil.example"},
		{"CSRF from another local app (another port)", "POST", "/v1/runs", "127.0.0.1:8080", "http://localhost:3000", json, "{}", 403, "localhost:3000"},
		{"a null Origin (sandboxed frame, file: page)", "POST", "/v1/runs", "127.0.0.1:8080", "null", json, "{}", 403, "null"},
		{"an https loopback origin is another server", "GET", "/v1/runs", "127.0.0.1:8080", "https://127.0.0.1:8080", "", "", 403, "origin"},
		{"a foreign Origin on a GET: reads are refused too", "GET", "/v1/reports/r-1.html", "127.0.0.1:8080", "http://evil.example", "", "", 403, "origin"},
		{"a form's text/plain never reaches the API", "POST", "/v1/runs", "127.0.0.1:8080", "", "text/plain", "{}", 415, "application/json"},
		{"a form encoding neither", "POST", "/v1/runs", "127.0.0.1:8080", "", "application/x-www-form-urlencoded", "a=b", 415, "application/json"},
		{"no type with a body", "PUT", "/v1/teams/a", "127.0.0.1:8080", "", "", "{}", 415, "application/json"},
		{"a JSON-looking type is not JSON", "POST", "/v1/runs", "127.0.0.1:8080", "", "application/jsonx", "{}", 415, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			reached = false
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req := httptest.NewRequest(tt.method, tt.path, body)
			req.Host = tt.host
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			GuardLoopback(next, ownType).ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantErrorText) {
				t.Fatalf("status %d %q, want %d with %q", rec.Code, rec.Body, tt.wantStatus, tt.wantErrorText)
			}
			if reached != (tt.wantStatus == 204) {
				t.Fatalf("the handler was reached: %v, want %v", reached, tt.wantStatus == 204)
			}
		})
	}
}

// A chunked body has no length, and is a body all the same.
func TestGuardLoopbackChunkedBody(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	req := httptest.NewRequest(http.MethodPost, "/v1/runs", strings.NewReader("{}"))
	req.ContentLength = -1
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	GuardLoopback(next, func(string) bool { return false }).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", rec.Code)
	}
}
