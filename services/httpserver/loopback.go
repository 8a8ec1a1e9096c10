package httpserver

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// IsLoopbackHost says whether host (a name or an address, without port or
// brackets) names this machine only: "localhost", 127.0.0.0/8 or ::1. Other
// names are not resolved: what they resolve to is the DNS owner's choice,
// which is how DNS rebinding works.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// GuardLoopback wraps next for a server that listens on loopback with no API
// token, the laptop default: any local process may use the API, but a web
// page in the user's browser may not. It refuses, before next sees them,
//   - a Host that is not a loopback name or address (403): a page whose
//     name was rebound to 127.0.0.1 (DNS rebinding) sends its own name;
//   - an Origin other than this server's (http://LOOPBACK:PORT of the Host's
//     port; 403): a page of another origin, cross-site request forgery;
//   - a body that is not Content-Type: application/json (415) on the paths
//     where ownType is false: the types a form can send without a CORS
//     preflight (text/plain, form encodings) never reach the API.
//
// ownType says which paths take their own content types (the executors'
// gzip snapshots). The Host and Origin checks apply to every path. With API
// tokens there is nothing to guard: browsers do not send bearer tokens on
// their own, so a foreign page cannot make an authenticated call.
func GuardLoopback(next http.Handler, ownType func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, port := splitHost(r.Host)
		if !IsLoopbackHost(host) {
			WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"Host %q is not a loopback name or address: without API tokens this server answers only requests to localhost, 127.0.0.1 or [::1]",
				r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameLoopbackOrigin(origin, port) {
			WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"requests from web pages of origin %q are refused: without API tokens only this server's own pages may call it",
				origin))
			return
		}
		if hasBody(r) && !ownType(r.URL.Path) && !isJSON(r.Header.Get("Content-Type")) {
			WriteError(w, http.StatusUnsupportedMediaType, "the request body must be sent as Content-Type: application/json")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// splitHost splits a Host header into its host, unbracketed, and its port
// (80 when absent: the server speaks plain HTTP).
func splitHost(hostport string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	if port == "" {
		port = "80"
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), port
}

// sameLoopbackOrigin says whether origin is http:// on a loopback host and
// on port: this listener, whichever loopback name the page used. "null"
// (sandboxed frames, file: pages) is not.
func sameLoopbackOrigin(origin, port string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	originPort := u.Port()
	if originPort == "" {
		originPort = "80"
	}
	return IsLoopbackHost(u.Hostname()) && originPort == port
}

// hasBody says whether the request carries a body (chunked ones included).
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == "application/json"
}
