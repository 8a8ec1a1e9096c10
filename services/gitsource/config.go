package gitsource

import (
	"strings"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout  = 60 * time.Second
	DefaultMaxBytes = 100 << 20 // 100 MiB
)

// Config is the server-side configuration of git fetching. Nothing in it comes
// from a plan.
type Config struct {
	// CacheDir holds the checkouts (CacheDir/checkouts) and the fetches in
	// progress (CacheDir/tmp). Required.
	CacheDir string
	// Timeout bounds one whole Fetch. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxBytes bounds the size on disk of one fetched repository, its
	// checked-out files included. Zero means DefaultMaxBytes.
	MaxBytes int64
	// AllowFile enables file:// URLs (local mirrors, tests).
	AllowFile bool
	// AllowInsecureHTTP enables plain http:// URLs (internal mirrors, tests).
	AllowInsecureHTTP bool
	// Allow lists the internal git servers this server may fetch from,
	// beyond public addresses on the scheme's standard port (443 https, 22
	// ssh, 9418 git, 80 http): host names ("git.corp.example", or
	// "*.corp.example" for the names under it), addresses and CIDR prefixes
	// ("10.20.0.0/16", "fd00::/8"), each with an optional ":PORT" that
	// allows that port too ("git.corp.example:8443", "[fd00::/8]:2222").
	// A name entry allows its private addresses but not loopback or
	// link-local ones, which only an address entry can allow; cloud
	// metadata addresses are never allowed.
	Allow []string
	// AllowPrivateAddresses turns the address and port policy off: any
	// address, on any port. For tests and development against loopback
	// servers, never for a shared server.
	AllowPrivateAddresses bool
	// Credentials are matched against the URL's host.
	Credentials []Credential
	// SSHKnownHostsFile is the known_hosts file for ssh URLs; host keys are
	// always checked strictly. Empty means only the system-wide file
	// (/etc/ssh/ssh_known_hosts).
	SSHKnownHostsFile string
	// GitBinary is the git executable. Empty means "git" from PATH.
	GitBinary string
}

// Credential authenticates to one host. For http(s), Token is sent as the
// password of HTTP basic auth with Username (default "x-access-token"), which
// GitHub, GitLab, Gitea and Azure DevOps accept; otherwise Username and
// Password are sent. For ssh, SSHKeyFile is the private key to use.
type Credential struct {
	// Host is a host name ("git.example.com") or host:port; it matches the
	// URL's host case-insensitively.
	Host       string
	Username   string
	Password   string
	Token      string
	SSHKeyFile string
}

// Check reports malformed Allow entries, each named.
func (c Config) Check() error {
	_, err := parseAllowRules(c.Allow)
	return err
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.GitBinary == "" {
		c.GitBinary = "git"
	}
	return c
}

// credentialFor returns the credential configured for r's host, if any.
func (c Config) credentialFor(r remote) (Credential, bool) {
	for _, cred := range c.Credentials {
		h := strings.ToLower(cred.Host)
		if h == r.host || h == r.host+":"+r.port {
			return cred, true
		}
	}
	return Credential{}, false
}

// secrets lists the strings that must never appear in an error message.
func (c Config) secrets() []string {
	var s []string
	for _, cred := range c.Credentials {
		for _, v := range []string{cred.Password, cred.Token} {
			if v != "" {
				s = append(s, v)
			}
		}
	}
	return s
}
