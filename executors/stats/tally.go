package stats

import (
	"encoding/base64"
	"fmt"
	"maps"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Interval is one request name's measurements over one interval (a
// snapshot's wire.RequestStats), its histograms decoded with DecodePacked:
// what a Tally adds up.
type Interval struct {
	OK, Sent, Received int64
	KO                 map[string]int64
	// Latency and Service are nil when the snapshot carried none.
	Latency, Service *hdrhistogram.PackedHistogram
}

// Tally is one request name's (or all requests') measurements over a span,
// merged exactly: the one merge of request results, used by the executor's
// standalone summary and by the control plane's merge alike, so that both
// report the same percentiles of the same histograms. It is not safe for
// concurrent use.
type Tally struct {
	ok, sent, received int64
	ko                 map[string]int64
	latency, service   *hdrhistogram.PackedHistogram
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{latency: NewPacked(), service: NewPacked()}
}

// NewPacked returns an empty sparse histogram of loadfleet's geometry. A
// packed histogram holds only populated buckets (4 bytes of index plus 1 to 8
// of count each) and merges in time linear in them, where a dense one is
// ~190 kB whatever it holds.
func NewPacked() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(wire.HistLowest, wire.HistHighest, wire.HistDigits)
}

// Add adds one interval.
func (t *Tally) Add(in Interval) {
	t.ok += in.OK
	t.sent += in.Sent
	t.received += in.Received
	t.addKO(in.KO)
	if in.Latency != nil {
		t.latency.Merge(in.Latency)
	}
	if in.Service != nil {
		t.service.Merge(in.Service)
	}
}

// Merge adds everything o holds.
func (t *Tally) Merge(o *Tally) {
	t.ok += o.ok
	t.sent += o.sent
	t.received += o.received
	t.addKO(o.ko)
	t.latency.Merge(o.latency)
	t.service.Merge(o.service)
}

func (t *Tally) addKO(ko map[string]int64) {
	for reason, n := range ko {
		if n == 0 {
			continue
		}
		if t.ko == nil {
			t.ko = map[string]int64{}
		}
		t.ko[reason] += n
	}
}

// Reset empties the tally, keeping its memory.
func (t *Tally) Reset() {
	t.ok, t.sent, t.received = 0, 0, 0
	clear(t.ko)
	t.latency.Reset()
	t.service.Reset()
}

// Compact gives back the spare capacity of a tally that will rarely change
// again.
func (t *Tally) Compact() {
	t.latency.Compact()
	t.service.Compact()
}

// percentiles is the one percentile set of a wire.Summary, in its field
// order (P50Ms to P999Ms).
var percentiles = []float64{50, 75, 90, 95, 99, 99.9}

// Summary is the tally's counts, bytes and latencies. The span's fields
// (From, To, DurationSeconds, RPS, Arrivals, ScheduledArrivals) are the
// caller's to set: a tally does not know its span.
func (t *Tally) Summary(name string) wire.Summary {
	s := wire.Summary{Name: name, OK: t.ok, BytesSent: t.sent, BytesReceived: t.received}
	if len(t.ko) > 0 {
		s.KOByReason = maps.Clone(t.ko)
	}
	for _, n := range t.ko {
		s.KO += n
	}
	s.Count = s.OK + s.KO
	if t.latency.TotalCount() > 0 {
		v := t.latency.ValueAtPercentilesSlice(percentiles)
		s.P50Ms, s.P75Ms, s.P90Ms, s.P95Ms, s.P99Ms, s.P999Ms = ms(v[0]), ms(v[1]), ms(v[2]), ms(v[3]), ms(v[4]), ms(v[5])
		s.MaxMs = ms(t.latency.Max())
		s.MeanMs = t.latency.Mean() / 1000
	}
	if t.service.TotalCount() > 0 {
		s.ServiceP99Ms = ms(t.service.ValueAtPercentile(99))
	}
	return s
}

func ms(us int64) float64 { return float64(us) / 1000 }

// DecodePacked reads the wire form (EncodeHistogram) straight into a sparse
// histogram: decoding into a dense one would allocate ~190 kB per request
// name per snapshot. A histogram of another geometry is re-recorded into
// loadfleet's, and refused if some of its values do not fit. Empty raw is
// no histogram (nil).
func DecodePacked(raw []byte) (*hdrhistogram.PackedHistogram, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	h, err := hdrhistogram.DecodePacked([]byte(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	if h.LowestTrackableValue() == wire.HistLowest && h.HighestTrackableValue() == wire.HistHighest &&
		h.SignificantFigures() == wire.HistDigits {
		return h, nil
	}
	norm := NewPacked()
	if dropped := norm.Merge(h); dropped > 0 {
		return nil, fmt.Errorf("%d histogram values outside 1 µs to 1 h", dropped)
	}
	return norm, nil
}
