// Package sqlite is the embedded metadata store: one SQLite file (pure Go,
// modernc.org/sqlite) in the data directory. Records are JSON documents,
// with the fields that are filtered on copied into indexed columns. Every
// change is a transaction that takes the write lock at its start, so
// several processes can share one file (a worker taking over from another
// on the same machine).
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/loadfleet/loadfleet/services/internal/private"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// schemaVersion is the PRAGMA user_version the schema below writes.
const schemaVersion = 1

// schema: plans and reports have their own columns so they keep their
// bytes exactly; the other fields are a JSON document, with what is
// filtered on copied into indexed columns. Times in columns are Unix
// nanoseconds.
const schema = `
CREATE TABLE IF NOT EXISTS teams (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (team TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (team, name));
CREATE TABLE IF NOT EXISTS tests (id TEXT NOT NULL, version INTEGER NOT NULL, team TEXT NOT NULL,
	project TEXT NOT NULL, created INTEGER NOT NULL, plan TEXT, doc TEXT NOT NULL, PRIMARY KEY (id, version));
CREATE INDEX IF NOT EXISTS tests_team ON tests (team, project);
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, team TEXT NOT NULL, project TEXT NOT NULL,
	state TEXT NOT NULL, created INTEGER NOT NULL, lease_until INTEGER, version INTEGER NOT NULL,
	plan TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
CREATE INDEX IF NOT EXISTS runs_team ON runs (team, project, created);
CREATE INDEX IF NOT EXISTS runs_state ON runs (state, created);
CREATE TABLE IF NOT EXISTS reports (run_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, next_at INTEGER NOT NULL,
	sent INTEGER, claimed_until INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (sent, next_at);
CREATE INDEX IF NOT EXISTS outbox_run ON outbox (run_id);
CREATE TABLE IF NOT EXISTS snapshots (run_id TEXT NOT NULL, shard INTEGER NOT NULL, attempt INTEGER NOT NULL,
	seq INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (run_id, shard, attempt, seq));
PRAGMA user_version = 1;
`

// ErrNewerSchema is returned when the file was written by a newer
// loadfleet than this one.
var ErrNewerSchema = errors.New("the database has a newer schema")

// Store is the SQLite store. It is safe for concurrent use, also by
// several processes sharing the file.
type Store struct {
	db     *sql.DB
	logger *slog.Logger
}

// New opens (creating if needed) the store at path. The file holds shard
// tokens and plans: it and its -wal and -shm are its owner's only (0600).
func New(path string, logger *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), private.DirMode); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	if err := private.SQLite(path); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	q := url.Values{}
	// Another process holding the write lock makes a writer wait, not fail.
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Transactions take the write lock when they begin: a read-then-write
	// transaction can then never fail to upgrade its lock (SQLITE_BUSY
	// without waiting) when another connection writes first.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	if err := migrate(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	logger.Debug("sqlite store open", "path", path)
	return &Store{db: db, logger: logger}, nil
}

func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("version %d, this build knows %d: %w", version, schemaVersion, ErrNewerSchema)
	}
	if _, err := db.Exec(schema); err != nil {
		return fmt.Errorf("create the schema: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// tx runs fn in a transaction that holds the write lock from its start.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: commit: %w", err)
	}
	return nil
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlite store: encode: %w", err)
	}
	return string(b), nil
}

func decode[T any](doc string) (T, error) {
	var v T
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return v, fmt.Errorf("sqlite store: a stored record does not decode: %w", err)
	}
	return v, nil
}

func notFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound) }

// PutTeam implements store.Store.
func (s *Store) PutTeam(ctx context.Context, t store.Team) error {
	doc, err := encode(t)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO teams (name, doc) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET doc = excluded.doc`, t.Name, doc)
	return wrap(err)
}

// Team implements store.Store.
func (s *Store) Team(ctx context.Context, name string) (store.Team, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM teams WHERE name = ?`, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Team{}, notFound("team", name)
	}
	if err != nil {
		return store.Team{}, wrap(err)
	}
	return decode[store.Team](doc)
}

// Teams implements store.Store.
func (s *Store) Teams(ctx context.Context) ([]store.Team, error) {
	return list(ctx, s.db, decodeDoc[store.Team], `SELECT doc FROM teams ORDER BY name`)
}

