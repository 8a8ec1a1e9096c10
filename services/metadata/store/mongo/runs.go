package mongo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// terminalStates are the states no worker drives any more.
var terminalStates = []store.State{store.Passed, store.Failed, store.Aborted, store.Errored}

func runKey(id string) string { return "runs/" + id }

// CreateRun implements store.Store.
func (s *Store) CreateRun(ctx context.Context, r store.Run) error {
	if r.Transitions == nil {
		r.Transitions = []store.Transition{}
	}
	r.Version = 1
	_, err := s.runs.InsertOne(ctx, r)
	return wrap(err)
}

// Run implements store.Store.
func (s *Store) Run(ctx context.Context, id string) (store.Run, error) {
	return findOne[store.Run](ctx, s.runs, bson.M{"_id": id}, "run", id)
}

// Runs implements store.Store.
func (s *Store) Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	filter := bson.M{}
	if f.Team != "" {
		filter["team"] = f.Team
	}
	if f.Project != "" {
		filter["project"] = f.Project
	}
	if len(f.States) > 0 {
		filter["state"] = bson.M{"$in": f.States}
	}
	created := bson.M{}
	if !f.Since.IsZero() {
		created["$gte"] = f.Since
	}
	if !f.Until.IsZero() {
		created["$lt"] = f.Until
	}
	if len(created) > 0 {
		filter["created"] = created
	}
	opts := options.Find().SetSort(bson.D{{Key: "created", Value: -1}, {Key: "_id", Value: -1}})
	if f.Limit > 0 {
		opts.SetLimit(int64(f.Limit))
	}
	return findAll[store.Run](ctx, s.runs, filter, opts)
}

// writeRun replaces the stored revision r.Version of r with r as the next
// revision, and returns what is stored; errRaced if the stored run is no
// longer at r.Version.
func (s *Store) writeRun(ctx context.Context, r store.Run) (store.Run, error) {
	from := r.Version
	r.Version++
	if err := s.tickets.take(ctx, runKey(r.ID), r.Version); err != nil {
		return store.Run{}, err
	}
	var out store.Run
	err := s.runs.FindOneAndReplace(ctx, bson.M{"_id": r.ID, "version": from}, r,
		options.FindOneAndReplace().SetReturnDocument(options.After)).Decode(&out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// The run is past from: tickets up to from+1 are obsolete.
		s.tickets.release(ctx, runKey(r.ID), r.Version)
		return store.Run{}, fmt.Errorf("run %s is no longer at version %d: %w", r.ID, from, errRaced)
	}
	if err != nil {
		return store.Run{}, wrap(err)
	}
	s.tickets.release(ctx, runKey(r.ID), r.Version)
	return out, nil
}

// mutate applies change to the stored run and writes it, reading again
// when another writer got there first. change reports whether it changed
// anything; an unchanged run is not written.
func (s *Store) mutate(ctx context.Context, id string, change func(r *store.Run) (bool, error)) (store.Run, error) {
	var out store.Run
	err := retryRaced(ctx, "run "+id, func() error {
		r, err := s.Run(ctx, id)
		if err != nil {
			return err
		}
		changed, err := change(&r)
		if err != nil || !changed {
			out = r
			return err
		}
		out, err = s.writeRun(ctx, r)
		return err
	})
	return out, err
}

// raceBudget bounds how long a write keeps losing to other writers before
// it gives up with ErrConflict (past a dead writer's stale ticket).
const raceBudget = 2 * staleTicketAfter

// retryRaced runs attempt until it does not return errRaced, backing off
// with jitter so that racing writers fall out of step.
func retryRaced(ctx context.Context, what string, attempt func() error) error {
	deadline := time.Now().Add(raceBudget)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := attempt()
		if !errors.Is(err, errRaced) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mongo store: %s kept changing for %s: %w", what, raceBudget, store.ErrConflict)
		}
		timer := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("mongo store: %s: %w", what, ctx.Err())
		case <-timer.C:
		}
	}
}

