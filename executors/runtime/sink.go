package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Sink receives the shard's snapshots.
//
// Concurrency: the runtime calls Send from one goroutine, in sequence order
// (seq 1, 2, ... without gaps), and Close once after the last Send; an
// implementation need not make Send and Close safe for concurrent callers.
// Send must not block on the network: a slow or absent destination must not
// delay the next snapshot.
//
// Delivery: a snapshot accepted by Send (nil error) is delivered at least
// once, or stays on disk for the next executor started for the same shard.
// Destinations store snapshots idempotently by (runId, shard, attempt, seq),
// which makes at-least-once delivery store each snapshot exactly once. A
// non-nil error from Send means that snapshot will never be delivered
// (ErrSpoolFull): the runtime counts it and the run fails loudly.
//
// Close delivers what is pending until ctx is done, then releases resources.
// It returns ErrUndelivered when snapshots are still pending at the deadline.
type Sink interface {
	Send(ctx context.Context, s wire.Snapshot) error
	Close(ctx context.Context) error
}

// Sink errors.
var (
	// ErrSpoolFull: the spool reached its size bound; the snapshot was
	// dropped and counted.
	ErrSpoolFull = errors.New("snapshot spool full: snapshot dropped")
	// ErrUndelivered: Close's deadline passed with snapshots not acknowledged.
	ErrUndelivered = errors.New("snapshots not delivered")
)

// FileSink writes snapshots as JSON lines, one snapshot per line.
type FileSink struct {
	f   *os.File
	buf *bufio.Writer
	enc *json.Encoder
}

// NewFileSink creates (or truncates) path.
func NewFileSink(path string) (*FileSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	buf := bufio.NewWriter(f)
	return &FileSink{f: f, buf: buf, enc: json.NewEncoder(buf)}, nil
}

// Send appends the snapshot as one line. Each line is flushed to the file at
// once so that a killed executor leaves every snapshot it sent.
func (s *FileSink) Send(_ context.Context, snap wire.Snapshot) error {
	if err := s.enc.Encode(snap); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if err := s.buf.Flush(); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// Close syncs the file to disk and closes it.
func (s *FileSink) Close(context.Context) error {
	err := errors.Join(s.buf.Flush(), s.f.Sync(), s.f.Close())
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// Tee sends every snapshot to each of its sinks.
type Tee []Sink

// Send sends to every sink, all of them even when one fails.
func (t Tee) Send(ctx context.Context, snap wire.Snapshot) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Send(ctx, snap))
	}
	return errors.Join(errs...)
}

// LastSeq is the highest LastSeq of the sinks that keep one (see
// HTTPSink.LastSeq), so that the runner continues the sequence after it.
func (t Tee) LastSeq() uint64 {
	var last uint64
	for _, s := range t {
		if r, ok := s.(interface{ LastSeq() uint64 }); ok {
			last = max(last, r.LastSeq())
		}
	}
	return last
}

// Close closes every sink concurrently, so each gets the whole deadline.
func (t Tee) Close(ctx context.Context) error {
	errs := make([]error, len(t))
	var wg sync.WaitGroup
	for i, s := range t {
		wg.Go(func() { errs[i] = s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

var (
	_ Sink = (*FileSink)(nil)
	_ Sink = Tee(nil)
)
