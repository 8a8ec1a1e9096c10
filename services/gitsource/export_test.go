package gitsource

import (
	"context"
	"errors"
	"net/netip"
)

// SetLookup replaces f's DNS resolution, so tests can give a name any
// addresses without a DNS server.
func (f *Fetcher) SetLookup(lookup func(ctx context.Context, host string) ([]netip.Addr, error)) {
	f.lookup = lookup
}

// GitCommand is one git command a Fetcher runs: its arguments and its
// environment (where the pinned address and the ssh command are).
type GitCommand struct {
	Args []string
	Env  []string
}

// SetGit replaces how f runs git: run sees every command instead of git,
// and says what git would have answered. Nothing is executed, so nothing
// can connect anywhere.
func (f *Fetcher) SetGit(run func(GitCommand) (stdout []byte, stderr string, failed bool)) {
	f.git = func(s *session, _ context.Context, _ string, args ...string) ([]byte, error) {
		out, stderr, failed := run(GitCommand{Args: args, Env: s.env})
		if failed {
			return nil, &gitError{stderr: stderr, err: errors.New("exit status 128")}
		}
		return out, nil
	}
}
