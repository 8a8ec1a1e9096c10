package session

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/template"
)

// feeder hands one record to each session.
//
// Strategies: circular wraps around (each shard starts at its own offset so
// that the fleet spreads over the file); random draws uniformly; queue hands
// out each record once across the whole fleet (shard i owns records k ≡ i
// mod shards) and then runs dry: a session that finds it exhausted does not
// start and is counted as a dropped arrival.
type feeder struct {
	strategy plan.FeederStrategy
	rows     [][]cell
	next     atomic.Uint64
}

type cell struct {
	slot  int
	value string
}

func loadFeeder(cfg Config, f *plan.Feeder, syms *template.Symbols) (*feeder, error) {
	records, err := plan.ReadFeeder(cfg.Files, f)
	if err != nil {
		return nil, err
	}
	out := &feeder{strategy: f.EffectiveStrategy()}
	shards := max(cfg.Shards, 1)
	for k, rec := range records {
		if out.strategy == plan.FeederQueue && k%shards != cfg.Shard {
			continue
		}
		names := make([]string, 0, len(rec))
		for name := range rec {
			names = append(names, name)
		}
		slices.Sort(names) // slots are interned in a stable order
		row := make([]cell, 0, len(rec))
		for _, name := range names {
			row = append(row, cell{slot: syms.Slot(name), value: rec[name]})
		}
		out.rows = append(out.rows, row)
	}
	if out.strategy == plan.FeederCircular && len(out.rows) > 0 {
		out.next.Store(uint64(cfg.Shard % len(out.rows)))
	}
	return out, nil
}

// take returns the next record; ok is false when a queue is exhausted (or
// this shard's share of it was empty).
func (f *feeder) take(r *rand.Rand) (row []cell, ok bool) {
	n := uint64(len(f.rows))
	if n == 0 {
		return nil, false
	}
	switch f.strategy {
	case plan.FeederRandom:
		return f.rows[r.Uint64N(n)], true
	case plan.FeederQueue:
		i := f.next.Add(1) - 1
		if i >= n {
			return nil, false
		}
		return f.rows[i], true
	}
	return f.rows[(f.next.Add(1)-1)%n], true
}