// UpdateRun implements store.Store.
func (s *Store) UpdateRun(ctx context.Context, r store.Run) (store.Run, error) {
	stored, err := s.Run(ctx, r.ID)
	if err != nil {
		return store.Run{}, err
	}
	if stored.Version != r.Version {
		return store.Run{}, fmt.Errorf("run %s is at version %d, not %d: %w", r.ID, stored.Version, r.Version, store.ErrConflict)
	}
	r.State, r.Transitions, r.Lease = stored.State, stored.Transitions, stored.Lease
	out, err := s.writeRun(ctx, r)
	if errors.Is(err, errRaced) {
		return store.Run{}, fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return out, err
}

// Transition implements store.Store.
func (s *Store) Transition(ctx context.Context, id string, to store.State, reason string, at time.Time) (store.Run, error) {
	return s.mutate(ctx, id, func(r *store.Run) (bool, error) {
		return true, store.Apply(r, to, reason, at)
	})
}

// RequestAbort implements store.Store.
func (s *Store) RequestAbort(ctx context.Context, id, reason string) (store.Run, error) {
	return s.mutate(ctx, id, func(r *store.Run) (bool, error) {
		if r.State.Terminal() || r.AbortWanted {
			return false, nil
		}
		r.AbortWanted, r.Reason = true, reason
		return true, nil
	})
}

// claimable selects the runs that need a worker at now. A lease is
// expired from its Until on, as in the SQLite store.
func claimable(now time.Time) bson.M {
	return bson.M{
		"state": bson.M{"$nin": terminalStates},
		"$or":   bson.A{bson.M{"lease": nil}, bson.M{"lease.until": bson.M{"$lte": now}}},
	}
}

// claimCandidates is how many of the oldest claimable runs a claim tries
// before it reports that there is none (all were being written).
const claimCandidates = 16

// ClaimRun implements store.Store: the oldest claimable runs are tried in
// turn, each with findAndModify filtered on the claim conditions and the
// version it was read at, so of concurrent claimers only one wins a run.
func (s *Store) ClaimRun(ctx context.Context, worker string, ttl time.Duration, now time.Time) (store.Run, error) {
	type candidate struct {
		ID      string `bson:"_id"`
		Version int64  `bson:"version"`
	}
	cands, err := findAll[candidate](ctx, s.runs, claimable(now), options.Find().
		SetSort(bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}).
		SetProjection(bson.M{"_id": 1, "version": 1}).SetLimit(claimCandidates))
	if err != nil {
		return store.Run{}, err
	}
	lease := store.Lease{Worker: worker, Until: now.Add(ttl)}
	for _, c := range cands {
		r, err := s.claimOne(ctx, c.ID, c.Version, lease, now)
		if errors.Is(err, errRaced) {
			continue
		}
		return r, err
	}
	return store.Run{}, fmt.Errorf("mongo store: no run to claim: %w", store.ErrNotFound)
}

// claimOne gives lease on run id if it is still claimable at version.
func (s *Store) claimOne(ctx context.Context, id string, version int64, lease store.Lease, now time.Time) (store.Run, error) {
	next := version + 1
	if err := s.tickets.take(ctx, runKey(id), next); err != nil {
		return store.Run{}, err
	}
	filter := claimable(now)
	filter["_id"], filter["version"] = id, version
	var out store.Run
	err := s.runs.FindOneAndUpdate(ctx, filter, bson.M{"$set": bson.M{"lease": lease, "version": next}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&out)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return store.Run{}, wrap(err) // the ticket stays: the write may have happened
	}
	s.tickets.release(ctx, runKey(id), next)
	if err != nil {
		return store.Run{}, fmt.Errorf("run %s changed before the claim: %w", id, errRaced)
	}
	return out, nil
}

// RenewLease implements store.Store.
func (s *Store) RenewLease(ctx context.Context, id, worker string, ttl time.Duration, now time.Time) error {
	_, err := s.mutate(ctx, id, func(r *store.Run) (bool, error) {
		if r.Lease == nil || r.Lease.Worker != worker {
			return false, fmt.Errorf("run %s: %w", id, store.ErrLeaseLost)
		}
		r.Lease.Until = now.Add(ttl)
		return true, nil
	})
	return err
}

// ReleaseLease implements store.Store.
func (s *Store) ReleaseLease(ctx context.Context, id, worker string) error {
	_, err := s.mutate(ctx, id, func(r *store.Run) (bool, error) {
		if r.Lease == nil || r.Lease.Worker != worker {
			return false, nil
		}
		r.Lease = nil
		return true, nil
	})
	return err
}
