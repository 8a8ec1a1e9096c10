package runtime

import (
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// The grace a spec asks for decides when the switch fires; negative turns
// it off (the run-level test cannot tell "off" from the 60 s default in
// a test of seconds, this one can).
func TestDeadManGrace(t *testing.T) {
	t0 := time.Now()
	for _, tc := range []struct {
		why    string
		grace  time.Duration
		silent time.Duration
		lost   bool
	}{
		{"zero takes the default: silent just under it", 0, wire.DefaultControlGrace - time.Second, false},
		{"zero takes the default: silent past it", 0, wire.DefaultControlGrace + time.Second, true},
		{"an explicit grace", 4 * time.Second, 5 * time.Second, true},
		{"negative is off, however long the silence", -1, 24 * time.Hour, false},
	} {
		d := newDeadMan(tc.grace)
		d.heard(t0)
		if _, lost := d.lost(t0.Add(tc.silent)); lost != tc.lost {
			t.Errorf("%s: lost = %v, want %v", tc.why, lost, tc.lost)
		}
	}
	d := newDeadMan(4 * time.Second)
	d.heard(t0.Add(10 * time.Second))
	d.heard(t0) // an older answer does not move the clock back
	if silent, lost := d.lost(t0.Add(13 * time.Second)); lost || silent != 3*time.Second {
		t.Errorf("after a late answer: silent %v, lost %v; want 3s, false", silent, lost)
	}
}
