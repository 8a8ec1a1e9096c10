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
