package mongo

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// snapshotDoc is a kept snapshot. Its _id is run/shard/attempt/seq, so keeping it
// again is a duplicate-key error, which PutSnapshots ignores.
type snapshotDoc struct {
	ID      string          `bson:"_id"`
	RunID   string          `bson:"runId"`
	Shard   int             `bson:"shard"`
	Attempt int             `bson:"attempt"`
	Seq     uint64          `bson:"seq"`
	Doc     json.RawMessage `bson:"doc"`
}

// PutSnapshots implements store.Store. Each snapshot is one insert: a
// batch cut short by an error is sent again by its executor, and what was
// kept stays as it is.
func (s *Store) PutSnapshots(ctx context.Context, runID string, snaps ...store.Snapshot) error {
	if err := store.CheckSnapshots(runID, snaps); err != nil {
		return fmt.Errorf("mongo store: %w", err)
	}
	for _, snap := range snaps {
		doc := snapshotDoc{ID: fmt.Sprintf("%s/%d/%d/%d", runID, snap.Shard, snap.Attempt, snap.Seq), RunID: runID,
			Shard: snap.Shard, Attempt: snap.Attempt, Seq: snap.Seq, Doc: snap.Doc}
		if _, err := s.snaps.InsertOne(ctx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
			return wrap(err)
		}
	}
	return nil
}

// Snapshots implements store.Store. They are sorted in Go: sequence
// numbers are stored as int64 bits, which the server would order wrongly
// past MaxInt64.
func (s *Store) Snapshots(ctx context.Context, runID string) ([]store.Snapshot, error) {
	docs, err := findAll[snapshotDoc](ctx, s.snaps, bson.M{"runId": runID})
	if err != nil {
		return nil, err
	}
	out := make([]store.Snapshot, 0, len(docs))
	for _, d := range docs {
		out = append(out, store.Snapshot{Shard: d.Shard, Attempt: d.Attempt, Seq: d.Seq, Doc: d.Doc})
	}
	slices.SortFunc(out, func(a, b store.Snapshot) int {
		return cmp.Or(cmp.Compare(a.Shard, b.Shard), cmp.Compare(a.Attempt, b.Attempt), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}

// DeleteSnapshots implements store.Store.
func (s *Store) DeleteSnapshots(ctx context.Context, runID string) error {
	_, err := s.snaps.DeleteMany(ctx, bson.M{"runId": runID})
	return wrap(err)
}
