package native

import (
	"context"
	"testing"
)

// On Linux the pacer waits on a timerfd, not on Go's millisecond-grained
// idle timer.
func TestLinuxPacesWithATimerfd(t *testing.T) {
	s := newSleeper(context.Background())
	defer s.close()
	if _, ok := s.(*timerfdSleeper); !ok {
		t.Fatalf("newSleeper gave %T, want a timerfd", s)
	}
}
