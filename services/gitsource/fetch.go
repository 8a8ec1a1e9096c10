package gitsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/internal/private"
)

// Fetcher fetches git sources into its cache. It is safe for concurrent use,
// also by several processes sharing one CacheDir.
type Fetcher struct {
	cfg    Config
	rules  []allowRule
	logger *slog.Logger
	lookup lookupFunc
	// git runs one git command; tests replace it to see every command that
	// would reach the network, without any reaching it.
	git func(s *session, ctx context.Context, dir string, args ...string) ([]byte, error)
	// looseCache warns once about a cache it cannot make private.
	looseCache sync.Once
}

// New returns a Fetcher; zero Config fields get their defaults. It does no
// I/O: the cache directory is created by the first Fetch. A malformed
// Config.Allow entry is logged and ignored, which refuses more, never less;
// Config.Check reports it, for a server to refuse to start.
func New(cfg Config, logger *slog.Logger) *Fetcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rules, err := parseAllowRules(cfg.Allow)
	if err != nil {
		logger.Error("git allow list: entries ignored", "error", err)
	}
	return &Fetcher{cfg: cfg.withDefaults(), rules: rules, logger: logger, lookup: lookupDNS,
		git: (*session).exec}
}

// Checkout is a fetched commit of a repository.
type Checkout struct {
	// URL is the repository URL as the plan gave it (canonicalised).
	URL string
	// Ref is the full name the plan's ref resolved to ("refs/heads/main",
	// "refs/tags/v1.0"), or the SHA when the plan named a commit.
	Ref string
	// SHA is the commit checked out.
	SHA string
	// Dir is the working tree in the cache. Treat it as read-only: it is
	// shared by every Fetch of the same URL and commit.
	Dir string
}

// FS returns the checkout as a file system. Opening a file through a
// symbolic link that leaves the checkout fails.
func (c *Checkout) FS() fs.FS { return rootFS(c.Dir) }

type rootFS string

