package notify_test

// The process is killed with a notification pending: after a restart it is
// sent once. The test binary re-executes itself as the doomed dispatcher
// (TestMain's child mode), which opens the SQLite file, enqueues, claims,
// and SIGKILLs itself at a chosen point. A new dispatcher on the same file
// then finishes the job against the same loopback servers.
//
// "Pending" has two meanings, and they give different guarantees:
//   - killed before the message left (claimed, or only enqueued): it is
//     sent exactly once, after the dead dispatcher's claim expires;
//   - killed after the server accepted the message but before MarkSent: no
//     sender can know the message went out, so it is sent again (at least
//     once), with the same idempotency key (email Message-ID, Slack
//     metadata idempotency_key) so that receivers can recognise it.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/store/sqlite"
	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/notify/email"
	"github.com/loadfleet/loadfleet/services/reporting/notify/slack"
)

// Environment of the child dispatcher.
const (
	envChildMode = "LOADFLEET_NOTIFY_CRASH_CHILD" // where to die: enqueued, before-send, after-accept
	envDB        = "LOADFLEET_NOTIFY_CRASH_DB"
	envChannels  = "LOADFLEET_NOTIFY_CRASH_CHANNELS" // comma-separated: slack,email
	envSlackURL  = "LOADFLEET_NOTIFY_CRASH_SLACK_URL"
	envSMTPAddr  = "LOADFLEET_NOTIFY_CRASH_SMTP_ADDR"
	envSMTPCA    = "LOADFLEET_NOTIFY_CRASH_SMTP_CA" // PEM file
)

const (
	crashRun      = "run-crash"
	crashSlackTo  = "#load"
	crashEmailTo  = "oncall@example.com"
	childClaimFor = 3 * time.Second
	// settle is how long the survivor keeps polling after the expected
	// deliveries, to catch one too many.
	settle = time.Second
)

