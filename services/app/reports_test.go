package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/link"
)

// storedWithSecret is a report stored before reports were redacted: its
// plan carries the Authorization header's value.
const storedWithSecret = `{"schemaVersion":1,"runId":"r-links","verdict":"passed","name":"links","tool":"native",
"createdAt":"2026-12-01T12:00:00Z","durationSeconds":1,
"plan":{"name":"links","target":{"baseUrl":"http://127.0.0.1:1","headers":{"Authorization":"Bearer s3cr3t-VALUE"}},
"scenarios":[{"name":"s","steps":[{"request":{"name":"home","url":"/"}}]}],"load":{"open":[{"atOnceUsers":{"users":1}}]}},
"arrivals":{"planned":1,"started":1,"dropped":0,"interrupted":0},"total":{"count":1,"ok":1,"ko":0,"rps":1,"p50Ms":1,"p90Ms":1,
"p95Ms":1,"p99Ms":1,"maxMs":1,"meanMs":1,"serviceP99Ms":1,"bytes":{"sent":0,"received":0}},"requests":[],"criteria":[],
"analysis":{"shape":"constant"},"executors":[],"series":{"total":[],"requests":[],"executors":[]}}`

const apiToken = "api-token-for-links"

// serveReports starts the reporting target with an API token and reports
// config rc, holding one stored report, and returns its base URL.
func serveReports(t *testing.T, rc ReportsConfig) string {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens, cfg.Auth.ServiceTokens = []string{apiToken}, []string{"service-" + apiToken}
	cfg.Reports = rc
	a, err := New(TargetReporting, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.control.store.PutReport(context.Background(), "r-links", []byte(storedWithSecret)); err != nil {
		t.Fatal(err)
	}
	base, stop, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return base
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func signedQuery(t *testing.T, key []byte, runID string, at time.Time) string {
	t.Helper()
	s, err := link.New(key, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s.Sign(runID, at).Encode()
}

func TestReportLinks(t *testing.T) {
	base := serveReports(t, ReportsConfig{})
	page := base + "/v1/reports/r-links.html"
	key := link.DeriveKey(apiToken) // the default key
	now := time.Now()
	tests := []struct {
		name, url, token string
		status           int
		want             string
	}{
		{"a plain link needs a token: run IDs are not secrets", page, "", 401, "API token"},
		{"a token opens the report", page, apiToken, 200, "Plan as run"},
		{"a signed link opens it without a token", page + "?" + signedQuery(t, key, "r-links", now), "", 200, "Plan as run"},
		{"a link past its TTL is gone", page + "?" + signedQuery(t, key, "r-links", now.Add(-721*time.Hour)), "", 410, "expired"},
		{"another run's link does not open this one", page + "?" + signedQuery(t, key, "r-other", now), "", 403, "not valid"},
		{"a link signed with another key", page + "?" + signedQuery(t, []byte("guess"), "r-links", now), "", 403, "not valid"},
	}
	for _, tt := range tests {
		status, body := get(t, tt.url, tt.token)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %.200s; want %d with %q", tt.name, status, body, tt.status, tt.want)
		}
		if strings.Contains(body, "s3cr3t") {
			t.Errorf("%s: the stored report's secret was served", tt.name)
		}
		if status == 200 && !strings.Contains(body, "[redacted]") {
			t.Errorf("%s: the page does not say the header was sent", tt.name)
		}
	}
}

func TestReportLinksDisabled(t *testing.T) {
	off := false
	base := serveReports(t, ReportsConfig{PublicLinks: &off, LinkKey: "configured-key"})
	page := base + "/v1/reports/r-links.html"
	if status, body := get(t, page+"?"+signedQuery(t, []byte("configured-key"), "r-links", time.Now()), ""); status != 404 || !strings.Contains(body, "publicLinks") {
		t.Errorf("a genuine signed link with links disabled: %d %.200s; want 404 naming reports.publicLinks", status, body)
	}
	if status, _ := get(t, page, ""); status != 401 {
		t.Errorf("no token with links disabled: %d, want 401", status)
	}
	if status, body := get(t, page, apiToken); status != 200 || strings.Contains(body, "s3cr3t") {
		t.Errorf("a token with links disabled: %d (secret shown: %v), want 200 without the secret", status, strings.Contains(body, "s3cr3t"))
	}
}

// The links in messages are the service's own and open the report.
func TestMessageLinksOpenTheReport(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens, cfg.Auth.ServiceTokens = []string{apiToken}, []string{"service-" + apiToken}
	cfg.Reports = ReportsConfig{LinkTTL: time.Hour}
	a, err := New(TargetReporting, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.control.store.PutReport(context.Background(), "r-links", []byte(storedWithSecret)); err != nil {
		t.Fatal(err)
	}
	base, stop, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	ctx := context.Background()
	msg, err := a.control.reporting.MessageRenderer(base)(ctx, "r-links")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.ReportURL, "sig=") {
		t.Fatalf("the message links to %s: not a signed link", msg.ReportURL)
	}
	if status, body := get(t, msg.ReportURL, ""); status != 200 || strings.Contains(body, "s3cr3t") {
		t.Fatalf("the message's link: %d, want 200 without the secret", status)
	}
	if strings.Contains(string(msg.ReportHTML), "s3cr3t") {
		t.Fatal("the message's attached report shows the secret")
	}
}

func TestReportsConfigFile(t *testing.T) {
	f, err := decodeConfigFile([]byte("reports:\n  publicLinks: false\n  linkTTL: 48h\n  linkKey: k\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Reports.PublicLinks == nil || *f.Reports.PublicLinks || f.Reports.LinkTTL != 48*time.Hour || f.Reports.LinkKey != "k" {
		t.Fatalf("decoded %+v", f.Reports)
	}
	if _, err := decodeConfigFile([]byte("reports:\n  linkTTl: 48h\n")); err == nil || !strings.Contains(err.Error(), "linkTTl") {
		t.Fatalf("a misspelt key: %v, want it named", err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Auth.ServiceTokens = []string{"service-token"}
	cfg.Reports.LinkTTL = -time.Hour
	if _, err := New(TargetReporting, cfg, nil); err == nil || !strings.Contains(err.Error(), "reports.linkTTL") {
		t.Fatalf("a negative TTL: %v, want an error naming reports.linkTTL", err)
	}
}

// Without API tokens or a configured key, the link key is kept in the data
// directory: a link signed before a restart opens after it.
func TestLinkKeyOutlivesARestart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.ServiceTokens = []string{"service-token"}
	keyOf := func() []byte {
		t.Helper()
		a, err := New(TargetReporting, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		c, err := a.linkConfig()
		if err != nil {
			t.Fatal(err)
		}
		return c.Key
	}
	first, second := keyOf(), keyOf()
	if len(first) < 32 || string(first) != string(second) {
		t.Fatalf("link keys %q and %q: want one key of at least 32 bytes kept across starts", first, second)
	}
	info, err := os.Stat(filepath.Join(cfg.DataDir, linkKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
}
