package httpserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// RequireBearer wraps next so that a request needs one of tokens as its
// bearer token, unless open says its path carries its own credentials (or
// none are needed). No tokens: next unchanged, the open default of a laptop.
func RequireBearer(next http.Handler, tokens []string, open func(path string) bool) http.Handler {
	var digests [][sha256.Size]byte
	for _, t := range tokens {
		if t != "" {
			digests = append(digests, sha256.Sum256([]byte(t)))
		}
	}
	if len(digests) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		presented, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="loadfleet"`)
			WriteError(w, http.StatusUnauthorized, "an API token is required: send it as \"Authorization: Bearer TOKEN\" (loadfleet --token or LOADFLEET_TOKEN)")
			return
		}
		if !knownDigest(digests, sha256.Sum256([]byte(presented))) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="loadfleet", error="invalid_token"`)
			WriteError(w, http.StatusUnauthorized, "the API token is not valid")
			return
		}
		next.ServeHTTP(w, r)
	})
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
