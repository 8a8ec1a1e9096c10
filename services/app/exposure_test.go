package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

func TestListenExposure(t *testing.T) {
	token := AuthConfig{Tokens: []string{"t0k"}}
	insecure := AuthConfig{InsecureNoAuth: true}
	tests := []struct {
		why     string
		listen  string
		auth    AuthConfig
		want    exposure
		wantErr bool
	}{
		{"the laptop default", "127.0.0.1:8080", AuthConfig{}, exposureLoopback, false},
		{"any free loopback port", "127.0.0.1:0", AuthConfig{}, exposureLoopback, false},
		{"all of 127.0.0.0/8 is loopback", "127.0.0.2:8080", AuthConfig{}, exposureLoopback, false},
		{"the loopback name", "localhost:8080", AuthConfig{}, exposureLoopback, false},
		{"IPv6 loopback", "[::1]:8080", AuthConfig{}, exposureLoopback, false},
		{"every IPv4 interface", "0.0.0.0:8080", AuthConfig{}, 0, true},
		{"every IPv6 interface", "[::]:8080", AuthConfig{}, 0, true},
		{"no host is every interface", ":8080", AuthConfig{}, 0, true},
		{"a private address is on a network", "192.168.1.10:8080", AuthConfig{}, 0, true},
		{"a link-local IPv6 address", "[fe80::1%eth0]:8080", AuthConfig{}, 0, true},
		{"a name is not resolved: it could be anything", "myhost.example:8080", AuthConfig{}, 0, true},
		{"not even a loopback-looking one", "localhost.localdomain:8080", AuthConfig{}, 0, true},
		{"an empty token is no token", "0.0.0.0:8080", AuthConfig{Tokens: []string{""}}, 0, true},
		{"tokens allow any address", "0.0.0.0:8080", token, exposureTokens, false},
		{"tokens on loopback need no browser guard", "127.0.0.1:8080", token, exposureTokens, false},
		{"the operator's explicit opt-out", "0.0.0.0:8080", insecure, exposureInsecure, false},
		{"the opt-out changes nothing on loopback", "127.0.0.1:8080", insecure, exposureLoopback, false},
		{"tokens win over the opt-out", "0.0.0.0:8080", AuthConfig{Tokens: []string{"t0k"}, InsecureNoAuth: true}, exposureTokens, false},
		{"an address without port cannot be judged", "0.0.0.0", AuthConfig{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := listenExposure(tt.listen, tt.auth)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("listenExposure(%q) = %v, %v; want %v, error %v", tt.listen, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
		})
	}
}

// The refusal names the address and every way out, and nothing listens.
func TestListenRefusesANetworkAddressWithoutTokens(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "0.0.0.0:0"
	cfg.DisableGit = true
	a, err := New(TargetValidator, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Listen()
	if !errors.Is(err, ErrNoToken) || !errors.Is(err, ErrConfig) {
		t.Fatalf("Listen on 0.0.0.0 without tokens = %v, want ErrNoToken", err)
	}
	for _, want := range []string{"0.0.0.0:0", "auth.tokens", "--insecure-no-auth"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not name %s", err, want)
		}
	}
	if a.server != nil {
		t.Fatal("a listener was bound all the same")
	}
}

// The warning is logged when serving starts and again every period.
func TestWarnInsecureRepeats(t *testing.T) {
	var log syncBuffer
	a := &App{logger: slog.New(slog.NewTextHandler(&log, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.warnInsecure("0.0.0.0:8080", 20*time.Millisecond)(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(log.String(), "level=WARN") < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "level=WARN"); n < 3 || !strings.Contains(log.String(), "addr=0.0.0.0:8080") ||
		!strings.Contains(log.String(), "insecure-no-auth") {
		t.Fatalf("%d warnings in\n%s\nwant repeated warnings naming the address and the flag", n, log.String())
	}
}

// The repro against the real platform on loopback without tokens:
// a page's forged run request (text/plain, a foreign Origin, a rebound Host)
// is refused and creates nothing, while the CLI's kind of request passes.
func TestLoopbackWithoutTokensRefusesBrowserRequests(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DisableGit = true
	// Should a forged run get through, its executors fail at once: no load.
	cfg.Locations = []LocationConfig{{Name: "local", Backend: "local", Command: []string{"false"}}}
	a, err := New(TargetAll, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	// A valid plan: without the guard, the forged requests get 201.
	forged := `{"plan": ` + validatortest.ConstantPlan() + `}`

	tests := []struct {
		why                       string
		host, origin, contentType string
		wantStatus                int
	}{
		{"the issue's repro", "rebind.evil.example", "http://rebind.evil.example", "text/plain", http.StatusForbidden},
		{"DNS rebinding alone", "rebind.evil.example", "", "application/json", http.StatusForbidden},
		{"a foreign page alone", "", "https://evil.example", "application/json", http.StatusForbidden},
		{"a simple (preflight-free) content type alone", "", "", "text/plain", http.StatusUnsupportedMediaType},
		{"a form encoding", "", "", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			status, body := do(t, http.MethodPost, base+"/v1/runs", tt.host, tt.origin, tt.contentType, forged)
			if status != tt.wantStatus {
				t.Fatalf("POST /v1/runs = %d %s, want %d", status, body, tt.wantStatus)
			}
		})
	}
	// The HTML reports and reads are guarded too.
	if status, _ := do(t, http.MethodGet, base+"/v1/reports/r-x.html", "rebind.evil.example", "", "", ""); status != http.StatusForbidden {
		t.Errorf("GET of a report with a rebound Host = %d, want 403", status)
	}
	// What the CLI sends passes the guard: the plan is then judged (and
	// refused as invalid, so no executor starts in this test).
	if status, body := do(t, http.MethodPost, base+"/v1/runs", "", "", "application/json", `{"plan": {"name": "x"}}`); status != http.StatusUnprocessableEntity {
		t.Errorf("POST /v1/runs from the CLI = %d %s, want the plan judged (422, as from /v1/validate)", status, body)
	}
	status, body := do(t, http.MethodGet, base+"/v1/runs", "", "", "", "")
	var list struct{ Runs []json.RawMessage }
	if err := json.Unmarshal([]byte(body), &list); status != http.StatusOK || err != nil || len(list.Runs) != 0 {
		t.Fatalf("GET /v1/runs = %d %s, want 200 and no run created", status, body)
	}
}

// With tokens the guard is off: browsers do not send bearer tokens by
// themselves, and a server behind a name must answer to that name.
func TestTokensNeedNoLoopbackGuard(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DisableGit = true
	cfg.Auth.Tokens = []string{"t0k"}
	a, err := New(TargetValidator, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	status, body := do(t, http.MethodGet, base+"/healthz", "loadfleet.example.com", "", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /healthz as loadfleet.example.com with tokens configured = %d %s, want 200", status, body)
	}
}

// do sends one request to the test server; host "" keeps the URL's.
func do(t *testing.T, method, url, host, origin, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// auth.insecureNoAuth in the file opens the API like the flag; the file
// cannot close what the flag opened, and tokens set elsewhere stay.
func TestConfigFileInsecureNoAuth(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		why, file string
		flag      bool
		want      bool
	}{
		{"the file opens it", "auth: {insecureNoAuth: true}\n", false, true},
		{"the flag opens it, the file says nothing", "listen: 0.0.0.0:8080\n", true, true},
		{"neither", "auth: {tokens: [a]}\n", false, false},
	} {
		path := dir + "/c.yaml"
		if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Auth.InsecureNoAuth = tt.flag
		got, err := LoadConfigFile(path, cfg)
		if err != nil || got.Auth.InsecureNoAuth != tt.want {
			t.Errorf("%s: insecureNoAuth %v, %v; want %v", tt.why, got.Auth.InsecureNoAuth, err, tt.want)
		}
	}
}
