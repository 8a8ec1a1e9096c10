package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// tickets make the store's compare-and-set writes atomic on servers whose
// writes are not: FerretDB 1.x runs findAndModify and update as "query,
// then write the result back by _id", so two writers filtering on the same
// version both match and both write. An insert, though, is atomic there
// (SQLite's unique _id), so a writer first inserts the ticket of the
// revision it is about to write; only the one that inserts it writes.
//
// On MongoDB the filter on the version is enough and tickets is nil.
type tickets struct {
	coll *mongo.Collection
	// staleAfter is how long a ticket is honoured. A writer that took one
	// and died before writing would otherwise block the record for good;
	// past staleAfter the next writer takes a new ticket for the same
	// revision. Taking one and writing is two round trips, so a live
	// writer is never that slow.
	staleAfter time.Duration
	logger     *slog.Logger
}

type ticket struct {
	ID string `bson:"_id"`
	// Of names the record ("runs/r-1"), Rev the revision the holder writes.
	Of  string    `bson:"of"`
	Rev int64     `bson:"rev"`
	At  time.Time `bson:"at"`
}

// maxTakeovers bounds the stale tickets skipped for one revision.
const maxTakeovers = 8

// take reserves the write of revision rev of record of; store.ErrRaced when
// another writer holds it. A nil *tickets reserves nothing.
func (g *tickets) take(ctx context.Context, of string, rev int64) error {
	if g == nil {
		return nil
	}
	for n := range maxTakeovers {
		t := ticket{ID: fmt.Sprintf("%s@%d#%d", of, rev, n), Of: of, Rev: rev, At: time.Now()}
		_, err := g.coll.InsertOne(ctx, t)
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return wrap(err)
		}
		var held ticket
		if err := g.coll.FindOne(ctx, bson.M{"_id": t.ID}).Decode(&held); err != nil {
			if errors.Is(err, mongo.ErrNoDocuments) {
				return fmt.Errorf("%s revision %d was just written: %w", of, rev, store.ErrRaced) // released after its write
			}
			return wrap(err)
		}
		if time.Since(held.At) < g.staleAfter {
			return fmt.Errorf("%s revision %d is being written: %w", of, rev, store.ErrRaced)
		}
		g.logger.Warn("taking over a stale write ticket: its writer died between taking it and writing",
			"ticket", held.ID, "age", time.Since(held.At).Round(time.Millisecond))
	}
	return fmt.Errorf("%s revision %d: %d stale tickets: %w", of, rev, maxTakeovers, store.ErrRaced)
}

// release drops the tickets of revisions up to rev once rev is written:
// any later writer of those revisions fails the version filter anyway.
// Tickets of later revisions may be held by writers at work and stay.
func (g *tickets) release(ctx context.Context, of string, rev int64) {
	if g == nil {
		return
	}
	if _, err := g.coll.DeleteMany(ctx, bson.M{"of": of, "rev": bson.M{"$lte": rev}}); err != nil {
		// Harmless: the tickets are only garbage now.
		g.logger.Warn("dropping written tickets", "of", of, "rev", rev, "err", err)
	}
}
