// Package gitsource fetches the git source of a test plan (source.git: url,
// ref, path) into a local cache and records the commit it resolved to.
//
// # Why the git CLI and not go-git
//
// The guarantees this package gives are easier to make, and to prove, with the
// git binary run in a scrubbed environment than with go-git:
//
//   - Timeout: every git process runs in its own process group, and the whole
//     group (git, git-remote-https, ssh) is killed when the context ends, so a
//     server that accepts and never answers cannot hold a fetch.
//   - Address policy: go-git's HTTP transport is chosen through a package-global
//     protocol registry and follows redirects by default. With the CLI each
//     fetch pins the address we checked (http.curloptResolve for http(s), ssh
//     -o HostName for ssh, the literal address for git://) and turns redirects
//     off (http.followRedirects=false), so neither DNS rebinding nor a redirect
//     to a metadata address reaches a refused host.
//   - Protocols: GIT_ALLOW_PROTOCOL is git's own allow-list (https, ssh, git;
//     http and file only when the configuration enables them), so transports
//     like ext:: can never run, whatever the URL says.
//   - Submodules are never fetched: the fetch and the checkout run with
//     --no-recurse-submodules, submodule.recurse=false, and no `submodule
//     update` is ever run; a gitlink is checked out as an empty directory.
//   - Credentials are passed through the environment (GIT_CONFIG_COUNT with
//     http.extraHeader, GIT_SSH_COMMAND with -i for a key file), never on a
//     command line that ps shows, and they are redacted from every error.
//   - Hygiene: no system or global git config (GIT_CONFIG_NOSYSTEM,
//     GIT_CONFIG_GLOBAL=/dev/null, HOME in a temporary directory), no hooks,
//     no templates, no terminal prompts, no proxy variables inherited.
//
// The price is that the git binary (2.37 or newer, for http.curloptResolve)
// must be installed where this package runs.
//
// # Resolution and the cache
//
// A ref is a branch, a tag (annotated tags are peeled to their commit), a full
// refs/... name or a full commit SHA; empty means the HEAD of the default
// branch. A branch and a tag of the same name resolve to the branch, as
// `git clone --branch` does. Abbreviated SHAs are not accepted: a shallow
// fetch cannot expand them.
//
// Checkouts are cached under CacheDir/checkouts, keyed by the URL and the
// resolved commit SHA, and hold only the working tree (the .git directory is
// removed). A full SHA is looked up in the cache without any network access.
// A branch or tag is first resolved with `git ls-remote` (one small request),
// and fetched only when that commit is not cached yet: a branch that moved gets
// its new commit, an unmoved one costs no download. The SHA recorded is always
// the one actually fetched, so a branch that moves between ls-remote and fetch
// records the newer commit. The fetch itself is shallow (depth 1).
//
// Population is atomic: each fetch works in its own directory under
// CacheDir/tmp and renames the finished tree into place; when two fetches of
// the same commit race, the first rename wins and the other discards its copy.
// Cached checkouts are treated as read-only and are never evicted by this
// package.
//
// # Limits
//
// Timeout covers the whole Fetch (resolution, download, checkout). MaxBytes
// bounds the size on disk of the fetch directory (pack and checked-out files):
// it is watched while git runs, and git is killed as soon as the limit is
// passed, so the overshoot is bounded by what arrives within one poll interval
// rather than by the repository size. Objects always go through index-pack
// (fetch.unpackLimit=1), which writes the pack as it receives it.
//
// # Addresses
//
// The URL's host is resolved here and every address it resolves to is checked;
// loopback, link-local, unspecified and cloud-metadata addresses (and the
// metadata.google.internal name) are refused unless AllowPrivateAddresses is
// set. The first address is then pinned for the git process, which closes the
// DNS-rebinding window between the check and the connection for http(s), ssh
// and git://. curl gets every checked address (IPv4 first) and tries them in
// turn; ssh and git:// get the first one only, and git:// then names the
// address, not the host, to the daemon (no virtual hosting). Plain http://
// needs AllowInsecureHTTP (internal mirrors, tests). Private networks
// (10/8, 192.168/16, ...) are allowed: that is where internal git servers live.
//
// A commit given by SHA is fetched directly, which needs a server speaking
// protocol v2 (or allowing any reachable SHA in wants); every current hosting
// service does.
//
// # Paths
//
// The plan's path must be relative, must exist in the checkout and must not
// leave it, neither through ".." nor through a symbolic link. Checkout.FS
// opens files through os.Root, so a symbolic link elsewhere in the repository
// cannot be used to read outside the checkout either.
package gitsource
