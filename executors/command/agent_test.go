package command

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime/runtimetest"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// An agent started with only a control URL and a token fetches its spec,
// reports ready, starts at the published instant and delivers every
// snapshot to the ingest.
func TestAgentRunsItsShardForTheControlPlane(t *testing.T) {
	target, served := countingTarget(t, 0)
	p, err := plan.Parse([]byte(openPlanJSON(target.URL,
		`{"open": [{"atOnceUsers": {"users": 6}}, {"constantUsersPerSec": {"rate": 10, "during": "1s"}}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	// Shard 1 of 2 takes the odd arrivals.
	open := schedule.NewOpen(schedule.ExpandOpen(p.Load), 0, 7)
	want := schedule.Share(open.Total(), 1, 2)
	const token = "shard-1-token"
	ingest := runtimetest.NewIngest(t, token)
	control := runtimetest.NewControl(t, wire.ShardSpec{RunID: "run-a", Shard: 1, Shards: 2, Seed: 7, Plan: *p, Token: token}, 0)
	go func() {
		for control.Ready() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		control.Start(control.Now().Add(200 * time.Millisecond))
	}()
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), []string{"agent", "--control", control.URL, "--token", token,
		"--ingest", ingest.URL(), "--spool", t.TempDir(), "--log-level", "warn"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	stored := ingest.Stored("run-a", 1, 0)
	var started int64
	for i, s := range stored {
		if s.Seq != uint64(i+1) {
			t.Fatalf("stored seqs have a gap at %d", i+1)
		}
		started += s.Arrivals.Started
	}
	if len(stored) == 0 || !stored[len(stored)-1].Final {
		t.Fatal("no final snapshot stored")
	}
	if started != want || served.Load() != want {
		t.Errorf("started %d, served %d; shard 1 of 2 should run %d of the %d arrivals", started, served.Load(), want, open.Total())
	}
}

// An agent given its spec in $LOADFLEET_SHARD_SPEC (how the docker backend
// starts containers) runs it without a control plane: it starts at once and
// writes every snapshot to --out.
func TestAgentReadsItsSpecFromTheEnvironment(t *testing.T) {
	target, served := countingTarget(t, 0)
	p, err := plan.Parse([]byte(openPlanJSON(target.URL, `{"open": [{"constantUsersPerSec": {"rate": 10, "during": "1s"}}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(wire.ShardSpec{RunID: "run-env", Shard: 0, Shards: 1, Seed: 1, Plan: *p})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(wire.ShardSpecEnv, string(spec))
	out := filepath.Join(t.TempDir(), "results.jsonl")
	var stdout, stderr bytes.Buffer
	if code := Execute(context.Background(), []string{"agent", "--out", out, "--log-level", "warn"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var started int64
	for _, s := range readSnapshots(t, out) {
		if s.RunID != "run-env" {
			t.Fatalf("snapshot of run %q, want the spec's run-env", s.RunID)
		}
		started += s.Arrivals.Started
	}
	if started != 10 || served.Load() != 10 {
		t.Errorf("started %d, served %d; the spec plans 10 arrivals", started, served.Load())
	}
}

// A spec source on the command line wins over the environment.
func TestAgentSpecFlagWinsOverTheEnvironment(t *testing.T) {
	t.Setenv(wire.ShardSpecEnv, `not json`)
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), []string{"agent", "--spec", filepath.Join(t.TempDir(), "none.json")}, &stdout, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "read spec") {
		t.Errorf("exit %d, stderr %q: want the missing --spec file reported, not the environment's spec", code, stderr.String())
	}
}
