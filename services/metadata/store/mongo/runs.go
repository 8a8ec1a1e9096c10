package mongo

import (
	"context"
	"errors"
	"fmt"
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

// SwapRun implements store.RunSwapper: it replaces the stored revision
// r.Version of r with r as the next revision, and returns what is stored.
func (s *Store) SwapRun(ctx context.Context, r store.Run) (store.Run, error) {
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
		return store.Run{}, fmt.Errorf("run %s is no longer at version %d: %w", r.ID, from, store.ErrRaced)
	}
	if err != nil {
		return store.Run{}, wrap(err)
	}
	s.tickets.release(ctx, runKey(r.ID), r.Version)
	return out, nil
}

// writes are the run updates, written once in package store over SwapRun.
func (s *Store) writes() store.RunWrites { return store.RunWrites{Swap: s} }

// UpdateRun implements store.Store.
func (s *Store) UpdateRun(ctx context.Context, r store.Run) (store.Run, error) {
	return s.writes().UpdateRun(ctx, r)
}

// Transition implements store.Store.
func (s *Store) Transition(ctx context.Context, id string, to store.State, reason string, at time.Time) (store.Run, error) {
	return s.writes().Transition(ctx, id, to, reason, at)
}

// RequestAbort implements store.Store.
func (s *Store) RequestAbort(ctx context.Context, id, reason string) (store.Run, error) {
	return s.writes().RequestAbort(ctx, id, reason)
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
		if errors.Is(err, store.ErrRaced) {
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
		return store.Run{}, fmt.Errorf("run %s changed before the claim: %w", id, store.ErrRaced)
	}
	return out, nil
}

// RenewLease implements store.Store.
func (s *Store) RenewLease(ctx context.Context, id, worker string, ttl time.Duration, now time.Time) error {
	return s.writes().RenewLease(ctx, id, worker, ttl, now)
}

// ReleaseLease implements store.Store.
func (s *Store) ReleaseLease(ctx context.Context, id, worker string) error {
	return s.writes().ReleaseLease(ctx, id, worker)
}
