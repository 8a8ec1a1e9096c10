package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// terminal is the SQL list of the states that end a run.
var terminal = func() string {
	var quoted []string
	for _, st := range store.States {
		if st.Terminal() {
			quoted = append(quoted, "'"+string(st)+"'")
		}
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}()

// CreateRun implements store.Store. The stored run has version 1.
func (s *Store) CreateRun(ctx context.Context, r store.Run) error {
	r.Version = 1
	return s.tx(ctx, func(tx *sql.Tx) error {
		return putRun(ctx, tx, r, `INSERT INTO runs (team, project, state, created, lease_until, version, plan, doc, id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	})
}

// putRun writes a run with an INSERT or UPDATE whose parameters are the
// run's columns, its ID last.
func putRun(ctx context.Context, tx *sql.Tx, r store.Run, q string) error {
	plan := r.Plan
	r.Plan = nil
	doc, err := encode(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, q, r.Team, r.Project, string(r.State), r.Created.UnixNano(), leaseUntil(r),
		r.Version, rawText(plan), doc, r.ID)
	return wrap(err)
}

func leaseUntil(r store.Run) any {
	if r.Lease == nil {
		return nil
	}
	return r.Lease.Until.UnixNano()
}

// Run implements store.Store.
func (s *Store) Run(ctx context.Context, id string) (store.Run, error) {
	return getRun(ctx, s.db, id)
}

func getRun(ctx context.Context, db querier, id string) (store.Run, error) {
	runs, err := list(ctx, db, decodeRun, `SELECT plan, doc FROM runs WHERE id = ?`, id)
	if err != nil {
		return store.Run{}, err
	}
	if len(runs) == 0 {
		return store.Run{}, notFound("run", id)
	}
	return runs[0], nil
}

func decodeRun(rows *sql.Rows) (store.Run, error) {
	var plan sql.NullString
	var doc string
	if err := rows.Scan(&plan, &doc); err != nil {
		return store.Run{}, wrap(err)
	}
	r, err := decode[store.Run](doc)
	r.Plan = rawMessage(plan)
	if r.Transitions == nil {
		r.Transitions = []store.Transition{}
	}
	return r, err
}

// Runs implements store.Store.
func (s *Store) Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	var where []string
	var args []any
	if f.Team != "" {
		where, args = append(where, "team = ?"), append(args, f.Team)
	}
	if f.Project != "" {
		where, args = append(where, "project = ?"), append(args, f.Project)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created < ?"), append(args, f.Until.UnixNano())
	}
	q := `SELECT plan, doc FROM runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created DESC, id DESC"
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	return list(ctx, s.db, decodeRun, q, args...)
}

// SwapRun implements store.RunSwapper: the stored run's version is
// compared and r written in one write transaction.
func (s *Store) SwapRun(ctx context.Context, r store.Run) (store.Run, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		stored, err := getRun(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if stored.Version != r.Version {
			return fmt.Errorf("run %s is no longer at version %d: %w", r.ID, r.Version, store.ErrRaced)
		}
		r.Version++
		return putRun(ctx, tx, r, `UPDATE runs SET team = ?, project = ?, state = ?, created = ?, lease_until = ?,
			version = ?, plan = ?, doc = ? WHERE id = ?`)
	})
	if err != nil {
		return store.Run{}, err
	}
	return r, nil
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

// ClaimRun implements store.Store. A lease is expired from its Until on.
func (s *Store) ClaimRun(ctx context.Context, worker string, ttl time.Duration, now time.Time) (store.Run, error) {
	var out store.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE state NOT IN `+terminal+`
			AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created, id LIMIT 1`, now.UnixNano()).Scan(&id)
		if err == sql.ErrNoRows {
			return fmt.Errorf("no run to claim: %w", store.ErrNotFound)
		}
		if err != nil {
			return wrap(err)
		}
		r, err := getRun(ctx, tx, id)
		if err != nil {
			return err
		}
		r.Lease = &store.Lease{Worker: worker, Until: now.Add(ttl)}
		r.Version++
		out = r
		return putRun(ctx, tx, r, `UPDATE runs SET team = ?, project = ?, state = ?, created = ?, lease_until = ?,
			version = ?, plan = ?, doc = ? WHERE id = ?`)
	})
	return out, err
}

// RenewLease implements store.Store.
func (s *Store) RenewLease(ctx context.Context, id, worker string, ttl time.Duration, now time.Time) error {
	return s.writes().RenewLease(ctx, id, worker, ttl, now)
}

// ReleaseLease implements store.Store.
func (s *Store) ReleaseLease(ctx context.Context, id, worker string) error {
	return s.writes().ReleaseLease(ctx, id, worker)
}
