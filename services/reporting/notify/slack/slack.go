// Package slack sends run notifications to Slack with
// github.com/slack-go/slack: one chat.postMessage with blocks (verdict, key
// numbers, failed criteria, a link to the report), then the latency chart,
// drawn with go-chart, uploaded as a PNG into the message's thread.
package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

// Config is a Slack bot.
type Config struct {
	// Token is the bot token (xoxb-...), with chat:write and files:write.
	Token string
	// APIURL replaces https://slack.com/api/ (tests, proxies).
	APIURL string
	// HTTPClient replaces http.DefaultClient's settings when set.
	HTTPClient *http.Client
}

// MetadataEventType names the metadata every message carries; its payload
// holds the outbox ID as idempotency_key, the same for a resend.
const MetadataEventType = "loadfleet_run_finished"

// chartUploadAttempts bounds retrying the chart upload inside one Send:
// the message is already posted then, and failing Send would post it again.
const chartUploadAttempts = 3

// Sender posts notifications to Slack channels.
type Sender struct {
	client *slack.Client
	chart  *chartRenderer
	logger *slog.Logger
}

// New returns a Slack sender.
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("%w: slack token is empty", notify.ErrConfig)
	}
	var opts []slack.Option
	if cfg.APIURL != "" {
		// slack-go appends method names to the URL.
		opts = append(opts, slack.OptionAPIURL(strings.TrimSuffix(cfg.APIURL, "/")+"/"))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, slack.OptionHTTPClient(cfg.HTTPClient))
	}
	renderer, err := newChartRenderer()
	if err != nil {
		return nil, err
	}
	return &Sender{client: slack.New(cfg.Token, opts...), chart: renderer, logger: logger}, nil
}

// Channel is notify.ChannelSlack.
func (s *Sender) Channel() string { return notify.ChannelSlack }

// Send posts m to channel `to` (an ID or #name). Once the message is
// posted Send succeeds: a chart that cannot be uploaded is logged, not
// returned, because a retried Send would post the message twice.
func (s *Sender) Send(ctx context.Context, to string, m notify.Message) error {
	channelID, ts, err := s.client.PostMessageContext(ctx, to,
		slack.MsgOptionText(fallbackText(m), false),
		slack.MsgOptionBlocks(Blocks(m)...),
		slack.MsgOptionMetadata(slack.SlackMetadata{
			EventType: MetadataEventType,
			EventPayload: map[string]any{
				"run_id":          m.RunID,
				"verdict":         m.Verdict,
				"idempotency_key": notify.NotificationID(m.RunID, notify.ChannelSlack, to),
			},
		}),
		slack.MsgOptionDisableLinkUnfurl(),
	)
	if err != nil {
		return fmt.Errorf("slack chat.postMessage to %s: %w", to, classify(err))
	}
	if len(m.Latency) < minChartPoints {
		return nil
	}
	if err := s.uploadChart(ctx, channelID, ts, m); err != nil {
		s.logger.WarnContext(ctx, "slack latency chart not uploaded; the message was posted without it",
			"run", m.RunID, "channel", to, "err", err)
	}
	return nil
}

// uploadChart uploads the latency chart into the thread of the message
// (files.getUploadURLExternal, the upload, files.completeUploadExternal).
func (s *Sender) uploadChart(ctx context.Context, channelID, threadTS string, m notify.Message) error {
	png, err := s.chart.latencyPNG("Latency: "+m.Name, m.Latency)
	if err != nil {
		return err
	}
	params := slack.UploadFileParameters{
		Filename:        "latency-" + m.RunID + ".png",
		Title:           "Latency percentiles: " + m.Name,
		AltTxt:          "p50, p95 and p99 latency per second of run " + m.RunID,
		FileSize:        len(png),
		Channel:         channelID,
		ThreadTimestamp: threadTS,
	}
	for attempt := 1; ; attempt++ {
		params.Reader = bytes.NewReader(png)
		_, err = s.client.UploadFileContext(ctx, params)
		if err == nil || attempt == chartUploadAttempts {
			break
		}
		wait := notify.Backoff(attempt, 500*time.Millisecond, 5*time.Second)
		if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
			wait = rl.RetryAfter
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("slack chart upload: %w (then %w)", err, ctx.Err())
		case <-time.After(wait):
		}
	}
	if err != nil {
		return fmt.Errorf("slack chart upload: %w", err)
	}
	return nil
}

// permanentErrors are Slack API errors a retry cannot fix.
var permanentErrors = map[string]bool{
	"channel_not_found": true, "not_in_channel": true, "is_archived": true,
	"invalid_auth": true, "not_authed": true, "account_inactive": true,
	"token_revoked": true, "token_expired": true, "no_permission": true,
	"missing_scope": true, "invalid_blocks": true, "msg_too_long": true,
	"restricted_action": true,
}

// classify maps slack-go errors onto the dispatcher's retry policy.
func classify(err error) error {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return &notify.RetryAfterError{After: rl.RetryAfter, Err: err}
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok && permanentErrors[se.Err] {
		return notify.Permanent(err)
	}
	return err
}

func fallbackText(m notify.Message) string {
	text := fmt.Sprintf("%s (%s)", m.Headline(), m.Scope())
	if m.ReportURL != "" {
		text += " report: " + m.ReportURL
	}
	return text
}

var _ notify.Sender = (*Sender)(nil)
