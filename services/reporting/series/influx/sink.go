package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// retryAfterCap bounds how long a server's Retry-After may pause writes.
const retryAfterCap = time.Minute

// Sink is a series.Sink writing to InfluxDB.
//
// The client library's asynchronous WriteAPI is not used: it gives a batch
// up after MaxRetries attempts, when its retry buffer overflows, or after
// MaxRetryTime, reporting that only in its log; it retries only when a new
// write comes in (it has no scheduler); and its Flush sends the
// retry queue once, without retrying, so a Flush during an outage loses
// what was queued (TestOutage shows it). Instead Write appends line
// protocol to a bounded in-memory buffer, and one goroutine writes it, in
// order, with the blocking API, retrying a failed batch with backoff until
// it is stored. A batch is given up only when InfluxDB refuses it (a 4xx)
// or after MaxRetryTime, and then loudly: logged, counted, and returned by
// Flush and Close. When the buffer is full, Write rejects its batch with
// ErrBufferFull.
//
// Points carry second timestamps, so re-sending a batch whose first attempt
// did reach InfluxDB overwrites the same values: retries are idempotent.
type Sink struct {
	cfg     Config
	logger  *slog.Logger
	client  influxdb2.Client
	writer  api.WriteAPIBlocking
	metrics sinkMetrics

	mu           sync.Mutex
	queue        []string      // unwritten lines, oldest first
	removed      uint64        // lines taken off the queue so far, stored or dropped
	progress     chan struct{} // closed, and replaced, whenever removed grows
	flushWaiters int           // Flush calls waiting: write without waiting for a full batch
	failingSince time.Time     // when writes started failing; zero while they succeed
	lastErr      error         // the last failed attempt
	dropErr      error         // the first give-up; sticky
	closed       bool

	wake    chan struct{} // capacity 1: "look at the queue"
	closing chan struct{} // closed by Close: drain, then stop
	loopCtx context.Context
	abort   context.CancelFunc // ends the writer's request and backoff
	done    chan struct{}      // closed when the writer goroutine returns
}

// New starts a Sink. reg may be nil (no metrics).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "influx-sink", "url", cfg.URL, "bucket", cfg.Bucket)
	m, err := newSinkMetrics(reg)
	if err != nil {
		return nil, err
	}
	if cfg.CreateV1Database {
		if err := createV1Database(context.Background(), cfg); err != nil {
			return nil, err
		}
	}
	client := newClient(cfg)
	loopCtx, abort := context.WithCancel(context.Background())
	s := &Sink{
		cfg: cfg, logger: logger, client: client, metrics: m,
		writer:   client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}),
		loopCtx: loopCtx, abort: abort,
	}
	go s.run()
	return s, nil
}

func newClient(cfg Config) influxdb2.Client {
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Second).
		SetHTTPRequestTimeout(uint(max(1, cfg.WriteTimeout/time.Second)))
	return influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
}

// Write buffers the batch. It fails with ErrBufferFull, storing none of
// the batch, when the buffer cannot hold all of it.
func (s *Sink) Write(ctx context.Context, b series.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lines := encode(b)
	if len(lines) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(s.queue)+len(lines) > s.cfg.BufferLimit {
		err := fmt.Errorf("%w: %d lines of run %s not stored: %d buffered (limit %d), InfluxDB failing since %s: %v",
			ErrBufferFull, len(lines), runOf(b), len(s.queue), s.cfg.BufferLimit, formatSince(s.failingSince), s.lastErr)
		s.mu.Unlock()
		s.metrics.rejected.Add(float64(len(lines)))
		s.logger.Error("series batch rejected", "err", err)
		return err
	}
	s.queue = append(s.queue, lines...)
	s.metrics.buffered.Set(float64(len(s.queue)))
	s.mu.Unlock()
	s.poke()
	return nil
}

