// Package gitsourcetest serves real git repositories to tests: git's own
// smart HTTP backend behind a loopback server, the way a git host serves
// them.
package gitsourcetest

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/internal/componenttest"
)

// HTTPBackend is git's smart HTTP server (Debian package git).
const HTTPBackend = "/usr/lib/git-core/git-http-backend"

// RequireGit fails the test under CI=true and skips it elsewhere when git or
// its smart HTTP backend is missing.
func RequireGit(t testing.TB) {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("git"); err != nil {
		missing = "git"
	} else if _, err := os.Stat(HTTPBackend); err != nil {
		missing = HTTPBackend
	}
	if missing == "" {
		return
	}
	componenttest.Missing(t, missing+" is missing (Debian package git)")
}

// Config is a fetcher configuration for repositories served by Repo:
// plain http to a loopback address, with a fresh cache.
func Config(t testing.TB) gitsource.Config {
	return gitsource.Config{CacheDir: t.TempDir(), AllowInsecureHTTP: true, AllowPrivateAddresses: true}
}

// Repo commits files (path: content) on branch main of a new repository,
// serves it over git's smart HTTP protocol on 127.0.0.1 until the test ends,
// and returns its URL.
func Repo(t testing.TB, files map[string]string) string {
	t.Helper()
	RequireGit(t)
	root := t.TempDir()
	work := filepath.Join(t.TempDir(), "work")
	for name, content := range files {
		path := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bare := filepath.Join(root, "plans.git")
	RunGit(t, "", "init", "--quiet", "--bare", "--initial-branch=main", bare)
	RunGit(t, "", "init", "--quiet", "--initial-branch=main", work)
	RunGit(t, work, "add", "--all")
	RunGit(t, work, "commit", "--quiet", "--allow-empty", "-m", "plans")
	RunGit(t, work, "push", "--quiet", bare, "main")

	srv := httptest.NewServer(&cgi.Handler{
		Path: HTTPBackend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	})
	t.Cleanup(srv.Close)
	return srv.URL + "/plans.git"
}

// RunGit runs git without the user's or the system's configuration.
func RunGit(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=loadfleet", "GIT_AUTHOR_EMAIL=ci@loadfleet.invalid",
		"GIT_COMMITTER_NAME=loadfleet", "GIT_COMMITTER_EMAIL=ci@loadfleet.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}
