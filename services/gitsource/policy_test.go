package gitsource_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/gitsource"
)

// recorder stands in for git: it records every command a Fetcher runs and
// fails each as git would with stderr. No git runs, so no packet is sent.
type recorder struct {
	mu       sync.Mutex
	commands []gitsource.GitCommand
	stderr   string
}

func (r *recorder) run(c gitsource.GitCommand) ([]byte, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, c)
	return nil, r.stderr, true
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.commands)
}

// recordingFetcher is a fetcher with the default policy (plus allow), names
// resolved from hosts, and git replaced by a recorder.
func recordingFetcher(t *testing.T, allow []string, hosts map[string][]string) (*gitsource.Fetcher, *recorder) {
	cfg := gitsource.Config{CacheDir: t.TempDir(), Allow: allow}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	f := gitsource.New(cfg, nil)
	f.SetLookup(staticLookup(hosts))
	rec := &recorder{stderr: "fatal: unable to access 'x': Failed to connect to x port 443: Connection refused"}
	f.SetGit(rec.run)
	return f, rec
}

// TestRefusedTargetsRunNoGit: private and special ranges, by address or by
// a name resolving to them, and non-standard ports are refused before git
// runs at all: the recorder sees zero commands.
func TestRefusedTargetsRunNoGit(t *testing.T) {
	hosts := map[string][]string{
		"rfc1918.test":   {"10.0.0.7"},
		"rfc1918b.test":  {"172.20.1.1"},
		"home.test":      {"192.168.1.1"},
		"cgnat.test":     {"100.64.0.9"},
		"ula.test":       {"fd12:3456::1"},
		"mixed.test":     {"140.82.121.4", "10.0.0.7"},
		"rebind.test":    {"127.0.0.1"},
		"metadata.test":  {"169.254.169.254"},
		"github.test":    {"140.82.121.4"},
		"allowed.test":   {"10.0.0.7"},
		"loopname.test":  {"127.0.0.1"},
		"linklocal.test": {"fe80::1"},
	}
	f, rec := recordingFetcher(t, []string{"allowed.test", "*.corp.test"}, hosts)
	for _, url := range []string{
		"https://10.0.0.7/repo.git",
		"https://172.16.0.1/repo.git",
		"https://192.168.0.10/repo.git",
		"https://100.64.0.1/repo.git",
		"https://[fd00::1]/repo.git",
		"https://[fc00::1]/repo.git",
		"https://[::ffff:10.0.0.7]/repo.git",
		"https://[64:ff9b::a00:7]/repo.git",
		"https://rfc1918.test/repo.git",
		"https://rfc1918b.test/repo.git",
		"ssh://git@home.test/repo.git",
		"git@cgnat.test:org/repo.git",
		"git://ula.test/repo.git",
		"https://mixed.test/repo.git",
		"https://rebind.test/repo.git",
		"https://metadata.test/repo.git",
		"https://github.test:8443/repo.git",
		"git://github.test:22/repo.git",
		"ssh://git@github.test:2222/repo.git",
		"git://github.test:443/repo.git",
		"https://allowed.test:8443/repo.git",
		"https://[::1]/repo.git",
		"https://127.0.0.1:8080/repo.git",
		"https://metadata.google.internal/repo.git",
	} {
		t.Run(url, func(t *testing.T) {
			before := rec.count()
			_, err := f.Fetch(context.Background(), plan.GitSource{URL: url})
			if !errors.Is(err, gitsource.ErrURLNotAllowed) {
				t.Fatalf("err = %v, want ErrURLNotAllowed", err)
			}
			if n := rec.count() - before; n != 0 {
				t.Fatalf("%d git commands ran for a refused target", n)
			}
			if strings.Contains(err.Error(), "10.0.0.7") && !strings.Contains(url, "10.0.0.7") {
				t.Errorf("the message shows the resolved address: %v", err)
			}
		})
	}
}

