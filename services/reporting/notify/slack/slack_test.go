package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/notify/notifytest"
	"github.com/loadfleet/loadfleet/services/reporting/notify/slack"
)

const token = "xoxb-test-token"

func failedRun() notify.Message {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var latency []notify.LatencyPoint
	for i := range 60 {
		latency = append(latency, notify.LatencyPoint{
			Time:  start.Add(time.Duration(i) * time.Second),
			P50Ms: 20 + float64(i%7),
			P95Ms: 80 + float64(i),
			P99Ms: 150 + 2*float64(i),
		})
	}
	return notify.Message{
		RunID:   "run-42",
		Name:    "checkout <peak>",
		Team:    "shop",
		Project: "web",
		Verdict: notify.VerdictFailed,
		Numbers: notify.Numbers{
			Requests: 123456, RPS: 2057.6, P95Ms: 139.2, P99Ms: 268.4, ErrorRate: 0.0125,
			Planned: 120000, Started: 119990, Dropped: 10, Duration: time.Minute,
		},
		FailedCriteria: []string{"p95 of checkout: 139.2 ms > 100 ms"},
		ReportURL:      "https://loadfleet.example/runs/run-42/report",
		Latency:        latency,
	}
}

func newSender(t *testing.T, apiURL, tok string) *slack.Sender {
	t.Helper()
	s, err := slack.New(slack.Config{Token: tok, APIURL: apiURL}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendPostsBlocksAndUploadsChartIntoThread(t *testing.T) {
	server := notifytest.NewSlackServer(t, token)
	sender := newSender(t, server.APIURL, token)
	m := failedRun()

	if err := sender.Send(context.Background(), "#load-tests", m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	posts := server.Posts()
	if len(posts) != 1 {
		t.Fatalf("posts = %d, want 1", len(posts))
	}
	post := posts[0]
	if post.Channel != "#load-tests" {
		t.Errorf("channel = %q", post.Channel)
	}
	types, texts := decodeBlocks(t, post.Blocks)
	if got := strings.Join(types, ","); got != "header,context,section,section,actions" {
		t.Errorf("block types = %s", got)
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{
		"FAILED: checkout <peak>", // plain text header: no escaping
		"123,456", "2057.6 req/s", "139.2 ms", "268.4 ms", "1.25 %", "120,000", "119,990",
		"p95 of checkout: 139.2 ms &gt; 100 ms", // mrkdwn: escaped, not read as a link
		"https://loadfleet.example/runs/run-42/report",
		"shop/web",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("blocks lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(string(post.Blocks), `"emoji":true`) {
		t.Errorf("blocks enable emoji: %s", post.Blocks)
	}
	var meta struct {
		EventType string         `json:"event_type"`
		Payload   map[string]any `json:"event_payload"`
	}
	if err := json.Unmarshal(post.Metadata, &meta); err != nil {
		t.Fatalf("metadata %s: %v", post.Metadata, err)
	}
	wantKey := notify.NotificationID("run-42", notify.ChannelSlack, "#load-tests")
	if meta.EventType != slack.MetadataEventType || meta.Payload["idempotency_key"] != wantKey {
		t.Errorf("metadata = %+v, want idempotency key %s", meta, wantKey)
	}

	uploads := server.Uploads()
	if len(uploads) != 1 {
		t.Fatalf("uploads = %d, want 1", len(uploads))
	}
	up := uploads[0]
	if !up.Completed || up.ChannelID != post.ChannelID || up.ThreadTS != post.TS {
		t.Errorf("upload = completed %v in %s thread %s, want completed in %s thread %s",
			up.Completed, up.ChannelID, up.ThreadTS, post.ChannelID, post.TS)
	}
	img, err := png.Decode(bytes.NewReader(up.Data))
	if err != nil {
		t.Fatalf("uploaded chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 420 {
		t.Errorf("chart is %dx%d, want 960x420", b.Dx(), b.Dy())
	}
}

func TestSendWithoutLatencyPostsNoChart(t *testing.T) {
	server := notifytest.NewSlackServer(t, token)
	m := failedRun()
	m.Latency = m.Latency[:1] // a one-second run: nothing to chart

	if err := newSender(t, server.APIURL, token).Send(context.Background(), "C1", m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(server.Posts()) != 1 || len(server.Uploads()) != 0 {
		t.Fatalf("posts %d uploads %d, want 1 and 0", len(server.Posts()), len(server.Uploads()))
	}
}

func TestSendRetriesTheChartWithoutPostingTwice(t *testing.T) {
	server := notifytest.NewSlackServer(t, token)
	server.FailCompletes("internal_error")

	if err := newSender(t, server.APIURL, token).Send(context.Background(), "#load-tests", failedRun()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	uploads := server.Uploads()
	if len(server.Posts()) != 1 || len(uploads) != 2 || uploads[0].Completed || !uploads[1].Completed {
		t.Fatalf("posts %d, uploads %+v: want 1 post and a second, completed, upload", len(server.Posts()), uploads)
	}
}

func TestSendSucceedsWhenOnlyTheChartFails(t *testing.T) {
	server := notifytest.NewSlackServer(t, token)
	server.FailCompletes("internal_error", "internal_error", "internal_error")

	// The message is out: failing Send would have the dispatcher post it again.
	if err := newSender(t, server.APIURL, token).Send(context.Background(), "#load-tests", failedRun()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(server.Posts()) != 1 {
		t.Fatalf("posts = %d, want 1", len(server.Posts()))
	}
}

func TestSendErrorsTellTheDispatcherWhatToDo(t *testing.T) {
	tests := []struct {
		name          string
		token         string
		setup         func(*notifytest.SlackServer)
		wantPermanent bool
		wantAfter     time.Duration
	}{
		{
			name:      "a rate limit is retried no sooner than Retry-After",
			token:     token,
			setup:     func(s *notifytest.SlackServer) { s.RateLimitPosts(1, 7*time.Second) },
			wantAfter: 7 * time.Second,
		},
		{
			name:  "a Slack-side failure is retried",
			token: token,
			setup: func(s *notifytest.SlackServer) { s.FailPosts("internal_error") },
		},
		{
			name:          "an unknown channel is not retried",
			token:         token,
			setup:         func(s *notifytest.SlackServer) { s.FailPosts("channel_not_found") },
			wantPermanent: true,
		},
		{
			name:          "a wrong token is not retried",
			token:         "xoxb-wrong",
			setup:         func(*notifytest.SlackServer) {},
			wantPermanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := notifytest.NewSlackServer(t, token)
			tt.setup(server)
			err := newSender(t, server.APIURL, tt.token).Send(context.Background(), "#load-tests", failedRun())
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.wantPermanent, err)
			}
			var ra *notify.RetryAfterError
			if errors.As(err, &ra) != (tt.wantAfter > 0) || (ra != nil && ra.After != tt.wantAfter) {
				t.Errorf("retry after = %v, want %v (%v)", ra, tt.wantAfter, err)
			}
			if len(server.Posts()) != 0 || len(server.Uploads()) != 0 {
				t.Errorf("a failed send left posts or uploads")
			}
		})
	}
}

func TestNewRefusesAnEmptyToken(t *testing.T) {
	if _, err := slack.New(slack.Config{}, slog.Default()); !errors.Is(err, notify.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}

// decodeBlocks returns the blocks' types and every text and URL in them.
func decodeBlocks(t *testing.T, raw json.RawMessage) (types, texts []string) {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("blocks %s: %v", raw, err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "text" || k == "url") {
					texts = append(texts, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, b := range blocks {
		types = append(types, b["type"].(string))
		walk(b)
	}
	return types, texts
}
