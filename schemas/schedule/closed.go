package schedule

import (
	"fmt"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// ClosedStep is one expanded closed-model step: concurrency changes linearly
// from From to To users over Duration (From = To for a constant level).
type ClosedStep struct {
	Kind     string        `json:"kind"`
	Source   string        `json:"source"`
	Start    time.Duration `json:"-"`
	Duration time.Duration `json:"-"`
	From     int           `json:"fromUsers"`
	To       int           `json:"toUsers"`
}

// usersAt is the step's whole-run concurrency at local offset t. A ramp
// moves one user at a time, at evenly spaced instants, and reaches To only
// when the step ends.
func (s ClosedStep) usersAt(t time.Duration) int {
	if s.Duration <= 0 || s.From == s.To {
		return s.From
	}
	delta := int64(s.To - s.From)
	moved := delta * int64(t) / int64(s.Duration) // truncates toward zero
	return s.From + int(moved)
}

// ExpandClosed turns the closed steps of a load into elementary steps laid
// end to end from offset zero.
func ExpandClosed(l plan.Load) []ClosedStep {
	var steps []ClosedStep
	var at time.Duration
	add := func(kind, src string, from, to int, d plan.Duration) {
		steps = append(steps, ClosedStep{kind, src, at, d.D(), from, to})
		at += d.D()
	}
	for i, s := range l.Closed {
		src := fmt.Sprintf("/load/closed/%d", i)
		switch {
		case s.ConstantConcurrentUsers != nil:
			c := s.ConstantConcurrentUsers
			add("constantConcurrentUsers", src, c.Users, c.Users, c.During)
		case s.RampConcurrentUsers != nil:
			r := s.RampConcurrentUsers
			add("rampConcurrentUsers", src, r.From, r.To, r.During)
		case s.IncrementConcurrentUsers != nil:
			c := s.IncrementConcurrentUsers
			for k := 0; k < c.Times; k++ {
				level := c.StartingFrom + k*c.Increment
				if k > 0 && c.SeparatedByRampsLasting > 0 {
					add("rampConcurrentUsers", src, level-c.Increment, level, c.SeparatedByRampsLasting)
				}
				add("constantConcurrentUsers", src, level, level, c.EachLevelLasting)
			}
		}
	}
	return steps
}

// Closed is the closed-model schedule of a whole run.
type Closed struct {
	steps    []ClosedStep
	duration time.Duration
}

// NewClosed builds the schedule; a positive maxDuration cuts it.
func NewClosed(steps []ClosedStep, maxDuration time.Duration) *Closed {
	c := &Closed{steps: steps}
	for _, s := range steps {
		c.duration = s.Start + s.Duration
	}
	if maxDuration > 0 && maxDuration < c.duration {
		c.duration = maxDuration
	}
	return c
}

// Steps returns the expanded steps.
func (c *Closed) Steps() []ClosedStep { return c.steps }

// Duration is the run's planned length.
func (c *Closed) Duration() time.Duration { return c.duration }

// UsersAt is the whole run's target concurrency at offset t; zero after the end.
func (c *Closed) UsersAt(t time.Duration) int {
	if t < 0 || t >= c.duration {
		return 0
	}
	for _, s := range c.steps {
		if t < s.Start+s.Duration {
			return s.usersAt(t - s.Start)
		}
	}
	return 0
}

// Peak is the highest concurrency of the run.
func (c *Closed) Peak() int {
	peak := 0
	for _, s := range c.steps {
		if s.Start >= c.duration {
			break
		}
		peak = max(peak, s.From, s.usersAt(min(s.Duration, c.duration-s.Start)))
	}
	return peak
}

// Level is a shard's target concurrency from At on.
type Level struct {
	At    time.Duration
	Users int
}

// ShardTimeline lists the instants at which shard i of n changes its
// concurrency, ending with zero users at the end of the run. The run's
// users u are split u/n each with the remainder going to the lowest shards,
// so the shards' users add up to the run's at every instant.
func (c *Closed) ShardTimeline(i, n int) []Level {
	var out []Level
	emit := func(at time.Duration, users int) {
		u := int(Share(int64(users), i, n))
		if len(out) == 0 || out[len(out)-1].Users != u {
			out = append(out, Level{at, u})
		}
	}
	for _, s := range c.steps {
		if s.Start >= c.duration {
			break
		}
		emit(s.Start, s.From)
		delta := s.To - s.From
		if delta < 0 {
			delta = -delta
		}
		// The whole-run count moves by one at j·d/|delta|, j = 1..|delta|-1
		// (the last move is the next step's start).
		for j := 1; j < delta; j++ {
			at := s.Start + time.Duration(int64(s.Duration)*int64(j)/int64(delta))
			if at >= c.duration {
				break
			}
			emit(at, s.usersAt(at-s.Start))
		}
	}
	emit(c.duration, 0)
	return out
}
