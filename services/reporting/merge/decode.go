package merge

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// maxCount bounds every count of one snapshot (2^40, a trillion requests in
// a second), so that sums over a run can never overflow int64.
const maxCount = int64(1) << 40

// maxDistance bounds how far from the run start a snapshot may be: a run's
// load lasts at most plan.MaxRunLength; a day more covers the graceful stop
// and clock error. Farther is a corrupt timestamp, and keeping it would
// stretch every per-second structure.
const maxDistance = plan.MaxRunLength + 24*time.Hour

// decoded is a snapshot checked and ready to merge: nothing is merged until
// the whole snapshot decodes, so a bad one changes nothing.
type decoded struct {
	snap       *wire.Snapshot
	start, end time.Time // control plane clock
	requests   []request
	k          int64 // the run second it counts in, set by place
}

type request struct {
	name string
	stats.Interval
}

// decode checks s and decodes its histograms; offset converts its times to
// the control plane clock.
func decode(s *wire.Snapshot, offset time.Duration) (*decoded, error) {
	if s.Seq == 0 {
		return nil, fmt.Errorf("%w: sequence numbers start at 1", ErrBadSnapshot)
	}
	if s.Start.IsZero() || s.End.Before(s.Start) {
		return nil, fmt.Errorf("%w: interval %s to %s", ErrBadSnapshot, s.Start, s.End)
	}
	if err := checkCounts("arrivals", s.Arrivals.Planned, s.Arrivals.Started, s.Arrivals.Dropped,
		s.Arrivals.Interrupted, s.Arrivals.Completed); err != nil {
		return nil, err
	}
	d := &decoded{snap: s, start: s.Start.Add(offset), end: s.End.Add(offset),
		requests: make([]request, 0, len(s.Requests))}
	for i := range s.Requests {
		r, err := decodeRequest(&s.Requests[i])
		if err != nil {
			return nil, fmt.Errorf("request %q: %w", s.Requests[i].Name, err)
		}
		d.requests = append(d.requests, r)
	}
	return d, nil
}

func decodeRequest(rs *wire.RequestStats) (request, error) {
	r := request{name: rs.Name, Interval: stats.Interval{OK: rs.OK, Sent: rs.BytesSent, Received: rs.BytesReceived, KO: rs.KO}}
	if rs.Name == allRequests {
		return r, fmt.Errorf("%w: empty request name", ErrBadSnapshot)
	}
	if err := checkCounts("counts", rs.OK, rs.BytesSent, rs.BytesReceived); err != nil {
		return r, err
	}
	for reason, n := range rs.KO {
		if err := checkCounts("ko "+reason, n); err != nil {
			return r, err
		}
	}
	var err error
	if r.Latency, err = decodeHistogram(rs.Latency); err != nil {
		return r, fmt.Errorf("latency: %w", err)
	}
	if r.Service, err = decodeHistogram(rs.Service); err != nil {
		return r, fmt.Errorf("service time: %w", err)
	}
	return r, nil
}

func checkCounts(what string, ns ...int64) error {
	for _, n := range ns {
		if n < 0 || n > maxCount {
			return fmt.Errorf("%w: %s: count %d out of range", ErrBadSnapshot, what, n)
		}
	}
	return nil
}

// decodeHistogram decodes one histogram of a snapshot (stats.DecodePacked)
// and bounds its count like every other count of a snapshot.
func decodeHistogram(raw []byte) (*hdrhistogram.PackedHistogram, error) {
	h, err := stats.DecodePacked(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if h != nil && h.TotalCount() > maxCount {
		return nil, fmt.Errorf("%w: histogram of %d values", ErrBadSnapshot, h.TotalCount())
	}
	return h, nil
}
