// Package store is the metadata store's contract: the records the control
// plane keeps (teams, projects, versioned tests, runs with their state
// machine, reports, the notification outbox) and the Store interface that
// the SQLite and MongoDB implementations satisfy. A driver implements one
// compare-and-swap of a run (RunSwapper); the run updates over it, and
// the one retry loop of optimistic writes (RetryRaced), are written here
// once. storetest holds the contract suite both run.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sentinels of the store. Implementations wrap them with %w.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict is an optimistic-concurrency or uniqueness failure: the
	// record changed (or exists) since the caller read it.
	ErrConflict = errors.New("conflict")
	// ErrIllegalTransition is a run state change the state machine refuses.
	ErrIllegalTransition = errors.New("illegal run state transition")
	// ErrLeaseLost is returned when a worker's lease on a run was taken by
	// another worker (or expired and was claimed).
	ErrLeaseLost = errors.New("lease lost")
)

// Team owns projects and tests. Its notification defaults add to each plan's.
type Team struct {
	Name    string    `json:"name" bson:"_id"`
	Slack   []string  `json:"slack,omitempty" bson:"slack,omitempty"`
	Email   []string  `json:"email,omitempty" bson:"email,omitempty"`
	Created time.Time `json:"created" bson:"created"`
}

// Project groups a team's tests.
type Project struct {
	Team    string    `json:"team" bson:"team"`
	Name    string    `json:"name" bson:"name"`
	Created time.Time `json:"created" bson:"created"`
}

// Test is a saved plan. Saving a plan under an existing test's ID adds a
// version; versions are never rewritten.
type Test struct {
	ID      string `json:"id" bson:"testId"`
	Version int    `json:"version" bson:"version"`
	Name    string `json:"name" bson:"name"`
	Team    string `json:"team" bson:"team"`
	Project string `json:"project" bson:"project"`
	// Plan is the plan document exactly as validated.
	Plan    json.RawMessage `json:"plan" bson:"plan"`
	Created time.Time       `json:"created" bson:"created"`
}

// TestFilter selects tests; empty fields match everything. Only the latest
// version of each test is listed.
type TestFilter struct {
	Team, Project string
	Limit         int
}

// Run is one execution of a plan. The worker persists it at every step, so
// a worker that takes over carries on from here.
type Run struct {
	ID          string `json:"id" bson:"_id"`
	TestID      string `json:"testId,omitempty" bson:"testId,omitempty"`
	TestVersion int    `json:"testVersion,omitempty" bson:"testVersion,omitempty"`
	Team        string `json:"team" bson:"team"`
	Project     string `json:"project" bson:"project"`
	State       State  `json:"state" bson:"state"`
	// Plan is the snapshot the run executes, overrides applied.
	Plan      json.RawMessage `json:"plan" bson:"plan"`
	Overrides Overrides       `json:"overrides,omitzero" bson:"overrides,omitempty"`
	// Source is the resolved git source, when the plan has one.
	Source       *Source           `json:"source,omitempty" bson:"source,omitempty"`
	ToolVersions map[string]string `json:"toolVersions,omitempty" bson:"toolVersions,omitempty"`
	Seed         uint64            `json:"seed" bson:"seed"`
	Created      time.Time         `json:"created" bson:"created"`
	// StartAt is the instant every shard starts at, once the barrier passed.
	StartAt *time.Time `json:"startAt,omitempty" bson:"startAt,omitempty"`
	Ended   *time.Time `json:"ended,omitempty" bson:"ended,omitempty"`
	// Reason explains the latest transition (an error, who aborted, ...).
	Reason      string       `json:"reason,omitempty" bson:"reason,omitempty"`
	AbortWanted bool         `json:"abortWanted,omitempty" bson:"abortWanted,omitempty"`
	Transitions []Transition `json:"transitions" bson:"transitions"`
	Shards      []Shard      `json:"shards,omitempty" bson:"shards,omitempty"`
	// Degraded lists the intervals when a shard was lost and restarting.
	Degraded []Interval `json:"degraded,omitempty" bson:"degraded,omitempty"`
	// Lease is held by the worker driving the run.
	Lease *Lease `json:"lease,omitempty" bson:"lease,omitempty"`
	// Version increments on every write; UpdateRun and Transition compare
	// it (optimistic concurrency).
	Version int64 `json:"version" bson:"version"`
}

// Overrides adapt a saved plan to an environment at start time.
type Overrides struct {
	BaseURL        string  `json:"baseUrl,omitempty" bson:"baseUrl,omitempty"`
	RateMultiplier float64 `json:"rateMultiplier,omitempty" bson:"rateMultiplier,omitempty"`
	// Duration caps the run (the plan's maxDuration), as a Go duration
	// string ("90s", "5m").
	Duration string `json:"duration,omitempty" bson:"duration,omitempty"`
}

