// Package wire holds the messages between executors and the control plane:
// the shard spec an executor runs, its readiness and start instant, and the
// per-second snapshots it reports. They are described in openapi.yaml.
// The names both sides must spell alike (the paths, the spec's environment
// variable, ShardID, the exit codes) are declared here too, once.
package wire

import (
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// ShardSpec is everything an executor needs to run its shard of a run.
type ShardSpec struct {
	RunID string `json:"runId"`
	// Shard is this executor's index, 0 <= Shard < Shards. It takes the
	// run's arrivals n ≡ Shard (mod Shards), and its share of closed users.
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
	// Seed drives randomized (Poisson) steps; the same for every shard.
	Seed uint64    `json:"seed"`
	Plan plan.Plan `json:"plan"`
	// Dir is where relative files of the plan (feeders, scripts) are read
	// from: the checked-out git source, or the plan file's directory.
	Dir string `json:"dir,omitempty"`
	// StartAt, when set, is the run's start instant, in the control plane's
	// clock. Otherwise the executor waits for it from the control API.
	StartAt *time.Time `json:"startAt,omitempty"`
	// ResumeAt, for an executor restarted mid-run, is the run offset from
	// which it takes its arrivals again: earlier ones are not replayed.
	ResumeAt time.Duration `json:"resumeAtNs,omitempty"`
	// Attempt counts restarts of this shard (0 for the first start).
	Attempt int `json:"attempt,omitempty"`
	// Token authenticates the executor to ControlURL and IngestURL.
	Token      string `json:"token,omitempty"`
	ControlURL string `json:"controlUrl,omitempty"`
	IngestURL  string `json:"ingestUrl,omitempty"`
	Location   string `json:"location,omitempty"`
	// ControlGrace is the executor's dead-man switch: once it has heard
	// nothing from ControlURL for this long, it stops starting arrivals,
	// finishes those in flight, keeps what it measured and exits, rather
	// than load a target with nobody able to stop it. Zero means
	// DefaultControlGrace; negative turns the switch off.
	ControlGrace time.Duration `json:"controlGraceNs,omitempty"`
}

// DefaultControlGrace is the dead-man switch's grace when a spec sets none.
const DefaultControlGrace = time.Minute

// StopDeadMan is Snapshot.StopReason of a shard its dead-man switch stopped.
const StopDeadMan = "deadman"

// Ready is what an executor posts once it can start.
type Ready struct {
	RunID string `json:"runId"`
	Shard int    `json:"shard"`
	// ClockOffset is the control plane's clock minus the executor's, as
	// estimated by the executor (midpoint of a request round trip).
	ClockOffset time.Duration `json:"clockOffsetNs"`
	Tool        string        `json:"tool"`
	ToolVersion string        `json:"toolVersion"`
}

// Command is the control plane's answer to an executor polling for its
// start instant or for an abort.
type Command struct {
	// StartAt is set once every shard is ready (control plane clock).
	StartAt *time.Time `json:"startAt,omitempty"`
	// Abort asks the executor to stop now, flushing what it measured.
	Abort bool `json:"abort,omitempty"`
	// ServerTime is the control plane's clock when it answered, for
	// estimating the clock offset.
	ServerTime time.Time `json:"serverTime"`
}

// Snapshot is one executor's measurements over one interval (one second,
// except the last). Sequence numbers start at 1 and have no gaps: ingest is
// idempotent by (RunID, Shard, Attempt, Seq).
type Snapshot struct {
	RunID   string    `json:"runId"`
	Shard   int       `json:"shard"`
	Attempt int       `json:"attempt,omitempty"`
	Seq     uint64    `json:"seq"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Final marks the last snapshot of the shard.
	Final bool `json:"final,omitempty"`
	// StopReason, on a final snapshot, says why the shard stopped before
	// its schedule ended on its own initiative (StopDeadMan); empty when it
	// ran its schedule or the control plane stopped it.
	StopReason string         `json:"stopReason,omitempty"`
	Requests   []RequestStats `json:"requests"`
	Arrivals   Arrivals       `json:"arrivals"`
	Health     Health         `json:"health"`
}

// RequestStats is one request name's measurements over the interval.
type RequestStats struct {
	Name string `json:"name"`
	OK   int64  `json:"ok"`
	// KO counts failures by reason: "status_4xx", "status_5xx", "timeout",
	// "connection_refused", "connection_reset", "check_failed", "error".
	KO            map[string]int64 `json:"ko,omitempty"`
	BytesSent     int64            `json:"bytesSent"`
	BytesReceived int64            `json:"bytesReceived"`
	// Latency is measured from the intended start of the request (free of
	// coordinated omission); Service from the actual send to the last byte.
	// Both are HdrHistogram V2 compressed encodings of microseconds
	// (1 µs to 1 h, 3 significant digits).
	Latency []byte `json:"latency"`
	Service []byte `json:"service"`
}

// Arrivals counts sessions over the interval.
type Arrivals struct {
	// Planned is the number of arrivals due in the interval by schedule.
	Planned int64 `json:"planned"`
	Started int64 `json:"started"`
	// Dropped arrivals could not start (maxConcurrentSessions reached, or
	// a restart skipped them); they are never silently delayed.
	Dropped int64 `json:"dropped"`
	// Interrupted sessions were cancelled at the end of gracefulStop.
	Interrupted int64 `json:"interrupted"`
	Completed   int64 `json:"completed"`
}

// Health is the executor's state at the end of the interval.
type Health struct {
	CPUPercent      float64 `json:"cpuPercent"`
	RSSBytes        int64   `json:"rssBytes"`
	Goroutines      int     `json:"goroutines"`
	OpenConnections int64   `json:"openConnections"`
	ActiveSessions  int64   `json:"activeSessions"`
	// ScheduleLagP99Ms is the p99 of how late arrivals started versus
	// their intended instant, over the interval.
	ScheduleLagP99Ms float64 `json:"scheduleLagP99Ms"`
	// ScheduleLag is every lag of the interval in microseconds, as an
	// HdrHistogram (V2 compressed, like request latencies), so that a
	// run's lag percentiles are exact merges, not the worst of per-second
	// ones. Absent for tools without a schedule of their own.
	ScheduleLag     []byte `json:"scheduleLag,omitempty"`
	DroppedArrivals int64  `json:"droppedArrivals"`
}

// Ack is the ingest's answer: the sequence numbers it has stored (including
// duplicates it had already stored).
type Ack struct {
	Acked []uint64 `json:"acked"`
}

// Exit codes of an executor that the control plane tells apart (1 is any
// other error, 2 a usage error).
const (
	// ExitUndelivered: the shard ran, but snapshots were still in its spool
	// when it gave up delivering them. They are kept on disk for the
	// platform to collect.
	ExitUndelivered = 4
	// ExitControlLost: the dead-man switch stopped the shard (see
	// ShardSpec.ControlGrace); what it measured is kept as above.
	ExitControlLost = 5
)
