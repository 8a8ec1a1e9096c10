// Package embedded is the default series store: a SQLite file in the data
// directory, apart from the metadata database so that a run's per-second
// writes never contend with the control plane's transactions. It is both
// the sink the merge writes to and the reader the UI, the CLI and the
// report read from.
package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/loadfleet/loadfleet/services/internal/private"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("embedded series store: closed")

// schemaVersion is stored in PRAGMA user_version so that a later layout can
// migrate files written by this one.
const schemaVersion = 1

// Times are stored as Unix seconds: points are per second, and whole
// seconds make a rewritten point replace the old one (the same primary key),
// as InfluxDB does for the same series and timestamp.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS points (
		run_id TEXT NOT NULL,
		t INTEGER NOT NULL,
		request TEXT NOT NULL,
		count INTEGER NOT NULL, ok INTEGER NOT NULL, ko INTEGER NOT NULL,
		ko_by_reason TEXT NOT NULL,
		rps REAL NOT NULL,
		p50_ms REAL NOT NULL, p90_ms REAL NOT NULL, p95_ms REAL NOT NULL, p99_ms REAL NOT NULL,
		max_ms REAL NOT NULL, mean_ms REAL NOT NULL,
		active_users INTEGER NOT NULL,
		planned INTEGER NOT NULL, started INTEGER NOT NULL, dropped INTEGER NOT NULL,
		bytes_sent INTEGER NOT NULL, bytes_received INTEGER NOT NULL,
		PRIMARY KEY (run_id, t, request)
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS executor_points (
		run_id TEXT NOT NULL,
		t INTEGER NOT NULL,
		shard INTEGER NOT NULL,
		location TEXT NOT NULL,
		cpu_percent REAL NOT NULL, rss_bytes INTEGER NOT NULL, goroutines INTEGER NOT NULL,
		open_connections INTEGER NOT NULL, active_sessions INTEGER NOT NULL,
		schedule_lag_p99_ms REAL NOT NULL, dropped_arrivals INTEGER NOT NULL,
		PRIMARY KEY (run_id, t, shard)
	) WITHOUT ROWID`,
}

// Store is a series.Sink and series.Reader over one SQLite file. Write is
// synchronous (a batch is stored, in one transaction, when Write returns),
// so Flush has nothing to wait for. Rewriting a point of the same run,
// second and request (or shard) replaces it, so replays are harmless. Safe
// for concurrent use.
type Store struct {
	db     *sql.DB
	logger *slog.Logger
}

// New opens (creating it and its directory when missing) the store at
// path, e.g. DATA_DIR/series.db.
func New(path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), private.DirMode); err != nil {
		return nil, fmt.Errorf("embedded series store: %w", err)
	}
	// The series name the plan's requests: its owner's only (0600), as
	// are the -wal and -shm SQLite creates with the file's mode.
	if err := private.SQLite(path); err != nil {
		return nil, fmt.Errorf("embedded series store: %w", err)
	}
	// WAL lets readers (the live view) run while a batch is written;
	// immediate transactions take the write lock up front, so two writers
	// wait on busy_timeout instead of failing with SQLITE_BUSY mid-way.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("embedded series store: open %s: %w", path, err)
	}
	s := &Store{db: db, logger: logger}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded series store: %s: %w", path, err)
	}
	logger.Debug("series store open", "path", path, "schema", schemaVersion)
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this binary's %d", version, schemaVersion)
	}
	if version == 0 {
		// A development build briefly stored points as JSON documents,
		// without a version; its tables would make every insert fail.
		var n int
		if err := s.db.QueryRowContext(ctx,
			`SELECT count(*) FROM pragma_table_info('points') WHERE name = 'doc'`).Scan(&n); err != nil {
			return fmt.Errorf("inspect schema: %w", err)
		}
		if n > 0 {
			return errors.New("the file has a pre-release layout (points as JSON documents): delete it")
		}
	}
	for _, stmt := range schema {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// Write stores the batch in one transaction: all of it or, with an error,
// none of it.
func (s *Store) Write(ctx context.Context, b series.Batch) error {
	if len(b.Points) == 0 && len(b.Executors) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("begin write", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := insertPoints(ctx, tx, b.Points); err != nil {
		return s.wrap("write points", err)
	}
	if err := insertExecutorPoints(ctx, tx, b.Executors); err != nil {
		return s.wrap("write executor points", err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("commit write", err)
	}
	return nil
}

func insertPoints(ctx context.Context, tx *sql.Tx, points []series.Point) error {
	if len(points) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO points (
		run_id, t, request, count, ok, ko, ko_by_reason, rps,
		p50_ms, p90_ms, p95_ms, p99_ms, max_ms, mean_ms,
		active_users, planned, started, dropped, bytes_sent, bytes_received
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, p := range points {
		reasons, err := json.Marshal(p.KOByReason)
		if err != nil {
			return fmt.Errorf("encode ko reasons: %w", err)
		}
		if _, err := stmt.ExecContext(ctx,
			p.RunID, p.Time.Unix(), p.Request, p.Count, p.OK, p.KO, string(reasons), finite(p.RPS),
			finite(p.P50Ms), finite(p.P90Ms), finite(p.P95Ms), finite(p.P99Ms), finite(p.MaxMs), finite(p.MeanMs),
			p.ActiveUsers, p.PlannedArrivals, p.StartedArrivals, p.Dropped, p.BytesSent, p.BytesReceived,
		); err != nil {
			return fmt.Errorf("run %s request %q at %s: %w", p.RunID, p.Request, p.Time.UTC().Format(time.RFC3339), err)
		}
	}
	return nil
}

func insertExecutorPoints(ctx context.Context, tx *sql.Tx, points []series.ExecutorPoint) error {
	if len(points) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO executor_points (
		run_id, t, shard, location, cpu_percent, rss_bytes, goroutines,
		open_connections, active_sessions, schedule_lag_p99_ms, dropped_arrivals
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range points {
		if _, err := stmt.ExecContext(ctx,
			e.RunID, e.Time.Unix(), e.Shard, e.Location, finite(e.CPUPercent), e.RSSBytes, e.Goroutines,
			e.OpenConnections, e.ActiveSessions, finite(e.ScheduleLagP99Ms), e.DroppedArrivals,
		); err != nil {
			return fmt.Errorf("run %s shard %d at %s: %w", e.RunID, e.Shard, e.Time.UTC().Format(time.RFC3339), err)
		}
	}
	return nil
}

// finite maps NaN and infinities (an empty histogram's mean, say) to 0:
// SQLite would store NaN as NULL and fail the NOT NULL constraint.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Flush returns at once: Write stores synchronously.
func (s *Store) Flush(ctx context.Context) error { return ctx.Err() }

// Close closes the file. Calls after Close fail with ErrClosed.
func (s *Store) Close() error { return s.db.Close() }

// Points returns the run's points in [q.From, q.To) (a zero bound is open),
// of q.Requests (every request name plus series.AllRequests when empty),
// ordered by time then request name. No point is an empty, non-nil slice.
func (s *Store) Points(ctx context.Context, q series.Query) ([]series.Point, error) {
	where, args := window(q)
	if len(q.Requests) > 0 {
		where += " AND request IN (?" + strings.Repeat(", ?", len(q.Requests)-1) + ")"
		for _, r := range q.Requests {
			args = append(args, r)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT
		t, request, count, ok, ko, ko_by_reason, rps,
		p50_ms, p90_ms, p95_ms, p99_ms, max_ms, mean_ms,
		active_users, planned, started, dropped, bytes_sent, bytes_received
		FROM points WHERE `+where+` ORDER BY t, request`, args...)
	if err != nil {
		return nil, s.wrap("query points", err)
	}
	defer rows.Close()
	out := []series.Point{}
	for rows.Next() {
		p := series.Point{RunID: q.RunID}
		var t int64
		var reasons string
		if err := rows.Scan(&t, &p.Request, &p.Count, &p.OK, &p.KO, &reasons, &p.RPS,
			&p.P50Ms, &p.P90Ms, &p.P95Ms, &p.P99Ms, &p.MaxMs, &p.MeanMs,
			&p.ActiveUsers, &p.PlannedArrivals, &p.StartedArrivals, &p.Dropped, &p.BytesSent, &p.BytesReceived,
		); err != nil {
			return nil, s.wrap("read points", err)
		}
		p.Time = time.Unix(t, 0).UTC()
		if err := json.Unmarshal([]byte(reasons), &p.KOByReason); err != nil {
			return nil, s.wrap("read ko reasons", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("read points", err)
	}
	return out, nil
}

// ExecutorPoints returns the run's executor health in [q.From, q.To),
// ordered by time then shard. q.Requests does not apply.
func (s *Store) ExecutorPoints(ctx context.Context, q series.Query) ([]series.ExecutorPoint, error) {
	where, args := window(q)
	rows, err := s.db.QueryContext(ctx, `SELECT
		t, shard, location, cpu_percent, rss_bytes, goroutines,
		open_connections, active_sessions, schedule_lag_p99_ms, dropped_arrivals
		FROM executor_points WHERE `+where+` ORDER BY t, shard`, args...)
	if err != nil {
		return nil, s.wrap("query executor points", err)
	}
	defer rows.Close()
	out := []series.ExecutorPoint{}
	for rows.Next() {
		e := series.ExecutorPoint{RunID: q.RunID}
		var t int64
		if err := rows.Scan(&t, &e.Shard, &e.Location, &e.CPUPercent, &e.RSSBytes, &e.Goroutines,
			&e.OpenConnections, &e.ActiveSessions, &e.ScheduleLagP99Ms, &e.DroppedArrivals,
		); err != nil {
			return nil, s.wrap("read executor points", err)
		}
		e.Time = time.Unix(t, 0).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("read executor points", err)
	}
	return out, nil
}

// window is the WHERE clause of a query's run and half-open time range:
// the points whose second starts in [From, To). Points start on whole
// seconds, so a fractional From selects from the next second, and a
// fractional To keeps the second it falls into.
func window(q series.Query) (string, []any) {
	where, args := "run_id = ?", []any{q.RunID}
	if !q.From.IsZero() {
		from := q.From.Unix()
		if q.From.Nanosecond() > 0 {
			from++
		}
		where += " AND t >= ?"
		args = append(args, from)
	}
	if !q.To.IsZero() {
		to := q.To.Unix()
		if q.To.Nanosecond() > 0 {
			to++
		}
		where += " AND t < ?"
		args = append(args, to)
	}
	return where, args
}

func (s *Store) wrap(op string, err error) error {
	// database/sql's "database is closed" has no exported sentinel.
	if strings.Contains(err.Error(), "database is closed") {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return fmt.Errorf("embedded series store: %s: %w", op, err)
}

var (
	_ series.Sink   = (*Store)(nil)
	_ series.Reader = (*Store)(nil)
)
