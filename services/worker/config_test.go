package worker

import (
	"strings"
	"testing"
	"time"
)

func TestConfigWithDefaults(t *testing.T) {
	got := Config{}.WithDefaults()
	want := Config{ID: got.ID, LeaseTTL: 10 * time.Second, PollInterval: 250 * time.Millisecond,
		ReadyTimeout: 60 * time.Second, StartDelay: 2 * time.Second, MaxRestarts: 3,
		StopTimeout: 4 * time.Second, Overrun: 30 * time.Second, HeartbeatTimeout: 10 * time.Second}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	if !strings.Contains(got.ID, "-") {
		t.Errorf("default ID %q, want HOSTNAME-PID", got.ID)
	}

	set := Config{ID: "w1", LeaseTTL: time.Second, MaxRestarts: 1, ControlGrace: -1, PlanDir: "/plans"}
	got = set.WithDefaults()
	if got.ID != "w1" || got.LeaseTTL != time.Second || got.MaxRestarts != 1 || got.ControlGrace != -1 || got.PlanDir != "/plans" {
		t.Fatalf("%+v: a set value must be kept (a negative ControlGrace too: it turns the switch off)", got)
	}
	if got := (Config{MaxRestarts: -2, StartDelay: -time.Second}).WithDefaults(); got.MaxRestarts != 3 || got.StartDelay != 2*time.Second {
		t.Errorf("%+v: a negative setting takes its default", got)
	}
}
