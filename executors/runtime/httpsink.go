package runtime

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// DefaultMaxSpoolBytes bounds the spool when HTTPSinkConfig leaves it unset.
const DefaultMaxSpoolBytes = 256 << 20

// ErrIngest is returned when the ingest refuses a batch.
var ErrIngest = errors.New("ingest error")

// HTTPSinkConfig configures an HTTPSink. Zero fields take the defaults.
type HTTPSinkConfig struct {
	// URL is the reporting ingest's base URL; Token its bearer token.
	URL   string
	Token string
	// SpoolDir is the root of the spool; each shard attempt spools into
	// SpoolDir/<runId>/<shard>/<attempt>, and an executor started again for
	// the same shard and attempt sends what the previous one left there.
	SpoolDir string
	// MaxSpoolBytes bounds the spool (DefaultMaxSpoolBytes).
	MaxSpoolBytes int64
	// MaxBatch is the most snapshots per request (100).
	MaxBatch int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// failed requests (100 ms, 10 s); each wait has full jitter.
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds each request (10 s).
	RequestTimeout time.Duration
	HTTPClient     *http.Client
}

func (c *HTTPSinkConfig) defaults() {
	if c.MaxSpoolBytes <= 0 {
		c.MaxSpoolBytes = DefaultMaxSpoolBytes
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 100
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
}

// HTTPSink ships snapshots to the reporting ingest. Send writes each snapshot
// to the disk spool and returns; a background sender posts the oldest
// pending ones in batches (gzip JSON arrays) and removes them from the spool
// once acknowledged, retrying failures with capped exponential backoff. A
// retry after a lost acknowledgement sends a snapshot twice; the ingest
// stores it once, by (runId, shard, attempt, seq).
//
// When the spool is full (the ingest has been unreachable for long), new
// snapshots are dropped, never the spooled ones: Send returns ErrSpoolFull,
// the sink logs an error once per episode and counts every dropped snapshot
// (Dropped, and loadfleet_executor_snapshots_dropped_total). The final
// snapshot is spooled even past the bound. The ingest sees the dropped
// sequence numbers as gaps.
type HTTPSink struct {
	cfg    HTTPSinkConfig
	spool  *spool
	logger *slog.Logger

	wake    chan struct{}
	closing chan struct{}
	stop    context.CancelFunc
	done    chan struct{}

	dropped   atomic.Int64
	fullState atomic.Bool
	closeOnce sync.Once
	metrics   *sinkMetrics
}

type sinkMetrics struct {
	dropped  prometheus.Counter
	requests *prometheus.CounterVec
	spooled  prometheus.Gauge
}

func newSinkMetrics(reg prometheus.Registerer) (*sinkMetrics, error) {
	m := &sinkMetrics{
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_executor_snapshots_dropped_total",
			Help: "Snapshots dropped because the spool was full.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_executor_ingest_requests_total",
			Help: "Requests to the reporting ingest, by result.",
		}, []string{"result"}),
		spooled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loadfleet_executor_spool_bytes",
			Help: "Bytes of snapshots waiting in the spool for an acknowledgement.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.dropped, m.requests, m.spooled} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("http sink metrics: %w", err)
			}
		}
	}
	return m, nil
}

// NewHTTPSink opens the shard's spool, reloading what it holds, and starts
// the sender. reg may be nil.
func NewHTTPSink(cfg HTTPSinkConfig, key wire.ShardID, logger *slog.Logger, reg prometheus.Registerer) (*HTTPSink, error) {
	cfg.defaults()
	if cfg.URL == "" || cfg.SpoolDir == "" {
		return nil, fmt.Errorf("http sink: URL and SpoolDir are required")
	}
	dir := SpoolDir(cfg.SpoolDir, key)
	sp, err := openSpool(dir, cfg.MaxSpoolBytes)
	if err != nil {
		return nil, fmt.Errorf("http sink: %w", err)
	}
	metrics, err := newSinkMetrics(reg)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	h := &HTTPSink{
		cfg: cfg, spool: sp, logger: logger.With("sink", "http", "spool", dir),
		wake: make(chan struct{}, 1), closing: make(chan struct{}), stop: stop, done: make(chan struct{}),
		metrics: metrics,
	}
	if n, b := sp.pending(); n > 0 {
		h.logger.Info("reloaded spooled snapshots", "snapshots", n, "bytes", b, "lastSeq", sp.highWater())
	}
	metrics.spooled.Set(float64(sp.bytes))
	go h.run(ctx)
	return h, nil
}

// SpoolDir is where a shard attempt's spool lives under root: what a
// backend reads to collect the snapshots an exited executor left there.
func SpoolDir(root string, key wire.ShardID) string {
	return filepath.Join(root, pathSafe(key.RunID), strconv.Itoa(key.Shard), strconv.Itoa(key.Attempt))
}

// pathSafe keeps run IDs from escaping the spool directory.
func pathSafe(s string) string {
	if s == "" {
		return "_"
	}
	return strings.NewReplacer("/", "_", "\\", "_", "..", "_").Replace(s)
}

// LastSeq is the highest sequence number this shard attempt ever spooled,
// including by a previous executor: the runtime continues after it.
func (h *HTTPSink) LastSeq() uint64 { return h.spool.highWater() }

// Dropped is the number of snapshots dropped because the spool was full.
func (h *HTTPSink) Dropped() int64 { return h.dropped.Load() }

// Pending is the number of snapshots not acknowledged yet.
func (h *HTTPSink) Pending() int {
	n, _ := h.spool.pending()
	return n
}

