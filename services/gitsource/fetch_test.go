package gitsource_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/gitsource"
)

// loopbackConfig is the configuration tests need for a server on 127.0.0.1.
func loopbackConfig(t *testing.T) gitsource.Config {
	return gitsource.Config{
		CacheDir:              t.TempDir(),
		Timeout:               30 * time.Second,
		AllowInsecureHTTP:     true,
		AllowPrivateAddresses: true,
	}
}

func fetch(t *testing.T, f *gitsource.Fetcher, src plan.GitSource) (*gitsource.Checkout, error) {
	t.Helper()
	return f.Fetch(context.Background(), src)
}

func TestFetchResolvesBranchTagAndSHA(t *testing.T) {
	fx := newFixture(t)
	f := gitsource.New(loopbackConfig(t), nil)
	tests := []struct {
		name    string
		ref     string
		wantRef string
		wantSHA string
		path    string
	}{
		{"empty ref is the default branch", "", "refs/heads/main", fx.mainSHA, "plans/checkout.jmx"},
		{"a branch", "feature", "refs/heads/feature", fx.featSHA, "plans/feature.jmx"},
		{"an annotated tag is peeled to its commit", "v1.0", "refs/tags/v1.0", fx.mainSHA, "data/users.csv"},
		{"a full ref name", "refs/heads/feature", "refs/heads/feature", fx.featSHA, "plans"},
		{"a full commit SHA that no ref points at directly", fx.mainSHA, fx.mainSHA, fx.mainSHA, "plans/current.jmx"},
		{"upper-case SHA is normalised", strings.ToUpper(fx.featSHA), fx.featSHA, fx.featSHA, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co, err := fetch(t, f, plan.GitSource{URL: fx.server.url("app.git"), Ref: tt.ref, Path: tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if co.SHA != tt.wantSHA || co.Ref != tt.wantRef {
				t.Errorf("got ref %q sha %s, want %q %s", co.Ref, co.SHA, tt.wantRef, tt.wantSHA)
			}
			if co.URL != fx.server.url("app.git") {
				t.Errorf("URL = %q", co.URL)
			}
			data, err := fs.ReadFile(co.FS(), "data/users.csv")
			if err != nil || !strings.HasPrefix(string(data), "user,password\n") {
				t.Errorf("data/users.csv = %q, %v", data, err)
			}
			if _, err := os.Stat(filepath.Join(co.Dir, ".git")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the checkout keeps its .git directory: %v", err)
			}
		})
	}
}

func TestFetchReusesCache(t *testing.T) {
	fx := newFixture(t)
	f := gitsource.New(loopbackConfig(t), nil)
	src := plan.GitSource{URL: fx.server.url("app.git"), Ref: "main", Path: "plans/checkout.jmx"}
	first, err := fetch(t, f, src)
	if err != nil {
		t.Fatal(err)
	}
	if fx.server.objectRequests() != 1 {
		t.Fatalf("first fetch made %d object requests, want 1", fx.server.objectRequests())
	}

	second, err := fetch(t, f, src)
	if err != nil {
		t.Fatal(err)
	}
	if second.Dir != first.Dir || second.SHA != first.SHA {
		t.Errorf("second fetch = %+v, want the cached %+v", second, first)
	}
	if n := fx.server.objectRequests(); n != 1 {
		t.Errorf("an unchanged branch was downloaded again: %d object requests", n)
	}

	// A full SHA needs no resolution: the cache answers without any request.
	before := len(fx.server.seen())
	bySHA, err := fetch(t, f, plan.GitSource{URL: src.URL, Ref: first.SHA})
	if err != nil {
		t.Fatal(err)
	}
	if bySHA.Dir != first.Dir {
		t.Errorf("fetch by SHA used %s, want the cached %s", bySHA.Dir, first.Dir)
	}
	if after := len(fx.server.seen()); after != before {
		t.Errorf("fetch of a cached SHA made %d requests, want 0", after-before)
	}
}

func TestFetchFollowsMovingBranch(t *testing.T) {
	fx := newFixture(t)
	f := gitsource.New(loopbackConfig(t), nil)
	src := plan.GitSource{URL: fx.server.url("app.git"), Ref: "feature"}
	old, err := fetch(t, f, src)
	if err != nil {
		t.Fatal(err)
	}

	fx.repo.git("checkout", "-q", "feature")
	fx.repo.write("plans/feature.jmx", "<jmeterTestPlan feature='2'/>\n")
	moved := fx.repo.commit("feature moves")
	fx.repo.pushTo(fx.server, "app.git")

	co, err := fetch(t, f, src)
	if err != nil {
		t.Fatal(err)
	}
	if co.SHA != moved || co.SHA == old.SHA || co.Dir == old.Dir {
		t.Fatalf("after the branch moved got %s in %s, want %s in a new directory", co.SHA, co.Dir, moved)
	}
	data, _ := fs.ReadFile(co.FS(), "plans/feature.jmx")
	if !strings.Contains(string(data), "feature='2'") {
		t.Errorf("plans/feature.jmx = %q, want the new content", data)
	}
	if data, _ := os.ReadFile(filepath.Join(old.Dir, "plans/feature.jmx")); !strings.Contains(string(data), "feature='1'") {
		t.Errorf("the old checkout changed: %q", data)
	}
}

func TestFetchConcurrentFetchesShareOneCheckout(t *testing.T) {
	fx := newFixture(t)
	f := gitsource.New(loopbackConfig(t), nil)
	const n = 4
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			co, err := f.Fetch(context.Background(), plan.GitSource{URL: fx.server.url("app.git"), Ref: "v1.0", Path: "plans/checkout.jmx"})
			errs[i] = err
			if err == nil {
				dirs[i] = co.Dir
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("fetch %d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Errorf("fetch %d used %s, fetch 0 %s", i, dirs[i], dirs[0])
		}
	}
	if data, err := os.ReadFile(filepath.Join(dirs[0], "plans/checkout.jmx")); err != nil || string(data) != "<jmeterTestPlan/>\n" {
		t.Errorf("checkout content %q, %v", data, err)
	}
	left, _ := os.ReadDir(filepath.Join(filepath.Dir(filepath.Dir(dirs[0])), "tmp"))
	if len(left) != 0 {
		t.Errorf("%d temporary directories left behind", len(left))
	}
}

func TestFetchRefAndPathProblems(t *testing.T) {
	fx := newFixture(t)
	f := gitsource.New(loopbackConfig(t), nil)
	url := fx.server.url("app.git")
	tests := []struct {
		name     string
		src      plan.GitSource
		want     error
		pointer  string
		mentions string
	}{
		{"unknown branch", plan.GitSource{URL: url, Ref: "no-such-branch"}, gitsource.ErrRefNotFound, "/source/git/ref", "no-such-branch"},
		{"unknown commit", plan.GitSource{URL: url, Ref: strings.Repeat("ab", 20)}, gitsource.ErrRefNotFound, "/source/git/ref", "commit abab"},
		{"abbreviated SHA", plan.GitSource{URL: url, Ref: fx.mainSHA[:8]}, gitsource.ErrRefNotFound, "/source/git/ref", "full SHA"},
		{"ref that reads as an option", plan.GitSource{URL: url, Ref: "--upload-pack=touch"}, gitsource.ErrRefNotFound, "/source/git/ref", "not a valid"},
		{"missing file", plan.GitSource{URL: url, Path: "plans/missing.jmx"}, gitsource.ErrPathNotFound, "/source/git/path", "does not exist"},
		{"parent directory", plan.GitSource{URL: url, Path: "../outside"}, gitsource.ErrPathNotFound, "/source/git/path", "leaves the repository"},
		{"absolute path", plan.GitSource{URL: url, Path: "/etc/passwd"}, gitsource.ErrPathNotFound, "/source/git/path", "relative"},
		{"absolute symlink out", plan.GitSource{URL: url, Path: "escape/passwd"}, gitsource.ErrPathNotFound, "/source/git/path", "symbolic link"},
		{"relative symlink out", plan.GitSource{URL: url, Path: "up"}, gitsource.ErrPathNotFound, "/source/git/path", "symbolic link"},
		{"the .git directory is not kept", plan.GitSource{URL: url, Path: ".git/config"}, gitsource.ErrPathNotFound, "/source/git/path", "does not exist"},
		{"missing repository", plan.GitSource{URL: fx.server.url("nope.git")}, gitsource.ErrFetch, "/source/git/url", "not found"},
		{"redirect to a metadata address is not followed", plan.GitSource{URL: fx.server.url("moved.git")}, gitsource.ErrFetch, "/source/git/url", "redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co, err := fetch(t, f, tt.src)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v (checkout %+v), want %v", err, co, tt.want)
			}
			t.Log(err)
			problems := gitsource.Problems(err)
			if len(problems) != 1 || problems[0].Path != tt.pointer {
				t.Errorf("Problems = %+v, want one at %s", problems, tt.pointer)
			}
			if !strings.Contains(err.Error(), tt.mentions) {
				t.Errorf("message %q does not mention %q", err, tt.mentions)
			}
			if strings.Count(err.Error(), "\n") > 0 || len(err.Error()) > 300 {
				t.Errorf("message is not one short line: %q", err)
			}
		})
	}
}