// Source is a plan's git source as resolved for a run.
type Source struct {
	URL    string `json:"url" bson:"url"`
	Ref    string `json:"ref,omitempty" bson:"ref,omitempty"`
	Path   string `json:"path,omitempty" bson:"path,omitempty"`
	Commit string `json:"commit" bson:"commit"`
}

// Transition is one stored state change.
type Transition struct {
	From   State     `json:"from" bson:"from"`
	To     State     `json:"to" bson:"to"`
	At     time.Time `json:"at" bson:"at"`
	Reason string    `json:"reason,omitempty" bson:"reason,omitempty"`
}

// Shard is one executor's part of a run, as the worker tracks it.
type Shard struct {
	Index    int    `json:"index" bson:"index"`
	Location string `json:"location" bson:"location"`
	Backend  string `json:"backend" bson:"backend"`
	// Attempt counts starts; an attempt's executor has its own token.
	Attempt int `json:"attempt" bson:"attempt"`
	// Token authenticates the current attempt's executor; PastTokens those
	// of earlier attempts (still flushing). The metadata API never shows
	// them (see metadata.Redact).
	Token       string        `json:"token,omitempty" bson:"token"`
	PastTokens  []string      `json:"pastTokens,omitempty" bson:"pastTokens,omitempty"`
	Ready       bool          `json:"ready" bson:"ready"`
	ClockOffset time.Duration `json:"clockOffsetNs" bson:"clockOffsetNs"`
	// ResumeAt is the run offset a restarted shard takes arrivals from.
	ResumeAt    time.Duration `json:"resumeAtNs,omitempty" bson:"resumeAtNs,omitempty"`
	Restarts    []Interval    `json:"restarts,omitempty" bson:"restarts,omitempty"`
	LastSeen    *time.Time    `json:"lastSeen,omitempty" bson:"lastSeen,omitempty"`
	Done        bool          `json:"done" bson:"done"`
	Tool        string        `json:"tool,omitempty" bson:"tool,omitempty"`
	ToolVersion string        `json:"toolVersion,omitempty" bson:"toolVersion,omitempty"`
	// Exits say how each attempt's executor ended, and what the worker
	// collected from its spool.
	Exits []Exit `json:"exits,omitempty" bson:"exits,omitempty"`
}

// Exit is how one attempt's executor ended.
type Exit struct {
	Attempt int       `json:"attempt" bson:"attempt"`
	At      time.Time `json:"at" bson:"at"`
	// Code is the exit code, -1 when unknown (it ended unwatched), and
	// Detail the backend's words (or "missing" for a vanished executor).
	Code   int    `json:"code" bson:"code"`
	Detail string `json:"detail,omitempty" bson:"detail,omitempty"`
	// Collected counts the undelivered snapshots read from its spool and
	// merged; CollectError says why that failed, if it did.
	Collected    int    `json:"collected,omitempty" bson:"collected,omitempty"`
	CollectError string `json:"collectError,omitempty" bson:"collectError,omitempty"`
}

// ExitOf returns the recorded exit of an attempt.
func (s Shard) ExitOf(attempt int) (Exit, bool) {
	for _, e := range s.Exits {
		if e.Attempt == attempt {
			return e, true
		}
	}
	return Exit{}, false
}

// Interval is a span of wall-clock time; End is nil while it lasts.
type Interval struct {
	Start  time.Time  `json:"start" bson:"start"`
	End    *time.Time `json:"end,omitempty" bson:"end,omitempty"`
	Reason string     `json:"reason,omitempty" bson:"reason,omitempty"`
}

// Lease is a worker's claim on a run, valid until Until.
type Lease struct {
	Worker string    `json:"worker" bson:"worker"`
	Until  time.Time `json:"until" bson:"until"`
}

// RunFilter selects runs; zero fields match everything. Runs are listed
// newest first.
type RunFilter struct {
	Team, Project string
	States        []State
	// Since and Until bound the creation time (Until exclusive).
	Since, Until time.Time
	Limit        int
}

// Notification is an outbox entry: one message to one channel, sent
// exactly once by the dispatcher.
type Notification struct {
	ID      string `json:"id" bson:"_id"`
	RunID   string `json:"runId" bson:"runId"`
	Channel string `json:"channel" bson:"channel"` // "slack" or "email"
	// To is the Slack channel or the email address.
	To       string     `json:"to" bson:"to"`
	Attempts int        `json:"attempts" bson:"attempts"`
	NextAt   time.Time  `json:"nextAt" bson:"nextAt"`
	LastErr  string     `json:"lastError,omitempty" bson:"lastError,omitempty"`
	Sent     *time.Time `json:"sent,omitempty" bson:"sent,omitempty"`
	// Claimed marks an entry a dispatcher is sending until ClaimedUntil;
	// after that another dispatcher may take it.
	ClaimedUntil *time.Time `json:"claimedUntil,omitempty" bson:"claimedUntil,omitempty"`
}

