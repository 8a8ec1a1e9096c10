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

// outboxEntry is a stored notification with the revision its
// compare-and-set writes filter on (the store type has no version).
type outboxEntry struct {
	store.Notification `bson:",inline"`
	Rev                int64 `bson:"rev"`
}

func outboxKey(id string) string { return "outbox/" + id }

// Enqueue implements store.Store.
func (s *Store) Enqueue(ctx context.Context, ns ...store.Notification) error {
	for _, n := range ns {
		_, err := s.outbox.InsertOne(ctx, outboxEntry{Notification: n, Rev: 1})
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return wrap(err)
		}
	}
	return nil
}

// due selects the unsent entries due at now that no live claim holds (a
// claim ends at its ClaimedUntil, as in the SQLite store).
func due(now time.Time) bson.M {
	return bson.M{
		"sent":   nil,
		"nextAt": bson.M{"$lte": now},
		"$or":    bson.A{bson.M{"claimedUntil": nil}, bson.M{"claimedUntil": bson.M{"$lte": now}}},
	}
}

// ClaimNotifications implements store.Store: the entries due first are
// claimed one at a time, each with findAndModify filtered on due and on
// the revision it was read at, so an entry goes to one claimer only.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, claimFor time.Duration, limit int) ([]store.Notification, error) {
	type candidate struct {
		ID  string `bson:"_id"`
		Rev int64  `bson:"rev"`
	}
	cands, err := findAll[candidate](ctx, s.outbox, due(now), options.Find().
		SetSort(bson.D{{Key: "nextAt", Value: 1}, {Key: "_id", Value: 1}}).
		SetProjection(bson.M{"_id": 1, "rev": 1}).SetLimit(int64(max(limit, 1))))
	if err != nil {
		return nil, err
	}
	until := now.Add(claimFor)
	out := []store.Notification{}
	for _, c := range cands {
		n, err := s.claimEntry(ctx, c.ID, c.Rev, now, until)
		if errors.Is(err, store.ErrRaced) {
			continue // another dispatcher has it
		}
		if err != nil {
			return out, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *Store) claimEntry(ctx context.Context, id string, rev int64, now, until time.Time) (store.Notification, error) {
	next := rev + 1
	if err := s.tickets.take(ctx, outboxKey(id), next); err != nil {
		return store.Notification{}, err
	}
	filter := due(now)
	filter["_id"], filter["rev"] = id, rev
	var e outboxEntry
	err := s.outbox.FindOneAndUpdate(ctx, filter, bson.M{"$set": bson.M{"claimedUntil": until, "rev": next}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&e)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return store.Notification{}, wrap(err) // the ticket stays: the write may have happened
	}
	s.tickets.release(ctx, outboxKey(id), next)
	if err != nil {
		return store.Notification{}, fmt.Errorf("notification %s changed before the claim: %w", id, store.ErrRaced)
	}
	return e.Notification, nil
}

// outboxWrites are MarkSent and Retry, written once in package store
// over changeEntry.
func (s *Store) outboxWrites() store.OutboxWrites { return store.OutboxWrites{Change: s.changeEntry} }

// MarkSent implements store.Store.
func (s *Store) MarkSent(ctx context.Context, id string, at time.Time) error {
	return s.outboxWrites().MarkSent(ctx, id, at)
}

// Retry implements store.Store. It ends the entry's claim.
func (s *Store) Retry(ctx context.Context, id string, cause string, next time.Time) error {
	return s.outboxWrites().Retry(ctx, id, cause, next)
}

// Notifications implements store.Store.
func (s *Store) Notifications(ctx context.Context, runID string) ([]store.Notification, error) {
	entries, err := findAll[outboxEntry](ctx, s.outbox, bson.M{"runId": runID}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	out := make([]store.Notification, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Notification)
	}
	return out, nil
}

// changeEntry applies change to a stored entry and writes it as the next
// revision, reading again when another writer got there first.
func (s *Store) changeEntry(ctx context.Context, id string, change func(*store.Notification)) error {
	return store.RetryRaced(ctx, "notification "+id, func() error {
		e, err := findOne[outboxEntry](ctx, s.outbox, bson.M{"_id": id}, "notification", id)
		if err != nil {
			return err
		}
		change(&e.Notification)
		from := e.Rev
		e.Rev++
		if err := s.tickets.take(ctx, outboxKey(id), e.Rev); err != nil {
			return err
		}
		res, err := s.outbox.ReplaceOne(ctx, bson.M{"_id": id, "rev": from}, e)
		if err != nil {
			return wrap(err)
		}
		s.tickets.release(ctx, outboxKey(id), e.Rev)
		if res.MatchedCount == 0 {
			return fmt.Errorf("notification %s is no longer at revision %d: %w", id, from, store.ErrRaced)
		}
		return nil
	})
}