func TestCheckoutFSRefusesSymlinkEscape(t *testing.T) {
	fx := newFixture(t)
	f := gitsource.New(loopbackConfig(t), nil)
	co, err := fetch(t, f, plan.GitSource{URL: fx.server.url("app.git")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadFile(co.FS(), "escape/hostname"); err == nil {
		t.Error("read /etc/hostname through the escape symlink")
	}
	if _, err := fs.ReadDir(co.FS(), "up"); err == nil {
		t.Error("listed a directory above the checkout through the up symlink")
	}
	if data, err := fs.ReadFile(co.FS(), "plans/current.jmx"); err != nil || string(data) != "<jmeterTestPlan/>\n" {
		t.Errorf("a symlink inside the checkout: %q, %v", data, err)
	}
}

func TestFetchNeverFetchesSubmodules(t *testing.T) {
	fx := newFixture(t)
	f := gitsource.New(loopbackConfig(t), nil)
	co, err := fetch(t, f, plan.GitSource{URL: fx.server.url("app.git"), Path: ".gitmodules"})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(co.Dir, "libs/sub"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) || len(entries) != 0 {
		t.Errorf("libs/sub holds %d entries (%v), want an empty or absent directory", len(entries), err)
	}
	for _, r := range fx.server.seen() {
		if strings.HasPrefix(r.path, "/sub.git") {
			t.Errorf("the submodule repository was requested: %s", r.path)
		}
	}
}

func TestFetchFileURLOnlyWhenAllowed(t *testing.T) {
	fx := newFixture(t)
	url := "file://" + filepath.Join(fx.server.root, "app.git")
	cfg := loopbackConfig(t)

	_, err := gitsource.New(cfg, nil).Fetch(context.Background(), plan.GitSource{URL: url})
	if !errors.Is(err, gitsource.ErrURLNotAllowed) {
		t.Fatalf("file URL without AllowFile: err = %v, want ErrURLNotAllowed", err)
	}

	cfg.AllowFile = true
	co, err := gitsource.New(cfg, nil).Fetch(context.Background(), plan.GitSource{URL: url, Ref: "feature", Path: "plans/feature.jmx"})
	if err != nil {
		t.Fatal(err)
	}
	if co.SHA != fx.featSHA {
		t.Errorf("SHA = %s, want %s", co.SHA, fx.featSHA)
	}
}

func TestFetchRefusesURLsWithoutNetworkAccess(t *testing.T) {
	fx := newFixture(t)
	cfg := loopbackConfig(t)
	cfg.AllowPrivateAddresses = false
	cfg.AllowInsecureHTTP = false
	cfg.Timeout = 3 * time.Second
	f := gitsource.New(cfg, nil)

	insecure := cfg
	insecure.AllowInsecureHTTP = true
	fInsecure := gitsource.New(insecure, nil)

	tests := []struct {
		name    string
		fetcher *gitsource.Fetcher
		url     string
	}{
		{"the test server on loopback", fInsecure, fx.server.url("app.git")},
		{"localhost by name", fInsecure, strings.Replace(fx.server.url("app.git"), "127.0.0.1", "localhost", 1)},
		{"cloud metadata address", f, "https://169.254.169.254/latest/meta-data.git"},
		{"cloud metadata over IPv6", f, "https://[fd00:ec2::254]/repo.git"},
		{"cloud metadata by name", f, "https://metadata.google.internal/repo.git"},
		{"IPv6 loopback", f, "https://[::1]/repo.git"},
		{"IPv4-mapped loopback", f, "https://[::ffff:127.0.0.1]/repo.git"},
		{"IPv6 link-local", f, "https://[fe80::1]/repo.git"},
		{"unspecified", f, "git://0.0.0.0/repo.git"},
		{"ssh to loopback", f, "ssh://git@[::1]/repo.git"},
		{"scp-like to loopback", f, "git@127.0.0.1:org/repo.git"},
		{"userinfo with password", f, "https://user:" + privatePassword + "@example.com/repo.git"},
		{"token as user name", f, "https://" + privatePassword + "@example.com/repo.git"},
		{"plain http", f, "http://example.com/repo.git"},
		{"file without AllowFile", f, "file:///srv/repo.git"},
		{"ext transport", f, "ext::sh -c touch% /tmp/pwned"},
		{"ext transport without spaces", f, "ext::touch"},
		{"option injection", f, "--upload-pack=touch"},
		{"ssh host as option", f, "ssh://-oProxyCommand=touch/repo.git"},
		{"unknown scheme", f, "ftp://example.com/repo.git"},
		{"local path", f, "/srv/repo.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fx.server.seen())
			start := time.Now()
			_, err := tt.fetcher.Fetch(context.Background(), plan.GitSource{URL: tt.url})
			if !errors.Is(err, gitsource.ErrURLNotAllowed) {
				t.Fatalf("err = %v, want ErrURLNotAllowed", err)
			}
			t.Log(err)
			if p := gitsource.Problems(err); len(p) != 1 || p[0].Path != "/source/git/url" {
				t.Errorf("Problems = %+v", p)
			}
			if strings.Contains(err.Error(), privatePassword) {
				t.Errorf("message leaks the password: %q", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("refusal took %s; it should need no network", d)
			}
			if after := len(fx.server.seen()); after != before {
				t.Errorf("the server saw %d requests", after-before)
			}
		})
	}
}

func TestFetchSendsConfiguredCredentials(t *testing.T) {
	fx := newFixture(t)
	url := fx.server.url("private/app.git")
	wrongPassword := "wr0ng-pa55word"
	tests := []struct {
		name  string
		creds []gitsource.Credential
		ok    bool
	}{
		{"configured for the host", []gitsource.Credential{{Host: "127.0.0.1", Username: privateUser, Password: privatePassword}}, true},
		{"configured for host:port", []gitsource.Credential{{Host: strings.TrimPrefix(fx.server.srv.URL, "http://"), Username: privateUser, Token: privatePassword}}, true},
		{"none configured", nil, false},
		{"configured for another host only", []gitsource.Credential{{Host: "git.example.com", Username: privateUser, Password: privatePassword}}, false},
		{"wrong password", []gitsource.Credential{{Host: "127.0.0.1", Username: privateUser, Password: wrongPassword}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loopbackConfig(t)
			cfg.Credentials = tt.creds
			co, err := gitsource.New(cfg, nil).Fetch(context.Background(), plan.GitSource{URL: url, Path: "plans/checkout.jmx"})
			if tt.ok {
				if err != nil || co.SHA != fx.mainSHA {
					t.Fatalf("got %+v, %v; want %s", co, err, fx.mainSHA)
				}
				fx.server.mu.Lock()
				defer fx.server.mu.Unlock()
				if fx.server.gitCommandLines == 0 {
					t.Error("no git process was seen while the server answered")
				}
				if len(fx.server.secretOnCommandLine) > 0 {
					t.Errorf("the secret is visible on a command line: %q", fx.server.secretOnCommandLine)
				}
				return
			}
			t.Log(err)
			if !errors.Is(err, gitsource.ErrFetch) || !strings.Contains(err.Error(), "authentication") {
				t.Fatalf("err = %v, want an authentication ErrFetch", err)
			}
			for _, secret := range []string{privatePassword, wrongPassword,
				base64.StdEncoding.EncodeToString([]byte(privateUser + ":" + wrongPassword))} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("message leaks %q: %q", secret, err)
				}
			}
		})
	}
}

