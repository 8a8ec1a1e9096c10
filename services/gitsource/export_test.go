package gitsource

import (
	"context"
	"net/netip"
)

// SetLookup replaces f's DNS resolution, so tests can give a name any
// addresses without a DNS server.
func (f *Fetcher) SetLookup(lookup func(ctx context.Context, host string) ([]netip.Addr, error)) {
	f.lookup = lookup
}
