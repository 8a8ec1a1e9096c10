package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrRaced says a compare-and-swap lost: another writer changed (or, on a
// server that needs write tickets, is changing) the record between the
// read and the write. RetryRaced reads again; callers of UpdateRun see
// ErrConflict instead.
var ErrRaced = errors.New("raced with another writer")

// RaceBudget bounds how long a write keeps losing to other writers before
// it gives up with ErrConflict. It exceeds the MongoDB driver's stale
// write-ticket age, so a write outlasts a dead writer's ticket.
const RaceBudget = 30 * time.Second

// RetryRaced runs attempt until it returns something other than ErrRaced,
// backing off with jitter so that racing writers fall out of step. what
// names the record in the error after RaceBudget. It is the one retry
// loop of the optimistic writes: the drivers' and the worker's.
func RetryRaced(ctx context.Context, what string, attempt func() error) error {
	deadline := time.Now().Add(RaceBudget)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := attempt()
		if !errors.Is(err, ErrRaced) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s kept changing for %s: %w", what, RaceBudget, ErrConflict)
		}
		timer := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-timer.C:
		}
	}
}

// RunSwapper is the one write primitive a driver implements for runs:
// RunWrites carries out every run update over it, so both drivers judge
// updates alike.
type RunSwapper interface {
	Run(ctx context.Context, id string) (Run, error)
	// SwapRun stores r as revision r.Version+1 if the stored run is still
	// at revision r.Version, and returns the stored run; an error
	// wrapping ErrRaced if it is not (ErrNotFound if there is none).
	SwapRun(ctx context.Context, r Run) (Run, error)
}

// RunWrites are the run updates of Store (UpdateRun, Transition,
// RequestAbort, RenewLease, ReleaseLease) written once over a driver's
// RunSwapper.
type RunWrites struct{ Swap RunSwapper }

// Mutate applies change to the stored run and swaps it in, reading again
// when another writer got there first. change reports whether it changed
// anything; an unchanged run is not written and is returned as read.
func (w RunWrites) Mutate(ctx context.Context, id string, change func(r *Run) (bool, error)) (Run, error) {
	var out Run
	err := RetryRaced(ctx, "run "+id, func() error {
		r, err := w.Swap.Run(ctx, id)
		if err != nil {
			return err
		}
		changed, err := change(&r)
		if err != nil || !changed {
			out = r
			return err
		}
		out, err = w.Swap.SwapRun(ctx, r)
		return err
	})
	return out, err
}

// UpdateRun implements Store.UpdateRun: one swap, a lost race being the
// caller's conflict.
func (w RunWrites) UpdateRun(ctx context.Context, r Run) (Run, error) {
	stored, err := w.Swap.Run(ctx, r.ID)
	if err != nil {
		return Run{}, err
	}
	if stored.Version != r.Version {
		return Run{}, fmt.Errorf("run %s is at version %d, not %d: %w", r.ID, stored.Version, r.Version, ErrConflict)
	}
	r.State, r.Transitions, r.Lease = stored.State, stored.Transitions, stored.Lease
	out, err := w.Swap.SwapRun(ctx, r)
	if errors.Is(err, ErrRaced) {
		return Run{}, fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return out, err
}

// Transition implements Store.Transition.
func (w RunWrites) Transition(ctx context.Context, id string, to State, reason string, at time.Time) (Run, error) {
	return w.Mutate(ctx, id, func(r *Run) (bool, error) {
		return true, Apply(r, to, reason, at)
	})
}

// RequestAbort implements Store.RequestAbort. The first request's reason
// stays; an ended run is left as it is.
func (w RunWrites) RequestAbort(ctx context.Context, id, reason string) (Run, error) {
	return w.Mutate(ctx, id, func(r *Run) (bool, error) {
		if r.State.Terminal() || r.AbortWanted {
			return false, nil
		}
		r.AbortWanted, r.Reason = true, reason
		return true, nil
	})
}

// RenewLease implements Store.RenewLease. The holder may renew a lease
// that expired as long as nobody claimed the run since.
func (w RunWrites) RenewLease(ctx context.Context, id, worker string, ttl time.Duration, now time.Time) error {
	_, err := w.Mutate(ctx, id, func(r *Run) (bool, error) {
		if r.Lease == nil || r.Lease.Worker != worker {
			return false, fmt.Errorf("run %s: %w", id, ErrLeaseLost)
		}
		r.Lease.Until = now.Add(ttl)
		return true, nil
	})
	return err
}

// ReleaseLease implements Store.ReleaseLease.
func (w RunWrites) ReleaseLease(ctx context.Context, id, worker string) error {
	_, err := w.Mutate(ctx, id, func(r *Run) (bool, error) {
		if r.Lease == nil || r.Lease.Worker != worker {
			return false, nil
		}
		r.Lease = nil
		return true, nil
	})
	return err
}

// ChangeNotification applies change to a stored outbox entry atomically:
// ErrNotFound if there is none. Each driver has one (SQLite in a write
// transaction, MongoDB by compare-and-swap under RetryRaced).
type ChangeNotification func(ctx context.Context, id string, change func(*Notification)) error

// OutboxWrites are the outbox updates of Store (MarkSent, Retry) written
// once over a driver's ChangeNotification.
type OutboxWrites struct{ Change ChangeNotification }

// MarkSent implements Store.MarkSent. It ends the entry's claim.
func (w OutboxWrites) MarkSent(ctx context.Context, id string, at time.Time) error {
	return w.Change(ctx, id, func(n *Notification) {
		n.Sent, n.ClaimedUntil = &at, nil
	})
}

// Retry implements Store.Retry. It ends the entry's claim.
func (w OutboxWrites) Retry(ctx context.Context, id string, cause string, next time.Time) error {
	return w.Change(ctx, id, func(n *Notification) {
		n.Attempts++
		n.LastErr, n.NextAt, n.ClaimedUntil = cause, next, nil
	})
}
