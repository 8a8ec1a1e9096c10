// Package backend is the job service's contract with the places executors
// run: local child processes, Docker hosts, Kubernetes clusters, agents.
package backend

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Sentinels of backends. Implementations wrap them with %w.
var (
	ErrNotFound = errors.New("executor not found")
	// ErrUnavailable is a backend that cannot be reached (dockerd down).
	ErrUnavailable = errors.New("backend unavailable")
)

// Phase is where an executor is in its life.
type Phase string

// Executor phases.
const (
	Pending Phase = "pending" // accepted, not yet running (pulling, creating)
	Running Phase = "running"
	// Exited is an executor that ended by itself; ExitCode says how.
	Exited Phase = "exited"
	// Missing is an executor the backend does not know (never started, or
	// removed).
	Missing Phase = "missing"
)

// Status is an executor's state as the backend sees it.
type Status struct {
	ID       wire.ShardID `json:"id"`
	Phase    Phase        `json:"phase"`
	ExitCode int          `json:"exitCode,omitempty"`
	// Detail is the backend's own words (container state, signal, ...).
	Detail string `json:"detail,omitempty"`
}

// Backend starts and stops executors. Every operation is idempotent by
// wire.ShardID: starting an ID that already runs (or ran) returns nil without a
// second executor, and stopping or removing a missing one is not an error.
// This is what lets a worker that took over a run re-drive it safely.
// Implementations are safe for concurrent use.
type Backend interface {
	// Name is the backend's kind ("local", "docker", ...).
	Name() string
	// Start starts the executor for spec's shard attempt. The executor
	// fetches nothing else: spec carries the control and ingest URLs and
	// the token.
	Start(ctx context.Context, id wire.ShardID, spec wire.ShardSpec) error
	// Status reports one executor; Missing when the backend has none.
	Status(ctx context.Context, id wire.ShardID) (Status, error)
	// List reports every executor of a run this backend knows, found again
	// after a restart of the job service (by label, by process table, ...).
	List(ctx context.Context, runID string) ([]Status, error)
	// Stop asks the executor to stop cleanly (SIGTERM: it flushes what it
	// measured), and kills it after grace.
	Stop(ctx context.Context, id wire.ShardID) error
	// Logs returns the executor's output so far (stdout and stderr).
	Logs(ctx context.Context, id wire.ShardID) (io.ReadCloser, error)
	// Remove deletes what the executor left (container, log files) once it
	// has exited; the run's end calls it for every shard.
	Remove(ctx context.Context, id wire.ShardID) error
}

// Spooler is a backend that can read what an executor left in its spool:
// the snapshots it measured but did not deliver before it exited (the
// ingest was down longer than its flush window, or its dead-man switch
// stopped it). The worker hands them to reporting, so that a control-plane
// outage loses nothing an executor kept. Backends that cannot read their
// executors' disks do not implement it.
type Spooler interface {
	// Spooled returns the undelivered snapshots (JSON documents, oldest
	// first) of an executor that exited; none when it left nothing.
	Spooled(ctx context.Context, id wire.ShardID) ([]json.RawMessage, error)
}
