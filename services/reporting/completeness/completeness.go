// Package completeness decides whether a run's merged data is whole enough
// to judge it: a verdict computed from 15% of a run's measurements is worse
// than none, because it gates deployments. It is a pure function of what
// the platform knows about each shard (its attempts, how their executors
// exited) and what the merge received (sequence coverage, arrivals).
package completeness

import (
	"fmt"
	"strings"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// DefaultTolerance is the share of planned arrivals that may be missing
// from the data (neither started nor dropped by any executor) in a run
// still judged on its criteria: what a restarted executor typically loses
// between its death and its replacement (about a second of one shard's
// arrivals). Past it the run errors.
const DefaultTolerance = 0.02

// Exit is how one attempt's executor ended, as the worker recorded it.
type Exit struct {
	Attempt int
	// Code is the executor's exit code; -1 when nobody saw it.
	Code   int
	Detail string
	// CollectError says why its spool could not be read, if it could not.
	CollectError string
}

// Shard is what the platform knows of one shard.
type Shard struct {
	Index int
	// Attempt is the shard's current (last) attempt.
	Attempt int
	// Exit is how that attempt's executor ended; nil if it did not (or is
	// not known to have).
	Exit *Exit
}

// Input is everything the rule looks at.
type Input struct {
	Shards   []Shard
	Coverage []merge.Coverage
	// Planned is the arrivals the schedule made due (0 for a closed
	// model); Started and Dropped those the executors accounted for.
	// Interrupted sessions are among the started ones.
	Planned, Started, Dropped int64
	// Tolerance is the share of Planned that may be missing
	// (DefaultTolerance when zero).
	Tolerance float64
}

// Result is the judgement, as the report carries it.
type Result = report.Completeness

// Judge applies the rule: every shard's current attempt delivered its whole
// sequence through its final snapshot, no attempt has holes in what it
// sent, no current attempt ended in error or by its dead-man switch, and
// the arrivals accounted for fall short of the plan by at most the
// tolerance.
func Judge(in Input) Result {
	tol := in.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	r := Result{Tolerance: tol}
	current := map[int]int{}
	for _, sh := range in.Shards {
		current[sh.Index] = sh.Attempt
	}
	byKey := map[[2]int]merge.Coverage{}
	for _, c := range in.Coverage {
		byKey[[2]int{c.Shard, c.Attempt}] = c
		if c.StopReason == wire.StopDeadMan && c.Attempt < current[c.Shard] {
			r.Notes = append(r.Notes, fmt.Sprintf("shard %d (attempt %d): its dead-man switch stopped the load %s, until attempt %d replaced it",
				c.Shard, c.Attempt, secondsAfter(c.LastSecond), c.Attempt+1))
		}
		for _, g := range c.Gaps {
			r.Problems = append(r.Problems, fmt.Sprintf("shard %d (attempt %d): snapshots %s never arrived (%s)",
				c.Shard, c.Attempt, seqRange(g.From, g.To), secondsBetween(g.AfterSecond, g.BeforeSecond)))
		}
	}
	for _, sh := range in.Shards {
		c, ok := byKey[[2]int{sh.Index, sh.Attempt}]
		name := fmt.Sprintf("shard %d (attempt %d)", sh.Index, sh.Attempt)
		switch {
		case !ok:
			r.Problems = append(r.Problems, name+": no snapshot arrived")
		case c.FinalSeq == 0:
			r.Problems = append(r.Problems, fmt.Sprintf("%s: its final snapshot never arrived; nothing after snapshot %d (%s)",
				name, c.Contiguous, secondsAfter(c.LastSecond)))
		case c.StopReason == wire.StopDeadMan:
			r.Problems = append(r.Problems, fmt.Sprintf("%s: its dead-man switch stopped the load %s: the control plane was unreachable",
				name, secondsAfter(c.LastSecond)))
		}
		if e := sh.Exit; e != nil && e.Attempt == sh.Attempt {
			if e.CollectError != "" {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: what its executor left undelivered could not be collected: %s", name, e.CollectError))
			}
			if !acceptedExit(e.Code) {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: its executor exited with code %d (%s)", name, e.Code, e.Detail))
			}
		}
	}
	if in.Planned > 0 {
		r.MissingArrivals = max(0, in.Planned-in.Started-in.Dropped)
		msg := fmt.Sprintf("arrivals: %d of %d planned accounted for (%d started, %d dropped); %d (%.2f%%) missing",
			in.Started+in.Dropped, in.Planned, in.Started, in.Dropped, r.MissingArrivals,
			100*float64(r.MissingArrivals)/float64(in.Planned))
		switch {
		case float64(r.MissingArrivals) > tol*float64(in.Planned):
			r.Problems = append(r.Problems, fmt.Sprintf("%s, more than the %.2f%% tolerated", msg, 100*tol))
		case r.MissingArrivals > 0:
			r.Notes = append(r.Notes, fmt.Sprintf("%s, within the %.2f%% tolerated", msg, 100*tol))
		}
	}
	r.Complete = len(r.Problems) == 0
	return r
}

// acceptedExit says whether an exit code leaves the data to speak for
// itself: a clean exit, snapshots left for collection (collected or named
// above), or a code nobody saw (the data shows whether it finished).
func acceptedExit(code int) bool {
	return code == 0 || code == wire.ExitUndelivered || code == -1 || code == wire.ExitControlLost
}

// Summary is the problems (and notes) in one line, for a verdict reason.
func Summary(r Result) string {
	if r.Complete {
		return ""
	}
	s := "incomplete data, no verdict on the criteria: " + strings.Join(r.Problems, "; ")
	if len(r.Notes) > 0 {
		s += "; also: " + strings.Join(r.Notes, "; ")
	}
	return s
}

func seqRange(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("#%d", from)
	}
	return fmt.Sprintf("#%d-#%d", from, to)
}

// secondsBetween names the run seconds a gap lies in, from the seconds of
// the snapshots around it (-1: none).
func secondsBetween(after, before int64) string {
	switch {
	case after < 0 && before < 0:
		return "seconds unknown"
	case after < 0:
		return fmt.Sprintf("before second %d of the run", before)
	case before < 0:
		return secondsAfter(after)
	}
	return fmt.Sprintf("seconds %d to %d of the run", after+1, before-1)
}

func secondsAfter(k int64) string {
	if k < 0 {
		return "from the start of the run"
	}
	return fmt.Sprintf("from second %d of the run on", k+1)
}
