package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/loadfleet/loadfleet/services/httpserver"
)

// exposure is who can reach the API of a server, as its configuration
// decides it.
type exposure int

const (
	// exposureTokens: the API takes bearer tokens, whatever the address.
	exposureTokens exposure = iota
	// exposureLoopback: no tokens, on loopback only (the laptop default).
	// Local processes may call the API; web pages may not
	// (httpserver.GuardLoopback).
	exposureLoopback
	// exposureInsecure: no tokens on an address the network reaches, because
	// the operator said so (--insecure-no-auth). Logged every minute.
	exposureInsecure
)

// insecureWarningEvery is how often a server with an open API on the
// network says so again.
const insecureWarningEvery = time.Minute

// listenExposure decides whether a server may listen on listen (host:port,
// as --listen takes it) with auth, and how exposed it then is. Without
// tokens it refuses every address but loopback ones unless
// auth.InsecureNoAuth: an empty host (":8080"), 0.0.0.0 and [::] are every
// interface, and a name other than localhost is not resolved, since it may
// resolve to anything.
func listenExposure(listen string, auth AuthConfig) (exposure, error) {
	if hasTokens(auth) {
		return exposureTokens, nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return 0, fmt.Errorf("%w: listen address %q: %w", ErrConfig, listen, err)
	}
	switch {
	case httpserver.IsLoopbackHost(host):
		return exposureLoopback, nil
	case auth.InsecureNoAuth:
		return exposureInsecure, nil
	}
	return 0, fmt.Errorf("%w: refusing to listen on %s with %w: anyone who reaches it could run load tests "+
		"from this machine. Set auth.tokens in the configuration (or LOADFLEET_AUTH_TOKEN), listen on loopback "+
		"(127.0.0.1), or accept an open API with --insecure-no-auth (LOADFLEET_INSECURE_NO_AUTH=true, auth.insecureNoAuth)",
		ErrConfig, listen, ErrNoToken)
}

// ErrNoToken is a non-loopback listener refused for want of API tokens.
var ErrNoToken = errors.New("no API token")

// hasTokens says whether the API takes tokens; empty ones do not count,
// as httpserver.RequireBearer ignores them.
func hasTokens(auth AuthConfig) bool {
	for _, t := range auth.Tokens {
		if t != "" {
			return true
		}
	}
	return false
}

// warnInsecure logs that the API is open to the network at once and then
// every period while ctx lasts: a log reader should not need the start-up
// lines to find out.
func (a *App) warnInsecure(addr string, every time.Duration) func(ctx context.Context) error {
	warn := func() {
		a.logger.Warn("the API is open to the network: no API token (--insecure-no-auth); anyone who reaches "+
			addr+" can run load tests from this machine", "addr", addr)
	}
	return func(ctx context.Context) error {
		warn()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				warn()
			}
		}
	}
}