// PutProject implements store.Store.
func (s *Store) PutProject(ctx context.Context, p store.Project) error {
	doc, err := encode(p)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO projects (team, name, doc) VALUES (?, ?, ?)
		ON CONFLICT (team, name) DO NOTHING`, p.Team, p.Name, doc)
	return wrap(err)
}

// Projects implements store.Store.
func (s *Store) Projects(ctx context.Context, team string) ([]store.Project, error) {
	return list(ctx, s.db, decodeDoc[store.Project], `SELECT doc FROM projects WHERE team = ? ORDER BY name`, team)
}

// SaveTest implements store.Store.
func (s *Store) SaveTest(ctx context.Context, t store.Test) (store.Test, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM tests WHERE id = ?`, t.ID).Scan(&latest); err != nil {
			return wrap(err)
		}
		t.Version = int(latest.Int64) + 1
		plan := t.Plan
		t.Plan = nil
		doc, err := encode(t)
		t.Plan = plan
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO tests (id, version, team, project, created, plan, doc) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Version, t.Team, t.Project, t.Created.UnixNano(), rawText(plan), doc)
		return wrap(err)
	})
	return t, err
}

// Test implements store.Store.
func (s *Store) Test(ctx context.Context, id string, version int) (store.Test, error) {
	q, args := `SELECT plan, doc FROM tests WHERE id = ? ORDER BY version DESC LIMIT 1`, []any{id}
	if version > 0 {
		q, args = `SELECT plan, doc FROM tests WHERE id = ? AND version = ?`, []any{id, version}
	}
	tests, err := list(ctx, s.db, decodeTest, q, args...)
	if err != nil {
		return store.Test{}, err
	}
	if len(tests) == 0 {
		return store.Test{}, notFound("test", fmt.Sprintf("%s v%d", id, version))
	}
	return tests[0], nil
}

// Tests implements store.Store. The latest versions are listed newest
// first.
func (s *Store) Tests(ctx context.Context, f store.TestFilter) ([]store.Test, error) {
	q := `SELECT t.plan, t.doc FROM tests t WHERE t.version = (SELECT MAX(version) FROM tests WHERE id = t.id)`
	var args []any
	if f.Team != "" {
		q, args = q+" AND t.team = ?", append(args, f.Team)
	}
	if f.Project != "" {
		q, args = q+" AND t.project = ?", append(args, f.Project)
	}
	q += " ORDER BY t.created DESC, t.id"
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	return list(ctx, s.db, decodeTest, q, args...)
}

// PutReport implements store.Store.
func (s *Store) PutReport(ctx context.Context, runID string, doc json.RawMessage) error {
	if !json.Valid(doc) {
		return fmt.Errorf("sqlite store: the report of run %s is not JSON", runID)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO reports (run_id, doc) VALUES (?, ?)
		ON CONFLICT (run_id) DO UPDATE SET doc = excluded.doc`, runID, string(doc))
	return wrap(err)
}

// Report implements store.Store.
func (s *Store) Report(ctx context.Context, runID string) (json.RawMessage, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM reports WHERE run_id = ?`, runID).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("report of run", runID)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return json.RawMessage(doc), nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// list decodes the rows a query returns.
func list[T any](ctx context.Context, db querier, scan func(*sql.Rows) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer func() { _ = rows.Close() }()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, wrap(rows.Err())
}

// decodeDoc scans a row of one JSON document.
func decodeDoc[T any](rows *sql.Rows) (T, error) {
	var doc string
	if err := rows.Scan(&doc); err != nil {
		var zero T
		return zero, wrap(err)
	}
	return decode[T](doc)
}

// decodeTest scans a row of (plan, doc).
func decodeTest(rows *sql.Rows) (store.Test, error) {
	var plan sql.NullString
	var doc string
	if err := rows.Scan(&plan, &doc); err != nil {
		return store.Test{}, wrap(err)
	}
	t, err := decode[store.Test](doc)
	t.Plan = rawMessage(plan)
	return t, err
}

// rawText is the column value of a JSON document kept as it is.
func rawText(doc json.RawMessage) any {
	if doc == nil {
		return nil
	}
	return string(doc)
}

func rawMessage(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// wrap adds the package to a database error, turning a uniqueness
// violation into store.ErrConflict.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("sqlite store: %w: %w", store.ErrConflict, err)
		}
	}
	return fmt.Errorf("sqlite store: %w", err)
}

func nanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}
