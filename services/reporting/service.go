package reporting

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/criteria"
	"github.com/loadfleet/loadfleet/services/reporting/link"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/series"
	"github.com/loadfleet/loadfleet/services/shardtoken"
)

// Sentinels of the reporting service.
var (
	// ErrInvalidSnapshot is a snapshot that cannot be merged (a histogram
	// that does not decode, a second from another run).
	ErrInvalidSnapshot = errors.New("invalid snapshot")
	// ErrRunEnded is a run whose report is already written.
	ErrRunEnded = errors.New("run already reported")
)

// Outbox queues a run's notifications (notify.Dispatcher).
type Outbox interface {
	Enqueue(ctx context.Context, runID string, slackChannels, emails []string) error
}

// Config tunes the reporting service.
type Config struct {
	// TickInterval paces the merge of complete seconds (1 s).
	TickInterval time.Duration
	// Watch is the minimum sample before an abortOnFail criterion without
	// a window may stop a run.
	Watch criteria.WatchConfig
	// MissingTolerance is the share of a run's planned arrivals that may
	// be missing from its data for it still to be judged on its criteria
	// (completeness.DefaultTolerance when zero).
	MissingTolerance float64
	// Links governs the open links to HTML reports.
	Links LinkConfig
}

// DefaultLinkTTL is how long a report link in a message opens the report.
const DefaultLinkTTL = 30 * 24 * time.Hour

// LinkConfig governs GET /v1/reports/{id}.html. A request with a link
// signature is judged by it alone; one without needs what every /v1 route
// needs (RequireToken).
type LinkConfig struct {
	// Disabled refuses every signed link (404): reports open with an API
	// token only, and messages carry plain links.
	Disabled bool
	// TTL is how long a link signed now stays valid (DefaultLinkTTL when
	// zero). Shortening it expires the links already sent beyond it.
	TTL time.Duration
	// Key signs the links (see package link); empty means a random key of
	// this process, whose links stop opening when it restarts.
	Key []byte
	// RequireToken guards a request without a link signature: the API's
	// bearer check. nil means no guard (an API without tokens).
	RequireToken func(http.Handler) http.Handler
}

// Store is what the reporting service needs of the metadata store: the
// run and its team (for the verdict and the notifications), the report
// document, and the snapshot spool it merges again after a restart.
// *sqlite.Store and *mongo.Store satisfy it; the methods are documented
// on store.Store.
type Store interface {
	shardtoken.RunReader
	Team(ctx context.Context, name string) (store.Team, error)
	PutReport(ctx context.Context, runID string, doc json.RawMessage) error
	Report(ctx context.Context, runID string) (json.RawMessage, error)
	PutSnapshots(ctx context.Context, runID string, snaps ...store.Snapshot) error
	Snapshots(ctx context.Context, runID string) ([]store.Snapshot, error)
	DeleteSnapshots(ctx context.Context, runID string) error
}

// Service is the reporting service in process.
type Service struct {
	cfg     Config
	store   Store
	sink    series.Sink
	reader  series.Reader
	outbox  Outbox
	logger  *slog.Logger
	metrics *metrics
	links   link.Signer

	mu   sync.Mutex
	runs map[string]*liveRun
}

// liveRun is a run being ingested: its merge and its live criteria.
type liveRun struct {
	plan    *plan.Plan
	agg     *merge.Aggregator
	watcher *criteria.Watcher
	// last is the latest merged AllRequests second; abortReason the first
	// abortOnFail criterion that failed. Guarded by Service.mu.
	last        series.Point
	abortReason string
}

// New returns the reporting service. outbox may be nil (no notifications).
func New(cfg Config, st Store, sink series.Sink, reader series.Reader, outbox Outbox, logger *slog.Logger, reg prometheus.Registerer) *Service {
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = time.Second
	}
	if cfg.Watch == (criteria.WatchConfig{}) {
		cfg.Watch = criteria.WatchConfig{MinDuration: 10 * time.Second, MinRequests: 100}
	}
	if cfg.Links.TTL <= 0 {
		cfg.Links.TTL = DefaultLinkTTL
	}
	if len(cfg.Links.Key) == 0 {
		cfg.Links.Key = make([]byte, 32)
		_, _ = rand.Read(cfg.Links.Key) // crypto/rand.Read never fails (Go 1.24+)
	}
	links, err := link.New(cfg.Links.Key, cfg.Links.TTL)
	if err != nil {
		panic(err) // unreachable: the key and the TTL were just set
	}
	return &Service{cfg: cfg, store: st, sink: sink, reader: reader, outbox: outbox, logger: logger,
		metrics: newMetrics(reg), runs: map[string]*liveRun{}, links: links}
}

