package reporting

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/notify/email"
	"github.com/loadfleet/loadfleet/services/reporting/notify/notifytest"
	"github.com/loadfleet/loadfleet/services/reporting/notify/slack"
	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// secretPlan carries a secret in each place the redaction rules cover: an
// Authorization header, a cookie, a URL's userinfo and query, a form field
// and a header the plan marks secret, and a label.
const secretPlan = `{"name":"secrets","team":"t","project":"p",
"labels":{"env":"ci","deploy_token":"label-SECRET-1"},
"secrets":["X-Tenant","pin"],
"target":{"baseUrl":"http://127.0.0.1:1","headers":{"Authorization":"Bearer s3cr3t-VALUE","Accept":"*/*"}},
"scenarios":[{"name":"s","steps":[
  {"request":{"name":"login","method":"POST","url":"http://svc:userinfo-SECRET-2@127.0.0.1:1/login?access_token=query-SECRET-3",
    "headers":{"Cookie":"sid=cookie-SECRET-4","X-Tenant":"tenant-SECRET-5"},
    "body":{"form":{"user":"bob","pin":"pin-SECRET-6"}}}},
  {"request":{"name":"home","url":"/"}}]}],
"load":{"open":[{"constantUsersPerSec":{"rate":20,"during":"10s"}}]},
"criteria":[{"metric":"latency.p99","max":"2s"}],
"notify":{"slack":["#perf"],"email":["perf@example.com"]}}`

// secretValues are what must appear nowhere a person reads.
var secretValues = []string{"s3cr3t", "SECRET"}

func requireNoSecret(t *testing.T, where string, data []byte) {
	t.Helper()
	for _, s := range secretValues {
		if i := bytes.Index(data, []byte(s)); i >= 0 {
			t.Errorf("%s holds %q: …%s…", where, s, data[max(0, i-60):min(len(data), i+40)])
		}
	}
}

// A run whose plan carries credentials is reported, rendered and sent
// with none of them: the stored document, every rendering, the Slack post
// and the email (its attached report included) say "[redacted]" instead.
func TestAReportKeepsNoSecretOfItsPlan(t *testing.T) {
	if _, err := plan.Parse([]byte(secretPlan)); err != nil {
		t.Fatalf("the plan must be one the platform accepts: %v", err)
	}
	p := newPlatform(t)
	slackSrv := notifytest.NewSlackServer(t, "xoxb-test")
	smtpSrv := notifytest.NewSMTPServer(t, "user", "pass")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	slackSender, err := slack.New(slack.Config{Token: "xoxb-test", APIURL: slackSrv.APIURL}, logger)
	if err != nil {
		t.Fatal(err)
	}
	mailSender, err := email.New(email.Config{Host: smtpSrv.Host, Port: smtpSrv.Port, Username: "user", Password: "pass",
		From: "loadfleet@example.com", TLS: smtpSrv.ClientTLS}, logger)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Config{Links: LinkConfig{Key: []byte("k")}}, p.store, p.series, p.series, nil, logger, nil)
	dispatcher, err := notify.NewDispatcher(p.store, notify.Senders(slackSender, mailSender), notify.DispatcherConfig{},
		svc.MessageRenderer("https://loadfleet.example.com"), logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.SetOutbox(dispatcher)

	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	run := store.Run{ID: "r-secrets", Team: "t", Project: "p", State: store.Queued, Plan: json.RawMessage(secretPlan),
		Created: start.Add(-time.Minute), StartAt: &start,
		Shards: []store.Shard{{Index: 0, Location: "a", Attempt: 1, Ready: true}, {Index: 1, Location: "b", Attempt: 1, Ready: true}}}
	if err := p.store.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	ingestAll(t, svc, run, snapshotsOf(t, run.ID, start))
	if _, err := svc.Finish(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}

	stored, err := p.store.Report(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	requireNoSecret(t, "the stored report", stored)
	for _, kept := range []string{`"Authorization":"[redacted]"`, `"Cookie":"[redacted]"`, `"X-Tenant":"[redacted]"`,
		`"pin":"[redacted]"`, `svc:[redacted]@127.0.0.1`, `access_token=[redacted]`, `"deploy_token":"[redacted]"`} {
		if !bytes.Contains(stored, []byte(kept)) {
			t.Errorf("the stored report lacks %s: the reader should see what was sent, without its value", kept)
		}
	}
	var doc report.Document
	if err := json.Unmarshal(stored, &doc); err != nil {
		t.Fatal(err)
	}
	for name, render := range map[string]func(io.Writer, *report.Document) error{
		"HTML": report.HTML, "Markdown": report.Markdown, "JUnit": report.JUnit} {
		var buf bytes.Buffer
		if err := render(&buf, &doc); err != nil {
			t.Fatal(err)
		}
		requireNoSecret(t, name, buf.Bytes())
	}

	if n, err := dispatcher.DispatchOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("dispatched %d notifications (%v), want the Slack post and the email", n, err)
	}
	posts := slackSrv.WaitPosts(t, 1, 10*time.Second)
	for _, post := range posts {
		requireNoSecret(t, "the Slack post", []byte(post.Text+string(post.Blocks)+string(post.Metadata)))
		if !strings.Contains(string(post.Blocks), "/v1/reports/r-secrets.html?expires=") {
			t.Errorf("the Slack post links to no signed report link: %s", post.Blocks)
		}
	}
	for _, up := range slackSrv.Uploads() {
		requireNoSecret(t, "the Slack upload "+up.Filename, append([]byte(up.Title), up.Data...))
	}
	mails := smtpSrv.WaitMails(t, 1, 10*time.Second)
	text := decodedMail(t, mails[0].Data)
	requireNoSecret(t, "the email", text)
	if !bytes.Contains(text, []byte(`[redacted]`)) || !bytes.Contains(text, []byte("sig=")) {
		t.Errorf("the decoded email holds no redacted plan or no signed link; is the attached report decoded?")
	}
}

