package native

import (
	"context"
	"time"
)

// sleeper waits until an instant, or until its context ends.
type sleeper interface {
	sleepUntil(at time.Time) error
	close()
}

// timerSleeper is Go's timer. When the process has nothing else to do, Go
// waits for timers in epoll with a whole-millisecond timeout, so a wait
// shorter than a millisecond can last a full one: too coarse for pacing
// arrivals, fine where nothing better exists.
type timerSleeper struct {
	ctx   context.Context
	timer *time.Timer
}

func newTimerSleeper(ctx context.Context) *timerSleeper {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &timerSleeper{ctx: ctx, timer: t}
}

func (s *timerSleeper) sleepUntil(at time.Time) error {
	s.timer.Reset(time.Until(at))
	select {
	case <-s.timer.C:
		return nil
	case <-s.ctx.Done():
		s.timer.Stop()
		return s.ctx.Err()
	}
}

func (s *timerSleeper) close() { s.timer.Stop() }
