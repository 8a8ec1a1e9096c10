package gitsource

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRemoteAcceptsGitURLForms(t *testing.T) {
	tests := []struct {
		name, raw              string
		scheme, host, port, us string
	}{
		{"https with the default port", "https://GitHub.com/org/repo.git", "https", "github.com", "443", ""},
		{"https with a port", "https://git.example.com:8443/org/repo", "https", "git.example.com", "8443", ""},
		{"ssh URL with a login name (not a secret)", "ssh://git@git.example.com:2222/org/repo.git", "ssh", "git.example.com", "2222", "git"},
		{"scp-like ssh", "git@github.com:org/repo.git", "ssh", "github.com", "22", "git"},
		{"scp-like ssh without a user", "github.com:org/repo.git", "ssh", "github.com", "22", ""},
		{"scp-like ssh to an IPv6 host", "git@[2001:db8::1]:org/repo.git", "ssh", "2001:db8::1", "22", "git"},
		{"git protocol", "git://git.example.com/repo.git", "git", "git.example.com", "9418", ""},
		{"IPv6 literal", "https://[2001:db8::1]/repo.git", "https", "2001:db8::1", "443", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRemote(tt.raw, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if r.scheme != tt.scheme || r.host != tt.host || r.port != tt.port || r.user != tt.us {
				t.Errorf("got %s %s %s %q, want %s %s %s %q", r.scheme, r.host, r.port, r.user, tt.scheme, tt.host, tt.port, tt.us)
			}
		})
	}
}

