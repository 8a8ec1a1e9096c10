package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/internal/private"
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
	// (every replica holding it signs alike), or, with no tokens, a random
	// one kept in the data directory (linkKeyFile). Changing it (or the
	// first token) revokes every link.
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
	default:
		key, err := a.storedLinkKey()
		if err != nil {
			return reporting.LinkConfig{}, err
		}
		c.Key = key
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

// linkKeyFile holds the key that signs report links when neither
// reports.linkKey nor an API token gives one, in the data directory, so
// that links sent before a restart still open after it.
const linkKeyFile = "report-links.key"

// storedLinkKey reads the data directory's link key, making it (0600, 32
// random bytes) the first time.
func (a *App) storedLinkKey() ([]byte, error) {
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, linkKeyFile)
	if key, err := os.ReadFile(path); err == nil && len(key) >= 32 {
		return key, nil
	}
	key := make([]byte, 64)
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	hex.Encode(key, raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, private.FileMode)
	if errors.Is(err, fs.ErrExist) { // made meanwhile, or cut short
		if key, err := os.ReadFile(path); err == nil && len(key) >= 32 {
			return key, nil
		}
		return nil, fmt.Errorf("%w: the report link key %s is unreadable or too short: remove it to make a new one", ErrConfig, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the report link key: %w", ErrConfig, err)
	}
	_, werr := f.Write(key)
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, fmt.Errorf("%w: the report link key: %w", ErrConfig, err)
	}
	return key, nil
}
