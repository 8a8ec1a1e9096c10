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

func TestRefusedReason(t *testing.T) {
	tests := []struct {
		addr    string
		refused bool
		why     string
	}{
		{"127.0.0.1", true, "loopback"},
		{"127.1.2.3", true, "the whole 127/8 is loopback"},
		{"::1", true, "IPv6 loopback"},
		{"::ffff:127.0.0.1", true, "IPv4-mapped loopback"},
		{"169.254.169.254", true, "AWS/GCP/Azure metadata"},
		{"169.254.1.1", true, "link-local"},
		{"fe80::1", true, "IPv6 link-local"},
		{"fd00:ec2::254", true, "AWS metadata over IPv6 (not link-local)"},
		{"100.100.100.200", true, "Alibaba metadata"},
		{"64:ff9b::a9fe:a9fe", true, "metadata reached through NAT64"},
		{"0.0.0.0", true, "unspecified"},
		{"0.1.2.3", true, "this-network, routed to the local host by Linux"},
		{"::", true, "IPv6 unspecified"},
		{"10.1.2.3", false, "private networks host internal git servers"},
		{"192.168.1.10", false, "private networks host internal git servers"},
		{"140.82.121.4", false, "a public address"},
		{"2606:50c0:8000::153", false, "a public IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got := refusedReason(netip.MustParseAddr(tt.addr))
			if (got != "") != tt.refused {
				t.Errorf("refusedReason(%s) = %q, want refused=%v (%s)", tt.addr, got, tt.refused, tt.why)
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
