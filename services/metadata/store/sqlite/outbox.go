package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// Enqueue implements store.Store.
func (s *Store) Enqueue(ctx context.Context, ns ...store.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, n := range ns {
			doc, err := encode(n)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, run_id, next_at, sent, claimed_until, doc)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
				n.ID, n.RunID, n.NextAt.UnixNano(), nanos(n.Sent), nanos(n.ClaimedUntil), doc); err != nil {
				return wrap(err)
			}
		}
		return nil
	})
}

// ClaimNotifications implements store.Store. Entries are claimed in the
// order they fall due; a claim is expired from its end on.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, claimFor time.Duration, limit int) ([]store.Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Notification
	err := s.tx(ctx, func(tx *sql.Tx) error {
		due, err := list(ctx, tx, decodeDoc[store.Notification], `SELECT doc FROM outbox WHERE sent IS NULL AND next_at <= ?
			AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY next_at, id LIMIT ?`,
			now.UnixNano(), now.UnixNano(), limit)
		if err != nil {
			return err
		}
		until := now.Add(claimFor)
		for _, n := range due {
			n.ClaimedUntil = &until
			if err := putNotification(ctx, tx, n); err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	return out, err
}

// outboxWrites are MarkSent and Retry, written once in package store
// over changeNotification.
func (s *Store) outboxWrites() store.OutboxWrites {
	return store.OutboxWrites{Change: s.changeNotification}
}

// MarkSent implements store.Store.
func (s *Store) MarkSent(ctx context.Context, id string, at time.Time) error {
	return s.outboxWrites().MarkSent(ctx, id, at)
}

// Retry implements store.Store. It ends the entry's claim.
func (s *Store) Retry(ctx context.Context, id string, cause string, next time.Time) error {
	return s.outboxWrites().Retry(ctx, id, cause, next)
}

// Notifications implements store.Store. They are listed by ID.
func (s *Store) Notifications(ctx context.Context, runID string) ([]store.Notification, error) {
	return list(ctx, s.db, decodeDoc[store.Notification], `SELECT doc FROM outbox WHERE run_id = ? ORDER BY id`, runID)
}

// changeNotification is the store.ChangeNotification of SQLite: the entry
// is read, changed and written in one write transaction.
func (s *Store) changeNotification(ctx context.Context, id string, change func(*store.Notification)) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		found, err := list(ctx, tx, decodeDoc[store.Notification], `SELECT doc FROM outbox WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return notFound("notification", id)
		}
		n := found[0]
		change(&n)
		return putNotification(ctx, tx, n)
	})
}

func putNotification(ctx context.Context, tx *sql.Tx, n store.Notification) error {
	doc, err := encode(n)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE outbox SET next_at = ?, sent = ?, claimed_until = ?, doc = ? WHERE id = ?`,
		n.NextAt.UnixNano(), nanos(n.Sent), nanos(n.ClaimedUntil), doc, n.ID)
	if err != nil {
		return wrap(err)
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return fmt.Errorf("notification %s: %w", n.ID, store.ErrNotFound)
	}
	return nil
}

var _ store.Store = (*Store)(nil)
