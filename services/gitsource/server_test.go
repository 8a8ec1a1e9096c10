package gitsource_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/gitsource/gitsourcetest"
)

const (
	privateUser     = "ci"
	privatePassword = "s3cret-pa55word"
	bigFileSize     = 4 << 20
)

func requireGit(t *testing.T) { gitsourcetest.RequireGit(t) }

// request is one request the git server saw.
type request struct {
	path  string
	fetch bool // an upload-pack request asking for objects (not just refs)
}

// gitServer serves the bare repositories under root over git's smart HTTP
// protocol, through the real git-http-backend. Repositories under /private/
// need basic auth; /big.git is served slowly so a size limit can cut it.
type gitServer struct {
	t    *testing.T
	root string
	srv  *httptest.Server

	mu        sync.Mutex
	requests  []request
	bigServed int64
	// gitCommandLines counts the git helper processes whose command lines
	// were scanned while they talked to /private/; secretOnCommandLine
	// records any that showed a secret.
	gitCommandLines     int
	secretOnCommandLine []string
}

// scanCommandLines reads every process's command line, as ps would, while
// the fetching git processes are alive.
func (s *gitServer) scanCommandLines() {
	secrets := []string{privatePassword, base64.StdEncoding.EncodeToString([]byte(privateUser + ":" + privatePassword))}
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		cmdline := string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '}))
		s.mu.Lock()
		if strings.Contains(cmdline, "remote-http") {
			s.gitCommandLines++
		}
		for _, secret := range secrets {
			if strings.Contains(cmdline, secret) {
				s.secretOnCommandLine = append(s.secretOnCommandLine, cmdline)
			}
		}
		s.mu.Unlock()
	}
}

func newGitServer(t *testing.T) *gitServer {
	t.Helper()
	requireGit(t)
	s := &gitServer{t: t, root: t.TempDir()}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *gitServer) url(repo string) string { return s.srv.URL + "/" + repo }

func (s *gitServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.requests = append(s.requests, request{path: r.URL.Path, fetch: asksForObjects(r, body)})
	s.mu.Unlock()

	if strings.HasPrefix(r.URL.Path, "/moved.git/") {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data"+strings.TrimPrefix(r.URL.Path, "/moved.git"), http.StatusFound)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/private/") {
		s.scanCommandLines()
		if u, p, ok := r.BasicAuth(); !ok || u != privateUser || p != privatePassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="loadfleet-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, "/big.git/") {
		w = &throttledWriter{ResponseWriter: w, served: func(n int) {
			s.mu.Lock()
			s.bigServed += int64(n)
			s.mu.Unlock()
		}}
	}
	h := &cgi.Handler{
		Path:   gitsourcetest.HTTPBackend,
		Env:    []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1"},
		Stderr: io.Discard, // "Not a git repository" for the missing-repository case
	}
	h.ServeHTTP(w, r)
}

// asksForObjects tells an object request (protocol v2 "command=fetch", or v0
// "want" lines) from a ref listing.
func asksForObjects(r *http.Request, body []byte) bool {
	if r.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				body = plain
			}
		}
	}
	return bytes.Contains(body, []byte("command=fetch")) || bytes.Contains(body, []byte("want "))
}

func (s *gitServer) seen() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

func (s *gitServer) objectRequests() int {
	n := 0
	for _, r := range s.seen() {
		if r.fetch {
			n++
		}
	}
	return n
}

func (s *gitServer) served() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bigServed
}

// throttledWriter sends at about 3 MiB/s, so that a 4 MiB pack takes
// over a second and a fetch cut by the size limit visibly stops early.
type throttledWriter struct {
	http.ResponseWriter
	served func(int)
}

func (w *throttledWriter) Write(p []byte) (int, error) {
	const chunk = 16 << 10
	written := 0
	for len(p) > 0 {
		n := min(chunk, len(p))
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		w.served(m)
		if err != nil {
			return written, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[n:]
		time.Sleep(5 * time.Millisecond)
	}
	return written, nil
}

// repo is a working repository whose branches and tags are pushed to the
// server's bare repositories.
type repo struct {
	t   *testing.T
	dir string
	env []string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	home := t.TempDir()
	return &repo{t: t, dir: t.TempDir(), env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	}}
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	return runGit(r.t, r.dir, r.env, args...)
}

func runGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) symlink(target, name string) {
	r.t.Helper()
	if err := os.Symlink(target, filepath.Join(r.dir, name)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) commit(msg string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// pushTo mirrors every branch and tag into the bare repository path (created
// when missing) under the server root.
func (r *repo) pushTo(s *gitServer, name string) {
	r.t.Helper()
	bare := filepath.Join(s.root, name)
	if _, err := os.Stat(bare); err != nil {
		runGit(r.t, r.dir, r.env, "init", "-q", "--bare", bare)
	}
	r.git("push", "-q", "--force", bare, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
}

// fixture is the shared test repository:
//
//	main:    plans/checkout.jmx, plans/current.jmx -> checkout.jmx, data/users.csv,
//	         escape -> /etc, up -> ../.., libs/sub (a submodule of sub.git)
//	v1.0:    annotated tag on main's first commit
//	feature: main + plans/feature.jmx
type fixture struct {
	server  *gitServer
	repo    *repo
	mainSHA string
	featSHA string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := newGitServer(t)

	sub := newRepo(t)
	sub.write("lib.txt", "submodule content\n")
	sub.git("init", "-q")
	subSHA := sub.commit("sub")
	sub.pushTo(s, "sub.git")

	r := newRepo(t)
	r.git("init", "-q")
	r.write("plans/checkout.jmx", "<jmeterTestPlan/>\n")
	r.write("data/users.csv", "user,password\nalice,a\nbob,b\n")
	r.symlink("checkout.jmx", "plans/current.jmx")
	r.symlink("/etc", "escape")
	r.symlink("../..", "up")
	r.write(".gitmodules", "[submodule \"libs/sub\"]\n\tpath = libs/sub\n\turl = "+s.url("sub.git")+"\n")
	r.git("add", "-A")
	r.git("update-index", "--add", "--cacheinfo", "160000,"+subSHA+",libs/sub")
	mainSHA := r.commit("first")
	r.git("tag", "-a", "v1.0", "-m", "release 1.0")
	r.git("checkout", "-q", "-b", "feature")
	r.write("plans/feature.jmx", "<jmeterTestPlan feature='1'/>\n")
	featSHA := r.commit("feature")
	r.git("checkout", "-q", "main")
	r.pushTo(s, "app.git")
	r.pushTo(s, "private/app.git")
	return &fixture{server: s, repo: r, mainSHA: mainSHA, featSHA: featSHA}
}

// addBigRepo pushes a repository holding bigFileSize random (incompressible)
// bytes to big.git.
func (fx *fixture) addBigRepo(t *testing.T) {
	t.Helper()
	r := newRepo(t)
	r.git("init", "-q")
	data := make([]byte, bigFileSize)
	_, _ = rand.Read(data)
	r.write("big.bin", string(data))
	r.commit("big")
	r.pushTo(fx.server, "big.git")
}
