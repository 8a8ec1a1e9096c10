package mongo

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// ferretTickets returns the store's tickets, which only FerretDB needs.
func ferretTickets(t *testing.T, st *Store) *tickets {
	t.Helper()
	if st.tickets == nil {
		t.Skip("the server is MongoDB: writes need no tickets")
	}
	return st.tickets
}

// A ticket is honoured while fresh; one left by a writer that died is
// taken over once stale; release drops the written revisions only.
func TestTickets(t *testing.T) {
	ctx := context.Background()
	st := newDatabase(t).open(t)
	t.Cleanup(func() { _ = st.Close() })
	g := ferretTickets(t, st)
	g.staleAfter = 200 * time.Millisecond

	if err := g.take(ctx, "runs/r-1", 2); err != nil {
		t.Fatal(err)
	}
	if err := g.take(ctx, "runs/r-1", 2); !errors.Is(err, store.ErrRaced) {
		t.Fatalf("second take of a fresh ticket: %v, want store.ErrRaced", err)
	}
	time.Sleep(250 * time.Millisecond)
	if err := g.take(ctx, "runs/r-1", 2); err != nil {
		t.Fatalf("take over of a stale ticket: %v", err)
	}
	if err := g.take(ctx, "runs/r-1", 2); !errors.Is(err, store.ErrRaced) {
		t.Fatalf("take after the takeover: %v, want store.ErrRaced (the new holder is fresh)", err)
	}
	if err := g.take(ctx, "runs/r-1", 3); err != nil {
		t.Fatal(err)
	}
	g.release(ctx, "runs/r-1", 2)
	n, err := g.coll.CountDocuments(ctx, bson.M{"of": "runs/r-1"})
	if err != nil || n != 1 {
		t.Fatalf("%d tickets left (%v), want revision 3's alone", n, err)
	}
}

// A writer that died between taking its ticket and writing holds the run
// up only until its ticket is stale.
func TestDeadWriterBlocksUntilStale(t *testing.T) {
	ctx := context.Background()
	st := newDatabase(t).open(t)
	t.Cleanup(func() { _ = st.Close() })
	g := ferretTickets(t, st)
	g.staleAfter = 300 * time.Millisecond

	if err := st.CreateRun(ctx, store.Run{ID: "r-1", Team: "t", Project: "p", State: store.Queued, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := g.take(ctx, runKey("r-1"), 2); err != nil { // the dead writer's
		t.Fatal(err)
	}
	start := time.Now()
	r, err := st.Transition(ctx, "r-1", store.Scheduling, "", t0)
	if err != nil || r.Version != 2 || r.State != store.Scheduling {
		t.Fatalf("transition past a dead writer: %+v, %v", r, err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("the write went through after %v, before the dead writer's ticket was stale", waited)
	}
}
