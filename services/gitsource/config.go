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
	// AllowPrivateAddresses disables the refusal of hosts resolving to
	// loopback, link-local, unspecified or cloud-metadata addresses.
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
