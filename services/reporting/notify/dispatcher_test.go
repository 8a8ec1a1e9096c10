package notify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/metadata/store/sqlite"
	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/notify/email"
	"github.com/loadfleet/loadfleet/services/reporting/notify/notifytest"
	"github.com/loadfleet/loadfleet/services/reporting/notify/slack"
)

const (
	slackToken = "xoxb-test"
	smtpUser   = "loadfleet"
	smtpPass   = "s3cret"
	fromAddr   = "loadfleet@example.com"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.New(path, quietLogger())
	if err != nil {
		t.Fatalf("open sqlite store %s: %v", path, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newStore(t *testing.T) store.Store {
	return openStore(t, filepath.Join(t.TempDir(), "metadata.db"))
}

// renderRun is the message of any run, as reporting would build it.
func renderRun(_ context.Context, runID string) (notify.Message, error) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var latency []notify.LatencyPoint
	for i := range 30 {
		latency = append(latency, notify.LatencyPoint{Time: start.Add(time.Duration(i) * time.Second), P50Ms: 12, P95Ms: 40 + float64(i), P99Ms: 90})
	}
	return notify.Message{
		RunID: runID, Name: "checkout", Team: "shop", Project: "web", Verdict: notify.VerdictPassed,
		Numbers:    notify.Numbers{Requests: 3000, RPS: 100, P95Ms: 55, P99Ms: 90, Planned: 3000, Started: 3000, Duration: 30 * time.Second},
		ReportURL:  "http://127.0.0.1:8080/runs/" + runID + "/report",
		Latency:    latency,
		ReportHTML: []byte("<html><body>report of " + runID + "</body></html>"),
	}, nil
}

// servers are the real loopback Slack and SMTP servers and senders for them.
type servers struct {
	slack *notifytest.SlackServer
	smtp  *notifytest.SMTPServer
}

func startServers(t *testing.T) servers {
	return servers{slack: notifytest.NewSlackServer(t, slackToken), smtp: notifytest.NewSMTPServer(t, smtpUser, smtpPass)}
}

func (s servers) senders(t *testing.T) map[string]notify.Sender {
	t.Helper()
	slackSender, err := slack.New(slack.Config{Token: slackToken, APIURL: s.slack.APIURL}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	emailSender, err := email.New(email.Config{
		Host: s.smtp.Host, Port: s.smtp.Port, Username: smtpUser, Password: smtpPass,
		From: fromAddr, TLS: s.smtp.ClientTLS,
	}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return notify.Senders(slackSender, emailSender)
}

// clock is a settable time for the dispatcher and, through it, the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newDispatcher(t *testing.T, st store.Store, senders map[string]notify.Sender, cfg notify.DispatcherConfig, reg prometheus.Registerer) *notify.Dispatcher {
	t.Helper()
	d, err := notify.NewDispatcher(st, senders, cfg, renderRun, quietLogger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dispatchOnce(t *testing.T, d *notify.Dispatcher) int {
	t.Helper()
	n, err := d.DispatchOnce(context.Background())
	if err != nil {
		t.Fatalf("DispatchOnce: %v", err)
	}
	return n
}

func outbox(t *testing.T, st store.Store, runID string) map[string]store.Notification {
	t.Helper()
	ns, err := st.Notifications(context.Background(), runID)
	if err != nil {
		t.Fatalf("Notifications: %v", err)
	}
	out := map[string]store.Notification{}
	for _, n := range ns {
		out[n.Channel+" "+n.To] = n
	}
	return out
}

func counter(t *testing.T, reg *prometheus.Registry, name, channel string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "channel" && l.GetValue() == channel {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestDispatcherSendsEveryNotificationOnce(t *testing.T) {
	srv := startServers(t)
	st := newStore(t)
	reg := prometheus.NewRegistry()
	d := newDispatcher(t, st, srv.senders(t), notify.DispatcherConfig{Poll: 50 * time.Millisecond}, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	slackTo, emailTo := []string{"#load", "C0TEAM"}, []string{"oncall@example.com"}
	for range 2 { // Finish retried: the second enqueue adds nothing
		if err := d.Enqueue(ctx, "run-1", slackTo, emailTo); err != nil {
			t.Fatal(err)
		}
	}
	srv.slack.WaitPosts(t, 2, 10*time.Second)
	srv.smtp.WaitMails(t, 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // a few more polls: nothing is sent again
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	if posts, mails := len(srv.slack.Posts()), len(srv.smtp.Mails()); posts != 2 || mails != 1 {
		t.Fatalf("delivered %d posts and %d mails, want 2 and 1", posts, mails)
	}
	if uploads := srv.slack.Uploads(); len(uploads) != 2 || !uploads[0].Completed {
		t.Errorf("chart uploads = %+v, want 2 completed", uploads)
	}
	entries := outbox(t, st, "run-1")
	if len(entries) != 3 {
		t.Fatalf("outbox has %d entries, want 3", len(entries))
	}
	for key, n := range entries {
		if n.Sent == nil || n.LastErr != "" {
			t.Errorf("%s: sent %v lastErr %q", key, n.Sent, n.LastErr)
		}
	}
	if got := counter(t, reg, "loadfleet_notify_sent_total", notify.ChannelSlack); got != 2 {
		t.Errorf("slack sent metric = %v, want 2", got)
	}
	if got := counter(t, reg, "loadfleet_notify_sent_total", notify.ChannelEmail); got != 1 {
		t.Errorf("email sent metric = %v, want 1", got)
	}
}

func TestDispatcherRetriesWithBackoffUntilSent(t *testing.T) {
	srv := startServers(t)
	st := newStore(t)
	clk := newClock()
	cfg := notify.DispatcherConfig{BaseBackoff: 10 * time.Second, MaxBackoff: time.Hour, Now: clk.Now}
	d := newDispatcher(t, st, srv.senders(t), cfg, nil)
	srv.smtp.FailData(&smtp.SMTPError{Code: 451, Message: "try again later"}, &smtp.SMTPError{Code: 421, Message: "busy"})
	if err := d.Enqueue(context.Background(), "run-1", nil, []string{"oncall@example.com"}); err != nil {
		t.Fatal(err)
	}
	key := notify.ChannelEmail + " oncall@example.com"

	steps := []struct {
		why          string
		advance      time.Duration
		wantClaimed  int
		wantAttempts int
		wantSent     bool
	}{
		{"the first attempt meets a 451", 0, 1, 1, false},
		{"it is not due again before the base backoff", 9 * time.Second, 0, 1, false},
		{"after 10s the second attempt meets a 421", time.Second, 1, 2, false},
		{"the next wait is doubled: not due after 19s", 19 * time.Second, 0, 2, false},
		{"after 20s the third attempt is accepted", time.Second, 1, 2, true},
		{"a sent notification is never claimed again", 24 * time.Hour, 0, 2, true},
	}
	for _, step := range steps {
		clk.Advance(step.advance)
		if got := dispatchOnce(t, d); got != step.wantClaimed {
			t.Fatalf("%s: claimed %d, want %d", step.why, got, step.wantClaimed)
		}
		n := outbox(t, st, "run-1")[key]
		if n.Attempts != step.wantAttempts || (n.Sent != nil) != step.wantSent {
			t.Fatalf("%s: attempts %d sent %v, want %d %v (lastErr %q)", step.why, n.Attempts, n.Sent, step.wantAttempts, step.wantSent, n.LastErr)
		}
	}
	if mails := srv.smtp.Mails(); len(mails) != 1 {
		t.Fatalf("mails = %d, want 1", len(mails))
	}
}

func TestDispatcherGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(servers)
		to           string
		senders      func(servers, *testing.T) map[string]notify.Sender
		maxAttempts  int
		wantAttempts int
	}{
		{
			name:         "after MaxAttempts transient failures",
			setup:        func(s servers) { s.slack.FailPosts("internal_error", "internal_error", "internal_error") },
			maxAttempts:  3,
			wantAttempts: 3,
		},
		{
			name:         "at once on a permanent failure",
			setup:        func(s servers) { s.slack.FailPosts("channel_not_found") },
			maxAttempts:  10,
			wantAttempts: 1,
		},
		{
			name:  "at once for a channel no sender serves",
			setup: func(servers) {},
			senders: func(s servers, t *testing.T) map[string]notify.Sender {
				all := s.senders(t)
				delete(all, notify.ChannelSlack)
				return all
			},
			maxAttempts:  10,
			wantAttempts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServers(t)
			tt.setup(srv)
			senders := srv.senders(t)
			if tt.senders != nil {
				senders = tt.senders(srv, t)
			}
			st := newStore(t)
			clk := newClock()
			reg := prometheus.NewRegistry()
			d := newDispatcher(t, st, senders, notify.DispatcherConfig{MaxAttempts: tt.maxAttempts, BaseBackoff: time.Second, Now: clk.Now}, reg)
			if err := d.Enqueue(context.Background(), "run-1", []string{"#load"}, nil); err != nil {
				t.Fatal(err)
			}
			for range 12 {
				dispatchOnce(t, d)
				clk.Advance(time.Hour) // past any backoff
			}
			n := outbox(t, st, "run-1")[notify.ChannelSlack+" #load"]
			if n.Sent != nil || !strings.HasPrefix(n.LastErr, notify.GaveUpPrefix) || n.Attempts != tt.wantAttempts {
				t.Fatalf("entry = attempts %d sent %v lastErr %q, want given up after %d", n.Attempts, n.Sent, n.LastErr, tt.wantAttempts)
			}
			if got := counter(t, reg, "loadfleet_notify_given_up_total", notify.ChannelSlack); got != 1 {
				t.Errorf("given up metric = %v, want 1", got)
			}
			if got := counter(t, reg, "loadfleet_notify_failures_total", notify.ChannelSlack); got != float64(tt.wantAttempts) {
				t.Errorf("failures metric = %v, want %d", got, tt.wantAttempts)
			}
			if len(srv.slack.Posts()) != 0 {
				t.Errorf("a given-up notification was posted")
			}
		})
	}
}

func TestDispatcherWaitsAsLongAsSlackSays(t *testing.T) {
	srv := startServers(t)
	st := newStore(t)
	clk := newClock()
	d := newDispatcher(t, st, srv.senders(t), notify.DispatcherConfig{BaseBackoff: time.Second, Now: clk.Now}, nil)
	srv.slack.RateLimitPosts(1, 30*time.Second)
	if err := d.Enqueue(context.Background(), "run-1", []string{"#load"}, nil); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	dispatchOnce(t, d)
	n := outbox(t, st, "run-1")[notify.ChannelSlack+" #load"]
	if want := start.Add(30 * time.Second); !n.NextAt.Equal(want) {
		t.Fatalf("next attempt at %s, want %s (Retry-After, not the 1s backoff)", n.NextAt, want)
	}
	clk.Advance(29 * time.Second)
	if dispatchOnce(t, d) != 0 {
		t.Fatal("claimed before Retry-After passed")
	}
	clk.Advance(time.Second)
	dispatchOnce(t, d)
	if len(srv.slack.Posts()) != 1 {
		t.Fatalf("posts = %d, want 1", len(srv.slack.Posts()))
	}
}

func TestDispatcherRetriesARunWhoseReportIsNotReady(t *testing.T) {
	srv := startServers(t)
	st := newStore(t)
	clk := newClock()
	ready := false
	render := func(ctx context.Context, runID string) (notify.Message, error) {
		if !ready {
			return notify.Message{}, store.ErrNotFound
		}
		return renderRun(ctx, runID)
	}
	d, err := notify.NewDispatcher(st, srv.senders(t), notify.DispatcherConfig{BaseBackoff: time.Second, Now: clk.Now}, render, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(context.Background(), "run-1", nil, []string{"oncall@example.com"}); err != nil {
		t.Fatal(err)
	}
	dispatchOnce(t, d)
	n := outbox(t, st, "run-1")[notify.ChannelEmail+" oncall@example.com"]
	if n.Sent != nil || !strings.Contains(n.LastErr, store.ErrNotFound.Error()) {
		t.Fatalf("entry = %+v, want a retry recording the render error", n)
	}
	ready = true
	clk.Advance(time.Second)
	dispatchOnce(t, d)
	if len(srv.smtp.Mails()) != 1 {
		t.Fatalf("mails = %d, want 1", len(srv.smtp.Mails()))
	}
}

func TestNewDispatcherRefusesAClaimShorterThanASend(t *testing.T) {
	_, err := notify.NewDispatcher(newStore(t), nil, notify.DispatcherConfig{SendTimeout: time.Minute, ClaimFor: 30 * time.Second}, renderRun, quietLogger(), nil)
	if !errors.Is(err, notify.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}

func TestDispatcherAbortsASendThatOutlivesSendTimeout(t *testing.T) {
	// An SMTP server that accepts connections and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range held {
			conn.Close()
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
		}
	}()
	stalled, err := email.New(email.Config{
		Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: fromAddr, Insecure: true,
	}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	cfg := notify.DispatcherConfig{SendTimeout: 300 * time.Millisecond, ClaimFor: time.Second}
	d := newDispatcher(t, st, notify.Senders(stalled), cfg, nil)
	if err := d.Enqueue(context.Background(), "run-1", nil, []string{"oncall@example.com"}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	dispatchOnce(t, d)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("DispatchOnce took %s with a 300ms send timeout", took)
	}
	n := outbox(t, st, "run-1")[notify.ChannelEmail+" oncall@example.com"]
	if n.Sent != nil || n.Attempts != 1 || n.LastErr == "" {
		t.Fatalf("entry = %+v, want one failed attempt", n)
	}
}
