package gitsource

import (
	"cmp"
	"context"
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

// metadataNames are host names of cloud metadata services that are refused by
// name, before any resolution.
var metadataNames = map[string]bool{"metadata.google.internal": true, "metadata.google.internal.": true}

// metadataAddrs are cloud metadata endpoints outside the link-local ranges.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
)

// refusedReason says why addr may not be fetched from, or "" when it may.
func refusedReason(addr netip.Addr) string {
	addr = addr.Unmap()
	if nat64.Contains(addr) { // the IPv4 address a NAT64 gateway would reach
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case metadataAddrs[addr]:
		return "a cloud metadata address"
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "a link-local address"
	case addr.IsUnspecified(), addr.Is4() && thisNetwork.Contains(addr):
		return "an unspecified address"
	}
	return ""
}

// lookupFunc resolves a host name to its addresses.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func lookupDNS(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkAddresses resolves r's host, refuses it when any of its addresses is
// refused, and returns the addresses to pin the connection to, IPv4 first.
func checkAddresses(ctx context.Context, r remote, allowPrivate bool, lookup lookupFunc) ([]netip.Addr, error) {
	if !allowPrivate && metadataNames[r.host] {
		return nil, fmt.Errorf("%w: host %q is a cloud metadata service", ErrURLNotAllowed, r.host)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(r.host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = lookup(ctx, r.host); err != nil || len(addrs) == 0 {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: resolving host %q took too long", ErrTimeout, r.host)
		}
		return nil, fmt.Errorf("%w: cannot resolve host %q", ErrFetch, r.host)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
		if reason := refusedReason(a); reason != "" && !allowPrivate {
			return nil, fmt.Errorf("%w: host %q resolves to %s, %s, which this server does not fetch from",
				ErrURLNotAllowed, r.host, addrs[i], reason)
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