// ingest merges one shard's snapshots and returns the sequence numbers
// stored (duplicates included).
func (s *Service) ingest(ctx context.Context, run store.Run, snaps []wire.Snapshot) ([]uint64, error) {
	acked := make([]uint64, 0, len(snaps))
	lr, err := s.live(run)
	if errors.Is(err, ErrRunEnded) {
		// The report is written: what arrives now cannot change it. It is
		// acknowledged so the executor stops resending, and counted.
		s.metrics.late.Add(float64(len(snaps)))
		s.logger.Warn("snapshots after the run's report", "run", run.ID, "count", len(snaps))
		for _, snap := range snaps {
			acked = append(acked, snap.Seq)
		}
		return acked, nil
	}
	if err != nil {
		return nil, err
	}
	// What the merge accepted (duplicates too: a resend may follow a
	// failed keep) is kept before it is acknowledged. A reporting process
	// that restarts merges the kept snapshots again (live), so an
	// acknowledged snapshot is never lost.
	accepted := make([]wire.Snapshot, 0, len(snaps))
	var refused error
	for _, snap := range snaps {
		dup, err := lr.agg.Add(snap)
		if err != nil {
			s.metrics.snapshots.WithLabelValues("invalid").Inc()
			refused = fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
			break
		}
		outcome := "stored"
		if dup {
			outcome = "duplicate"
		}
		s.metrics.snapshots.WithLabelValues(outcome).Inc()
		accepted = append(accepted, snap)
	}
	if len(accepted) == 0 {
		return nil, refused
	}
	if err := s.keep(ctx, run.ID, accepted); err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	for _, snap := range accepted {
		acked = append(acked, snap.Seq)
	}
	return acked, nil
}

// keep stores snapshots so that a restarted process can merge them again.
func (s *Service) keep(ctx context.Context, runID string, snaps []wire.Snapshot) error {
	kept := make([]store.Snapshot, 0, len(snaps))
	for _, snap := range snaps {
		doc, err := json.Marshal(snap)
		if err != nil {
			return fmt.Errorf("encode snapshot %d of shard %d: %w", snap.Seq, snap.Shard, err)
		}
		kept = append(kept, store.Snapshot{Shard: snap.Shard, Attempt: snap.Attempt, Seq: snap.Seq, Doc: doc})
	}
	if err := s.store.PutSnapshots(ctx, runID, kept...); err != nil {
		return fmt.Errorf("keep the snapshots: %w", err)
	}
	return nil
}

// live returns the run's merge state, creating it on the first snapshot.
func (s *Service) live(run store.Run) (*liveRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lr, ok := s.runs[run.ID]; ok {
		s.refreshOffsets(lr, run)
		return lr, nil
	}
	if _, err := s.store.Report(context.Background(), run.ID); err == nil {
		return nil, ErrRunEnded
	}
	var p plan.Plan
	if err := json.Unmarshal(run.Plan, &p); err != nil {
		return nil, fmt.Errorf("the run's plan snapshot does not parse: %w", err)
	}
	cfg := merge.Config{RunID: run.ID, Steps: merge.StepsOf(&p), Shards: len(run.Shards),
		ClockOffsets: map[int]time.Duration{}, Locations: map[int]string{}}
	if run.StartAt != nil {
		cfg.Start = *run.StartAt
	}
	for _, sh := range run.Shards {
		cfg.ClockOffsets[sh.Index], cfg.Locations[sh.Index] = sh.ClockOffset, sh.Location
	}
	agg := merge.New(cfg, s.logger.With("run", run.ID))
	if err := s.replay(run.ID, agg); err != nil {
		return nil, err
	}
	lr := &liveRun{plan: &p, agg: agg, watcher: criteria.NewWatcher(p.Criteria, agg, s.cfg.Watch)}
	s.runs[run.ID] = lr
	return lr, nil
}

