package native

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timerfdSleeper waits on a timerfd through Go's network poller: the
// kernel's high-resolution timer makes the poller return on time (tens of
// microseconds late, not up to a millisecond), and the goroutine parks
// like any network wait, holding no thread.
type timerfdSleeper struct {
	ctx  context.Context
	file *os.File
	fd   int
	stop func() bool
}

// newSleeper is the timerfd sleeper, or Go's timer where a timerfd cannot
// be had (a sandbox refusing the syscall).
func newSleeper(ctx context.Context) sleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newTimerSleeper(ctx)
	}
	s := &timerfdSleeper{ctx: ctx, fd: fd, file: os.NewFile(uintptr(fd), "pacing-timerfd")}
	// The end of ctx interrupts a wait through a past read deadline.
	s.stop = context.AfterFunc(ctx, func() { _ = s.file.SetReadDeadline(time.Unix(1, 0)) })
	return s
}

func (s *timerfdSleeper) sleepUntil(at time.Time) error {
	wait := time.Until(at)
	if wait <= 0 {
		return s.ctx.Err()
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(wait.Nanoseconds())}
	if err := unix.TimerfdSettime(s.fd, 0, &spec, nil); err != nil {
		return err
	}
	var expirations [8]byte
	if _, err := s.file.Read(expirations[:]); err != nil {
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		return err
	}
	return nil
}

func (s *timerfdSleeper) close() {
	s.stop()
	_ = s.file.Close()
}