// Flush waits until every line buffered before the call is stored or
// given up. It returns an ErrDropped error if any point was ever given up
// by this Sink, and ctx's error (with what is still buffered) when ctx ends
// first.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	target := s.removed + uint64(len(s.queue))
	s.flushWaiters++
	defer func() {
		s.mu.Lock()
		s.flushWaiters--
		s.mu.Unlock()
	}()
	s.poke()
	for s.removed < target {
		progress, pending, lastErr := s.progress, target-s.removed, s.lastErr
		s.mu.Unlock()
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("influx: flush: %d lines not stored yet (last error: %v): %w", pending, lastErr, ctx.Err())
		case <-s.done:
			return ErrClosed
		}
		s.mu.Lock()
	}
	err := s.dropErr
	s.mu.Unlock()
	return err
}

// Close stops accepting writes, tries for up to CloseTimeout to store what
// is buffered, and reports what could not be.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	timer := time.NewTimer(s.cfg.CloseTimeout)
	defer timer.Stop()
	select {
	case <-s.done:
	case <-timer.C:
		s.abort()
		<-s.done
	}
	s.abort()
	s.client.Close()

	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.queue); n > 0 {
		err := fmt.Errorf("%w: %d lines still buffered at close (InfluxDB failing since %s: %v)",
			ErrDropped, n, formatSince(s.failingSince), s.lastErr)
		s.metrics.dropped.Add(float64(n))
		s.logger.Error("series points lost at close", "lines", n, "err", err)
		return errors.Join(s.dropErr, err)
	}
	return s.dropErr
}

func (s *Sink) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the one writer: batches leave the queue in order.
func (s *Sink) run() {
	defer close(s.done)
	for {
		batch, ok := s.next()
		if !ok {
			return
		}
		s.store(batch)
		if s.loopCtx.Err() != nil {
			return
		}
	}
}

// next waits for a batch worth writing: a full one, or any once lines have
// waited FlushInterval, a Flush waits, or Close drains. It reports false
// when the Sink is closed and drained, or aborted.
func (s *Sink) next() ([]string, bool) {
	timer := time.NewTimer(s.cfg.FlushInterval)
	defer timer.Stop()
	waited := false
	for {
		s.mu.Lock()
		n := len(s.queue)
		if n >= s.cfg.BatchSize || (n > 0 && (waited || s.flushWaiters > 0 || s.closed)) {
			k := min(n, s.cfg.BatchSize)
			batch := s.queue[:k:k]
			s.mu.Unlock()
			return batch, true
		}
		drained := n == 0 && s.closed
		s.mu.Unlock()
		if drained {
			return nil, false
		}
		select {
		case <-s.wake:
		case <-timer.C:
			waited = true
		case <-s.closing:
		case <-s.loopCtx.Done():
			return nil, false
		}
	}
}

// store writes one batch until it is stored or given up. It returns
// without settling the batch only when the Sink is aborted.
func (s *Sink) store(batch []string) {
	var firstFailure time.Time
	backoff := s.cfg.RetryInterval
	for attempt := 1; ; attempt++ {
		err := s.writer.WriteRecord(s.loopCtx, batch...)
		if err == nil {
			s.settle(len(batch), nil)
			return
		}
		if s.loopCtx.Err() != nil {
			return
		}
		s.metrics.failures.Inc()
		retry, wait := classify(err)
		if !retry {
			s.settle(len(batch), fmt.Errorf("%w: InfluxDB refused %d lines: %v", ErrDropped, len(batch), err))
			return
		}
		now := time.Now()
		if firstFailure.IsZero() {
			firstFailure = now
		}
		if now.Sub(firstFailure) >= s.cfg.MaxRetryTime {
			s.settle(len(batch), fmt.Errorf("%w: %d lines not stored after %d attempts over %s: %v",
				ErrDropped, len(batch), attempt, s.cfg.MaxRetryTime, err))
			return
		}
		s.noteFailure(err, attempt)
		if wait == 0 {
			wait = jitter(backoff)
			backoff = min(2*backoff, s.cfg.MaxRetryInterval)
		}
		select {
		case <-time.After(wait):
		case <-s.loopCtx.Done():
			return
		}
	}
}