func TestParseRemoteRefuses(t *testing.T) {
	tests := []struct {
		name, raw string
		cfg       Config
	}{
		{"ssh URL with a password", "ssh://git:pw@example.com/repo.git", Config{}},
		{"git URL with a user", "git://me@example.com/repo.git", Config{}},
		{"plain http without AllowInsecureHTTP", "http://example.com/repo.git", Config{AllowFile: true}},
		{"file without AllowFile", "file:///srv/repo.git", Config{AllowInsecureHTTP: true}},
		{"file URL naming a remote host", "file://server/srv/repo.git", Config{AllowFile: true}},
		{"port out of range", "https://example.com:99999/repo.git", Config{}},
		{"no host", "https:///repo.git", Config{}},
		{"fd transport", "fd::17", Config{}},
		{"scp-like path that is a transport", "example.com::repo", Config{}},
		{"newline smuggling", "https://example.com/repo.git\n--upload-pack=x", Config{}},
		{"empty", "", Config{}},
		{"relative path", "./repo", Config{AllowFile: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseRemote(tt.raw, tt.cfg); !errors.Is(err, ErrURLNotAllowed) {
				t.Errorf("err = %v, want ErrURLNotAllowed", err)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want addrClass
		why  string
	}{
		{"127.0.0.1", classLocal, "loopback"},
		{"127.1.2.3", classLocal, "the whole 127/8 is loopback"},
		{"::1", classLocal, "IPv6 loopback"},
		{"::ffff:127.0.0.1", classLocal, "IPv4-mapped loopback"},
		{"169.254.1.1", classLocal, "link-local"},
		{"fe80::1", classLocal, "IPv6 link-local"},
		{"0.0.0.0", classLocal, "unspecified"},
		{"0.1.2.3", classLocal, "this-network, routed to the local host by Linux"},
		{"::", classLocal, "IPv6 unspecified"},
		{"169.254.169.254", classMetadata, "AWS/GCP/Azure metadata"},
		{"fd00:ec2::254", classMetadata, "AWS metadata over IPv6 (not link-local)"},
		{"100.100.100.200", classMetadata, "Alibaba metadata, inside CGNAT"},
		{"64:ff9b::a9fe:a9fe", classMetadata, "metadata reached through NAT64"},
		{"2002:a9fe:a9fe::1", classMetadata, "metadata reached through 6to4"},
		{"10.1.2.3", classPrivate, "RFC 1918"},
		{"172.16.0.1", classPrivate, "RFC 1918"},
		{"172.31.255.255", classPrivate, "RFC 1918, the top of 172.16/12"},
		{"192.168.1.10", classPrivate, "RFC 1918"},
		{"::ffff:10.0.0.1", classPrivate, "IPv4-mapped RFC 1918"},
		{"64:ff9b::a00:1", classPrivate, "RFC 1918 through NAT64"},
		{"2002:a00:1::1", classPrivate, "RFC 1918 through 6to4"},
		{"100.64.0.1", classPrivate, "CGNAT"},
		{"100.127.255.254", classPrivate, "CGNAT, top of 100.64/10"},
		{"fc00::1", classPrivate, "ULA fc00::/7"},
		{"fdff:ffff::1", classPrivate, "ULA, the fd half"},
		{"192.0.2.7", classPrivate, "TEST-NET-1"},
		{"198.18.0.1", classPrivate, "benchmarking"},
		{"239.1.1.1", classPrivate, "multicast"},
		{"224.0.0.1", classLocal, "link-local multicast"},
		{"ff02::1", classLocal, "IPv6 link-local multicast"},
		{"ff05::1", classPrivate, "IPv6 site-local multicast"},
		{"255.255.255.255", classPrivate, "broadcast"},
		{"240.0.0.1", classPrivate, "reserved"},
		{"2001:db8::1", classPrivate, "IPv6 documentation"},
		{"2001::1", classPrivate, "Teredo"},
		{"fec0::1", classPrivate, "deprecated site-local"},
		{"::10.0.0.1", classPrivate, "deprecated IPv4-compatible"},
		{"172.32.0.1", classPublic, "just outside 172.16/12"},
		{"100.128.0.1", classPublic, "just outside CGNAT"},
		{"140.82.121.4", classPublic, "a public address"},
		{"2606:50c0:8000::153", classPublic, "a public IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := classify(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("classify(%s) = %v, want %v (%s)", tt.addr, got, tt.want, tt.why)
			}
		})
	}
}

func TestParseAllowRule(t *testing.T) {
	tests := []struct {
		entry string
		want  allowRule
		ok    bool
	}{
		{"git.corp.example", allowRule{host: "git.corp.example"}, true},
		{"Git.Corp.Example:8443", allowRule{host: "git.corp.example", port: "8443"}, true},
		{"*.corp.example", allowRule{host: "*.corp.example"}, true},
		{"10.0.0.0/8", allowRule{prefix: netip.MustParsePrefix("10.0.0.0/8")}, true},
		{"10.1.2.3/8", allowRule{prefix: netip.MustParsePrefix("10.0.0.0/8")}, true},
		{"10.0.0.0/8:2222", allowRule{prefix: netip.MustParsePrefix("10.0.0.0/8"), port: "2222"}, true},
		{"10.1.2.3", allowRule{prefix: netip.MustParsePrefix("10.1.2.3/32")}, true},
		{"127.0.0.1:3000", allowRule{prefix: netip.MustParsePrefix("127.0.0.1/32"), port: "3000"}, true},
		{"fd00::/8", allowRule{prefix: netip.MustParsePrefix("fd00::/8")}, true},
		{"[fd00::/8]:2222", allowRule{prefix: netip.MustParsePrefix("fd00::/8"), port: "2222"}, true},
		{"[fd00::1]:2222", allowRule{prefix: netip.MustParsePrefix("fd00::1/128"), port: "2222"}, true},
		{"", allowRule{}, false},
		{"git.corp.example:0", allowRule{}, false},
		{"git.corp.example:65536", allowRule{}, false},
		{"git.corp.example:022", allowRule{}, false},
		{"git.corp.example:ssh", allowRule{}, false},
		{"https://git.corp.example", allowRule{}, false},
		{"*", allowRule{}, false},
		{"*.", allowRule{}, false},
		{"a*.corp", allowRule{}, false},
		{"10.0.0.0/33", allowRule{}, false},
		{"user@git.corp", allowRule{}, false},
		{"-oProxyCommand", allowRule{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			got, err := parseAllowRule(tt.entry)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseAllowRule(%q) = %+v, %v; want %+v ok=%v", tt.entry, got, err, tt.want, tt.ok)
			}
			if err != nil && !errors.Is(err, errAllowRule) {
				t.Errorf("err = %v, want errAllowRule", err)
			}
		})
	}
}

