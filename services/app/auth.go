package app

import (
	"net/http"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/reporting"
)

// AuthConfig protects the API. With tokens set, every /v1 call needs one of
// them as its bearer token; empty, the API is open, which the server allows
// on loopback only (see listenExposure).
type AuthConfig struct {
	// Tokens are the accepted API tokens; the first is also what this
	// process sends to the other targets.
	Tokens []string `yaml:"tokens"`
	// InsecureNoAuth lets a server without tokens listen on a non-loopback
	// address (--insecure-no-auth): an open API on the network.
	InsecureNoAuth bool `yaml:"insecureNoAuth"`
}

// openPath says which paths need no API token: the ops endpoints, the
// executor-facing API (it authenticates each shard's own token), and the
// HTML reports, whose handler checks a signed link or else this same token
// (reporting.LinkConfig), since messages link to them.
func openPath(path string) bool {
	switch {
	case !strings.HasPrefix(path, "/v1/"):
		return true
	case strings.HasPrefix(path, "/v1/executor/"), path == reporting.IngestPath:
		return true
	case strings.HasPrefix(path, strings.TrimSuffix(reporting.ReportHTMLPath, "{file}")):
		return true
	}
	return false
}

// serviceClient is how this process calls another target: with the API
// token when the API needs one.
func (a *App) serviceClient(timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	if len(a.cfg.Auth.Tokens) > 0 {
		c.Transport = &httpserver.BearerTransport{Token: a.cfg.Auth.Tokens[0]}
	}
	return c
}
