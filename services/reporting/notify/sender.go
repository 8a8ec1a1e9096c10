package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sender delivers a Message on one channel. Send is called concurrently
// for different notifications. It must either deliver the whole message or
// return an error, and it must not deliver twice within one call: the
// dispatcher calls Send again only after an error. Errors wrapping
// ErrPermanent are not retried; a RetryAfterError sets the earliest retry.
type Sender interface {
	// Channel is the outbox channel served ("slack", "email").
	Channel() string
	// Send delivers m to `to` (a Slack channel, an email address).
	Send(ctx context.Context, to string, m Message) error
}

// Sentinels of notify.
var (
	// ErrPermanent marks a failure retrying cannot fix (unknown channel,
	// revoked token, rejected address): the dispatcher gives up at once.
	ErrPermanent = errors.New("permanent notification failure")
	// ErrNoSender is a notification for a channel no Sender serves.
	ErrNoSender = errors.New("no sender for channel")
	// ErrConfig is an invalid sender or dispatcher configuration.
	ErrConfig = errors.New("invalid notification configuration")
)

// RetryAfterError is a transient failure whose service said when to come
// back (Slack's rate limits with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// Permanent wraps err so that the dispatcher does not retry it.
func Permanent(err error) error {
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}
