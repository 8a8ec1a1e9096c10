// Package mongo is the metadata store on MongoDB (or FerretDB, which the
// tests run against). Records are BSON documents shaped by the bson tags of
// the store types; plans and reports are kept as JSON strings (see
// newRegistry). Every change to a run or an outbox entry is a
// compare-and-set on its revision, so several control-plane processes can
// share one database; on FerretDB, whose writes are not atomic, write
// tickets make those compare-and-sets atomic (see tickets).
package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// Store is the MongoDB store, safe for concurrent use by goroutines and
// by processes sharing the database.
type Store struct {
	client   *mongo.Client
	teams    *mongo.Collection
	projects *mongo.Collection
	tests    *mongo.Collection
	runs     *mongo.Collection
	reports  *mongo.Collection
	outbox   *mongo.Collection
	snaps    *mongo.Collection
	tickets  *tickets // nil on MongoDB
	logger   *slog.Logger
}

// staleTicketAfter: see tickets.staleAfter. It is half of store.RaceBudget,
// so a write that keeps losing outlasts a dead writer's ticket.
const staleTicketAfter = store.RaceBudget / 2

// New connects to the server at uri, uses database and creates the
// indexes the store queries by.
func New(ctx context.Context, uri, database string, logger *slog.Logger) (*Store, error) {
	opts := options.Client().ApplyURI(uri).SetRegistry(newRegistry()).
		SetBSONOptions(&options.BSONOptions{NilSliceAsEmpty: true})
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("mongo store: connect: %w", err)
	}
	s, err := open(ctx, client, database, logger)
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, client *mongo.Client, database string, logger *slog.Logger) (*Store, error) {
	if err := client.Ping(ctx, nil); err != nil {
		return nil, fmt.Errorf("mongo store: ping: %w", err)
	}
	db := client.Database(database)
	s := &Store{
		client:   client,
		teams:    db.Collection("teams"),
		projects: db.Collection("projects"),
		tests:    db.Collection("tests"),
		runs:     db.Collection("runs"),
		reports:  db.Collection("reports"),
		outbox:   db.Collection("outbox"),
		snaps:    db.Collection("snapshots"),
		logger:   logger,
	}
	ferret, err := isFerretDB(ctx, db)
	if err != nil {
		return nil, err
	}
	if ferret {
		logger.Info("mongo store: the server is FerretDB, its writes are made atomic with write tickets", "database", database)
		s.tickets = &tickets{coll: db.Collection("writeTickets"), staleAfter: staleTicketAfter, logger: logger}
	}
	if err := s.createIndexes(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// isFerretDB tells FerretDB from MongoDB: only FerretDB's buildInfo
// carries a ferretdbVersion.
func isFerretDB(ctx context.Context, db *mongo.Database) (bool, error) {
	var info bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("mongo store: buildInfo: %w", err)
	}
	_, ok := info["ferretdbVersion"]
	return ok, nil
}

// index is one index the store queries by.
type index struct {
	coll  *mongo.Collection
	model mongo.IndexModel
}

func (s *Store) createIndexes(ctx context.Context) error {
	asc := func(keys ...string) bson.D {
		d := bson.D{}
		for _, k := range keys {
			d = append(d, bson.E{Key: k, Value: 1})
		}
		return d
	}
	unique := options.Index().SetUnique(true)
	indexes := []index{
		{s.projects, mongo.IndexModel{Keys: asc("team", "name"), Options: unique}},
		{s.tests, mongo.IndexModel{Keys: asc("testId", "version"), Options: unique}},
		{s.tests, mongo.IndexModel{Keys: asc("team", "project")}},
		{s.runs, mongo.IndexModel{Keys: asc("team", "project", "created")}},
		{s.runs, mongo.IndexModel{Keys: asc("state", "created")}},
		{s.runs, mongo.IndexModel{Keys: asc("lease.until")}},
		{s.outbox, mongo.IndexModel{Keys: asc("sent", "nextAt")}},
		{s.outbox, mongo.IndexModel{Keys: asc("runId")}},
		{s.snaps, mongo.IndexModel{Keys: asc("runId")}},
	}
	if s.tickets != nil {
		indexes = append(indexes, index{s.tickets.coll, mongo.IndexModel{Keys: asc("of", "rev")}})
	}
	for _, ix := range indexes {
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.model); err != nil {
			return fmt.Errorf("mongo store: index %v on %s: %w", ix.model.Keys, ix.coll.Name(), err)
		}
	}
	return nil
}

// Close disconnects from the server.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo store: %w: %w", store.ErrConflict, err)
	}
	return fmt.Errorf("mongo store: %w", err)
}

func notFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound) }

// findOne decodes the document filter selects; ErrNotFound (naming what
// and id) when there is none.
func findOne[T any](ctx context.Context, c *mongo.Collection, filter any, what, id string, opts ...*options.FindOneOptions) (T, error) {
	var v T
	err := c.FindOne(ctx, filter, opts...).Decode(&v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return v, notFound(what, id)
	}
	return v, wrap(err)
}

