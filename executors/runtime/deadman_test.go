package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/executors/runtime/runtimetest"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// The control plane goes silent mid-run: after the grace, the shard stops
// starting arrivals, finishes those in flight, says why on its final
// snapshot and keeps everything it measured.
func TestDeadManSwitchStopsTheLoadAfterTheGrace(t *testing.T) {
	const grace, graceful = 400 * time.Millisecond, 200 * time.Millisecond
	spec := wire.ShardSpec{RunID: "r-dead", Shards: 1, Token: "tok", ControlGrace: grace}
	control := runtimetest.NewControl(t, spec, 0)
	spec.ControlURL = control.URL
	control.Start(time.Now())
	tool := &runtimetest.Tool{Duration: time.Minute, GracefulStop: graceful}
	sink := &collectSink{}
	r := newRunner(t, runtime.Config{Interval: 100 * time.Millisecond, PollInterval: 20 * time.Millisecond}, tool, sink)
	silentFrom := time.Now().Add(300 * time.Millisecond)
	time.AfterFunc(time.Until(silentFrom), func() { control.FailNext(1 << 30) })
	res, err := r.Run(context.Background(), &spec)
	stoppedAfter := time.Since(silentFrom)
	if !errors.Is(err, runtime.ErrControlLost) || !errors.Is(err, runtime.ErrAborted) || !res.ControlLost {
		t.Fatalf("Run = %+v, %v; want stopped by the dead-man switch", res, err)
	}
	if stoppedAfter < grace || stoppedAfter > grace+graceful+time.Second {
		t.Errorf("stopped %v after the control plane went silent; want the grace (%v) plus the graceful stop", stoppedAfter, grace)
	}
	if !tool.Cancelled() {
		t.Error("the tool was not stopped")
	}
	checkSequence(t, sink.snaps, 1)
	last := sink.snaps[len(sink.snaps)-1]
	if last.StopReason != wire.StopDeadMan {
		t.Errorf("final snapshot's stop reason %q, want %q", last.StopReason, wire.StopDeadMan)
	}
	for _, s := range sink.snaps[:len(sink.snaps)-1] {
		if s.StopReason != "" {
			t.Errorf("seq %d carries a stop reason before the end", s.Seq)
		}
	}
	if started, _ := sumStarted(sink.snaps); started != tool.Sessions() {
		t.Errorf("snapshots carry %d sessions, the tool made %d: the measured data was not kept", started, tool.Sessions())
	}
}

// Outages shorter than the grace do not stop a run; a negative grace turns
// the switch off.
func TestDeadManSwitchToleratesShortOutagesAndCanBeTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		grace   time.Duration
		outages int // failed polls, 20 ms apart
	}{
		{"an outage shorter than the grace", 2 * time.Second, 10},
		{"switched off, a silence longer than the run", -1, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := wire.ShardSpec{RunID: "r-alive", Shards: 1, Token: "tok", ControlGrace: tc.grace}
			control := runtimetest.NewControl(t, spec, 0)
			spec.ControlURL = control.URL
			control.Start(time.Now())
			tool := &runtimetest.Tool{Duration: 600 * time.Millisecond}
			sink := &collectSink{}
			r := newRunner(t, runtime.Config{Interval: 100 * time.Millisecond, PollInterval: 20 * time.Millisecond}, tool, sink)
			time.AfterFunc(100*time.Millisecond, func() { control.FailNext(tc.outages) })
			res, err := r.Run(context.Background(), &spec)
			if err != nil || res.Aborted || res.ControlLost {
				t.Fatalf("Run = %+v, %v; want the whole schedule", res, err)
			}
			if last := sink.snaps[len(sink.snaps)-1]; last.StopReason != "" {
				t.Errorf("stop reason %q on a run that ran its schedule", last.StopReason)
			}
		})
	}
}
