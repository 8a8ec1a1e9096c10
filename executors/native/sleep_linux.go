package native

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timerfdSleeper waits on Go's timer, and arms a timerfd, registered with
// Go's network poller, for the same instant. Each covers the other's blind
// spot:
//   - An idle process waits for Go's timers in epoll with a whole-millisecond
//     timeout, so a shorter wait could last a full millisecond; the timerfd
//     ends that epoll wait on time, and the scheduler then runs the timer.
//   - A saturated process polls the network only every 10 ms (its run queues
//     never empty), so a wait on the timerfd alone lasted 10 ms there; Go's
//     timers are checked at every goroutine switch.
type timerfdSleeper struct {
	*timerSleeper
	file *os.File // kept open: it is what the poller watches
	fd   int
}

// newSleeper is the timerfd sleeper, or Go's timer alone where a timerfd
// cannot be had (a sandbox refusing the syscall).
func newSleeper(ctx context.Context) sleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newTimerSleeper(ctx)
	}
	// A non-blocking descriptor is registered with the poller at once.
	file := os.NewFile(uintptr(fd), "pacing-timerfd")
	return &timerfdSleeper{timerSleeper: newTimerSleeper(ctx), file: file, fd: fd}
}

func (s *timerfdSleeper) sleepUntil(at time.Time) error {
	if wait := time.Until(at); wait > 0 {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(wait.Nanoseconds())}
		if err := unix.TimerfdSettime(s.fd, 0, &spec, nil); err != nil {
			return err
		}
	}
	return s.timerSleeper.sleepUntil(at)
}

func (s *timerfdSleeper) close() {
	s.timerSleeper.close()
	_ = s.file.Close()
}
