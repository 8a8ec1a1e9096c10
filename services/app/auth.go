package app

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/reporting"
)

// AuthConfig protects the API. With tokens set, every /v1 call of the
// users' API needs one of them as its bearer token; empty, that API is open,
// which the server allows on loopback only (see listenExposure). The
// internal routes (the job API, the worker's calls to reporting) take the
// service credential instead, never a user's token, and are never open.
type AuthConfig struct {
	// Tokens are the accepted API tokens (users, CI).
	Tokens []string `yaml:"tokens"`
	// InsecureNoAuth lets a server without tokens listen on a non-loopback
	// address (--insecure-no-auth): an open API on the network.
	InsecureNoAuth bool `yaml:"insecureNoAuth"`
	// ServiceTokens are the service credentials the targets present to
	// each other; the first is what this process sends. Required by the
	// targets that serve or call internal routes (job, reporting, worker);
	// the all-in-one target makes a random one per process when none is
	// set, as nothing outside it calls its internal routes.
	ServiceTokens []string `yaml:"serviceTokens"`
}

// servesInternal are the targets that serve internal routes (job,
// reporting) or call them (worker).
var servesInternal = []string{TargetJob, TargetReporting, TargetWorker}

// setUpAuth checks the credentials of cfg for target and gives the
// all-in-one target its per-process service credential.
func setUpAuth(target string, auth *AuthConfig) error {
	for i, t := range auth.ServiceTokens {
		if t == "" {
			return fmt.Errorf("%w: auth.serviceTokens[%d] is empty (an unset secret?)", ErrConfig, i)
		}
		if slices.Contains(auth.Tokens, t) {
			return fmt.Errorf("%w: auth.serviceTokens[%d] is also in auth.tokens: an API token cannot be a service credential", ErrConfig, i)
		}
	}
	if len(auth.ServiceTokens) > 0 {
		return nil
	}
	if target == TargetAll {
		var b [32]byte
		_, _ = rand.Read(b[:])
		auth.ServiceTokens = []string{"lfs-" + hex.EncodeToString(b[:])}
		return nil
	}
	if slices.Contains(servesInternal, target) {
		return fmt.Errorf("%w: auth.serviceTokens: the %s target serves or calls internal routes (the job API, "+
			"reporting's finish), which take a service credential shared by the targets and nothing else; "+
			`set auth.serviceTokens: ["${LOADFLEET_SERVICE_TOKEN}"] in every target's configuration`, ErrConfig, target)
	}
	return nil
}

// access says which credential the route serving r takes. It asks the mux
// which pattern will serve r, so that a path written differently (double
// slashes, dot segments, escapes) cannot reach a route under another rule.
func (a *App) access(r *http.Request) httpserver.Access {
	_, pattern := a.mux.Handler(r)
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if pattern == "" || pattern == "/" { // no route: judged by the path
		pattern = r.URL.Path
	}
	return accessOf(pattern)
}

// accessOf is the access of a route pattern's path: the one table of who
// may call what.
func accessOf(route string) httpserver.Access {
	switch {
	case !strings.HasPrefix(route, "/v1/"):
		return httpserver.AccessOpen // ops endpoints
	case route == "/v1/jobs" || strings.HasPrefix(route, "/v1/jobs/"), route == reporting.FinishPath, route == reporting.CollectPath:
		return httpserver.AccessService
	case strings.HasPrefix(route, "/v1/executor/"), route == wire.IngestPath:
		return httpserver.AccessShard
	case route == reporting.ReportHTMLPath:
		// Messages link to HTML reports; their run IDs are unguessable.
		return httpserver.AccessOpen
	}
	return httpserver.AccessAPI
}

// ownCredentials says which paths carry credentials of their own, or none,
// and whose callers (executors, browsers following a report link) send what
// they send: the loopback guard does not ask them for a JSON body.
func ownCredentials(path string) bool {
	switch accessOf(path) {
	case httpserver.AccessOpen, httpserver.AccessShard:
		return true
	}
	return false
}

// serviceClient is how this process calls another target: with the
// service credential, or, on a target that calls only the users' API (the
// metadata calling the validator), with the first API token when no
// service credential is configured.
func (a *App) serviceClient(timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	switch {
	case len(a.cfg.Auth.ServiceTokens) > 0:
		c.Transport = &httpserver.BearerTransport{Token: a.cfg.Auth.ServiceTokens[0]}
	case len(a.cfg.Auth.Tokens) > 0:
		c.Transport = &httpserver.BearerTransport{Token: a.cfg.Auth.Tokens[0]}
	}
	return c
}
