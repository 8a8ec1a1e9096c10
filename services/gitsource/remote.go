package gitsource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// remote is a parsed, policy-checked repository URL.
type remote struct {
	scheme string // https, http, ssh, git or file
	host   string // lower case, without brackets; "" for file
	port   string // explicit or the scheme's default; "" for file
	user   string // ssh login name, if the URL has one
	// canonical is the URL as the cache and messages know it.
	canonical string
	// parsed is set for URL-form remotes (not scp-like ones).
	parsed *url.URL
}

var defaultPorts = map[string]string{"https": "443", "http": "80", "ssh": "22", "git": "9418"}

// transportPattern matches git's "<transport>::<address>" syntax (ext::, fd::).
var transportPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*::`)

// scpPattern matches scp-like ssh remotes: [user@]host:path.
var scpPattern = regexp.MustCompile(`^(?:([A-Za-z0-9._-]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([^:].*)$`)

// parseRemote checks raw against the URL policy of cfg; it needs no network.
func parseRemote(raw string, cfg Config) (remote, error) {
	refuse := func(format string, args ...any) (remote, error) {
		return remote{}, fmt.Errorf("%w: %s", ErrURLNotAllowed, fmt.Sprintf(format, args...))
	}
	switch {
	case raw == "":
		return refuse("the URL is empty")
	case strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return refuse("the URL contains spaces or control characters")
	case strings.HasPrefix(raw, "-"):
		return refuse("the URL must not start with '-'")
	case transportPattern.MatchString(raw):
		return refuse("git's <transport>::<address> syntax is not allowed; use https, ssh or git URLs")
	}
	if strings.Contains(raw, "://") {
		return parseURLRemote(raw, cfg, refuse)
	}
	m := scpPattern.FindStringSubmatch(raw)
	if m == nil {
		return refuse("%q is not a URL; use https://, ssh://, git@host:path or git://", redact(raw, nil))
	}
	host := strings.ToLower(strings.Trim(m[2], "[]"))
	return remote{scheme: "ssh", host: host, port: defaultPorts["ssh"], user: m[1], canonical: raw}, nil
}

func parseURLRemote(raw string, cfg Config, refuse func(string, ...any) (remote, error)) (remote, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return refuse("the URL cannot be parsed")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "https" || scheme == "ssh" || scheme == "git":
	case scheme == "http" && cfg.AllowInsecureHTTP:
	case scheme == "http":
		return refuse("plain http is not allowed; use https")
	case scheme == "file" && cfg.AllowFile:
	case scheme == "file":
		return refuse("file URLs are not enabled on this server")
	default:
		return refuse("scheme %q is not supported; use https, ssh or git", scheme)
	}
	if u.User != nil {
		// An ssh login name is not a secret; anything else in userinfo is a
		// credential, and credentials belong in the server configuration.
		if _, hasPassword := u.User.Password(); hasPassword || scheme != "ssh" {
			return refuse("credentials in the URL are not allowed; the server configures credentials per host")
		}
	}
	u.Scheme = scheme
	if scheme == "file" {
		if h := u.Host; h != "" && h != "localhost" {
			return refuse("file URLs must name a local path (file:///path)")
		}
		return remote{scheme: scheme, canonical: u.String(), parsed: u}, nil
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return refuse("the URL has no host")
	}
	if strings.HasPrefix(host, "-") {
		return refuse("the host must not start with '-'")
	}
	port := u.Port()
	if port == "" {
		port = defaultPorts[scheme]
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return refuse("port %q is not valid", port)
	}
	r := remote{scheme: scheme, host: host, port: port, canonical: u.String(), parsed: u}
	if u.User != nil {
		r.user = u.User.Username()
	}
	return r, nil
}

// lookupFunc resolves a host name to its addresses.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func lookupDNS(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkAddresses resolves r's host, refuses it when any of its addresses or
// its port is refused by the policy (see admit; nothing when allowPrivate),
// and returns the addresses to pin git's connection to, IPv4 first. It is
// the only door to the network: git is handed these addresses and no name
// it could resolve again (see newSession), so what is checked here is what
// git connects to. A host that does not resolve gets the neutral connection
// error: whether a name exists says nothing to a plan's author that the
// operator's log does not.
func checkAddresses(ctx context.Context, r remote, rules []allowRule, allowPrivate bool, lookup lookupFunc) ([]netip.Addr, error) {
	if !allowPrivate && metadataNames[strings.TrimSuffix(r.host, ".")+"."] {
		return nil, fmt.Errorf("%w: host %q is a cloud metadata service", ErrURLNotAllowed, r.host)
	}
	var addrs []netip.Addr
	literal := false
	if a, err := netip.ParseAddr(r.host); err == nil {
		addrs, literal = []netip.Addr{a}, true
	} else if addrs, err = lookup(ctx, r.host); err != nil || len(addrs) == 0 {
		if err == nil {
			err = errors.New("no addresses")
		}
		return nil, unreachable(r, fmt.Sprintf("resolving %q: %v", r.host, err), ctx.Err() != nil)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
		if allowPrivate {
			continue
		}
		why := admit(r.scheme, r.host, r.port, addrs[i], rules)
		switch {
		case why == "":
		case literal:
			return nil, fmt.Errorf("%w: %s is not fetched from: %s", ErrURLNotAllowed, r.host, why)
		default:
			// The address is not echoed: it would map the operator's
			// internal DNS for whoever asks.
			return nil, fmt.Errorf("%w: host %q resolves to an address this server does not fetch from: %s",
				ErrURLNotAllowed, r.host, why)
		}
	}
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int {
		return cmp.Compare(boolInt(a.Is6()), boolInt(b.Is6()))
	})
	return addrs, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pinnedURL is r's URL with the host replaced by addr, for transports that
// have no other way to pin the address (git://).
func pinnedURL(r remote, addr netip.Addr) string {
	u := *r.parsed
	u.Host = net.JoinHostPort(addr.String(), r.port)
	return u.String()
}
