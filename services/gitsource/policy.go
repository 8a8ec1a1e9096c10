package gitsource

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// addrClass is what an address is, for the address policy.
type addrClass int

const (
	// classPublic: globally reachable unicast; fetched from on the
	// scheme's standard port.
	classPublic addrClass = iota
	// classPrivate: private and special-purpose ranges (RFC 1918, ULA,
	// CGNAT, documentation, benchmarking, multicast, reserved...): refused
	// unless an allow rule covers the host or the address.
	classPrivate
	// classLocal: this host or its link (loopback, unspecified, link-local):
	// refused unless an address rule covers it. A name rule does not: a
	// name that resolves to loopback is the DNS-rebinding trick.
	classLocal
	// classMetadata: cloud metadata endpoints. Never fetched from, whatever
	// the allow rules say; only AllowPrivateAddresses (tests) lifts it.
	classMetadata
)

func (c addrClass) String() string {
	switch c {
	case classPrivate:
		return "a private or special-purpose address"
	case classLocal:
		return "a loopback, link-local or unspecified address"
	case classMetadata:
		return "a cloud metadata address"
	}
	return "a public address"
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

// specialPrefixes are the ranges, beyond what netip's predicates name, that
// are not globally reachable unicast (IANA special-purpose registries).
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID...)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// classify says what addr is. IPv6 forms that carry an IPv4 address a
// gateway would reach (mapped, NAT64, 6to4) are judged by that address.
func classify(addr netip.Addr) addrClass {
	addr = addr.Unmap()
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		addr = netip.AddrFrom4([4]byte(b[12:]))
	case sixToFour.Contains(addr):
		addr = netip.AddrFrom4([4]byte(b[2:6]))
	}
	switch {
	case metadataAddrs[addr]:
		return classMetadata
	case addr.IsLoopback(), addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast(),
		addr.IsUnspecified(), addr.Is4() && thisNetwork.Contains(addr):
		return classLocal
	case addr.IsPrivate(), addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return classPrivate
	}
	for _, p := range specialPrefixes {
		if p.Contains(addr) {
			return classPrivate
		}
	}
	if !addr.IsGlobalUnicast() {
		return classPrivate
	}
	return classPublic
}

// standardPorts are the only ports fetched from without an allow rule that
// names the port. http only exists when AllowInsecureHTTP enables it.
var standardPorts = map[string]string{"https": "443", "http": "80", "ssh": "22", "git": "9418"}

// allowRule is one entry of Config.Allow: a host name (exact, or "*.suffix"
// for every name under suffix), an address or a CIDR prefix, each with an
// optional port.
type allowRule struct {
	host   string       // lower case; "" for an address rule
	prefix netip.Prefix // valid for an address rule
	port   string       // "" means the scheme's standard port only
}

// errAllowRule is the error of a malformed Config.Allow entry.
var errAllowRule = errors.New("invalid git allow entry")

// hostRulePattern is a host name, or "*." and a domain.
var hostRulePattern = regexp.MustCompile(`^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$`)

// parseAllowRule reads "git.internal", "*.corp.example", "10.0.0.0/8",
// "10.1.2.3", "fd00::/8", each optionally with ":PORT" (IPv6 addresses and
// prefixes in brackets then: "[fd00::/8]:2222").
func parseAllowRule(s string) (allowRule, error) {
	entry := strings.ToLower(strings.TrimSpace(s))
	if p, err := netip.ParsePrefix(entry); err == nil {
		return allowRule{prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(entry); err == nil {
		return allowRule{prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if hostRulePattern.MatchString(entry) {
		return allowRule{host: entry}, nil
	}
	h, port, err := net.SplitHostPort(entry)
	if err != nil || h == "" {
		return allowRule{}, fmt.Errorf("%w %q: not a host name, address or CIDR prefix, with an optional :PORT", errAllowRule, s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return allowRule{}, fmt.Errorf("%w %q: the port must be a number from 1 to 65535", errAllowRule, s)
	}
	r, err := parseAllowRule(h)
	if err != nil {
		return allowRule{}, fmt.Errorf("%w %q: %q is not a host name, address or CIDR prefix", errAllowRule, s, h)
	}
	r.port = port
	return r, nil
}

// parseAllowRules reads Config.Allow; a malformed entry is an error naming
// it, and the rules read so far are returned with it.
func parseAllowRules(entries []string) ([]allowRule, error) {
	rules := make([]allowRule, 0, len(entries))
	var errs []error
	for _, e := range entries {
		r, err := parseAllowRule(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// matches reports whether the rule covers a connection to host (the URL's,
// lower case) at addr.
func (r allowRule) matches(host string, addr netip.Addr) bool {
	if r.host == "" {
		return r.prefix.Contains(addr.Unmap())
	}
	if suffix, ok := strings.CutPrefix(r.host, "*"); ok { // "*.corp" covers "a.corp", not "corp"
		return strings.HasSuffix(strings.TrimSuffix(host, "."), suffix)
	}
	return strings.TrimSuffix(host, ".") == strings.TrimSuffix(r.host, ".")
}

// admit is the address and port policy, a pure function: whether git may
// connect to addr:port for a URL of scheme naming host. It returns "" when
// it may, otherwise why not, for the plan's author (it never says whether
// anything listens there: it is decided before any connection).
func admit(scheme, host, port string, addr netip.Addr, rules []allowRule) string {
	class := classify(addr)
	lifted := class == classPublic
	portOK := port == standardPorts[scheme]
	for _, r := range rules {
		if !r.matches(host, addr) {
			continue
		}
		switch {
		case class == classMetadata:
		case class == classLocal && r.host != "": // names cannot reach this host
		default:
			lifted = true
			portOK = portOK || r.port == port
		}
	}
	switch {
	case class == classMetadata:
		return "it is a cloud metadata address"
	case !lifted:
		return fmt.Sprintf("it is %s; an operator can allow internal git servers with git.allow (--git-allow)", class)
	case !portOK:
		return fmt.Sprintf("port %s is not the standard %s port (%s); an operator can allow it for a host with git.allow (--git-allow HOST:PORT)",
			port, scheme, standardPorts[scheme])
	}
	return ""
}
