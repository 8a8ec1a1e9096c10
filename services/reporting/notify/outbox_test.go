package notify_test

import (
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

func TestBackoff(t *testing.T) {
	const base, limit = 10 * time.Second, 5 * time.Minute
	tests := []struct {
		why     string
		attempt int
		want    time.Duration
	}{
		{"the first failure waits the base", 1, base},
		{"each failure doubles the wait", 2, 20 * time.Second},
		{"and again", 4, 80 * time.Second},
		{"the wait never exceeds the cap", 6, limit},
		{"a huge attempt count does not overflow past the cap", 200, limit},
		{"a zero attempt count is treated as the first", 0, base},
	}
	for _, tt := range tests {
		if got := notify.Backoff(tt.attempt, base, limit); got != tt.want {
			t.Errorf("%s: Backoff(%d) = %s, want %s", tt.why, tt.attempt, got, tt.want)
		}
	}
}

func TestEntries(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	got := notify.Entries("run-1",
		[]string{"#load", " #load ", "", "C123"},             // team default and plan repeat #load
		[]string{"oncall@example.com", "oncall@example.com"}, // and the same address
		now)
	want := []struct{ channel, to string }{
		{notify.ChannelSlack, "#load"},
		{notify.ChannelSlack, "C123"},
		{notify.ChannelEmail, "oncall@example.com"},
	}
	if len(got) != len(want) {
		t.Fatalf("entries = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		n := got[i]
		if n.Channel != w.channel || n.To != w.to || n.RunID != "run-1" || !n.NextAt.Equal(now) {
			t.Errorf("entry %d = %+v, want %s %s due now", i, n, w.channel, w.to)
		}
		if n.ID != notify.NotificationID("run-1", w.channel, w.to) {
			t.Errorf("entry %d ID %s is not its NotificationID", i, n.ID)
		}
	}
}

func TestNotificationIDIsAFunctionOfRunChannelAndRecipient(t *testing.T) {
	id := notify.NotificationID("run-1", notify.ChannelEmail, "a@example.com")
	if again := notify.NotificationID("run-1", notify.ChannelEmail, "a@example.com"); again != id {
		t.Errorf("same inputs gave %s and %s", id, again)
	}
	for _, other := range []string{
		notify.NotificationID("run-2", notify.ChannelEmail, "a@example.com"),
		notify.NotificationID("run-1", notify.ChannelSlack, "a@example.com"),
		notify.NotificationID("run-1", notify.ChannelEmail, "b@example.com"),
		// no ambiguity from concatenation
		notify.NotificationID("run-1e", "mail", "a@example.com"),
	} {
		if other == id {
			t.Errorf("different inputs share the ID %s", id)
		}
	}
}

func TestMessageText(t *testing.T) {
	m := notify.Message{Name: "checkout", Team: "shop", Project: "web", Verdict: notify.VerdictAborted,
		Numbers: notify.Numbers{Requests: 1234567, RPS: 99.95, ErrorRate: 0.5, Duration: 90*time.Second + 400*time.Millisecond}}
	if got := m.Subject(); got != "[loadfleet] ABORTED: checkout (shop/web)" {
		t.Errorf("Subject = %q", got)
	}
	facts := map[string]string{}
	for _, f := range m.Facts() {
		facts[f.Label] = f.Value
	}
	for label, want := range map[string]string{
		"Requests": "1,234,567", "Throughput": "100.0 req/s", "Error rate": "50.00 %", "Duration": "1m30s",
	} {
		if facts[label] != want {
			t.Errorf("%s = %q, want %q", label, facts[label], want)
		}
	}
}
