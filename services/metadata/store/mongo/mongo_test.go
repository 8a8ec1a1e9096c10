package mongo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/loadfleet/loadfleet/services/internal/componenttest"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/metadata/store/storetest"
)

// mongoURL is where scripts/ci-deps.sh started FerretDB: the environment,
// else the env file it writes.
func mongoURL() string {
	if u := os.Getenv("LOADFLEET_MONGO_URL"); u != "" {
		return u
	}
	dir := os.Getenv("LOADFLEET_STATE")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache", "loadfleet", "state")
	}
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "export LOADFLEET_MONGO_URL="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// server is the test server's URL once it answered a ping; it is looked
// up once, so that a missing server costs one timeout, not one per test.
var server = sync.OnceValues(func() (string, error) {
	url := mongoURL()
	if url == "" {
		return "", errors.New("no LOADFLEET_MONGO_URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(url))
	if err != nil {
		return "", fmt.Errorf("mongo at %s: %w", url, err)
	}
	defer func() { _ = c.Disconnect(ctx) }()
	if err := c.Ping(ctx, nil); err != nil {
		return "", fmt.Errorf("mongo at %s: %w", url, err)
	}
	return url, nil
})

// unavailable fails under CI=true, where the server must be there, and
// skips otherwise.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	componenttest.Missing(t, fmt.Sprintf(format, args...)+" (start it with scripts/ci-deps.sh start ferretdb)")
}

// database is a fresh database on the test server, dropped at the end.
type database struct {
	url, name string
}

func newDatabase(t *testing.T) database {
	t.Helper()
	url, err := server()
	if err != nil {
		unavailable(t, "%v", err)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	db := database{url: url, name: "loadfleet_test_" + hex.EncodeToString(suffix)}
	t.Cleanup(func() { db.drop(t) })
	return db
}

func (d database) open(t *testing.T) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := New(ctx, d.url, d.name, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("mongo at %s answers but the store does not open: %v", d.url, err)
	}
	return st
}

// client is a plain driver client, to look at the stored documents.
func (d database) client(t *testing.T) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(context.Background(), options.Client().ApplyURI(d.url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func (d database) drop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(d.url))
	if err != nil {
		return
	}
	defer func() { _ = c.Disconnect(ctx) }()
	if err := c.Database(d.name).Drop(ctx); err != nil {
		t.Logf("dropping %s: %v", d.name, err)
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return newDatabase(t).open(t)
	})
}

// Two stores on one database stand for two processes.
func TestTwoStoresShareOneDatabase(t *testing.T) {
	db := newDatabase(t)
	a, b := db.open(t), db.open(t)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	storetest.SharedFile(t, a, b)
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// The fields the BSON driver would not keep as they are: durations in
// nanoseconds, a seed above MaxInt64, JSON bytes with "$" keys and their
// own spacing. And the documents are real BSON under the bson tags.
func TestDocumentsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	st := db.open(t)
	t.Cleanup(func() { _ = st.Close() })

	plan := json.RawMessage(`{"name": "p",  "vars": {"$ref": 1e400, "big": 12345678901234567890}}`)
	run := store.Run{ID: "r-1", Team: "shop", Project: "checkout", State: store.Queued, Created: t0,
		Plan: plan, Seed: math.MaxUint64 - 7, Transitions: []store.Transition{},
		Shards: []store.Shard{{Index: 1, ClockOffset: -1234567891 * time.Nanosecond, ResumeAt: 90*time.Second + 7}}}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	got, err := st.Run(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	sh := got.Shards[0]
	if string(got.Plan) != string(plan) || got.Seed != run.Seed || sh.ClockOffset != run.Shards[0].ClockOffset ||
		sh.ResumeAt != run.Shards[0].ResumeAt || !got.Created.Equal(t0) {
		t.Fatalf("round trip changed the run: plan %s seed %d shard %+v created %v", got.Plan, got.Seed, sh, got.Created)
	}
	report := json.RawMessage(`{"$verdict":"passed", "p99": 1.50}`)
	if err := st.PutReport(ctx, "r-1", report); err != nil {
		t.Fatal(err)
	}
	if doc, err := st.Report(ctx, "r-1"); err != nil || string(doc) != string(report) {
		t.Fatalf("report = %s, %v; want the same bytes", doc, err)
	}

	var raw bson.M
	if err := db.client(t).Database(db.name).Collection("runs").FindOne(ctx, bson.M{"_id": "r-1"}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	shard := raw["shards"].(bson.A)[0].(bson.M)
	checks := []struct {
		why       string
		got, want any
	}{
		{"the plan is the JSON text", raw["plan"], string(plan)},
		{"the seed keeps its bits in an int64", raw["seed"], int64(-8)},
		{"a clock offset is int64 nanoseconds", shard["clockOffsetNs"], int64(-1234567891)},
		{"the version starts at 1", raw["version"], int64(1)},
		{"states are strings", raw["state"], "queued"},
	}
	for _, c := range checks {
		if fmt.Sprintf("%T %v", c.got, c.got) != fmt.Sprintf("%T %v", c.want, c.want) {
			t.Errorf("%s: stored %T %v, want %T %v", c.why, c.got, c.got, c.want, c.want)
		}
	}
	if _, ok := raw["created"].(primitive.DateTime); !ok {
		t.Errorf("created is stored as %T, want a BSON date", raw["created"])
	}
}

// Writers racing on one run lose no update: every one of them lands,
// through the version filter (and on FerretDB, the write tickets).
func TestConcurrentWritersLoseNoUpdate(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	a, b := db.open(t), db.open(t) // two processes
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	if err := a.CreateRun(ctx, store.Run{ID: "r-1", Team: "t", Project: "p", State: store.Running, Created: t0}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 5
	var wg sync.WaitGroup
	for w := range writers {
		st := []*Store{a, b}[w%2]
		wg.Go(func() {
			for i := range each {
				if err := appendDegraded(ctx, st, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	r, err := a.Run(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range r.Degraded {
		seen[d.Reason] = true
	}
	if len(r.Degraded) != writers*each || len(seen) != writers*each || r.Version != writers*each+1 {
		t.Fatalf("%d intervals (%d distinct) at version %d, want %d at version %d",
			len(r.Degraded), len(seen), r.Version, writers*each, writers*each+1)
	}
}

// appendDegraded adds an interval the way a worker does: read, change,
// UpdateRun, and read again on a conflict.
func appendDegraded(ctx context.Context, st store.Store, reason string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := st.Run(ctx, "r-1")
		if err != nil {
			return err
		}
		r.Degraded = append(r.Degraded, store.Interval{Start: t0, Reason: reason})
		_, err = st.UpdateRun(ctx, r)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("%s: kept conflicting for 30s", reason)
}