// TestAllowedTargetsArePinned: what the policy admits reaches git pinned to
// the checked address (curl's resolve list, ssh's HostName, git://'s
// literal address), and ssh reads no configuration that could name a proxy.
func TestAllowedTargetsArePinned(t *testing.T) {
	hosts := map[string][]string{"git.corp.test": {"10.0.0.7"}, "github.test": {"140.82.121.4"}}
	tests := []struct {
		name, url, want string
	}{
		{"public https, curl pinned", "https://github.test/org/repo.git", "github.test:443:140.82.121.4"},
		{"allowed internal https", "https://git.corp.test/repo.git", "git.corp.test:443:10.0.0.7"},
		{"allowed internal port", "https://git.corp.test:8443/repo.git", "git.corp.test:8443:10.0.0.7"},
		{"allowed internal ssh", "git@git.corp.test:org/repo.git", "'HostName=10.0.0.7'"},
		{"allowed internal git://", "git://git.corp.test/repo.git", "git://10.0.0.7:9418/repo.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rec := recordingFetcher(t, []string{"*.corp.test", "git.corp.test:8443"}, hosts)
			_, err := f.Fetch(context.Background(), plan.GitSource{URL: tt.url})
			if !errors.Is(err, gitsource.ErrFetch) || rec.count() != 1 {
				t.Fatalf("err = %v after %d commands, want one failed ls-remote", err, rec.count())
			}
			c := rec.commands[0]
			all := strings.Join(append(c.Args, c.Env...), "\n")
			if c.Args[0] != "ls-remote" || !strings.Contains(all, tt.want) {
				t.Fatalf("command %v lacks %q:\n%s", c.Args, tt.want, all)
			}
			if strings.Contains(tt.url, "@") && !strings.Contains(all, "'-F' '/dev/null'") {
				t.Errorf("ssh may read a configuration file:\n%s", all)
			}
		})
	}
}

// TestConnectionFailuresReadAlike: whatever git says went wrong on the way
// to the server, the plan's author reads one message, so that no answer
// tells an open port from a closed or filtered one.
func TestConnectionFailuresReadAlike(t *testing.T) {
	stderrs := map[string]string{
		"refused":     "fatal: unable to access 'https://github.test/r.git/': Failed to connect to github.test port 443 after 2 ms: Couldn't connect to server",
		"timeout":     "fatal: unable to access 'https://github.test/r.git/': Failed to connect to github.test port 443 after 130000 ms: Connection timed out",
		"unreachable": "fatal: unable to access 'https://github.test/r.git/': Failed to connect to github.test port 443: No route to host",
		"tls":         "fatal: unable to access 'https://github.test/r.git/': SSL certificate problem: self-signed certificate",
		"tls alert":   "fatal: unable to access 'https://github.test/r.git/': OpenSSL/3.0.13: error:0A00010B:SSL routines::wrong version number",
		"reset":       "fatal: unable to access 'https://github.test/r.git/': Recv failure: Connection reset by peer",
		"not http":    "fatal: unable to access 'https://github.test/r.git/': Received HTTP/0.9 when not allowed",
		"empty reply": "fatal: unable to access 'https://github.test/r.git/': Empty reply from server",
		"ssh closed":  "kex_exchange_identification: Connection closed by remote host\nConnection closed by 140.82.121.4 port 22\nfatal: Could not read from remote repository.",
		"git daemon":  "fatal: protocol error: bad line length character: HTTP",
		"hung up":     "fatal: the remote end hung up unexpectedly",
		"silence":     "",
	}
	hosts := map[string][]string{"github.test": {"140.82.121.4"}}
	messages := map[string]string{}
	for name, stderr := range stderrs {
		f, rec := recordingFetcher(t, nil, hosts)
		rec.stderr = stderr
		_, err := f.Fetch(context.Background(), plan.GitSource{URL: "https://github.test/r.git"})
		if !errors.Is(err, gitsource.ErrFetch) {
			t.Fatalf("%s: err = %v, want ErrFetch", name, err)
		}
		messages[err.Error()] = name
		if p := gitsource.Problems(err); len(p) != 1 || p[0].Message != err.Error() || p[0].Path != "/source/git/url" {
			t.Errorf("%s: Problems = %+v", name, p)
		}
	}
	if len(messages) != 1 {
		t.Fatalf("%d different messages, want one: %v", len(messages), messages)
	}
	for msg := range messages {
		for _, leak := range []string{"refused", "timed out", "route", "SSL", "certificate", "reset", "HTTP", "closed", "port"} {
			if strings.Contains(msg, leak) {
				t.Errorf("the message %q says %q", msg, leak)
			}
		}
	}
	// An answer of a git server is still told apart: it needs the author.
	f, rec := recordingFetcher(t, nil, hosts)
	rec.stderr = "remote: Repository not found.\nfatal: repository 'https://github.test/r.git/' not found"
	if _, err := f.Fetch(context.Background(), plan.GitSource{URL: "https://github.test/r.git"}); !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing repository reads %v", err)
	}
}

func TestConfigCheckNamesBadAllowEntries(t *testing.T) {
	err := gitsource.Config{Allow: []string{"git.corp", "https://x", "10.0.0.0/8:99999"}}.Check()
	if err == nil || !strings.Contains(err.Error(), `"https://x"`) || !strings.Contains(err.Error(), `"10.0.0.0/8:99999"`) ||
		strings.Contains(err.Error(), `"git.corp"`) {
		t.Fatalf("Check = %v, want both bad entries named, not the good one", err)
	}
}
