// Package job is the job service: it starts, watches and stops executors at
// the locations a server is configured with, each location being a backend
// (local processes, a Docker host, ...) with its settings. jobclient is its
// HTTP client.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

// ErrUnknownLocation names a location the server does not have.
var ErrUnknownLocation = errors.New("unknown location")

// API is the job service, in process (*Service) or over HTTP (jobclient).
// Every operation is idempotent by shard ID, like the backends under it.
type API interface {
	// Locations lists the configured locations, the default first.
	Locations(ctx context.Context) ([]LocationInfo, error)
	// Start starts the executor of id with spec; a spec the service
	// refuses (ErrInvalidSpec, a *SpecError) starts nothing.
	Start(ctx context.Context, location string, id wire.ShardID, spec wire.ShardSpec) error
	Status(ctx context.Context, location string, id wire.ShardID) (backend.Status, error)
	List(ctx context.Context, location, runID string) ([]backend.Status, error)
	Stop(ctx context.Context, location string, id wire.ShardID) error
	Logs(ctx context.Context, location string, id wire.ShardID) (io.ReadCloser, error)
	Remove(ctx context.Context, location string, id wire.ShardID) error
	// Spooled returns the snapshots an exited executor left undelivered
	// (backend.Spooler); none where the backend cannot read them.
	Spooled(ctx context.Context, location string, id wire.ShardID) ([]json.RawMessage, error)
}

// LocationInfo names a location and the kind of backend it uses.
type LocationInfo struct {
	Name    string `json:"name"`
	Backend string `json:"backend"`
}

// Location is a named place executors run, through one backend.
type Location struct {
	Name    string
	Backend backend.Backend
}

// Service routes each request to its location's backend, once the spec of
// an executor to start passed the rules.
type Service struct {
	locations []Location // the first is the default
	specs     *specChecker
	logger    *slog.Logger
	started   *prometheus.CounterVec
}

// New returns the job service over locations; the first is the default
// (used for an empty location name, and by plans that name none). Every
// spec given to Start must satisfy rules.
func New(locations []Location, rules SpecRules, logger *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if len(locations) == 0 {
		return nil, errors.New("job: no location configured")
	}
	started := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "loadfleet_job_executors_started_total", Help: "Executors started, by location and backend.",
	}, []string{"location", "backend"})
	if reg != nil {
		reg.MustRegister(started)
	}
	return &Service{locations: locations, specs: newSpecChecker(rules), logger: logger, started: started}, nil
}

// Locations implements API.
func (s *Service) Locations(context.Context) ([]LocationInfo, error) {
	infos := make([]LocationInfo, len(s.locations))
	for i, l := range s.locations {
		infos[i] = LocationInfo{Name: l.Name, Backend: l.Backend.Name()}
	}
	return infos, nil
}

func (s *Service) names() string {
	names := make([]string, len(s.locations))
	for i, l := range s.locations {
		names[i] = l.Name
	}
	return strings.Join(names, ", ")
}

func (s *Service) backend(location string) (backend.Backend, error) {
	if location == "" {
		return s.locations[0].Backend, nil
	}
	i := slices.IndexFunc(s.locations, func(l Location) bool { return l.Name == location })
	if i < 0 {
		return nil, fmt.Errorf("%w %q (locations: %s)", ErrUnknownLocation, location, s.names())
	}
	return s.locations[i].Backend, nil
}

// Start implements API. A spec that breaks the rules starts nothing: the
// error is a *SpecError listing every problem.
func (s *Service) Start(ctx context.Context, location string, id wire.ShardID, spec wire.ShardSpec) error {
	b, err := s.backend(location)
	if err != nil {
		return err
	}
	if err := s.specs.check(ctx, id, spec); err != nil {
		s.logger.Warn("shard spec refused", "run", id.RunID, "shard", id.Shard, "attempt", id.Attempt, "err", err)
		return err
	}
	if err := b.Start(ctx, id, spec); err != nil {
		return fmt.Errorf("start shard %d of run %s at %s: %w", id.Shard, id.RunID, location, err)
	}
	s.started.WithLabelValues(location, b.Name()).Inc()
	s.logger.Info("executor started", "run", id.RunID, "shard", id.Shard, "attempt", id.Attempt,
		"location", location, "backend", b.Name())
	return nil
}

// Status implements API.
func (s *Service) Status(ctx context.Context, location string, id wire.ShardID) (backend.Status, error) {
	b, err := s.backend(location)
	if err != nil {
		return backend.Status{}, err
	}
	return b.Status(ctx, id)
}

// List implements API.
func (s *Service) List(ctx context.Context, location, runID string) ([]backend.Status, error) {
	b, err := s.backend(location)
	if err != nil {
		return nil, err
	}
	return b.List(ctx, runID)
}

// Stop implements API.
func (s *Service) Stop(ctx context.Context, location string, id wire.ShardID) error {
	b, err := s.backend(location)
	if err != nil {
		return err
	}
	return b.Stop(ctx, id)
}

// Logs implements API.
func (s *Service) Logs(ctx context.Context, location string, id wire.ShardID) (io.ReadCloser, error) {
	b, err := s.backend(location)
	if err != nil {
		return nil, err
	}
	return b.Logs(ctx, id)
}

// Remove implements API.
func (s *Service) Remove(ctx context.Context, location string, id wire.ShardID) error {
	b, err := s.backend(location)
	if err != nil {
		return err
	}
	return b.Remove(ctx, id)
}

// Spooled implements API.
func (s *Service) Spooled(ctx context.Context, location string, id wire.ShardID) ([]json.RawMessage, error) {
	b, err := s.backend(location)
	if err != nil {
		return nil, err
	}
	sp, ok := b.(backend.Spooler)
	if !ok {
		return nil, nil
	}
	return sp.Spooled(ctx, id)
}

// BackendName is the kind of backend a location uses ("" if unknown).
func (s *Service) BackendName(location string) string {
	b, err := s.backend(location)
	if err != nil {
		return ""
	}
	return b.Name()
}

var _ API = (*Service)(nil)
