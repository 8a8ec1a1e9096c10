package store

import (
	"fmt"
	"slices"
	"time"
)

// State is a run's place in its life.
type State string

// The states of a run.
const (
	Queued     State = "queued"
	Scheduling State = "scheduling"
	Starting   State = "starting"
	Running    State = "running"
	Stopping   State = "stopping"
	Reporting  State = "reporting"
	Passed     State = "passed"
	Failed     State = "failed"
	Aborted    State = "aborted"
	Errored    State = "errored"
)

// States lists every state in life order.
var States = []State{Queued, Scheduling, Starting, Running, Stopping, Reporting, Passed, Failed, Aborted, Errored}

// next is the state machine: the states each state may move to. Any live
// state may error or stop (an abort goes through stopping so executors are
// stopped and what they measured is reported); reporting decides the
// verdict.
var next = map[State][]State{
	Queued:     {Scheduling, Aborted, Errored},
	Scheduling: {Starting, Stopping, Errored},
	Starting:   {Running, Stopping, Errored},
	Running:    {Stopping, Errored},
	Stopping:   {Reporting, Aborted, Errored},
	Reporting:  {Passed, Failed, Aborted, Errored},
}

// CanMove says whether a run may go from one state to another.
func CanMove(from, to State) bool { return slices.Contains(next[from], to) }

// Terminal says whether a state ends a run.
func (s State) Terminal() bool {
	return s == Passed || s == Failed || s == Aborted || s == Errored
}

// Valid says whether s is a known state.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Apply moves r to state to, as the state machine allows, recording the
// transition with its time and reason. The stores call it inside their
// atomic update, so both judge transitions alike.
func Apply(r *Run, to State, reason string, at time.Time) error {
	if !CanMove(r.State, to) {
		return fmt.Errorf("run %s: %s -> %s: %w", r.ID, r.State, to, ErrIllegalTransition)
	}
	r.Transitions = append(r.Transitions, Transition{From: r.State, To: to, At: at, Reason: reason})
	r.State = to
	if reason != "" {
		r.Reason = reason
	}
	if to.Terminal() {
		// An ended run needs no driver: its lease goes in the same write,
		// so nobody sees an ended run that a worker still holds.
		r.Ended, r.Lease = &at, nil
	}
	return nil
}