// replay merges the snapshots kept for a run: after a restart of this
// process, the run's merge starts from everything acknowledged before.
// Seconds already written to the series are written again with the same
// values (both sinks overwrite a point of the same run, time and name).
func (s *Service) replay(runID string, agg *merge.Aggregator) error {
	kept, err := s.store.Snapshots(context.Background(), runID)
	if err != nil {
		return fmt.Errorf("read the run's kept snapshots: %w", err)
	}
	for _, k := range kept {
		var snap wire.Snapshot
		if err := json.Unmarshal(k.Doc, &snap); err != nil {
			s.logger.Error("a kept snapshot does not parse; skipped", "run", runID, "shard", k.Shard, "seq", k.Seq, "err", err)
			continue
		}
		if _, err := agg.Add(snap); err != nil {
			s.logger.Error("a kept snapshot is refused; skipped", "run", runID, "shard", k.Shard, "seq", k.Seq, "err", err)
		}
	}
	if len(kept) > 0 {
		s.logger.Info("merged the run's kept snapshots again", "run", runID, "snapshots", len(kept))
	}
	return nil
}

// refreshOffsets follows restarted shards, whose new executors have their
// own clock offsets.
func (s *Service) refreshOffsets(lr *liveRun, run store.Run) {
	for _, sh := range run.Shards {
		if sh.Ready {
			lr.agg.SetClockOffset(sh.Index, sh.ClockOffset)
		}
	}
}

// Run merges the complete seconds of every live run each TickInterval,
// writes them to the series sink and checks the live criteria, until ctx
// ends.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.TickInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			s.tick(ctx, now)
		}
	}
}

func (s *Service) tick(ctx context.Context, now time.Time) {
	s.mu.Lock()
	runs := make(map[string]*liveRun, len(s.runs))
	for id, lr := range s.runs {
		runs[id] = lr
	}
	s.mu.Unlock()
	for id, lr := range runs {
		batch := lr.agg.Tick(now)
		if len(batch.Points) == 0 && len(batch.Executors) == 0 {
			continue
		}
		if err := s.sink.Write(ctx, batch); err != nil {
			s.logger.Error("writing series", "run", id, "err", err)
		}
		res, failed := lr.watcher.Check()
		if failed {
			res.Detail += partialNote(lr.agg, batch)
		}
		s.mu.Lock()
		if p, ok := lastTotal(batch.Points); ok {
			lr.last = p
		}
		if failed && lr.abortReason == "" {
			lr.abortReason = res.Detail
			s.logger.Warn("abortOnFail criterion failed", "run", id, "metric", res.Metric, "detail", res.Detail)
		}
		s.mu.Unlock()
	}
}

// partialNote says when a live judgement saw only some shards' data for
// the latest second it merged (the others' were late, or lost).
func partialNote(agg *merge.Aggregator, batch series.Batch) string {
	last, ok := lastTotal(batch.Points)
	if !ok {
		return ""
	}
	behind := agg.Behind(agg.Second(last.Time))
	if len(behind) == 0 {
		return ""
	}
	return fmt.Sprintf(" (judged on partial data: shard(s) %v had sent nothing for %s)", behind, last.Time.Format(time.TimeOnly))
}

func lastTotal(points []series.Point) (series.Point, bool) {
	for i := len(points) - 1; i >= 0; i-- {
		if points[i].Request == series.AllRequests {
			return points[i], true
		}
	}
	return series.Point{}, false
}

// Progress implements API.
func (s *Service) Progress(_ context.Context, runID string) (Progress, error) {
	s.mu.Lock()
	lr, ok := s.runs[runID]
	var last series.Point
	var reason string
	if ok {
		last, reason = lr.last, lr.abortReason
	}
	s.mu.Unlock()
	p := Progress{RunID: runID, Shards: []ShardProgress{}}
	if !ok {
		return p, nil
	}
	for _, sh := range lr.agg.Shards() {
		p.Shards = append(p.Shards, ShardProgress{Shard: sh.Shard, Attempt: sh.Attempt, LastSeq: sh.LastSeq,
			LastSeen: sh.LastEnd, Final: sh.Final})
	}
	total := lr.agg.Total(series.AllRequests)
	p.Time, p.RPS, p.P95Ms, p.ActiveUsers = last.Time, last.RPS, last.P95Ms, last.ActiveUsers
	p.PlannedRate, p.StartedRate = float64(last.PlannedArrivals), float64(last.StartedArrivals)
	if last.Count > 0 {
		p.ErrorRate = float64(last.KO) / float64(last.Count)
	}
	p.Requests, p.Errors = total.Count, total.KO
	p.Planned, p.Started, p.Dropped = total.ScheduledArrivals, total.Arrivals.Started, total.Arrivals.Dropped
	p.AbortReason = reason
	return p, nil
}

