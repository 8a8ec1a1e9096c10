package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// PutSnapshots implements store.Store: the batch is kept whole or not at
// all.
func (s *Store) PutSnapshots(ctx context.Context, runID string, snaps ...store.Snapshot) error {
	if err := store.CheckSnapshots(runID, snaps); err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO snapshots (run_id, shard, attempt, seq, doc)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, shard, attempt, seq) DO NOTHING`)
		if err != nil {
			return wrap(err)
		}
		defer stmt.Close()
		for _, snap := range snaps {
			// Sequence numbers are kept as the int64 with the same bits.
			if _, err := stmt.ExecContext(ctx, runID, snap.Shard, snap.Attempt, int64(snap.Seq), string(snap.Doc)); err != nil {
				return wrap(err)
			}
		}
		return nil
	})
}

// Snapshots implements store.Store.
func (s *Store) Snapshots(ctx context.Context, runID string) ([]store.Snapshot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT shard, attempt, seq, doc FROM snapshots WHERE run_id = ?
		ORDER BY shard, attempt, seq`, runID)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []store.Snapshot{}
	for rows.Next() {
		var snap store.Snapshot
		var seq int64
		var doc string
		if err := rows.Scan(&snap.Shard, &snap.Attempt, &seq, &doc); err != nil {
			return nil, wrap(err)
		}
		snap.Seq, snap.Doc = uint64(seq), json.RawMessage(doc)
		out = append(out, snap)
	}
	return out, wrap(rows.Err())
}

// DeleteSnapshots implements store.Store.
func (s *Store) DeleteSnapshots(ctx context.Context, runID string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM snapshots WHERE run_id = ?`, runID)
	return wrap(err)
}
