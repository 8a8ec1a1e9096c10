package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// RenderFunc builds the message of a run, from its stored report.
type RenderFunc func(ctx context.Context, runID string) (Message, error)

// DispatcherConfig tunes the outbox loop. Zero fields take the defaults.
type DispatcherConfig struct {
	// Poll is how often the outbox is checked for due entries (default 1s).
	// Enqueue wakes the loop at once.
	Poll time.Duration
	// SendTimeout bounds rendering and sending one notification
	// (default 1m).
	SendTimeout time.Duration
	// ClaimFor is how long a claimed entry stays reserved for this
	// dispatcher (default 2m). It must exceed SendTimeout, so that no other
	// dispatcher takes an entry that is still being sent; it is also how
	// long the entries of a dispatcher that crashed wait before another
	// sends them.
	ClaimFor time.Duration
	// Concurrency is how many notifications are claimed and sent at once
	// (default 4). Only what can be sent right away is claimed, so a claim
	// never runs out while its entry waits for a free slot.
	Concurrency int
	// BaseBackoff is the wait after the first failure (default 10s); it
	// doubles with each failure up to MaxBackoff (default 30m).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// MaxAttempts is how many failed attempts end in giving up (default 10).
	MaxAttempts int
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// giveUpHorizon parks an entry that was given up: the store has no
// dead-letter state, so its next attempt is set beyond any useful time
// (and within the range of every store's time encoding).
const giveUpHorizon = 100 * 365 * 24 * time.Hour

// GaveUpPrefix starts the LastErr of an entry the dispatcher gave up on.
const GaveUpPrefix = "gave up: "

func (c DispatcherConfig) withDefaults() DispatcherConfig {
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = time.Minute
	}
	if c.ClaimFor <= 0 {
		c.ClaimFor = 2 * c.SendTimeout
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 10 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Outbox is the notification outbox in the metadata store: what a
// dispatcher needs of it. *sqlite.Store and *mongo.Store satisfy it; the
// methods are documented on store.Store.
type Outbox interface {
	Enqueue(ctx context.Context, n ...store.Notification) error
	ClaimNotifications(ctx context.Context, now time.Time, claimFor time.Duration, limit int) ([]store.Notification, error)
	MarkSent(ctx context.Context, id string, at time.Time) error
	Retry(ctx context.Context, id string, err string, next time.Time) error
}

// Dispatcher sends the outbox's due notifications. Any number of
// dispatchers, in any number of processes, may share one store: an entry
// is claimed before it is sent, and marked sent right after its Send
// succeeded. The guarantee is exactly once, except for a dispatcher that
// dies after a service accepted a message and before MarkSent recorded it:
// that entry is sent again once its claim expires (at least once). Senders
// give such a resend the same idempotency key (the email Message-ID, the
// Slack message metadata) so receivers can tell.
type Dispatcher struct {
	store   Outbox
	senders map[string]Sender
	cfg     DispatcherConfig
	render  RenderFunc
	logger  *slog.Logger
	metrics metrics
	wake    chan struct{}
}

// NewDispatcher returns a dispatcher over st. senders is keyed by channel
// (see Senders); render builds a run's message when one of its entries is
// sent. Metrics are registered on reg when it is not nil.
func NewDispatcher(st Outbox, senders map[string]Sender, cfg DispatcherConfig, render RenderFunc, logger *slog.Logger, reg prometheus.Registerer) (*Dispatcher, error) {
	cfg = cfg.withDefaults()
	if cfg.ClaimFor <= cfg.SendTimeout {
		return nil, fmt.Errorf("%w: claimFor %s must exceed sendTimeout %s", ErrConfig, cfg.ClaimFor, cfg.SendTimeout)
	}
	if st == nil || render == nil {
		return nil, fmt.Errorf("%w: a store and a render function are required", ErrConfig)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Dispatcher{
		store:   st,
		senders: senders,
		cfg:     cfg,
		render:  render,
		logger:  logger,
		metrics: m,
		wake:    make(chan struct{}, 1),
	}, nil
}

// Senders keys senders by their channel, for NewDispatcher.
func Senders(senders ...Sender) map[string]Sender {
	out := make(map[string]Sender, len(senders))
	for _, s := range senders {
		out[s.Channel()] = s
	}
	return out
}

// Enqueue adds a run's notifications to the outbox and wakes the loop.
// Enqueueing the same recipients twice is harmless (see NotificationID).
func (d *Dispatcher) Enqueue(ctx context.Context, runID string, slackChannels, emails []string) error {
	entries := Entries(runID, slackChannels, emails, d.cfg.Now())
	if len(entries) == 0 {
		return nil
	}
	if err := d.store.Enqueue(ctx, entries...); err != nil {
		return fmt.Errorf("enqueue notifications of run %s: %w", runID, err)
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run sends due notifications until ctx ends, then returns nil once the
// sends in flight finished (each bounded by SendTimeout): a send is not cut
// short by shutdown, because an interrupted send is the one that may be
// repeated.
func (d *Dispatcher) Run(ctx context.Context) error {
	ticker := time.NewTicker(d.cfg.Poll)
	defer ticker.Stop()
	for {
		claimed, err := d.DispatchOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.logger.Warn("notification outbox poll failed", "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil && claimed == d.cfg.Concurrency {
			continue // a full batch: more may be due now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-d.wake:
		}
	}
}

// DispatchOnce claims the entries due now (at most Concurrency), sends
// them and records the outcomes. It returns how many it claimed.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// Sends must end while the claim holds; the deadline is taken before
	// claiming, so it is never later than the claim's expiry minus
	// ClaimFor-SendTimeout, the margin left for recording the outcome.
	sendDeadline := time.Now().Add(d.cfg.SendTimeout)
	due, err := d.store.ClaimNotifications(ctx, d.cfg.Now(), d.cfg.ClaimFor, d.cfg.Concurrency)
	if err != nil {
		return 0, fmt.Errorf("claim notifications: %w", err)
	}
	var wg sync.WaitGroup
	for _, n := range due {
		wg.Go(func() { d.deliver(ctx, n, sendDeadline) })
	}
	wg.Wait()
	return len(due), nil
}

// deliver sends one claimed entry and records the outcome. It works on a
// context that shutdown does not cancel: once a send started, finishing it
// and recording it is what keeps it from being sent twice.
func (d *Dispatcher) deliver(ctx context.Context, n store.Notification, sendDeadline time.Time) {
	work := context.WithoutCancel(ctx)
	log := d.logger.With("notification", n.ID, "run", n.RunID, "channel", n.Channel, "to", n.To)
	err := d.send(work, n, sendDeadline)
	if err != nil {
		d.failed(work, log, n, err)
		return
	}
	d.markSent(work, log, n)
}

func (d *Dispatcher) send(ctx context.Context, n store.Notification, deadline time.Time) error {
	sender, ok := d.senders[n.Channel]
	if !ok {
		return Permanent(fmt.Errorf("%w %q", ErrNoSender, n.Channel))
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	msg, err := d.render(ctx, n.RunID)
	if err != nil {
		return fmt.Errorf("render run %s: %w", n.RunID, err)
	}
	start := time.Now()
	err = sender.Send(ctx, n.To, msg)
	d.metrics.sendSeconds.WithLabelValues(n.Channel).Observe(time.Since(start).Seconds())
	return err
}

// markSent records the success; it tries a few times because a failure
// here means the message goes out again when the claim expires.
func (d *Dispatcher) markSent(ctx context.Context, log *slog.Logger, n store.Notification) {
	d.metrics.sent.WithLabelValues(n.Channel).Inc()
	var err error
	for attempt := 1; ; attempt++ {
		if err = d.store.MarkSent(ctx, n.ID, d.cfg.Now()); err == nil {
			log.Info("notification sent", "attempts", n.Attempts+1)
			return
		}
		if attempt == markSentAttempts {
			break
		}
		time.Sleep(Backoff(attempt, 100*time.Millisecond, 2*time.Second))
	}
	log.Error("notification sent but not recorded; it will be sent again when its claim expires", "err", err)
}

const markSentAttempts = 5

// failed records a failed attempt: a retry after a backoff, or giving up
// after MaxAttempts or a permanent error.
func (d *Dispatcher) failed(ctx context.Context, log *slog.Logger, n store.Notification, sendErr error) {
	d.metrics.failures.WithLabelValues(n.Channel).Inc()
	attempts := n.Attempts + 1
	now := d.cfg.Now()
	if errors.Is(sendErr, ErrPermanent) || attempts >= d.cfg.MaxAttempts {
		d.metrics.givenUp.WithLabelValues(n.Channel).Inc()
		log.Error("NOTIFICATION GIVEN UP: it will not be sent", "attempts", attempts, "err", sendErr)
		reason := fmt.Sprintf("%safter %d attempts: %v", GaveUpPrefix, attempts, sendErr)
		if err := d.store.Retry(ctx, n.ID, reason, now.Add(giveUpHorizon)); err != nil {
			log.Error("recording a given-up notification failed", "err", err)
		}
		return
	}
	wait := Backoff(attempts, d.cfg.BaseBackoff, d.cfg.MaxBackoff)
	if ra, ok := errors.AsType[*RetryAfterError](sendErr); ok && ra.After > wait {
		wait = ra.After
	}
	log.Warn("notification failed; will retry", "attempts", attempts, "retryIn", wait, "err", sendErr)
	if err := d.store.Retry(ctx, n.ID, sendErr.Error(), now.Add(wait)); err != nil {
		log.Error("recording a failed notification failed; it is retried when its claim expires", "err", err)
	}
}

type metrics struct {
	sent        *prometheus.CounterVec
	failures    *prometheus.CounterVec
	givenUp     *prometheus.CounterVec
	sendSeconds *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_notify_sent_total",
			Help: "Notifications delivered, by channel.",
		}, []string{"channel"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_notify_failures_total",
			Help: "Failed notification attempts, by channel.",
		}, []string{"channel"}),
		givenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_notify_given_up_total",
			Help: "Notifications abandoned after a permanent error or too many attempts, by channel.",
		}, []string{"channel"}),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "loadfleet_notify_send_duration_seconds",
			Help:    "Time to send one notification, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8),
		}, []string{"channel"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sent, m.failures, m.givenUp, m.sendSeconds} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("register notify metrics: %w", err)
		}
	}
	return m, nil
}
