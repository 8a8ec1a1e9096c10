package influx

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// Store is a Sink and a Reader over the same InfluxDB: the series store of
// a reporting service configured for InfluxDB.
type Store struct {
	*Sink
	*Reader
}

// Open starts the Sink and prepares the Reader. reg may be nil.
func Open(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	sink, err := New(cfg, logger, reg)
	if err != nil {
		return nil, err
	}
	reader, err := NewReader(cfg)
	if err != nil {
		sink.Close()
		return nil, err
	}
	return &Store{Sink: sink, Reader: reader}, nil
}

// Close closes the Sink (storing what it can, see Sink.Close), then the
// Reader.
func (s *Store) Close() error { return errors.Join(s.Sink.Close(), s.Reader.Close()) }

var (
	_ series.Sink   = (*Store)(nil)
	_ series.Reader = (*Store)(nil)
)
