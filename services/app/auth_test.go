package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/shardtoken"
)

// Every route of the executor layer against every kind of credential: the
// job API and reporting's finish take the service credential alone, the
// executor API and the ingest the shard's own token alone. A user's API
// token reaches none of them. Requests go through the process's real
// handler (routes, middleware, handlers, store).
func TestExecutorLayerRoutesTakeTheirOwnCredential(t *testing.T) {
	const userToken, serviceToken = "user-token", "service-token"
	cfg := DefaultConfig()
	cfg.DataDir, cfg.DisableGit = t.TempDir(), true
	cfg.Auth = AuthConfig{Tokens: []string{userToken}, ServiceTokens: []string{serviceToken}}
	cfg.Locations = []LocationConfig{{Name: "local", Backend: "local", Command: []string{"/bin/false"}}}
	a, err := New(TargetAll, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	shardToken := shardtoken.New("r-auth", 0, 0)
	err = a.control.store.CreateRun(context.Background(), store.Run{ID: "r-auth", State: store.Queued, Team: "t", Project: "p",
		Created: time.Now().UTC(), Plan: []byte(`{}`), Transitions: []store.Transition{},
		Shards: []store.Shard{{Index: 0, Location: "local", Token: shardToken}}})
	if err != nil {
		t.Fatal(err)
	}
	h := a.handler()

	const (
		job      = "/v1/jobs/local/executors/r-auth/0/0"
		anything = -1 // the handler's own answer: the credential passed
	)
	// A 48 h spec with a host directory: the job service refuses it (422),
	// which shows the service credential got through.
	badSpec := `{"runId": "r-auth", "shard": 0, "shards": 1, "token": "x", "ingestUrl": "http://127.0.0.1:1", "dir": "/etc",
		"plan": {"name": "p", "target": {"baseUrl": "http://127.0.0.1:9"}, "scenarios": [{"name": "s", "steps": [{"request": {"name": "r", "url": "/"}}]}],
		"load": {"open": [{"constantUsersPerSec": {"rate": 1, "during": "48h"}}]}}}`
	routes := []struct {
		method, path, body string
		// statuses for no credential, the user's token, a shard token, the service credential
		none, user, shard, service int
	}{
		{"GET", "/v1/jobs/locations", "", 401, 403, 401, 200},
		{"PUT", job, badSpec, 401, 403, 401, 422},
		{"GET", job, "", 401, 403, 401, 200},
		{"POST", job + "/stop", "", 401, 403, 401, 204},
		{"GET", job + "/logs", "", 401, 403, 401, 404},
		{"DELETE", job, "", 401, 403, 401, 204},
		{"GET", "/v1/jobs/local/runs/r-auth", "", 401, 403, 401, 200},
		{"GET", "/v1/jobs/_default/runs/r-auth", "", 401, 403, 401, 200},
		{"POST", "/v1/reporting/runs/r-auth/finish", "", 401, 403, 401, anything},
		{"GET", "/v1/executor/spec", "", 401, 403, 200, 403},
		{"POST", "/v1/executor/ready", `{"runId": "r-auth", "shard": 0}`, 401, 403, 204, 403},
		{"GET", "/v1/executor/command", "", 401, 403, 200, 403},
		{"POST", "/v1/ingest/snapshots", `[]`, 401, 403, 200, 403},
		// Written otherwise, a path reaches the same route under the same rule.
		{"GET", "/v1/jobs/./locations", "", 401, 403, 401, anything},
		{"GET", "/v1//jobs/locations", "", 401, 403, 401, anything},
	}
	for _, r := range routes {
		for _, c := range []struct {
			name, token string
			want        int
		}{{"no credential", "", r.none}, {"user token", userToken, r.user}, {"shard token", shardToken, r.shard},
			{"service credential", serviceToken, r.service}} {
			req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
			req.Header.Set("Content-Type", "application/json")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Code
			if c.want == anything {
				if got == 401 || got == 403 {
					t.Errorf("%s %s with %s: %d %s, want the credential accepted", r.method, r.path, c.name, got, rec.Body)
				}
				continue
			}
			if got != c.want {
				t.Errorf("%s %s with %s: %d %s, want %d", r.method, r.path, c.name, got, strings.TrimSpace(rec.Body.String()), c.want)
			}
			if c.name == "user token" && got == http.StatusForbidden && !strings.Contains(rec.Body.String(), "token") {
				t.Errorf("%s %s: 403 %s does not say why", r.method, r.path, rec.Body)
			}
		}
	}
}