// findAll decodes every document filter selects.
func findAll[T any](ctx context.Context, c *mongo.Collection, filter any, opts ...*options.FindOptions) ([]T, error) {
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, wrap(err)
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, wrap(err)
	}
	return out, nil
}

// PutTeam implements store.Store.
func (s *Store) PutTeam(ctx context.Context, t store.Team) error {
	_, err := s.teams.ReplaceOne(ctx, bson.M{"_id": t.Name}, t, options.Replace().SetUpsert(true))
	return wrap(err)
}

// Team implements store.Store.
func (s *Store) Team(ctx context.Context, name string) (store.Team, error) {
	return findOne[store.Team](ctx, s.teams, bson.M{"_id": name}, "team", name)
}

// Teams implements store.Store.
func (s *Store) Teams(ctx context.Context) ([]store.Team, error) {
	return findAll[store.Team](ctx, s.teams, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// PutProject implements store.Store. The unique index on team and name
// keeps the first; a duplicate is the "leave it unchanged" case.
func (s *Store) PutProject(ctx context.Context, p store.Project) error {
	_, err := s.projects.InsertOne(ctx, p)
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return wrap(err)
}

// Projects implements store.Store.
func (s *Store) Projects(ctx context.Context, team string) ([]store.Project, error) {
	return findAll[store.Project](ctx, s.projects, bson.M{"team": team}, options.Find().SetSort(bson.D{{Key: "name", Value: 1}}))
}

// saveTestAttempts bounds the retries of SaveTest when other processes save
// versions of the same test at the same time.
const saveTestAttempts = 20

// SaveTest implements store.Store: it inserts the version after the
// latest; the unique index on testId and version makes concurrent saves
// of one test take turns.
func (s *Store) SaveTest(ctx context.Context, t store.Test) (store.Test, error) {
	for range saveTestAttempts {
		latest, err := s.Test(ctx, t.ID, 0)
		switch {
		case errors.Is(err, store.ErrNotFound):
			t.Version = 1
		case err != nil:
			return store.Test{}, err
		default:
			t.Version = latest.Version + 1
		}
		_, err = s.tests.InsertOne(ctx, t)
		if !mongo.IsDuplicateKeyError(err) {
			return t, wrap(err)
		}
	}
	return store.Test{}, fmt.Errorf("mongo store: test %s: %d concurrent saves in a row: %w", t.ID, saveTestAttempts, store.ErrConflict)
}

// Test implements store.Store.
func (s *Store) Test(ctx context.Context, id string, version int) (store.Test, error) {
	filter := bson.M{"testId": id}
	if version > 0 {
		filter["version"] = version
	}
	return findOne[store.Test](ctx, s.tests, filter, "test", fmt.Sprintf("%s v%d", id, version),
		options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}}))
}

// Tests implements store.Store. The latest version of each test is picked
// in Go (FerretDB's $group has no $max or $first): of the versions matching
// the filter, the highest of each test, kept if no later version exists
// at all (a later one may have moved to another team or project).
func (s *Store) Tests(ctx context.Context, f store.TestFilter) ([]store.Test, error) {
	filter := bson.M{}
	if f.Team != "" {
		filter["team"] = f.Team
	}
	if f.Project != "" {
		filter["project"] = f.Project
	}
	matching, err := findAll[store.Test](ctx, s.tests, filter)
	if err != nil {
		return nil, err
	}
	latest, err := s.latestVersions(ctx, matching)
	if err != nil {
		return nil, err
	}
	out := []store.Test{}
	for _, t := range matching {
		if latest[t.ID] == t.Version {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b store.Test) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// latestVersions maps each test among tests to its highest stored version.
func (s *Store) latestVersions(ctx context.Context, tests []store.Test) (map[string]int, error) {
	ids := []string{}
	for _, t := range tests {
		ids = append(ids, t.ID)
	}
	type key struct {
		ID      string `bson:"testId"`
		Version int    `bson:"version"`
	}
	keys, err := findAll[key](ctx, s.tests, bson.M{"testId": bson.M{"$in": ids}},
		options.Find().SetProjection(bson.M{"testId": 1, "version": 1}))
	if err != nil {
		return nil, err
	}
	latest := map[string]int{}
	for _, k := range keys {
		latest[k.ID] = max(latest[k.ID], k.Version)
	}
	return latest, nil
}

// report is a stored report document.
type report struct {
	RunID string          `bson:"_id"`
	Doc   json.RawMessage `bson:"doc"`
}

// PutReport implements store.Store.
func (s *Store) PutReport(ctx context.Context, runID string, doc json.RawMessage) error {
	if !json.Valid(doc) {
		return fmt.Errorf("mongo store: the report of %s is not JSON", runID)
	}
	_, err := s.reports.ReplaceOne(ctx, bson.M{"_id": runID}, report{RunID: runID, Doc: doc}, options.Replace().SetUpsert(true))
	return wrap(err)
}

// Report implements store.Store.
func (s *Store) Report(ctx context.Context, runID string) (json.RawMessage, error) {
	r, err := findOne[report](ctx, s.reports, bson.M{"_id": runID}, "report of run", runID)
	return r.Doc, err
}

var _ store.Store = (*Store)(nil)
