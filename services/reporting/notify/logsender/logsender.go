// Package logsender is the default notification channel: it writes each
// message to the log, for a loadfleet that has no Slack bot or SMTP server
// configured (a laptop, a CI job).
package logsender

import (
	"context"
	"log/slog"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

// Sender logs messages in place of a channel.
type Sender struct {
	channel string
	logger  *slog.Logger
}

// New returns a Sender standing in for channel ("slack", "email").
func New(channel string, logger *slog.Logger) *Sender {
	return &Sender{channel: channel, logger: logger}
}

// Channel is the channel this sender stands in for.
func (s *Sender) Channel() string { return s.channel }

// Send logs m with its key numbers; it never fails.
func (s *Sender) Send(ctx context.Context, to string, m notify.Message) error {
	attrs := []any{
		"channel", s.channel,
		"to", to,
		"run", m.RunID,
		"scope", m.Scope(),
		"verdict", m.Verdict,
	}
	for _, f := range m.Facts() {
		attrs = append(attrs, f.Label, f.Value)
	}
	if len(m.FailedCriteria) > 0 {
		attrs = append(attrs, "failedCriteria", m.FailedCriteria)
	}
	if m.ReportURL != "" {
		attrs = append(attrs, "report", m.ReportURL)
	}
	s.logger.InfoContext(ctx, "notification: "+m.Headline(), attrs...)
	return nil
}

var _ notify.Sender = (*Sender)(nil)