// crashConfig is the child's and the survivor's: a claim short enough to
// wait out in a test.
var crashConfig = notify.DispatcherConfig{
	Poll:        100 * time.Millisecond,
	SendTimeout: 2 * time.Second,
	ClaimFor:    childClaimFor,
	BaseBackoff: 100 * time.Millisecond,
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChildMode); mode != "" {
		err := runDoomedDispatcher(mode)
		// Reaching here means the child did not die where it should have.
		fmt.Fprintf(os.Stderr, "crash child (%s) survived: %v\n", mode, err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// killer wraps a sender and SIGKILLs the process before or after it sends.
type killer struct {
	notify.Sender
	afterAccept bool
}

func (k killer) Send(ctx context.Context, to string, m notify.Message) error {
	if k.afterAccept {
		if err := k.Sender.Send(ctx, to, m); err != nil {
			return err // not accepted: let the test fail on the missing kill
		}
	}
	self, _ := os.FindProcess(os.Getpid())
	_ = self.Kill()         // SIGKILL: no deferred function, no MarkSent
	time.Sleep(time.Minute) // the signal lands first
	return errors.New("survived SIGKILL")
}

func runDoomedDispatcher(mode string) error {
	st, err := sqlite.New(os.Getenv(envDB), quietLogger())
	if err != nil {
		return err
	}
	senders, err := childSenders()
	if err != nil {
		return err
	}
	channels := strings.Split(os.Getenv(envChannels), ",")
	cfg := crashConfig
	cfg.Concurrency = len(channels)
	if mode == "after-accept" {
		cfg.Concurrency = 1 // one message goes out, then the process dies
	}
	for name, s := range senders {
		senders[name] = killer{Sender: s, afterAccept: mode == "after-accept"}
	}
	d, err := notify.NewDispatcher(st, senders, cfg, renderRun, quietLogger(), nil)
	if err != nil {
		return err
	}
	var slackTo, emailTo []string
	for _, c := range channels {
		switch c {
		case notify.ChannelSlack:
			slackTo = append(slackTo, crashSlackTo)
		case notify.ChannelEmail:
			emailTo = append(emailTo, crashEmailTo)
		}
	}
	if err := d.Enqueue(context.Background(), crashRun, slackTo, emailTo); err != nil {
		return err
	}
	if mode == "enqueued" {
		self, _ := os.FindProcess(os.Getpid())
		_ = self.Kill()
		time.Sleep(time.Minute)
	}
	n, err := d.DispatchOnce(context.Background())
	return fmt.Errorf("dispatched %d without dying: %v", n, err)
}

func childSenders() (map[string]notify.Sender, error) {
	slackSender, err := slack.New(slack.Config{Token: slackToken, APIURL: os.Getenv(envSlackURL)}, quietLogger())
	if err != nil {
		return nil, err
	}
	host, portText, err := net.SplitHostPort(os.Getenv(envSMTPAddr))
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(os.Getenv(envSMTPCA))
	if err != nil {
		return nil, err
	}
	tlsConfig, err := tlsTrusting(caPEM)
	if err != nil {
		return nil, err
	}
	emailSender, err := email.New(email.Config{
		Host: host, Port: port, Username: smtpUser, Password: smtpPass, From: fromAddr, TLS: tlsConfig,
	}, quietLogger())
	if err != nil {
		return nil, err
	}
	return notify.Senders(slackSender, emailSender), nil
}

func tlsTrusting(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the CA file")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// killDispatcherIn runs the doomed dispatcher to its death against srv and
// the store file db.
func killDispatcherIn(t *testing.T, mode string, srv servers, db string, channels ...string) {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, srv.smtp.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChildMode+"="+mode,
		envDB+"="+db,
		envChannels+"="+strings.Join(channels, ","),
		envSlackURL+"="+srv.slack.APIURL,
		envSMTPAddr+"="+srv.smtp.Addr(),
		envSMTPCA+"="+caFile,
	)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 { // -1: ended by a signal
		t.Fatalf("child dispatcher did not die by SIGKILL (%v):\n%s", err, out)
	}
}

func TestRestartSendsAPendingNotificationOnce(t *testing.T) {
	tests := []struct {
		name string
		mode string
		// wantWait: the survivor must wait for the dead one's claim.
		wantWait bool
	}{
		{"killed after enqueueing, before any dispatch", "enqueued", false},
		{"killed holding the claim, before the message left", "before-send", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServers(t)
			db := filepath.Join(t.TempDir(), "metadata.db")
			killDispatcherIn(t, tt.mode, srv, db, notify.ChannelSlack, notify.ChannelEmail)

			if posts, mails := len(srv.slack.Posts()), len(srv.smtp.Mails()); posts != 0 || mails != 0 {
				t.Fatalf("the child delivered %d posts and %d mails before dying", posts, mails)
			}
			st := openStore(t, db)
			pending := outbox(t, st, crashRun)
			if len(pending) != 2 {
				t.Fatalf("outbox after the crash = %+v, want 2 entries", pending)
			}
			for key, n := range pending {
				if n.Sent != nil || (n.ClaimedUntil != nil) != tt.wantWait {
					t.Fatalf("%s after the crash: sent %v claimedUntil %v", key, n.Sent, n.ClaimedUntil)
				}
			}

			restarted := time.Now()
			d := newDispatcher(t, st, srv.senders(t), crashConfig, nil)
			if tt.wantWait && dispatchOnce(t, d) != 0 {
				t.Fatal("the survivor took entries the dead dispatcher still had claimed")
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			srv.slack.WaitPosts(t, 1, 3*childClaimFor)
			srv.smtp.WaitMails(t, 1, 3*childClaimFor)
			waited := time.Since(restarted)
			time.Sleep(settle) // ten more polls: nothing goes out twice
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			if tt.wantWait && waited < childClaimFor/2 {
				t.Errorf("sent %s after the restart, before the dead claim could expire", waited)
			}
			if posts, mails := len(srv.slack.Posts()), len(srv.smtp.Mails()); posts != 1 || mails != 1 {
				t.Fatalf("after the restart: %d posts and %d mails, want exactly 1 each", posts, mails)
			}
			for key, n := range outbox(t, st, crashRun) {
				if n.Sent == nil {
					t.Errorf("%s is not recorded as sent", key)
				}
			}
		})
	}
}

func TestRestartAfterTheServerAcceptedResendsWithTheSameIdempotencyKey(t *testing.T) {
	tests := []struct {
		channel string
		keys    func(servers) []string // the idempotency key of each delivery
	}{
		{notify.ChannelEmail, func(s servers) []string {
			var ids []string
			for _, m := range s.smtp.Mails() {
				msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
				if err == nil {
					ids = append(ids, msg.Header.Get("Message-ID"))
				}
			}
			return ids
		}},
		{notify.ChannelSlack, func(s servers) []string {
			var keys []string
			for _, p := range s.slack.Posts() {
				var meta struct {
					Payload map[string]any `json:"event_payload"`
				}
				if json.Unmarshal(p.Metadata, &meta) == nil {
					keys = append(keys, fmt.Sprint(meta.Payload["idempotency_key"]))
				}
			}
			return keys
		}},
	}
	for _, tt := range tests {
		t.Run(tt.channel, func(t *testing.T) {
			srv := startServers(t)
			db := filepath.Join(t.TempDir(), "metadata.db")
			killDispatcherIn(t, "after-accept", srv, db, tt.channel)
			if got := tt.keys(srv); len(got) != 1 {
				t.Fatalf("the child delivered %d messages before dying, want 1", len(got))
			}

			st := openStore(t, db)
			d := newDispatcher(t, st, srv.senders(t), crashConfig, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			deadline := time.Now().Add(3 * childClaimFor)
			for len(tt.keys(srv)) < 2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(settle) // nothing goes out a third time
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			keys := tt.keys(srv)
			if len(keys) != 2 || keys[0] != keys[1] || keys[0] == "" {
				t.Fatalf("deliveries' idempotency keys = %q, want the same key twice (at least once, recognisably)", keys)
			}
			n := outbox(t, st, crashRun)
			if len(n) != 1 {
				t.Fatalf("outbox = %+v, want 1 entry", n)
			}
			for key, e := range n {
				if e.Sent == nil {
					t.Errorf("%s is not recorded as sent", key)
				}
			}
		})
	}
}
