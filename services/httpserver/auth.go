package httpserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Access says which credential a route takes.
type Access int

// Kinds of access.
const (
	// AccessAPI routes are the users' API: they need an API token (or the
	// service credential: targets call each other's API too) when API
	// tokens are configured, and are open otherwise.
	AccessAPI Access = iota
	// AccessOpen routes need no credential (ops endpoints, report links).
	AccessOpen
	// AccessShard routes authenticate each executor's own shard token in
	// their handler; an API token or the service credential is refused
	// before it, being no shard token.
	AccessShard
	// AccessService routes are internal to loadfleet (the job API, the
	// worker's calls to reporting): only the service credential passes,
	// never an API token, whatever is configured.
	AccessService
)

// Credentials are the bearer tokens a process accepts.
type Credentials struct {
	// API are the users' API tokens; none leaves AccessAPI routes open.
	API []string
	// Service are the service credentials the targets present to each
	// other; none closes AccessService routes to every caller.
	Service []string
}

// Authorize wraps next so that each request presents the credential its
// route takes, as access says from the request (a function of the route
// that will serve it, not of the raw path).
func Authorize(next http.Handler, creds Credentials, access func(r *http.Request) Access) http.Handler {
	api, service := digests(creds.API), digests(creds.Service)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := access(r)
		if a == AccessOpen || (a == AccessAPI && len(api) == 0) {
			next.ServeHTTP(w, r)
			return
		}
		presented, ok := bearer(r)
		var d [sha256.Size]byte
		if ok {
			d = sha256.Sum256([]byte(presented))
		}
		isAPI, isService := ok && knownDigest(api, d), ok && knownDigest(service, d)
		switch a {
		case AccessShard:
			if isAPI || isService {
				WriteError(w, http.StatusForbidden, "the executor API and the ingest take the shard's own token, not an API token or the service credential")
				return
			}
		case AccessService:
			switch {
			case isService:
			case isAPI:
				WriteError(w, http.StatusForbidden, "this route is internal to loadfleet (the executor layer): API tokens cannot call it; it takes the service credential the targets share (auth.serviceTokens)")
				return
			default:
				unauthorized(w, ok, "this route is internal to loadfleet: it needs the service credential the targets share (auth.serviceTokens)",
					"the service credential is not valid")
				return
			}
		default:
			if !isAPI && !isService {
				unauthorized(w, ok, "an API token is required: send it as \"Authorization: Bearer TOKEN\" (loadfleet --token or LOADFLEET_TOKEN)",
					"the API token is not valid")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// unauthorized answers 401: missing says what is needed when no bearer
// token came, invalid that the one that came is not valid.
func unauthorized(w http.ResponseWriter, presented bool, missing, invalid string) {
	if !presented {
		w.Header().Set("WWW-Authenticate", `Bearer realm="loadfleet"`)
		WriteError(w, http.StatusUnauthorized, missing)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="loadfleet", error="invalid_token"`)
	WriteError(w, http.StatusUnauthorized, invalid)
}

func digests(tokens []string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, t := range tokens {
		if t != "" {
			out = append(out, sha256.Sum256([]byte(t)))
		}
	}
	return out
}

// knownDigest compares digests, not tokens, so that neither a token's
// content nor its length leaks through timing.
func knownDigest(known [][sha256.Size]byte, d [sha256.Size]byte) bool {
	found := 0
	for i := range known {
		found |= subtle.ConstantTimeCompare(known[i][:], d[:])
	}
	return found == 1
}

func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// BearerTransport adds a bearer token to every request it carries: how one
// loadfleet target calls another when the API needs a token.
type BearerTransport struct {
	Token string
	// Base carries the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *BearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Token == "" || r.Header.Get("Authorization") != "" {
		return base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.Token)
	return base.RoundTrip(r)
}