// Store keeps the control plane's records. Implementations are safe for
// concurrent use by many goroutines and processes sharing one database.
type Store interface {
	// PutTeam creates or replaces a team.
	PutTeam(ctx context.Context, t Team) error
	// Team returns a team, ErrNotFound if none.
	Team(ctx context.Context, name string) (Team, error)
	Teams(ctx context.Context) ([]Team, error)
	// PutProject creates a project; an existing one is left unchanged.
	PutProject(ctx context.Context, p Project) error
	Projects(ctx context.Context, team string) ([]Project, error)

	// SaveTest stores a new version of a test: t.Version is ignored and
	// the stored version (1 for a new ID) is returned.
	SaveTest(ctx context.Context, t Test) (Test, error)
	// Test returns a version of a test; version 0 is the latest.
	Test(ctx context.Context, id string, version int) (Test, error)
	Tests(ctx context.Context, f TestFilter) ([]Test, error)

	// CreateRun stores a new run; ErrConflict if its ID exists.
	CreateRun(ctx context.Context, r Run) error
	Run(ctx context.Context, id string) (Run, error)
	Runs(ctx context.Context, f RunFilter) ([]Run, error)
	// UpdateRun replaces a run whose stored Version equals r.Version and
	// returns it with the new Version; ErrConflict otherwise. It never
	// changes State, Transitions or Lease (see Transition and the lease
	// methods).
	UpdateRun(ctx context.Context, r Run) (Run, error)
	// Transition moves a run from its current state to `to`, recording the
	// time and reason, atomically. ErrIllegalTransition if the state
	// machine refuses it (the stored run is unchanged).
	Transition(ctx context.Context, id string, to State, reason string, at time.Time) (Run, error)
	// RequestAbort marks a run for abortion (its worker acts on it).
	RequestAbort(ctx context.Context, id, reason string) (Run, error)

	// ClaimRun gives worker a lease of ttl on one run that needs a worker:
	// a non-terminal run without a lease or whose lease has expired,
	// oldest first. ErrNotFound when there is none.
	ClaimRun(ctx context.Context, worker string, ttl time.Duration, now time.Time) (Run, error)
	// RenewLease extends worker's lease; ErrLeaseLost if another holds it
	// or it expired and was claimed.
	RenewLease(ctx context.Context, id, worker string, ttl time.Duration, now time.Time) error
	// ReleaseLease drops worker's lease (a no-op if it does not hold it).
	ReleaseLease(ctx context.Context, id, worker string) error

	// PutReport stores (or replaces) a run's report document.
	PutReport(ctx context.Context, runID string, doc json.RawMessage) error
	Report(ctx context.Context, runID string) (json.RawMessage, error)

	// PutSnapshots keeps executors' snapshots of a run until its report
	// is written, so that a restarted reporting service can merge them
	// again. A (run, shard, attempt, seq) already there is left unchanged.
	PutSnapshots(ctx context.Context, runID string, snaps ...Snapshot) error
	// Snapshots returns a run's kept snapshots by shard, attempt, then
	// sequence.
	Snapshots(ctx context.Context, runID string) ([]Snapshot, error)
	// DeleteSnapshots drops a run's kept snapshots.
	DeleteSnapshots(ctx context.Context, runID string) error

	// Enqueue adds notifications to the outbox; an ID already there is
	// left unchanged (enqueueing is idempotent).
	Enqueue(ctx context.Context, n ...Notification) error
	// ClaimNotifications claims up to limit unsent entries due at now for
	// claimFor, so that concurrent dispatchers never send one twice.
	ClaimNotifications(ctx context.Context, now time.Time, claimFor time.Duration, limit int) ([]Notification, error)
	// MarkSent records a sent notification.
	MarkSent(ctx context.Context, id string, at time.Time) error
	// Retry records a failed attempt and when to try again.
	Retry(ctx context.Context, id string, err string, next time.Time) error
	Notifications(ctx context.Context, runID string) ([]Notification, error)

	Close() error
}

// Snapshot is one executor snapshot as the reporting ingest received it,
// kept as its JSON bytes.
type Snapshot struct {
	Shard, Attempt int
	Seq            uint64
	Doc            json.RawMessage
}

// CheckSnapshots refuses a batch with a snapshot that is not JSON, before
// a store keeps any of it.
func CheckSnapshots(runID string, snaps []Snapshot) error {
	for _, snap := range snaps {
		if !json.Valid(snap.Doc) {
			return fmt.Errorf("snapshot %d of shard %d (attempt %d) of run %s is not JSON", snap.Seq, snap.Shard, snap.Attempt, runID)
		}
	}
	return nil
}
