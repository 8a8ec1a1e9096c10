package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequireBearer(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	executorPaths := func(path string) bool { return strings.HasPrefix(path, "/v1/executor/") }
	tests := []struct {
		why           string
		tokens        []string
		path, header  string
		wantStatus    int
		wantErrorText string
	}{
		{"no tokens configured: the open laptop default", nil, "/v1/runs", "", 204, ""},
		{"empty tokens do not turn auth on, nor let an empty bearer in", []string{""}, "/v1/runs", "", 204, ""},
		{"a known token passes", []string{"a-token", "b-token"}, "/v1/runs", "Bearer b-token", 204, ""},
		{"the scheme is case-insensitive", []string{"a-token"}, "/v1/runs", "bearer a-token", 204, ""},
		{"no header: asked for, with how to send it", []string{"a-token"}, "/v1/runs", "", 401, "Authorization: Bearer"},
		{"a wrong token is refused", []string{"a-token"}, "/v1/runs", "Bearer a-tokem", 401, "not valid"},
		{"a prefix of a token is refused", []string{"a-token"}, "/v1/runs", "Bearer a-", 401, "not valid"},
		{"basic auth is not a bearer token", []string{"a-token"}, "/v1/runs", "Basic YTpi", 401, "required"},
		{"open paths carry their own credentials", []string{"a-token"}, "/v1/executor/spec", "Bearer shard-token", 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			RequireBearer(ok, tt.tokens, executorPaths).ServeHTTP(rec, req)
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