func (r rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := os.OpenInRoot(string(r), name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Fetch resolves src.Ref in the repository at src.URL, fetches that commit
// unless it is cached, and checks that src.Path exists inside it. Errors for
// problems of the plan wrap one of the package sentinels (see Problems);
// others (an unwritable cache, a cancelled ctx) are internal.
func (f *Fetcher) Fetch(ctx context.Context, src plan.GitSource) (*Checkout, error) {
	start := time.Now()
	r, err := parseRemote(src.URL, f.cfg)
	if err != nil {
		return nil, err
	}
	ref, err := checkRef(src.Ref)
	if err != nil {
		return nil, err
	}
	rel, err := checkPathSyntax(src.Path)
	if err != nil {
		return nil, err
	}
	if f.cfg.CacheDir == "" {
		return nil, errors.New("gitsource: Config.CacheDir is not set")
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	co, cached, err := f.checkout(ctx, r, ref)
	if err != nil {
		// The plan's author gets one neutral message for every connection
		// failure; the operator gets the cause.
		f.logger.Info("git fetch failed", "url", r.canonical, "ref", src.Ref, "error", err, "cause", causeOf(err))
		return nil, err
	}
	if err := checkPath(co.Dir, rel); err != nil {
		return nil, err
	}
	f.logger.Info("git source ready", "url", co.URL, "ref", co.Ref, "sha", co.SHA, "cached", cached,
		"duration", time.Since(start))
	return co, nil
}

// target is what a ref resolved to on the remote.
type target struct {
	name string // full ref name, or the SHA
	sha  string // commit SHA as advertised (peeled for annotated tags)
	spec string // what to ask git fetch for
}

func (f *Fetcher) checkout(ctx context.Context, r remote, ref string) (co *Checkout, cached bool, err error) {
	if isFullSHA(ref) {
		if dir, ok := f.cached(r, ref); ok {
			return &Checkout{URL: r.canonical, Ref: ref, SHA: ref, Dir: dir}, true, nil
		}
	}
	var addrs []netip.Addr
	if r.scheme != "file" {
		if addrs, err = checkAddresses(ctx, r, f.rules, f.cfg.AllowPrivateAddresses, f.lookup); err != nil {
			return nil, false, err
		}
	}
	tmp, err := f.tempDir()
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(tmp)
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, false, fmt.Errorf("gitsource: %w", err)
	}
	s := newSession(f.cfg, r, addrs, home)
	s.runner = f.git

	t := target{name: ref, sha: ref, spec: ref}
	if !isFullSHA(ref) {
		if t, err = f.lsRemote(ctx, s, ref); err != nil {
			return nil, false, err
		}
		if dir, ok := f.cached(r, t.sha); ok {
			return &Checkout{URL: r.canonical, Ref: t.name, SHA: t.sha, Dir: dir}, true, nil
		}
	}
	work := filepath.Join(tmp, "work")
	sha, err := f.fetchInto(ctx, s, work, t)
	if err != nil {
		return nil, false, err
	}
	dir, err := f.install(work, r, sha)
	if err != nil {
		return nil, false, err
	}
	return &Checkout{URL: r.canonical, Ref: t.name, SHA: sha, Dir: dir}, false, nil
}

// lsRemote resolves ref with one ls-remote request.
func (f *Fetcher) lsRemote(ctx context.Context, s *session, ref string) (target, error) {
	args := []string{"ls-remote", "--symref", "--", s.gitURL}
	candidates := []string{ref}
	switch {
	case ref == "":
		args = append(args, "HEAD")
		candidates = []string{"HEAD"}
	case strings.HasPrefix(ref, "refs/"):
		args = append(args, ref, ref+"^{}")
	default:
		candidates = []string{"refs/heads/" + ref, "refs/tags/" + ref}
		args = append(args, candidates[0], candidates[1], candidates[1]+"^{}")
	}
	out, err := s.run(ctx, "", args...)
	if err != nil {
		return target{}, s.classify(ctx, f.cfg.Timeout, err)
	}
	refs, symrefs := parseLsRemote(string(out))
	for _, name := range candidates {
		sha, ok := refs[name+"^{}"]
		if !ok {
			sha, ok = refs[name]
		}
		if !ok {
			continue
		}
		resolved := name
		if name == "HEAD" && symrefs["HEAD"] != "" {
			resolved = symrefs["HEAD"]
		}
		return target{name: resolved, sha: sha, spec: name}, nil
	}
	if ref == "" {
		return target{}, fmt.Errorf("%w: %s has no default branch (is it empty?)", ErrRefNotFound, s.remote.canonical)
	}
	msg := fmt.Sprintf("no branch or tag %q in %s", ref, s.remote.canonical)
	if hexPattern.MatchString(ref) {
		msg += "; a commit must be given as its full SHA"
	}
	return target{}, fmt.Errorf("%w: %s", ErrRefNotFound, msg)
}

// parseLsRemote reads `git ls-remote --symref` output: "<sha>\t<name>" and
// "ref: <target>\t<name>" lines.
func parseLsRemote(out string) (refs, symrefs map[string]string) {
	refs, symrefs = map[string]string{}, map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		value, name, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if t, isSym := strings.CutPrefix(value, "ref: "); isSym {
			symrefs[name] = t
		} else {
			refs[name] = value
		}
	}
	return refs, symrefs
}

// fetchInto fetches t shallowly into work and checks it out, watching the
// size of work all along; it returns the commit SHA checked out.
func (f *Fetcher) fetchInto(ctx context.Context, s *session, work string, t target) (string, error) {
	if err := os.Mkdir(work, private.DirMode); err != nil {
		return "", fmt.Errorf("gitsource: %w", err)
	}
	if _, err := s.run(ctx, work, "init", "-q", "--template=", "."); err != nil {
		return "", s.classify(ctx, f.cfg.Timeout, err)
	}
	wctx, stop := watchSize(ctx, work, f.cfg.MaxBytes)
	defer stop()
	if _, err := s.run(wctx, work, "fetch", "--depth=1", "--no-tags", "--no-recurse-submodules", "--", s.gitURL, t.spec); err != nil {
		err = s.classify(wctx, f.cfg.Timeout, err)
		if errors.Is(err, ErrRefNotFound) { // git's wording ("not our ref") means little to users
			what := fmt.Sprintf("%q", t.name)
			if isFullSHA(t.name) {
				what = "commit " + t.name
			}
			err = fmt.Errorf("%w: %s not found in %s", ErrRefNotFound, what, s.remote.canonical)
		}
		return "", err
	}
	out, err := s.run(wctx, work, "rev-parse", "--verify", "--end-of-options", "FETCH_HEAD^{commit}")
	if err != nil {
		if wctx.Err() != nil {
			return "", s.classify(wctx, f.cfg.Timeout, err)
		}
		return "", fmt.Errorf("%w: %q does not point to a commit", ErrRefNotFound, t.name)
	}
	sha := strings.TrimSpace(string(out))
	if _, err := s.run(wctx, work, "checkout", "-q", "--no-recurse-submodules", "--detach", sha); err != nil {
		return "", s.classify(wctx, f.cfg.Timeout, err)
	}
	if cause := context.Cause(wctx); errors.Is(cause, ErrTooLarge) {
		return "", cause
	}
	if dirSize(work) > f.cfg.MaxBytes { // what grew since the last poll
		return "", tooLarge(f.cfg.MaxBytes)
	}
	if err := os.RemoveAll(filepath.Join(work, ".git")); err != nil {
		return "", fmt.Errorf("gitsource: %w", err)
	}
	return sha, nil
}

// install moves a finished working tree into the cache. When another fetch of
// the same commit got there first, its tree is used and work is left to be
// removed with the temporary directory.
func (f *Fetcher) install(work string, r remote, sha string) (string, error) {
	final := f.cachePath(r, sha)
	if err := os.MkdirAll(filepath.Dir(final), private.DirMode); err != nil {
		return "", fmt.Errorf("gitsource: %w", err)
	}
	err := os.Rename(work, final)
	if err == nil {
		return final, nil
	}
	if info, statErr := os.Stat(final); statErr == nil && info.IsDir() {
		return final, nil
	}
	return "", fmt.Errorf("gitsource: installing checkout: %w", err)
}

func (f *Fetcher) cachePath(r remote, sha string) string {
	sum := sha256.Sum256([]byte(r.canonical + "\n" + sha))
	return filepath.Join(CheckoutsDir(f.cfg), hex.EncodeToString(sum[:16]))
}

// CheckoutsDir is the directory of cfg's cache every Checkout.Dir is in:
// what the job service lets executors read plans' files from.
func CheckoutsDir(cfg Config) string {
	if cfg.CacheDir == "" {
		return ""
	}
	return filepath.Join(cfg.CacheDir, "checkouts")
}

func (f *Fetcher) cached(r remote, sha string) (string, bool) {
	dir := f.cachePath(r, sha)
	info, err := os.Stat(dir)
	return dir, err == nil && info.IsDir()
}

// tempDir makes the private directory of one fetch, on the cache's file
// system so that the finished tree can be renamed into place. The cache
// itself is made its owner's only (checkouts hold plans' files): a cache
// this process cannot chmod (a volume's mount point) is used with a warning.
func (f *Fetcher) tempDir() (string, error) {
	switch err := private.Dir(f.cfg.CacheDir); {
	case errors.Is(err, private.ErrNotTightened):
		f.looseCache.Do(func() {
			f.logger.Warn("the git cache stays readable by others: restrict it to this user (chmod 700)", "err", err)
		})
	case err != nil:
		return "", fmt.Errorf("gitsource: cache directory: %w", err)
	}
	parent := filepath.Join(f.cfg.CacheDir, "tmp")
	if err := os.MkdirAll(parent, private.DirMode); err != nil {
		return "", fmt.Errorf("gitsource: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "fetch-")
	if err != nil {
		return "", fmt.Errorf("gitsource: %w", err)
	}
	return dir, nil
}

var (
	hexPattern     = regexp.MustCompile(`^[0-9a-fA-F]{4,64}$`)
	fullSHAPattern = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
)

func isFullSHA(ref string) bool { return fullSHAPattern.MatchString(ref) }

// checkRef normalises ref ("" and "HEAD" mean the default branch) and refuses
// names git would refuse, or read as options.
func checkRef(ref string) (string, error) {
	if ref == "" || ref == "HEAD" {
		return "", nil
	}
	if lower := strings.ToLower(ref); fullSHAPattern.MatchString(lower) {
		return lower, nil
	}
	invalid := len(ref) > 255 ||
		strings.HasPrefix(ref, "-") || strings.HasPrefix(ref, "/") ||
		strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "//") || strings.Contains(ref, "@{") ||
		strings.ContainsAny(ref, "~^:?*[\\") ||
		strings.IndexFunc(ref, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
	if invalid {
		return "", fmt.Errorf("%w: %q is not a valid branch, tag or commit name", ErrRefNotFound, ref)
	}
	return ref, nil
}

// checkPathSyntax refuses paths that leave the repository by their spelling
// alone, before anything is fetched; "" means the repository root.
func checkPathSyntax(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	if path.IsAbs(p) {
		return "", fmt.Errorf("%w: path %q must be relative to the repository root", ErrPathNotFound, p)
	}
	clean := path.Clean(p)
	if !fs.ValidPath(clean) {
		return "", fmt.Errorf("%w: path %q leaves the repository", ErrPathNotFound, p)
	}
	return clean, nil
}

// checkPath checks that rel exists in dir once symbolic links are followed,
// and that following them stays inside dir.
func checkPath(dir, rel string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("gitsource: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(realDir, filepath.FromSlash(rel)))
	if err != nil {
		return fmt.Errorf("%w: %q does not exist in the repository", ErrPathNotFound, rel)
	}
	if inside, err := filepath.Rel(realDir, resolved); err != nil || !filepath.IsLocal(inside) && inside != "." {
		return fmt.Errorf("%w: %q leads outside the repository through a symbolic link", ErrPathNotFound, rel)
	}
	return nil
}
