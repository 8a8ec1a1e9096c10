package worker

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// closingStore hands out one run whose first transition blocks until the
// driving ends, and records every call made after Close: the app closes
// the store once the worker's Run has returned, so a call after it is a
// drive still running behind Run's back.
type closingStore struct {
	store.Store // nil: the drive calls nothing else on this path

	mu      sync.Mutex
	claimed bool
	closed  bool
	late    []string
	driving chan struct{}
}

func (s *closingStore) ClaimRun(context.Context, string, time.Duration, time.Time) (store.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimed {
		return store.Run{}, store.ErrNotFound
	}
	s.claimed = true
	return store.Run{ID: "r1", State: store.Queued}, nil
}

func (s *closingStore) Transition(ctx context.Context, _ string, _ store.State, _ string, _ time.Time) (store.Run, error) {
	close(s.driving)
	<-ctx.Done()
	return store.Run{}, ctx.Err()
}

func (s *closingStore) RenewLease(context.Context, string, string, time.Duration, time.Time) error {
	s.use("RenewLease")
	return nil
}

func (s *closingStore) ReleaseLease(context.Context, string, string) error {
	// Releasing takes a moment, as a real store's round trip does: long
	// enough for a caller that does not wait to have closed the store.
	time.Sleep(50 * time.Millisecond)
	s.use("ReleaseLease")
	return nil
}

func (s *closingStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *closingStore) use(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.late = append(s.late, call)
	}
}

// TestRunWaitsForItsDrives: Run returns only once every run it drives has
// stopped using the store, so its caller may close the store then.
func TestRunWaitsForItsDrives(t *testing.T) {
	st := &closingStore{driving: make(chan struct{})}
	cfg := Config{ID: "w1", PollInterval: 10 * time.Millisecond, LeaseTTL: 30 * time.Millisecond}
	w := New(cfg, st, nil, nil, nil, slog.New(slog.DiscardHandler), nil)

	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	select {
	case <-st.driving:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not drive the claimed run")
	}
	time.Sleep(30 * time.Millisecond) // a lease renewal or two
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	_ = st.Close()
	time.Sleep(200 * time.Millisecond) // what a drive left running would do now
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.late) > 0 {
		t.Fatalf("the store was used after Run returned and it was closed: %v", st.late)
	}
}

// abortingStore hands out one run that wants aborting, so its drive takes
// one transition (Queued -> Aborted) and ends.
type abortingStore struct {
	store.Store // nil: the drive calls nothing else on this path
}

func (abortingStore) Transition(_ context.Context, id string, to store.State, reason string, _ time.Time) (store.Run, error) {
	return store.Run{ID: id, State: to, Reason: reason}, nil
}

func (abortingStore) ReleaseLease(context.Context, string, string) error { return nil }

// TestDriveRenewsWithoutSharingTheRun: the lease renewal started by a
// drive must not read the run the drive's loop reassigns after each
// transition. Under -race this failed while renewal captured run.ID
// by reference.
func TestDriveRenewsWithoutSharingTheRun(t *testing.T) {
	cfg := Config{ID: "w1", PollInterval: 10 * time.Millisecond, LeaseTTL: time.Hour}
	w := New(cfg, abortingStore{}, nil, nil, nil, slog.New(slog.DiscardHandler), nil)
	w.drive(t.Context(), store.Run{ID: "r1", State: store.Queued, AbortWanted: true})
}