func (s *Sink) noteFailure(err error, attempt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	if s.failingSince.IsZero() {
		s.failingSince = time.Now()
		s.logger.Warn("InfluxDB write failed; buffering and retrying", "err", err, "buffered", len(s.queue))
		return
	}
	s.logger.Debug("InfluxDB write retry failed", "attempt", attempt, "err", err, "buffered", len(s.queue))
}

// settle takes n lines off the queue: stored when dropErr is nil, given up
// otherwise.
func (s *Sink) settle(n int, dropErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil // let the backing array go
	}
	s.removed += uint64(n)
	s.metrics.buffered.Set(float64(len(s.queue)))
	if dropErr != nil {
		s.metrics.dropped.Add(float64(n))
		s.logger.Error("series points dropped", "lines", n, "err", dropErr)
		if s.dropErr == nil {
			s.dropErr = dropErr
		}
	} else {
		s.metrics.written.Add(float64(n))
		if !s.failingSince.IsZero() {
			s.logger.Info("InfluxDB writes resumed", "after", time.Since(s.failingSince).Round(time.Millisecond),
				"buffered", len(s.queue))
		}
		s.failingSince, s.lastErr = time.Time{}, nil
	}
	close(s.progress)
	s.progress = make(chan struct{})
}

// classify says whether a failed write is worth retrying, and for how long
// the server asked to wait (0: use the backoff). Network errors, timeouts,
// 408, 429 and 5xx are transient; any other 4xx (bad data, unknown
// bucket, no permission) would fail again.
func classify(err error) (retry bool, wait time.Duration) {
	var herr *influxhttp.Error
	if !errors.As(err, &herr) {
		return true, 0
	}
	if herr.RetryAfter > 0 {
		wait = min(time.Duration(herr.RetryAfter)*time.Second, retryAfterCap)
	}
	switch code := herr.StatusCode; {
	case code == 0, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return true, wait
	default:
		return false, 0
	}
}

// jitter spreads retries over ±20 % so that many sinks recovering from the
// same outage do not hit InfluxDB in lockstep.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func formatSince(t time.Time) string {
	if t.IsZero() {
		return "never (buffer limit below the write rate)"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), time.Since(t).Round(time.Second))
}

func runOf(b series.Batch) string {
	if len(b.Points) > 0 {
		return b.Points[0].RunID
	}
	if len(b.Executors) > 0 {
		return b.Executors[0].RunID
	}
	return ""
}

// createV1Database creates the database of an InfluxDB 1.x bucket
// "db/rp". Idempotent on InfluxDB's side.
func createV1Database(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
	defer cancel()
	form := url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", v1Database(cfg.Bucket))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(cfg.URL, "/")+"/query",
		strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("influx: create database: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+cfg.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influx: create database: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("influx: create database %q: HTTP %s", v1Database(cfg.Bucket), resp.Status)
	}
	return nil
}

type sinkMetrics struct {
	buffered                             prometheus.Gauge
	written, dropped, rejected, failures prometheus.Counter
}

func newSinkMetrics(reg prometheus.Registerer) (sinkMetrics, error) {
	m := sinkMetrics{
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loadfleet_series_influx_buffered_lines", Help: "Series lines waiting to be written to InfluxDB.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_series_influx_written_lines_total", Help: "Series lines stored in InfluxDB.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_series_influx_dropped_lines_total", Help: "Series lines given up: refused by InfluxDB, or unwritten after the max retry time or at close.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_series_influx_rejected_lines_total", Help: "Series lines refused by Write because the buffer was full.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_series_influx_write_failures_total", Help: "Failed InfluxDB write requests (each retry counts).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.buffered, m.written, m.dropped, m.rejected, m.failures} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("influx: register metrics: %w", err)
		}
	}
	return m, nil
}

var _ series.Sink = (*Sink)(nil)
