package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// NotificationID is the outbox ID of a run's message to one recipient. It
// is a function of its inputs, so enqueueing the same recipients again
// (a retried Finish, a worker taking over) adds nothing.
func NotificationID(runID, channel, to string) string {
	sum := sha256.Sum256([]byte(runID + "\x00" + channel + "\x00" + to))
	return "ntf-" + hex.EncodeToString(sum[:16])
}

// Entries are the outbox entries for a run's recipients, due at now.
// Blank and repeated recipients are dropped: a plan's notify adds to its
// team's defaults, and the two often overlap.
func Entries(runID string, slackChannels, emails []string, now time.Time) []store.Notification {
	var out []store.Notification
	add := func(channel string, recipients []string) {
		seen := map[string]bool{}
		for _, to := range recipients {
			to = strings.TrimSpace(to)
			if to == "" || seen[to] {
				continue
			}
			seen[to] = true
			out = append(out, store.Notification{
				ID:      NotificationID(runID, channel, to),
				RunID:   runID,
				Channel: channel,
				To:      to,
				NextAt:  now,
			})
		}
	}
	add(ChannelSlack, slackChannels)
	add(ChannelEmail, emails)
	return out
}

// Backoff is the wait after the attempt-th failed attempt (1-based):
// base doubling each time, capped at max.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := base
	for i := 1; i < attempt; i++ {
		d *= 2
		if d >= max || d <= 0 { // d <= 0: overflow
			return max
		}
	}
	return min(d, max)
}