func TestFetchEnforcesSizeLimitWhileFetching(t *testing.T) {
	fx := newFixture(t)
	fx.addBigRepo(t)
	cfg := loopbackConfig(t)
	cfg.MaxBytes = 256 << 10
	start := time.Now()
	_, err := gitsource.New(cfg, nil).Fetch(context.Background(), plan.GitSource{URL: fx.server.url("big.git")})
	elapsed := time.Since(start)
	if !errors.Is(err, gitsource.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if p := gitsource.Problems(err); len(p) != 1 || p[0].Path != "/source/git/url" || !strings.Contains(p[0].Message, "256 KiB") {
		t.Errorf("Problems = %+v", p)
	}
	// The server sends at ~3 MiB/s: a limit enforced only after the download
	// would let the whole pack through.
	if served := fx.server.served(); served > bigFileSize/2 {
		t.Errorf("the server sent %d of %d bytes before the fetch stopped (%s)", served, bigFileSize, elapsed)
	}
	t.Logf("stopped after %s with %d KiB served", elapsed, fx.server.served()>>10)

	cfg.MaxBytes = 64 << 20
	co, err := gitsource.New(cfg, nil).Fetch(context.Background(), plan.GitSource{URL: fx.server.url("big.git"), Path: "big.bin"})
	if err != nil {
		t.Fatalf("under a larger limit: %v", err)
	}
	if info, err := os.Stat(filepath.Join(co.Dir, "big.bin")); err != nil || info.Size() != bigFileSize {
		t.Errorf("big.bin: %v, %v", info, err)
	}
}

func TestFetchTimesOutOnAServerThatNeverAnswers(t *testing.T) {
	requireGit(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var conns sync.WaitGroup
	held := make(chan net.Conn, 16)
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // accepted, never answered
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Wait()
		close(held)
		for c := range held {
			_ = c.Close()
		}
	})

	cfg := loopbackConfig(t)
	cfg.Timeout = time.Second
	tests := []struct{ name, ref string }{
		{"while resolving a branch", "main"},
		{"while fetching a commit", strings.Repeat("ab", 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := gitsource.New(cfg, nil).Fetch(context.Background(),
				plan.GitSource{URL: "http://" + ln.Addr().String() + "/repo.git", Ref: tt.ref})
			elapsed := time.Since(start)
			if !errors.Is(err, gitsource.ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if elapsed < cfg.Timeout || elapsed > cfg.Timeout+2*time.Second {
				t.Errorf("returned after %s, want about %s", elapsed, cfg.Timeout)
			}
		})
	}
}

func TestProblemsIgnoresInternalErrors(t *testing.T) {
	for _, err := range []error{nil, context.Canceled, errors.New("disk full")} {
		if p := gitsource.Problems(err); p != nil {
			t.Errorf("Problems(%v) = %+v, want nil", err, p)
		}
	}
}

// staticLookup resolves every name in hosts and fails for the rest.
func staticLookup(hosts map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var addrs []netip.Addr
		for _, a := range hosts[host] {
			addrs = append(addrs, netip.MustParseAddr(a))
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("no such host %s", host)
		}
		return addrs, nil
	}
}

