package completeness

import (
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
)

// whole is a shard attempt that delivered snapshots 1..n, the last final.
func whole(shard, attempt int, n uint64) merge.Coverage {
	return merge.Coverage{Shard: shard, Attempt: attempt, Received: n, Contiguous: n, MaxSeq: n, FinalSeq: n, LastSecond: int64(n) - 1}
}

func TestJudge(t *testing.T) {
	two := []Shard{{Index: 0}, {Index: 1}}
	for _, tc := range []struct {
		why      string
		in       Input
		complete bool
		mention  []string // each must appear in the problems (or notes)
	}{
		{why: "every shard whole, every arrival accounted for",
			in:       Input{Shards: two, Coverage: []merge.Coverage{whole(0, 0, 20), whole(1, 0, 20)}, Planned: 400, Started: 398, Dropped: 2},
			complete: true},
		{why: "the issue's repro: executors gave up with 17 snapshots in their spools, 61 of 400 arrivals arrived",
			in: Input{Shards: two, Planned: 400, Started: 61, Coverage: []merge.Coverage{
				{Shard: 0, Received: 3, Contiguous: 3, MaxSeq: 3, LastSecond: 2},
				{Shard: 1, Received: 3, Contiguous: 3, MaxSeq: 3, LastSecond: 2}}},
			mention: []string{"shard 0 (attempt 0): its final snapshot never arrived; nothing after snapshot 3 (from second 3", "61 of 400", "339 (84.75%) missing"}},
		{why: "a shard that sent nothing at all",
			in:      Input{Shards: two, Coverage: []merge.Coverage{whole(0, 0, 20)}},
			mention: []string{"shard 1 (attempt 0): no snapshot arrived"}},
		{why: "a hole in the sequence names its numbers and seconds",
			in: Input{Shards: []Shard{{Index: 0}}, Coverage: []merge.Coverage{{Shard: 0, Received: 18, Contiguous: 4, MaxSeq: 20, FinalSeq: 20,
				Gaps: []merge.SeqGap{{From: 5, To: 6, AfterSecond: 3, BeforeSecond: 6}}}}},
			mention: []string{"snapshots #5-#6 never arrived (seconds 4 to 5 of the run)"}},
		{why: "a restart within the tolerance: the lost attempt's tail is expected, the arrivals it missed are a note",
			in: Input{Shards: []Shard{{Index: 0, Attempt: 1, Exit: &Exit{Attempt: 1}}}, Planned: 2000, Started: 1975,
				Coverage: []merge.Coverage{{Shard: 0, Attempt: 0, Received: 4, Contiguous: 4, MaxSeq: 4, LastSecond: 3}, whole(0, 1, 16)}},
			complete: true, mention: []string{"25 (1.25%) missing, within the 2.00% tolerated"}},
		{why: "a hole in a replaced attempt's sequence is lost data too",
			in: Input{Shards: []Shard{{Index: 0, Attempt: 1}}, Coverage: []merge.Coverage{
				{Shard: 0, Attempt: 0, Received: 3, Contiguous: 1, MaxSeq: 4, Gaps: []merge.SeqGap{{From: 2, To: 2, AfterSecond: 0, BeforeSecond: 2}}},
				whole(0, 1, 16)}},
			mention: []string{"shard 0 (attempt 0): snapshots #2 never arrived"}},
		{why: "the dead-man switch stopped the load early",
			in: Input{Shards: []Shard{{Index: 0, Exit: &Exit{Code: wire.ExitControlLost}}}, Coverage: []merge.Coverage{
				{Shard: 0, Received: 9, Contiguous: 9, MaxSeq: 9, FinalSeq: 9, LastSecond: 8, StopReason: wire.StopDeadMan}}},
			mention: []string{"dead-man switch stopped the load from second 9 of the run on"}},
		{why: "a replaced attempt that its dead-man switch stopped is marked, the arrivals it missed decide",
			in: Input{Shards: []Shard{{Index: 0, Attempt: 1}}, Planned: 600, Started: 400, Coverage: []merge.Coverage{
				{Shard: 0, Received: 9, Contiguous: 9, MaxSeq: 9, FinalSeq: 9, LastSecond: 8, StopReason: wire.StopDeadMan}, whole(0, 1, 12)}},
			mention: []string{"shard 0 (attempt 0): its dead-man switch stopped the load from second 9 of the run on, until attempt 1 replaced it",
				"200 (33.33%) missing, more than the 2.00% tolerated"}},
		{why: "an executor that failed (tool error) cannot vouch for its data",
			in:      Input{Shards: []Shard{{Index: 0, Exit: &Exit{Code: 1, Detail: "exit status 1"}}}, Coverage: []merge.Coverage{whole(0, 0, 5)}},
			mention: []string{"exited with code 1"}},
		{why: "undelivered snapshots that were collected, and an exit nobody saw, leave the data to speak",
			in: Input{Shards: []Shard{{Index: 0, Exit: &Exit{Code: wire.ExitUndelivered}}, {Index: 1, Exit: &Exit{Code: -1}}},
				Coverage: []merge.Coverage{whole(0, 0, 5), whole(1, 0, 5)}},
			complete: true},
		{why: "a spool that could not be read",
			in: Input{Shards: []Shard{{Index: 0, Exit: &Exit{Code: wire.ExitUndelivered, CollectError: "permission denied"}}},
				Coverage: []merge.Coverage{whole(0, 0, 5)}},
			mention: []string{"could not be collected: permission denied"}},
		{why: "a closed model has no planned arrivals: only the sequences count",
			in: Input{Shards: two, Coverage: []merge.Coverage{whole(0, 0, 5), whole(1, 0, 5)}}, complete: true},
	} {
		r := Judge(tc.in)
		if r.Complete != tc.complete {
			t.Errorf("%s: complete = %v, want %v (problems %q)", tc.why, r.Complete, tc.complete, r.Problems)
		}
		all := strings.Join(append(append([]string{}, r.Problems...), r.Notes...), "\n")
		for _, m := range tc.mention {
			if !strings.Contains(all, m) {
				t.Errorf("%s: %q not in\n%s", tc.why, m, all)
			}
		}
		if r.Complete != (Summary(r) == "") {
			t.Errorf("%s: summary %q for complete=%v", tc.why, Summary(r), r.Complete)
		}
	}
}
