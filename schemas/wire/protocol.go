package wire

// This file holds the names both sides of the executor protocol must spell
// alike: the control plane serves these paths and sets this variable, the
// executor runtime calls and reads them. Declaring them once here, rather
// than once per side, keeps a rename from breaking only the other side.

// Paths of the executor API, relative to ShardSpec.ControlURL. The bearer
// token identifies the shard and its attempt, so the paths carry neither.
const (
	// SpecPath (GET) answers the executor's ShardSpec.
	SpecPath = "/v1/executor/spec"
	// ReadyPath (POST) takes the executor's Ready.
	ReadyPath = "/v1/executor/ready"
	// CommandPath (GET) answers a Command: the start instant or an abort.
	CommandPath = "/v1/executor/command"
)

// IngestPath (POST) is the reporting ingest, relative to
// ShardSpec.IngestURL: a gzip JSON array of Snapshots, answered by an Ack.
const IngestPath = "/v1/ingest/snapshots"

// ShardSpecEnv is the environment variable an executor agent reads its
// ShardSpec (JSON) from when it is given neither a spec file nor a control
// URL: how a container backend hands an executor its spec without a file
// to mount.
const ShardSpecEnv = "LOADFLEET_SHARD_SPEC"

// ShardID names one attempt of one shard of one run, as a shard token, a
// snapshot (RunID, Shard, Attempt) and an executor's spool do. Each attempt
// is its own executor (a restarted shard gets a new attempt), so
// operations on an ID never touch another attempt's executor.
type ShardID struct {
	RunID   string `json:"runId"`
	Shard   int    `json:"shard"`
	Attempt int    `json:"attempt"`
}
