// Package mergetest builds executor snapshots for tests of merging and of
// criteria: histograms encoded exactly as executors encode them.
package mergetest

import (
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Hist encodes values (microseconds) in the wire form of executors.
func Hist(tb testing.TB, values ...int64) []byte {
	tb.Helper()
	h := stats.NewHistogram()
	for _, v := range values {
		if err := h.RecordValue(v); err != nil {
			tb.Fatalf("record %d: %v", v, err)
		}
	}
	raw, err := stats.EncodeHistogram(h)
	if err != nil {
		tb.Fatalf("encode histogram: %v", err)
	}
	return raw
}

// Req is one request name's outcomes in a snapshot: the latencies
// (microseconds) of its ok requests and of its failures by reason. Service
// times are half the latencies.
type Req struct {
	Name string
	OK   []int64
	KO   map[string][]int64
}

// Shot describes one snapshot.
type Shot struct {
	RunID    string
	Shard    int
	Attempt  int
	Seq      uint64
	Start    time.Time
	Length   time.Duration // one second when zero
	Final    bool
	Requests []Req
	Arrivals wire.Arrivals
	Health   wire.Health
}

// Snapshot builds the snapshot s describes. Bytes sent and received are 100
// and 1000 per request.
func Snapshot(tb testing.TB, s Shot) wire.Snapshot {
	tb.Helper()
	if s.Length == 0 {
		s.Length = time.Second
	}
	snap := wire.Snapshot{
		RunID: s.RunID, Shard: s.Shard, Attempt: s.Attempt, Seq: s.Seq,
		Start: s.Start, End: s.Start.Add(s.Length), Final: s.Final,
		Requests: []wire.RequestStats{}, Arrivals: s.Arrivals, Health: s.Health,
	}
	for _, r := range s.Requests {
		all := append([]int64(nil), r.OK...)
		rs := wire.RequestStats{Name: r.Name, OK: int64(len(r.OK))}
		for reason, vs := range r.KO {
			if rs.KO == nil {
				rs.KO = map[string]int64{}
			}
			rs.KO[reason] += int64(len(vs))
			all = append(all, vs...)
		}
		service := make([]int64, len(all))
		for i, v := range all {
			service[i] = v / 2
		}
		rs.BytesSent, rs.BytesReceived = 100*int64(len(all)), 1000*int64(len(all))
		rs.Latency, rs.Service = Hist(tb, all...), Hist(tb, service...)
		snap.Requests = append(snap.Requests, rs)
	}
	return snap
}

// Run builds a synthetic run: every one of shards sends one snapshot per
// second for seconds seconds from start, sequence numbers from 1, the last
// one final; fill sets each snapshot's requests, arrivals and health.
func Run(tb testing.TB, runID string, start time.Time, shards, seconds int, fill func(shard, k int, s *Shot)) []wire.Snapshot {
	tb.Helper()
	var out []wire.Snapshot
	for k := range seconds {
		for shard := range shards {
			s := Shot{RunID: runID, Shard: shard, Seq: uint64(k + 1),
				Start: start.Add(time.Duration(k) * time.Second), Final: k == seconds-1}
			if fill != nil {
				fill(shard, k, &s)
			}
			out = append(out, Snapshot(tb, s))
		}
	}
	return out
}
