// Package runtime runs one shard inside an executor, whatever the tool: it
// fetches the spec, reports ready with the clock offset, waits for the start
// instant, runs the tool, and ships one snapshot per second through a Sink.
package runtime

import (
	"context"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Tool is a load tool driving one shard: the native injector, or an adapter
// around JMeter, Gatling or k6.
//
// Prepare is called once, before the executor reports ready. Run is called
// once, after Prepare succeeded. Collect is called by the runtime every
// second while Run runs, and once more after Run returned, from a single
// goroutine; it must be safe to call concurrently with Run. A tool that
// holds resources from Prepare on (processes, warm connections) also
// implements io.Closer: the runtime closes it once the shard ends, whether
// Run came or not.
type Tool interface {
	// Name is the tool's name as in the plan ("native", "jmeter", ...).
	Name() string
	// Version is the tool's version, recorded with the run.
	Version() string
	// Prepare readies everything that can be done before the start
	// instant: parsing, feeders, connections, generated scripts.
	Prepare(ctx context.Context, spec *wire.ShardSpec) error
	// Run drives the load from the start instant (executor clock) until
	// the shard's schedule is done and sessions in flight had their
	// gracefulStop. Cancelling ctx is an abort: stop starting sessions,
	// give those in flight gracefulStop, and return.
	Run(ctx context.Context, start time.Time) error
	// Collect returns what was measured since the previous call: request
	// stats, arrivals, and the tool's part of health (connections, active
	// sessions, schedule lag, dropped arrivals). The runtime fills in the
	// run, shard, sequence and the process health.
	Collect() Interval
}

// Interval is a tool's measurements since the previous Collect.
type Interval struct {
	Requests []wire.RequestStats
	Arrivals wire.Arrivals
	Health   wire.Health
}
