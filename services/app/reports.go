package app

import (
	"fmt"
	"net/http"
	"time"

	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/reporting"
	"github.com/loadfleet/loadfleet/services/reporting/link"
)

// ReportsConfig governs the open links to HTML reports
// (GET /v1/reports/RUN.html), which messages carry and browsers open
// without an API token.
type ReportsConfig struct {
	// PublicLinks lets signed links open reports without an API token;
	// default true. False: reports open with an API token only, and signed
	// links answer 404.
	PublicLinks *bool `yaml:"publicLinks"`
	// LinkTTL is how long a link stays valid (default 720h, 30 days);
	// past it the link answers 410 Gone.
	LinkTTL time.Duration `yaml:"linkTTL"`
	// LinkKey signs the links. Default: derived from the first API token
	// (every replica holding it signs alike), or, with no tokens, random
	// per process. Changing it (or the first token) revokes every link.
	LinkKey string `yaml:"linkKey"`
	// MissingTolerance is the share of planned arrivals that may be missing
	// from a run's data for it to be judged on its criteria (default 0.02);
	// past it, the run errors.
	MissingTolerance float64 `yaml:"missingTolerance"`
}

// linkConfig is the reporting service's view of ReportsConfig.
func (a *App) linkConfig() (reporting.LinkConfig, error) {
	r := a.cfg.Reports
	if r.LinkTTL < 0 {
		return reporting.LinkConfig{}, fmt.Errorf("%w: reports.linkTTL %v is negative", ErrConfig, r.LinkTTL)
	}
	c := reporting.LinkConfig{Disabled: r.PublicLinks != nil && !*r.PublicLinks, TTL: r.LinkTTL}
	switch {
	case r.LinkKey != "":
		c.Key = []byte(r.LinkKey)
	case len(a.cfg.Auth.Tokens) > 0:
		c.Key = link.DeriveKey(a.cfg.Auth.Tokens[0])
	}
	if tokens := a.cfg.Auth.Tokens; len(tokens) > 0 {
		// The report route is open in the API's check (accessOf) so that
		// signed links work; a request without a signature meets the users'
		// API check here.
		creds := httpserver.Credentials{API: tokens, Service: a.cfg.Auth.ServiceTokens}
		c.RequireToken = func(next http.Handler) http.Handler {
			return httpserver.Authorize(next, creds, func(*http.Request) httpserver.Access { return httpserver.AccessAPI })
		}
	}
	return c, nil
}
