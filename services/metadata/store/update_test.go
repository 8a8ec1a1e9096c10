package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// RetryRaced reads again only after a lost race; any other outcome ends it.
func TestRetryRacedRetriesOnlyLostRaces(t *testing.T) {
	calls := 0
	err := store.RetryRaced(context.Background(), "run r-1", func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("lost: %w", store.ErrRaced)
		}
		return store.ErrNotFound
	})
	if !errors.Is(err, store.ErrNotFound) || calls != 3 {
		t.Fatalf("RetryRaced = %v after %d calls, want ErrNotFound after 3", err, calls)
	}
}

// A cancelled context ends the retries with its error.
func TestRetryRacedStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := store.RetryRaced(ctx, "run r-1", func() error { return store.ErrRaced })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RetryRaced = %v, want context.Canceled", err)
	}
}