// decodedMail is every part of a MIME message, decoded from its transfer
// encoding, so that a secret cannot hide in base64.
func decodedMail(t *testing.T, data []byte) []byte {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for k, v := range m.Header {
		out.WriteString(k + ": " + strings.Join(v, ", ") + "\n")
	}
	decodePart(t, &out, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	return out.Bytes()
}

func decodePart(t *testing.T, out *bytes.Buffer, contentType, encoding string, body io.Reader) {
	t.Helper()
	mt, params, _ := mime.ParseMediaType(contentType)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			decodePart(t, out, part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part)
		}
	}
	switch strings.ToLower(encoding) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	if _, err := io.Copy(out, body); err != nil {
		t.Fatal(err)
	}
}

// A report stored before redaction existed renders without its secrets
// through the real handler too.
func TestAnOldStoredReportIsServedRedacted(t *testing.T) {
	p := newPlatform(t)
	svc := New(Config{}, p.store, p.series, p.series, nil, p.logger, nil)
	old := report.Document{SchemaVersion: 1, RunID: "r-old", Verdict: report.Passed, Name: "old", Tool: "native",
		Plan: json.RawMessage(secretPlan), Labels: map[string]string{"deploy_token": "label-SECRET-1"},
		Source: &report.Source{URL: "https://ci:git-SECRET@git.example.com/o/r.git"}}
	raw, _ := json.Marshal(old)
	if err := p.store.PutReport(context.Background(), "r-old", raw); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/reports/r-old.html")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("[redacted]")) {
		t.Fatalf("GET the old report: %d; want 200 with the plan's values redacted", resp.StatusCode)
	}
	requireNoSecret(t, "the old report's HTML", body)
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q: a shared cache would keep the page past its link", cc)
	}
	msg, err := svc.MessageRenderer("")(context.Background(), "r-old")
	if err != nil {
		t.Fatal(err)
	}
	requireNoSecret(t, "the old report's message", msg.ReportHTML)
	red, err := report.RedactJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	requireNoSecret(t, "the old report's JSON", red)
}
