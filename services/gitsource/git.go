package gitsource

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// session is the environment of the git processes of one Fetch.
type session struct {
	git     string
	remote  remote
	gitURL  string // the URL handed to git (pinned for git://)
	env     []string
	secrets []string
	// runner runs each git command (Fetcher.git; nil: exec).
	runner func(s *session, ctx context.Context, dir string, args ...string) ([]byte, error)
}

// newSession builds the scrubbed environment for fetching r from addr. home
// is an empty directory private to this fetch.
func newSession(cfg Config, r remote, addrs []netip.Addr, home string) *session {
	s := &session{git: cfg.GitBinary, remote: r, gitURL: r.canonical, secrets: cfg.secrets()}
	protocols := []string{"https", "ssh", "git"}
	if cfg.AllowInsecureHTTP {
		protocols = append(protocols, "http")
	}
	if cfg.AllowFile {
		protocols = append(protocols, "file")
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	s.env = []string{
		"PATH=" + path,
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + home,
		"LANG=C",
		"LC_ALL=C",
		"GIT_TERMINAL_PROMPT=0",
		"GCM_INTERACTIVE=never",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ALLOW_PROTOCOL=" + strings.Join(protocols, ":"),
	}
	config := [][2]string{
		{"protocol.file.allow", map[bool]string{true: "always", false: "never"}[cfg.AllowFile]},
		{"protocol.version", "2"},
		{"http.followRedirects", "false"},
		{"submodule.recurse", "false"},
		{"fetch.recurseSubmodules", "false"},
		{"core.hooksPath", "/dev/null"},
		{"core.fsmonitor", "false"},
		{"core.symlinks", "true"},
		{"gc.auto", "0"},
		{"maintenance.auto", "false"},
		// index-pack streams the pack to disk as it arrives, which is what the
		// size watch measures; unpack-objects may hold a large blob in memory.
		{"fetch.unpackLimit", "1"},
		{"transfer.unpackLimit", "1"},
		{"init.defaultBranch", "main"},
		{"advice.detachedHead", "false"},
	}
	cred, hasCred := cfg.credentialFor(r)
	switch r.scheme {
	case "http", "https":
		config = append(config, [2]string{"http.curloptResolve", curlResolve(r, addrs)})
		if hasCred {
			header := authorizationHeader(cred)
			config = append(config, [2]string{"http.extraHeader", "Authorization: " + header})
			s.secrets = append(s.secrets, header, strings.TrimPrefix(header, "Basic "))
		}
	case "ssh":
		s.env = append(s.env, "GIT_SSH_COMMAND="+sshCommand(cfg, r, addrs[0], cred, hasCred), "GIT_SSH_VARIANT=ssh")
	case "git":
		s.gitURL = pinnedURL(r, addrs[0])
	}
	s.env = append(s.env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		s.env = append(s.env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return s
}

// curlResolve is a CURLOPT_RESOLVE entry pinning r's host to addrs; curl
// tries them in order and wants IPv6 addresses in brackets.
func curlResolve(r remote, addrs []netip.Addr) string {
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
		if a.Is6() {
			list[i] = "[" + list[i] + "]"
		}
	}
	return r.host + ":" + r.port + ":" + strings.Join(list, ",")
}

func authorizationHeader(c Credential) string {
	user, password := c.Username, c.Password
	if c.Token != "" {
		password = c.Token
		if user == "" {
			user = "x-access-token"
		}
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// sshCommand pins the checked address while known_hosts is still matched by
// the host name (HostKeyAlias), and never asks anything (BatchMode).
func sshCommand(cfg Config, r remote, addr netip.Addr, cred Credential, hasCred bool) string {
	knownHosts := cfg.SSHKnownHostsFile
	if knownHosts == "" {
		knownHosts = "/dev/null"
	}
	args := []string{"ssh",
		// No configuration file: a system-wide ssh_config could name a
		// ProxyCommand, a ProxyJump or a ControlPath, each a way to
		// connect somewhere other than the pinned address.
		"-F", "/dev/null",
		"-o", "ProxyCommand=none",
		"-o", "ControlPath=none",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "HostName=" + addr.String(),
		"-o", "HostKeyAlias=" + r.host,
	}
	if hasCred && cred.SSHKeyFile != "" {
		args = append(args, "-i", cred.SSHKeyFile, "-o", "IdentitiesOnly=yes")
	}
	if hasCred && cred.Username != "" && r.user == "" {
		args = append(args, "-o", "User="+cred.Username)
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// gitError is a failed git command; stderr is kept for classification only
// and never shown whole.
type gitError struct {
	stderr string
	err    error
}

func (e *gitError) Error() string { return e.err.Error() }
func (e *gitError) Unwrap() error { return e.err }

// maxStderr bounds how much of git's stderr is kept.
const maxStderr = 64 << 10

// run runs git with args in dir through the session's runner.
func (s *session) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	if s.runner != nil {
		return s.runner(s, ctx, dir, args...)
	}
	return s.exec(ctx, dir, args...)
}

// exec runs git with args in dir and returns its stdout. The process group
// is killed when ctx ends.
func (s *session) exec(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.git, args...)
	cmd.Dir = dir
	cmd.Env = s.env
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 2 * time.Second
	var stdout bytes.Buffer
	stderr := &limitedBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		return nil, &gitError{stderr: stderr.String(), err: err}
	}
	return stdout.Bytes(), nil
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// sizeWatchInterval is how often the fetch directory is measured.
const sizeWatchInterval = 50 * time.Millisecond

// watchSize cancels ctx with an ErrTooLarge cause as soon as dir grows beyond
// maxBytes. It returns the derived context and a stop function.
func watchSize(ctx context.Context, dir string, maxBytes int64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		ticker := time.NewTicker(sizeWatchInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-ticker.C:
				if size := dirSize(dir); size > maxBytes {
					cancel(tooLarge(maxBytes))
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

func tooLarge(maxBytes int64) error {
	return fmt.Errorf("%w: the repository is larger than the %s this server allows", ErrTooLarge, formatBytes(maxBytes))
}

// dirSize is the total size of the regular files under dir. Files that vanish
// while it walks (git renames its temporary files) are skipped.
func dirSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			total += info.Size()
		}
		return nil
	})
	return total
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// classify turns a failed git command into an error wrapping one sentinel,
// with a one-line message free of secrets. Answers of a git server (a ref
// or repository not found, authentication, host key, redirect) are told
// apart; everything else, a connection refused, reset or timed out, a host
// unreachable, a TLS failure, the time limit, and whatever git says that is
// not recognised, gets the one neutral message of unreachable, so that no
// wording tells an open port from a closed or filtered one.
func (s *session) classify(ctx context.Context, timeout time.Duration, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrTooLarge) {
		return cause
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return unreachable(s.remote, fmt.Sprintf("the time limit of %s ended it", timeout), true)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ge *gitError
	if !errors.As(err, &ge) {
		return unreachable(s.remote, redact(err.Error(), s.secrets), false)
	}
	lower := strings.ToLower(ge.stderr)
	has := func(needles ...string) bool {
		for _, n := range needles {
			if strings.Contains(lower, n) {
				return true
			}
		}
		return false
	}
	url := s.remote.canonical
	switch {
	case has("couldn't find remote ref", "not our ref", "no such remote ref", "unadvertised object", "invalid refspec"):
		return fmt.Errorf("%w: %s", ErrRefNotFound, gitMessage(ge.stderr, s.secrets))
	case has("authentication failed", "could not read username", "could not read password",
		"the requested url returned error: 401", "the requested url returned error: 403", "permission denied (publickey"):
		return fmt.Errorf("%w: authentication to %s failed; the server needs valid credentials for host %q in its configuration",
			ErrFetch, url, s.remote.host)
	case has("host key verification failed"):
		return fmt.Errorf("%w: the ssh host key of %q is not known to this server", ErrFetch, s.remote.host)
	case has("repository not found", "' not found", "does not appear to be a git repository", "the requested url returned error: 404",
		"not found: did you run git update-server-info"):
		return fmt.Errorf("%w: repository %s not found", ErrFetch, url)
	case has("redirect", "the requested url returned error: 30"):
		return fmt.Errorf("%w: %s redirects elsewhere, and redirects are not followed; use the final URL", ErrFetch, url)
	}
	cause := gitMessage(ge.stderr, s.secrets)
	if cause == "" {
		cause = redact(ge.err.Error(), s.secrets)
	}
	return unreachable(s.remote, cause, false)
}

// unreachableError is the one message a plan's author gets for every
// failure to reach a git server or to get a complete answer from it. It
// wraps ErrFetch, and ErrTimeout too when the time limit ended the fetch;
// the cause is for the server's log only (causeOf).
type unreachableError struct {
	url      string
	cause    string
	timedOut bool
}

func unreachable(r remote, cause string, timedOut bool) error {
	return &unreachableError{url: r.canonical, cause: cause, timedOut: timedOut}
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%v: cannot fetch %s: the server could not be reached or did not answer completely in time "+
		"(the server's log has the cause)", ErrFetch, e.url)
}

func (e *unreachableError) Is(target error) bool {
	return target == ErrFetch || e.timedOut && target == ErrTimeout
}

// causeOf is what an error hides from the plan's author, for the log.
func causeOf(err error) string {
	var u *unreachableError
	if errors.As(err, &u) {
		return u.cause
	}
	return ""
}