// Send spools the snapshot for the sender. It returns ErrSpoolFull when it
// had to drop it.
func (h *HTTPSink) Send(_ context.Context, s wire.Snapshot) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("http sink: encode seq %d: %w", s.Seq, err)
	}
	if err := h.spool.add(s.Seq, data, s.Final); err != nil {
		return h.drop(s.Seq, err)
	}
	if h.fullState.CompareAndSwap(true, false) {
		h.logger.Warn("snapshot spool has room again", "droppedSoFar", h.dropped.Load())
	}
	_, b := h.spool.pending()
	h.metrics.spooled.Set(float64(b))
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return nil
}

func (h *HTTPSink) drop(seq uint64, cause error) error {
	h.dropped.Add(1)
	h.metrics.dropped.Inc()
	if h.fullState.CompareAndSwap(false, true) {
		n, b := h.spool.pending()
		h.logger.Error("SNAPSHOT SPOOL FULL OR UNWRITABLE: the ingest is not acknowledging; new snapshots are DROPPED until it does",
			"seq", seq, "pendingSnapshots", n, "pendingBytes", b, "maxSpoolBytes", h.cfg.MaxSpoolBytes, "err", cause)
	}
	return fmt.Errorf("http sink: seq %d: %w", seq, errors.Join(ErrSpoolFull, cause))
}

// Close waits until every pending snapshot is acknowledged or ctx is done,
// then stops the sender. Unacknowledged snapshots stay in the spool.
func (h *HTTPSink) Close(ctx context.Context) error {
	h.closeOnce.Do(func() { close(h.closing) })
	select {
	case <-h.done:
	case <-ctx.Done():
		h.stop()
		<-h.done
	}
	h.stop()
	if n, _ := h.spool.pending(); n > 0 {
		return fmt.Errorf("http sink: %d snapshots left in the spool: %w", n, ErrUndelivered)
	}
	if d := h.dropped.Load(); d > 0 {
		return fmt.Errorf("http sink: %d snapshots dropped: %w", d, ErrSpoolFull)
	}
	return nil
}

// run is the sender: it posts the oldest pending snapshots until the spool
// is empty and the sink is closing, or it is stopped.
func (h *HTTPSink) run(ctx context.Context) {
	defer close(h.done)
	failures := 0
	for {
		batch := h.spool.oldest(h.cfg.MaxBatch)
		if len(batch) == 0 {
			select {
			case <-h.wake:
				continue
			case <-h.closing:
				// Send is not called after Close: empty means done.
				if n, _ := h.spool.pending(); n == 0 {
					return
				}
				continue
			case <-ctx.Done():
				return
			}
		}
		acked, err := h.post(ctx, batch)
		if err == nil && len(acked) == 0 {
			err = fmt.Errorf("%w: no sequence number of the batch acknowledged", ErrIngest)
		}
		if err != nil {
			h.metrics.requests.WithLabelValues("error").Inc()
			failures++
			wait := backoff(failures, h.cfg.MinBackoff, h.cfg.MaxBackoff)
			h.logger.Warn("ingest request failed; retrying", "err", err, "batch", len(batch),
				"firstSeq", batch[0].seq, "failures", failures, "retryIn", wait.Round(time.Millisecond))
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			continue
		}
		h.metrics.requests.WithLabelValues("ok").Inc()
		if failures > 0 {
			h.logger.Info("ingest reachable again", "afterFailures", failures)
		}
		failures = 0
		if err := h.spool.remove(acked); err != nil {
			h.logger.Warn("removing acknowledged snapshots from the spool", "err", err)
		}
		_, b := h.spool.pending()
		h.metrics.spooled.Set(float64(b))
	}
}

// backoff is the wait after the n-th consecutive failure: exponential from
// min, capped at max, with full jitter so that many executors recovering
// from one ingest outage do not retry in lockstep.
func backoff(n int, minWait, maxWait time.Duration) time.Duration {
	ceiling := maxWait
	if n < 32 {
		ceiling = min(maxWait, minWait<<(n-1))
	}
	return minWait/2 + rand.N(ceiling-minWait/2+1)
}

// post sends one batch and returns the sequence numbers of the batch that
// the ingest acknowledged.
func (h *HTTPSink) post(ctx context.Context, batch []spoolEntry) ([]uint64, error) {
	body, err := h.encodeBatch(batch)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(h.cfg.URL, "/")+wire.IngestPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIngest, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
	resp, err := h.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIngest, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("%w: %s: %s", ErrIngest, resp.Status, bytes.TrimSpace(msg))
	}
	var ack wire.Ack
	if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
		return nil, fmt.Errorf("%w: decode ack: %w", ErrIngest, err)
	}
	return ackedOf(batch, ack.Acked), nil
}

// ackedOf keeps the acknowledged numbers that belong to the batch.
func ackedOf(batch []spoolEntry, acked []uint64) []uint64 {
	inBatch := make(map[uint64]bool, len(batch))
	for _, e := range batch {
		inBatch[e.seq] = true
	}
	var out []uint64
	for _, seq := range acked {
		if inBatch[seq] {
			out = append(out, seq)
			delete(inBatch, seq)
		}
	}
	return out
}

// encodeBatch builds the gzip JSON array from the spooled snapshots.
func (h *HTTPSink) encodeBatch(batch []spoolEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte{'['})
	for i, e := range batch {
		data, err := h.spool.read(e.seq)
		if err != nil {
			return nil, fmt.Errorf("http sink: read spooled seq %d: %w", e.seq, err)
		}
		if i > 0 {
			_, _ = zw.Write([]byte{','})
		}
		_, _ = zw.Write(data)
	}
	_, _ = zw.Write([]byte{']'})
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("http sink: gzip: %w", err)
	}
	return buf.Bytes(), nil
}

var _ Sink = (*HTTPSink)(nil)