// Finish implements API.
func (s *Service) Finish(ctx context.Context, runID string) (Verdict, error) {
	if doc, err := s.store.Report(ctx, runID); err == nil {
		return verdictOf(doc)
	}
	run, err := s.store.Run(ctx, runID)
	if err != nil {
		return "", err
	}
	lr, err := s.live(run)
	if err != nil {
		return "", err
	}
	batch := lr.agg.Flush()
	if err := s.sink.Write(ctx, batch); err != nil {
		return "", fmt.Errorf("write the last series: %w", err)
	}
	if err := s.sink.Flush(ctx); err != nil {
		return "", fmt.Errorf("flush the series: %w", err)
	}
	doc, err := s.buildReport(ctx, run, lr)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode the report: %w", err)
	}
	if err := s.store.PutReport(ctx, runID, data); err != nil {
		return "", fmt.Errorf("store the report: %w", err)
	}
	s.notify(ctx, run, lr.plan)
	s.mu.Lock()
	delete(s.runs, runID)
	s.mu.Unlock()
	// The report holds the merged results now; a failure here only leaves
	// rows behind.
	if err := s.store.DeleteSnapshots(ctx, runID); err != nil {
		s.logger.Warn("dropping the run's kept snapshots", "run", runID, "err", err)
	}
	s.metrics.reports.WithLabelValues(string(doc.Verdict)).Inc()
	s.logger.Info("run reported", "run", runID, "verdict", doc.Verdict, "requests", doc.Total.Count)
	return doc.Verdict, nil
}

// Collect implements API.
func (s *Service) Collect(ctx context.Context, runID string, snaps []wire.Snapshot) error {
	run, err := s.store.Run(ctx, runID)
	if err != nil {
		return err
	}
	for _, snap := range snaps {
		if snap.RunID != run.ID || snap.Shard < 0 || snap.Shard >= len(run.Shards) || snap.Attempt > run.Shards[snap.Shard].Attempt {
			return fmt.Errorf("%w: snapshot %d of run %s shard %d attempt %d does not belong to run %s",
				ErrInvalidSnapshot, snap.Seq, snap.RunID, snap.Shard, snap.Attempt, run.ID)
		}
	}
	acked, err := s.ingest(ctx, run, snaps)
	if err != nil {
		return err
	}
	if len(acked) != len(snaps) {
		return fmt.Errorf("%w: %d of %d collected snapshots stored", ErrInvalidSnapshot, len(acked), len(snaps))
	}
	s.metrics.collected.Add(float64(len(snaps)))
	return nil
}

// notify queues the run's notifications: its team's defaults plus the
// plan's own.
func (s *Service) notify(ctx context.Context, run store.Run, p *plan.Plan) {
	if s.outbox == nil {
		return
	}
	var slack, email []string
	if team, err := s.store.Team(ctx, run.Team); err == nil {
		slack, email = append(slack, team.Slack...), append(email, team.Email...)
	}
	if p.Notify != nil {
		slack, email = append(slack, p.Notify.Slack...), append(email, p.Notify.Email...)
	}
	if len(slack)+len(email) == 0 {
		return
	}
	if err := s.outbox.Enqueue(ctx, run.ID, slack, email); err != nil {
		s.logger.Error("queueing notifications", "run", run.ID, "err", err)
	}
}

func verdictOf(doc json.RawMessage) (Verdict, error) {
	var v struct {
		Verdict Verdict `json:"verdict"`
	}
	if err := json.Unmarshal(doc, &v); err != nil || v.Verdict == "" {
		return "", fmt.Errorf("the stored report has no verdict: %v", err)
	}
	return v.Verdict, nil
}

var _ API = (*Service)(nil)

// SetOutbox sets where finished runs' notifications are queued (the
// dispatcher is built after the service, whose reports it renders).
func (s *Service) SetOutbox(o Outbox) { s.outbox = o }
