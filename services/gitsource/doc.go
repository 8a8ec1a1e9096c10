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
//     reaches a refused host (see Addresses).
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
// Where git may connect is decided here, before git runs, by one pure rule
// (admit) applied to every address the URL's host resolves to:
//
//   - Public addresses, on the scheme's standard port only: 443 https, 22
//     ssh, 9418 git, 80 http (when AllowInsecureHTTP enables http at all).
//     Any other port is refused, so a plan cannot probe a host's ports.
//   - Private and special-purpose ranges (RFC 1918, CGNAT 100.64/10, ULA
//     fc00::/7, documentation, benchmarking, multicast, reserved; and their
//     IPv4-mapped, NAT64 and 6to4 forms) are refused unless Config.Allow
//     names the host or covers the address: that is how an operator opens
//     internal git servers. An entry with a port allows that port too.
//   - Loopback, link-local and unspecified addresses are refused unless an
//     address or CIDR entry of Config.Allow covers them; a name entry does
//     not, since a name that resolves to loopback is DNS rebinding.
//   - Cloud metadata addresses (and the metadata.google.internal name) are
//     always refused.
//
// AllowPrivateAddresses turns all of this off, for tests and development
// against loopback servers.
//
// Why the addresses are pinned rather than checked by a dialer: the
// connections are git's (curl for http(s), ssh, git's own git:// client),
// not this process's, so a Go dialer's Control hook would never see them.
// Routing git through an in-process proxy would cover http(s) only. Instead
// git is given the checked addresses and no name it could resolve again:
// curl gets http.curloptResolve with every checked address (IPv4 first, tried
// in turn), ssh gets HostName (the first address, known_hosts still matched
// by name through HostKeyAlias) and -F /dev/null with ProxyCommand and
// ControlPath off, so no ssh_config can send it elsewhere, and git:// names
// the first address instead of the host (no virtual hosting). Redirects are
// not followed and no proxy setting is inherited. What is checked is thus
// exactly what git connects to, and a DNS answer that changes between the
// check and the connection (rebinding) is never asked for.
//
// Errors: a refusal by the rule says why (the address class, or the port)
// without echoing the resolved address. Every failure to reach the server or
// to get a complete answer from it (no such host, refused, reset, timed out,
// unreachable, TLS, an answer that is not git) reads the same, so that no
// wording tells an open port from a closed or filtered one; the cause is
// logged. Only answers of a git server (ref or repository not found,
// authentication, host key, redirect) are told apart.
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
