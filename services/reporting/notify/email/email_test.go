package email_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/notify/email"
	"github.com/loadfleet/loadfleet/services/reporting/notify/notifytest"
)

const (
	user     = "loadfleet"
	password = "s3cret"
	from     = "loadfleet <loadfleet@example.com>"
	rcpt     = "oncall@example.com"
)

var report = []byte("<!DOCTYPE html><html><body><h1>Report of run-42</h1>" + strings.Repeat("<p>row</p>", 200) + "</body></html>")

func failedRun() notify.Message {
	return notify.Message{
		RunID:   "run-42",
		Name:    "checkout",
		Team:    "shop",
		Project: "web",
		Verdict: notify.VerdictFailed,
		Numbers: notify.Numbers{
			Requests: 123456, RPS: 2057.6, P95Ms: 139.2, P99Ms: 268.4, ErrorRate: 0.0125,
			Planned: 120000, Started: 119990, Dropped: 10, Duration: time.Minute,
		},
		FailedCriteria: []string{"p95 of checkout: 139.2 ms > 100 ms"},
		ReportURL:      "https://loadfleet.example/runs/run-42/report",
		ReportHTML:     report,
	}
}

func senderFor(t *testing.T, server *notifytest.SMTPServer, mutate func(*email.Config)) *email.Sender {
	t.Helper()
	cfg := email.Config{
		Host: server.Host, Port: server.Port,
		Username: server.Username, Password: server.Password,
		From: from, TLS: server.ClientTLS,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := email.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendOverSTARTTLSWithAuth(t *testing.T) {
	server := notifytest.NewSMTPServer(t, user, password)
	if err := senderFor(t, server, nil).Send(context.Background(), rcpt, failedRun()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := server.Mails()
	if len(mails) != 1 {
		t.Fatalf("mails = %d, want 1", len(mails))
	}
	got := mails[0]
	if got.AuthUser != user || !got.TLS {
		t.Errorf("session: auth %q TLS %v, want %q over TLS", got.AuthUser, got.TLS, user)
	}
	if got.From != "loadfleet@example.com" || len(got.To) != 1 || got.To[0] != rcpt {
		t.Errorf("envelope = %s -> %v", got.From, got.To)
	}

	msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[loadfleet] FAILED: checkout (shop/web)" {
		t.Errorf("subject = %q (%v)", subject, err)
	}
	if id := msg.Header.Get("Message-ID"); id != email.MessageID("run-42", rcpt, "loadfleet@example.com") {
		t.Errorf("Message-ID = %q", id)
	}
	parts := readParts(t, msg.Header.Get("Content-Type"), msg.Body)
	if len(parts) != 2 {
		t.Fatalf("multipart/mixed has %d parts, want 2", len(parts))
	}
	alt := readParts(t, parts[0].contentType, bytes.NewReader(parts[0].body))
	if len(alt) != 2 || !strings.HasPrefix(alt[0].contentType, "text/plain") || !strings.HasPrefix(alt[1].contentType, "text/html") {
		t.Fatalf("alternative parts = %+v, want text/plain then text/html", alt)
	}
	for _, part := range alt {
		for _, want := range []string{"FAILED: checkout", "123,456", "139.2 ms", "1.25 %", "https://loadfleet.example/runs/run-42/report"} {
			if !strings.Contains(string(part.body), want) {
				t.Errorf("%s part lacks %q", part.contentType, want)
			}
		}
	}
	if !strings.Contains(string(alt[1].body), "139.2 ms &gt; 100 ms") {
		t.Errorf("html part does not escape the criterion:\n%s", alt[1].body)
	}

	attachment := parts[1]
	_, params, err := mime.ParseMediaType(attachment.disposition)
	if err != nil || !strings.HasPrefix(attachment.disposition, "attachment") || params["filename"] != email.AttachmentName {
		t.Errorf("attachment disposition = %q (%v)", attachment.disposition, err)
	}
	if !strings.HasPrefix(attachment.contentType, "text/html") || attachment.encoding != "base64" {
		t.Errorf("attachment type %q encoding %q", attachment.contentType, attachment.encoding)
	}
	decoded, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(attachment.body)))
	if err != nil || !bytes.Equal(decoded, report) {
		t.Errorf("attachment does not decode to the report (%v)", err)
	}
	for line := range strings.SplitSeq(string(got.Data), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("a line of %d characters breaks RFC 5322", len(line))
		}
	}
}

func TestSendFailuresTellTheDispatcherWhatToDo(t *testing.T) {
	tests := []struct {
		name          string
		setup         func(*notifytest.SMTPServer)
		mutate        func(*email.Config)
		wantPermanent bool
	}{
		{
			name:  "a temporary DATA rejection is retried",
			setup: func(s *notifytest.SMTPServer) { s.FailData(&smtp.SMTPError{Code: 451, Message: "try later"}) },
		},
		{
			name:          "a permanent DATA rejection is not",
			setup:         func(s *notifytest.SMTPServer) { s.FailData(&smtp.SMTPError{Code: 550, Message: "no such user"}) },
			wantPermanent: true,
		},
		{
			name:          "wrong credentials are not retried",
			mutate:        func(c *email.Config) { c.Password = "wrong" },
			wantPermanent: true,
		},
		{
			name:   "a server certificate from an unknown CA is refused",
			mutate: func(c *email.Config) { c.TLS = &tls.Config{} },
		},
		{
			name: "without STARTTLS the server offers no AUTH, so no credentials go out in clear",
			mutate: func(c *email.Config) {
				c.Insecure = true
			},
			wantPermanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := notifytest.NewSMTPServer(t, user, password)
			if tt.setup != nil {
				tt.setup(server)
			}
			err := senderFor(t, server, tt.mutate).Send(context.Background(), rcpt, failedRun())
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.wantPermanent, err)
			}
			if n := len(server.Mails()); n != 0 {
				t.Errorf("server accepted %d mails", n)
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     email.Config
		wantErr bool
	}{
		{"plain SMTP to a loopback test server is allowed", email.Config{Host: "127.0.0.1", Port: 2525, From: from, Insecure: true}, false},
		{"plain SMTP to localhost is allowed", email.Config{Host: "localhost", From: from, Insecure: true}, false},
		{"plain SMTP across a network is refused", email.Config{Host: "smtp.example.com", From: from, Insecure: true}, true},
		{"plain SMTP to an address that is not loopback is refused (192.0.2.0/24: documentation only)", email.Config{Host: "192.0.2.5", From: from, Insecure: true}, true},
		{"STARTTLS anywhere is fine", email.Config{Host: "smtp.example.com", From: from}, false},
		{"a host is required", email.Config{From: from}, true},
		{"the sender must be an address", email.Config{Host: "smtp.example.com", From: "not an address"}, true},
		{"a port must be a port", email.Config{Host: "smtp.example.com", Port: 70000, From: from}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := email.New(tt.cfg, slog.Default())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, notify.ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

type part struct {
	contentType, disposition, encoding string
	body                               []byte
}

// readParts reads a multipart body. Go's multipart reader decodes
// quoted-printable parts itself; base64 is left to the caller.
func readParts(t *testing.T, contentType string, body io.Reader) []part {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") {
		t.Fatalf("content type %q is not multipart (%v)", contentType, err)
	}
	r := multipart.NewReader(body, params["boundary"])
	var parts []part
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		parts = append(parts, part{
			contentType: p.Header.Get("Content-Type"),
			disposition: p.Header.Get("Content-Disposition"),
			encoding:    p.Header.Get("Content-Transfer-Encoding"),
			body:        data,
		})
	}
}
