package runtime

import (
	"sync"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// deadMan remembers when the control plane last answered, and says when it
// has been silent for longer than the grace. The trade-off it makes: a run
// bends through a short outage of the control plane (the load goes on and
// everything measured is spooled), but load never runs unattended for
// longer than the grace, since nobody could abort it. A nil *deadMan never
// fires (no control plane, or the switch is off).
type deadMan struct {
	grace time.Duration

	mu   sync.Mutex
	last time.Time
}

// newDeadMan returns the switch for a spec's ControlGrace: zero takes
// wire.DefaultControlGrace, negative turns it off (nil).
func newDeadMan(grace time.Duration) *deadMan {
	switch {
	case grace < 0:
		return nil
	case grace == 0:
		grace = wire.DefaultControlGrace
	}
	return &deadMan{grace: grace, last: time.Now()}
}

// heard records an answer of the control plane at now.
func (d *deadMan) heard(now time.Time) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.After(d.last) {
		d.last = now
	}
}

// lost says how long the control plane has been silent at now, and whether
// that is past the grace.
func (d *deadMan) lost(now time.Time) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	silent := now.Sub(d.last)
	return silent, silent > d.grace
}