// TestAdmit is the address and port rule: who may be fetched from, on which
// port, with which allow entries.
func TestAdmit(t *testing.T) {
	rules := func(entries ...string) []allowRule {
		rs, err := parseAllowRules(entries)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	tests := []struct {
		name                   string
		scheme, host, port, ip string
		allow                  []string
		ok                     bool
	}{
		{"public https on 443", "https", "github.com", "443", "140.82.121.4", nil, true},
		{"public ssh on 22", "ssh", "github.com", "22", "140.82.121.4", nil, true},
		{"public git on 9418", "git", "git.kernel.org", "9418", "140.82.121.4", nil, true},
		{"public http on 80 (the scheme itself needs AllowInsecureHTTP)", "http", "example.com", "80", "93.184.215.14", nil, true},
		{"public https on another port: a port scan", "https", "example.com", "8443", "93.184.215.14", nil, false},
		{"public git:// on the ssh port", "git", "example.com", "22", "93.184.215.14", nil, false},
		{"public ssh on the https port", "ssh", "example.com", "443", "93.184.215.14", nil, false},
		{"a public host's extra port, allowed by name", "https", "git.example.com", "8443", "93.184.215.14", []string{"git.example.com:8443"}, true},
		{"a name entry's port is for that name only", "https", "other.example.com", "8443", "93.184.215.14", []string{"git.example.com:8443"}, false},
		{"RFC 1918 refused by default", "https", "git.corp", "443", "10.1.2.3", nil, false},
		{"CGNAT refused by default", "https", "git.corp", "443", "100.64.1.1", nil, false},
		{"ULA refused by default", "ssh", "git.corp", "22", "fd12::1", nil, false},
		{"an internal server allowed by name", "https", "git.corp", "443", "10.1.2.3", []string{"git.corp"}, true},
		{"a name allowed by a wildcard", "ssh", "git.eu.corp", "22", "10.1.2.3", []string{"*.corp"}, true},
		{"the wildcard does not cover the bare domain", "ssh", "corp", "22", "10.1.2.3", []string{"*.corp"}, false},
		{"an internal server allowed by prefix", "https", "git.corp", "443", "10.1.2.3", []string{"10.0.0.0/8"}, true},
		{"outside the prefix, a public address is public anyway", "https", "git.corp", "443", "11.1.2.3", []string{"10.0.0.0/8"}, true},
		{"another private range stays refused", "https", "git.corp", "443", "192.168.1.1", []string{"10.0.0.0/8"}, false},
		{"allowed by prefix, but not on any port", "https", "git.corp", "8443", "10.1.2.3", []string{"10.0.0.0/8"}, false},
		{"allowed by prefix with its port", "https", "git.corp", "8443", "10.1.2.3", []string{"10.0.0.0/8:8443"}, true},
		{"a port entry keeps the standard port", "https", "git.corp", "443", "10.1.2.3", []string{"10.0.0.0/8:8443"}, true},
		{"allowed by name, on the named port", "ssh", "git.corp", "2222", "10.1.2.3", []string{"git.corp:2222"}, true},
		{"allowed by name, another port", "ssh", "git.corp", "2223", "10.1.2.3", []string{"git.corp:2222"}, false},
		{"loopback refused", "https", "localhost", "443", "127.0.0.1", nil, false},
		{"a name entry cannot reach loopback (rebinding)", "https", "git.corp", "443", "127.0.0.1", []string{"git.corp"}, false},
		{"a wildcard cannot reach link-local", "https", "git.corp", "443", "169.254.10.10", []string{"*.corp"}, false},
		{"an address entry can allow loopback", "http", "127.0.0.1", "3000", "127.0.0.1", []string{"127.0.0.1:3000"}, true},
		{"metadata: never, even by address", "https", "169.254.169.254", "443", "169.254.169.254", []string{"169.254.0.0/16"}, false},
		{"metadata: never, even by name", "https", "meta.corp", "443", "100.100.100.200", []string{"meta.corp", "100.64.0.0/10"}, false},
		{"IPv4-mapped private covered by its IPv4 prefix", "https", "git.corp", "443", "::ffff:10.1.2.3", []string{"10.0.0.0/8"}, true},
		{"IPv6 prefix with port", "ssh", "git.corp", "2222", "fd00::5", []string{"[fd00::/8]:2222"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why := admit(tt.scheme, tt.host, tt.port, netip.MustParseAddr(tt.ip), rules(tt.allow...))
			if (why == "") != tt.ok {
				t.Errorf("admit(%s %s:%s at %s, allow %v) = %q, want ok=%v", tt.scheme, tt.host, tt.port, tt.ip, tt.allow, why, tt.ok)
			}
		})
	}
}

func TestCheckRef(t *testing.T) {
	sha := strings.Repeat("a1", 20)
	tests := []struct {
		ref, want string
		ok        bool
		why       string
	}{
		{"", "", true, "empty means the default branch"},
		{"HEAD", "", true, "HEAD is the default branch too"},
		{"release/2.1", "release/2.1", true, "branch names may contain slashes"},
		{"v1.0.0", "v1.0.0", true, "tags have dots"},
		{strings.ToUpper(sha), sha, true, "SHAs are normalised to lower case"},
		{"-x", "", false, "git would read it as an option"},
		{"a..b", "", false, "a revision range, not a ref"},
		{"main~1", "", false, "revision syntax is not a ref"},
		{"main@{1}", "", false, "reflog syntax is not a ref"},
		{"feat ure", "", false, "spaces"},
		{"x.lock", "", false, "git reserves .lock"},
		{"refs/heads/", "", false, "trailing slash"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := checkRef(tt.ref)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("checkRef(%q) = %q, %v; want %q ok=%v (%s)", tt.ref, got, err, tt.want, tt.ok, tt.why)
			}
			if err != nil && !errors.Is(err, ErrRefNotFound) {
				t.Errorf("err = %v, want ErrRefNotFound", err)
			}
		})
	}
}

