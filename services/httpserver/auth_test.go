package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAuthorize(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// The test's routes: the path names the access.
	access := func(r *http.Request) Access {
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/executor/"):
			return AccessShard
		case strings.HasPrefix(r.URL.Path, "/v1/jobs/"):
			return AccessService
		case strings.HasPrefix(r.URL.Path, "/v1/reports/"):
			return AccessOpen
		}
		return AccessAPI
	}
	both := Credentials{API: []string{"a-token", "b-token"}, Service: []string{"s-token"}}
	onlyService := Credentials{Service: []string{"s-token"}}
	tests := []struct {
		why           string
		creds         Credentials
		path, header  string
		wantStatus    int
		wantErrorText string
	}{
		{"no API tokens configured: the API is open (the laptop default)", onlyService, "/v1/runs", "", 204, ""},
		{"empty tokens do not turn auth on, nor let an empty bearer in", Credentials{API: []string{""}}, "/v1/runs", "", 204, ""},
		{"a known token passes", both, "/v1/runs", "Bearer b-token", 204, ""},
		{"the service credential passes on the API: targets call each other", both, "/v1/runs", "Bearer s-token", 204, ""},
		{"the scheme is case-insensitive", both, "/v1/runs", "bearer a-token", 204, ""},
		{"no header: asked for, with how to send it", both, "/v1/runs", "", 401, "Authorization: Bearer"},
		{"a wrong token is refused", both, "/v1/runs", "Bearer a-tokem", 401, "not valid"},
		{"a prefix of a token is refused", both, "/v1/runs", "Bearer a-", 401, "not valid"},
		{"basic auth is not a bearer token", both, "/v1/runs", "Basic YTpi", 401, "required"},
		{"open routes need nothing", both, "/v1/reports/r-1.html", "", 204, ""},
		{"shard routes leave the shard token to their handler", both, "/v1/executor/spec", "Bearer shard-token", 204, ""},
		{"shard routes refuse an API token", both, "/v1/executor/spec", "Bearer a-token", 403, "shard's own token"},
		{"shard routes refuse the service credential", both, "/v1/executor/spec", "Bearer s-token", 403, "shard's own token"},
		{"internal routes take the service credential", both, "/v1/jobs/locations", "Bearer s-token", 204, ""},
		{"internal routes refuse an API token, saying why", both, "/v1/jobs/locations", "Bearer a-token", 403, "API tokens cannot call it"},
		{"internal routes refuse an unknown token", both, "/v1/jobs/locations", "Bearer shard-token", 401, "not valid"},
		{"internal routes ask for the service credential", both, "/v1/jobs/locations", "", 401, "auth.serviceTokens"},
		{"internal routes stay closed without API tokens", onlyService, "/v1/jobs/locations", "", 401, "service credential"},
		{"internal routes are closed to all when no service credential is set", Credentials{}, "/v1/jobs/locations", "Bearer ", 401, "service credential"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			Authorize(ok, tt.creds, access).ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantErrorText) {
				t.Fatalf("status %d %q, want %d with %q", rec.Code, rec.Body, tt.wantStatus, tt.wantErrorText)
			}
			if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestBearerTransportSendsTheToken(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: &BearerTransport{Token: "t0k"}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	own, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	own.Header.Set("Authorization", "Bearer shard")
	for _, r := range []*http.Request{req, own} {
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(got) != 2 || got[0] != "Bearer t0k" || got[1] != "Bearer shard" {
		t.Fatalf("servers saw %q; want the token added, and a request's own credentials kept", got)
	}
	if req.Header.Get("Authorization") != "" {
		t.Fatal("the caller's request was modified")
	}
}
