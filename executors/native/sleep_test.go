package native

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Both sleepers wake no earlier than asked and return at once when their
// context ends mid-wait.
func TestSleepersWakeAtTheirInstantOrWhenCancelled(t *testing.T) {
	sleepers := map[string]func(context.Context) sleeper{
		"default": newSleeper,
		"timer":   func(ctx context.Context) sleeper { return newTimerSleeper(ctx) },
	}
	for name, newOne := range sleepers {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			s := newOne(ctx)
			defer s.close()
			for _, d := range []time.Duration{-time.Millisecond, 0, 50 * time.Microsecond, 3 * time.Millisecond} {
				at := time.Now().Add(d)
				if err := s.sleepUntil(at); err != nil {
					t.Fatalf("sleep %v: %v", d, err)
				}
				if early := time.Until(at); early > 0 {
					t.Fatalf("sleep %v woke %v early", d, early)
				}
			}
			time.AfterFunc(20*time.Millisecond, cancel)
			began := time.Now()
			err := s.sleepUntil(began.Add(time.Minute))
			if !errors.Is(err, context.Canceled) || time.Since(began) > 10*time.Second {
				t.Fatalf("cancelled sleep: %v after %v; want context.Canceled at once", err, time.Since(began))
			}
		})
	}
}

// The idle worker that finished last is handed the next arrival; a closed
// stack ends its idle workers and turns away the ones still busy.
func TestWorkerStackHandsOutTheLastIdleFirst(t *testing.T) {
	var s workerStack
	if s.pop() != nil {
		t.Fatal("an empty stack handed out a worker")
	}
	first, second := make(chan arrival, 1), make(chan arrival, 1)
	s.push(first)
	s.push(second)
	if s.pop() != second || s.pop() != first || s.pop() != nil {
		t.Fatal("the stack did not hand out the last idle worker first")
	}
	s.push(first)
	s.close()
	if _, open := <-first; open {
		t.Fatal("closing left an idle worker waiting")
	}
	if s.push(second) {
		t.Fatal("a closed stack took a worker back")
	}
}

// countingSleeper counts the wake-ups a pacer asks for.
type countingSleeper struct {
	sleeper
	sleeps int
}

func (c *countingSleeper) sleepUntil(at time.Time) error {
	c.sleeps++
	return c.sleeper.sleepUntil(at)
}

// Arrivals 10 µs apart share wake-ups, one per pacingQuantum at most, and
// none starts before its instant.
func TestPacerBatchesCloseArrivalsAndNeverStartsEarly(t *testing.T) {
	ctx := context.Background()
	counter := &countingSleeper{sleeper: newSleeper(ctx)}
	p := &pacer{ctx: ctx, sleep: counter}
	defer p.close()
	first := time.Now().Add(5 * time.Millisecond)
	const arrivals, gap = 100, 10 * time.Microsecond
	for i := range arrivals {
		due := first.Add(time.Duration(i) * gap)
		if !p.await(due) {
			t.Fatal("await ended without a cancelled context")
		}
		if early := time.Until(due); early > 0 {
			t.Fatalf("arrival %d started %v before its instant", i, early)
		}
	}
	span := time.Duration(arrivals-1) * gap
	if most := int(span/pacingQuantum) + 2; counter.sleeps > most {
		t.Fatalf("%d wake-ups for %d arrivals over %v, want at most %d", counter.sleeps, arrivals, span, most)
	}
}