func TestFetchConnectsToTheCheckedAddress(t *testing.T) {
	fx := newFixture(t)
	port := fx.server.srv.Listener.Addr().(*net.TCPAddr).Port
	urlFor := func(host string) string { return fmt.Sprintf("http://%s:%d/app.git", host, port) }
	tests := []struct {
		name         string
		hosts        map[string][]string
		allowPrivate bool
		url          string
		want         error
	}{
		// git.test exists in no DNS: the fetch only works because git is
		// pinned to the address this package resolved and checked.
		{"the resolved address is the one git connects to", map[string][]string{"git.test": {"127.0.0.1"}}, true, urlFor("git.test"), nil},
		{"an unreachable IPv6 address does not hide a working IPv4 one",
			map[string][]string{"git.test": {"::1", "127.0.0.1"}}, true, urlFor("git.test"), nil},
		{"one refused address among public ones refuses the host",
			map[string][]string{"mixed.test": {"192.0.2.10", "169.254.169.254"}}, false, urlFor("mixed.test"), gitsource.ErrURLNotAllowed},
		{"a name resolving to loopback", map[string][]string{"internal.test": {"127.0.0.1"}}, false, urlFor("internal.test"), gitsource.ErrURLNotAllowed},
		{"a name that does not resolve", nil, true, urlFor("nowhere.test"), gitsource.ErrFetch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loopbackConfig(t)
			cfg.AllowPrivateAddresses = tt.allowPrivate
			f := gitsource.New(cfg, nil)
			f.SetLookup(staticLookup(tt.hosts))
			co, err := f.Fetch(context.Background(), plan.GitSource{URL: tt.url, Path: "plans/checkout.jmx"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && co.SHA != fx.mainSHA {
				t.Errorf("SHA = %s, want %s", co.SHA, fx.mainSHA)
			}
			t.Log(err)
		})
	}
}

// The cache holds plans' files: a fetch makes it its owner's only, also
// when it was created broader, and the checkouts in it too.
func TestFetchKeepsTheCachePrivate(t *testing.T) {
	fx := newFixture(t)
	cfg := loopbackConfig(t)
	cfg.CacheDir = filepath.Join(cfg.CacheDir, "git")
	if err := os.Mkdir(cfg.CacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.CacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	co, err := fetch(t, gitsource.New(cfg, nil), plan.GitSource{URL: fx.server.url("app.git"), Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{cfg.CacheDir, co.Dir} {
		info, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s: mode %s, want 0700", dir, perm)
		}
	}
}