func TestGitMessageIsOneRedactedLine(t *testing.T) {
	stderr := "hint: something\nerror: RPC failed\nfatal: unable to access 'https://u:hunter2@example.com/x.git/': token hunter2 rejected\nfatal: the remote end hung up\n"
	got := gitMessage(stderr, []string{"hunter2"})
	want := "unable to access 'https://***@example.com/x.git/': token *** rejected"
	if got != want {
		t.Errorf("gitMessage = %q, want %q", got, want)
	}
	long := gitMessage("fatal: "+strings.Repeat("x", 1000), nil)
	if len(long) > 210 {
		t.Errorf("a long line is kept whole (%d bytes)", len(long))
	}
}

func TestSessionKeepsSecretsOffTheCommandLineAndPinsSSH(t *testing.T) {
	cfg := Config{Credentials: []Credential{{Host: "git.example.com", Token: "tok3n", SSHKeyFile: "/keys/it's key"}}}.withDefaults()
	addr := []netip.Addr{netip.MustParseAddr("192.0.2.7")}

	https, err := parseRemote("https://git.example.com/org/repo.git", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(cfg, https, addr, "/tmp/home")
	env := strings.Join(s.env, "\n")
	if !strings.Contains(env, "Authorization: Basic ") || !strings.Contains(env, "git.example.com:443:192.0.2.7") {
		t.Errorf("https session env lacks the header or the pin:\n%s", env)
	}
	if strings.Contains(s.gitURL, "tok3n") {
		t.Errorf("the token is in the URL handed to git: %s", s.gitURL)
	}

	ssh, err := parseRemote("git@git.example.com:org/repo.git", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s = newSession(cfg, ssh, addr, "/tmp/home")
	cmd := ""
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "GIT_SSH_COMMAND="); ok {
			cmd = v
		}
	}
	for _, want := range []string{"'HostName=192.0.2.7'", "'HostKeyAlias=git.example.com'", "'BatchMode=yes'",
		"'StrictHostKeyChecking=yes'", `'/keys/it'\''s key'`} {
		if !strings.Contains(cmd, want) {
			t.Errorf("GIT_SSH_COMMAND %q lacks %s", cmd, want)
		}
	}

	git, err := parseRemote("git://git.example.com/repo.git", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := newSession(cfg, git, addr, "/tmp/home"); s.gitURL != "git://192.0.2.7:9418/repo.git" {
		t.Errorf("git:// is not pinned: %s", s.gitURL)
	}
}
