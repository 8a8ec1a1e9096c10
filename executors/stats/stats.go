// Package stats measures requests per request name the way every loadfleet
// tool adapter reports them: latency from the intended start and service time
// from the actual send, each an HDR histogram of microseconds (1 µs to 1 h, 3
// significant digits), ok and ko counts with ko by reason, and bytes. Collect
// hands over what was measured since the previous call as wire.RequestStats.
//
// Recording is built for ~100k requests per second from many goroutines: each
// request name keeps one stripe per CPU, each behind its own mutex, and a
// recorder picks its stripe from a hint it owns (a user or worker number), so
// two goroutines running at the same instant rarely share a lock. Collect
// swaps every stripe for an empty one and merges outside the locks.
package stats

import (
	"fmt"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// NewHistogram returns an empty histogram with loadfleet's geometry
// (wire.HistLowest, wire.HistHighest, wire.HistDigits).
func NewHistogram() *hdrhistogram.Histogram {
	h := hdrhistogram.New(wire.HistLowest, wire.HistHighest, wire.HistDigits)
	// Clearing the fresh counts touches their pages now, when the
	// histogram is made (at prepare time), instead of with the first
	// requests of a run: on a virtual machine a page fault costs tens of
	// microseconds, and a run's first second paid hundreds of them.
	h.Reset()
	return h
}

// Micros converts a duration to a recordable histogram value: negative
// durations (clock steps) count as 0 and durations past an hour as an hour.
func Micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	switch {
	case us < 0:
		return 0
	case us > wire.HistHighest:
		return wire.HistHighest
	}
	return us
}

// Reason is the outcome of a request: OK, or why it failed.
type Reason uint8

// The outcomes of a request. The strings of the failures are the ko reasons
// of wire.RequestStats.
const (
	OK Reason = iota
	Status4xx
	Status5xx
	Timeout
	ConnectionRefused
	ConnectionReset
	CheckFailed
	Error
	numReasons
)

// String is the wire name of the reason ("" for OK).
func (r Reason) String() string {
	switch r {
	case OK:
		return ""
	case Status4xx:
		return "status_4xx"
	case Status5xx:
		return "status_5xx"
	case Timeout:
		return "timeout"
	case ConnectionRefused:
		return "connection_refused"
	case ConnectionReset:
		return "connection_reset"
	case CheckFailed:
		return "check_failed"
	}
	return "error"
}

// ParseReason maps a wire ko reason back to a Reason; unknown names are Error,
// so that adapters can pass through what their tool reports.
func ParseReason(s string) Reason {
	for r := Status4xx; r < numReasons; r++ {
		if r.String() == s {
			return r
		}
	}
	return Error
}

// Sample is one measured request.
type Sample struct {
	// Latency is from the intended start of the request to its last byte.
	Latency time.Duration
	// Service is from the actual send to the last byte.
	Service       time.Duration
	Reason        Reason
	BytesSent     int64
	BytesReceived int64
}

// Recorder holds the measurements of every request name. It is safe for
// concurrent use.
type Recorder struct {
	stripes int
	pause   func()

	mu     sync.RWMutex
	byName map[string]*Request
}

// Option tunes a Recorder.
type Option func(*Recorder)

// WithStripes sets how many independently locked stripes each request name
// has (GOMAXPROCS by default). Each stripe costs four dense histograms of
// about 190 kB.
func WithStripes(n int) Option {
	return func(r *Recorder) { r.stripes = max(1, n) }
}

// WithPause makes Collect call pause between its passes over histograms
// (each a copy, scan or clear of about 190 kB). A tool that records on the
// CPU it collects from passes a short sleep: Go preempts a goroutine only
// after 10 ms, and a collection done in one go (milliseconds on a busy
// virtual machine) held up every request and arrival behind it.
func WithPause(pause func()) Option {
	return func(r *Recorder) { r.pause = pause }
}

// New returns an empty Recorder.
func New(opts ...Option) *Recorder {
	r := &Recorder{stripes: goruntime.GOMAXPROCS(0), byName: map[string]*Request{}, pause: func() {}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Request returns the recorder of one request name, creating it on first
// use. Look handles up once (at prepare time) and keep them: the lookup
// takes a lock.
func (r *Recorder) Request(name string) *Request {
	r.mu.RLock()
	q := r.byName[name]
	r.mu.RUnlock()
	if q != nil {
		return q
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if q = r.byName[name]; q == nil {
		q = newRequest(name, r.stripes)
		r.byName[name] = q
	}
	return q
}

// Collect returns what every request name measured since the previous call,
// sorted by name, leaving out names that measured nothing.
func (r *Recorder) Collect() ([]wire.RequestStats, error) {
	r.mu.RLock()
	reqs := make([]*Request, 0, len(r.byName))
	for _, q := range r.byName {
		reqs = append(reqs, q)
	}
	r.mu.RUnlock()
	slices.SortFunc(reqs, func(a, b *Request) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	var out []wire.RequestStats
	for _, q := range reqs {
		rs, ok, err := q.collect(r.pause)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, rs)
		}
	}
	return out, nil
}

// Request is the recorder of one request name.
type Request struct {
	name    string
	stripes []stripe

	// collectMu serialises Collect calls; merged is their scratch space.
	collectMu sync.Mutex
	merged    *window
}

// stripe is padded to its own cache lines so that two CPUs recording into
// neighbouring stripes do not share one.
type stripe struct {
	mu    sync.Mutex
	cur   *window
	spare *window
	_     [40]byte
}

// window is one interval's measurements.
type window struct {
	latency, service *hdrhistogram.Histogram
	count            int64
	ko               [numReasons]int64
	sent, received   int64
}

func newWindow() *window {
	return &window{latency: NewHistogram(), service: NewHistogram()}
}

func (w *window) reset(pause func()) {
	if w.count == 0 {
		return // already empty: skip clearing 2 × 23k counters
	}
	w.latency.Reset()
	pause()
	w.service.Reset()
	w.count, w.ko, w.sent, w.received = 0, [numReasons]int64{}, 0, 0
}

func (w *window) merge(from *window) {
	if from.count == 0 {
		return
	}
	w.latency.Merge(from.latency)
	w.service.Merge(from.service)
	w.count += from.count
	for i, n := range from.ko {
		w.ko[i] += n
	}
	w.sent += from.sent
	w.received += from.received
}

func newRequest(name string, stripes int) *Request {
	q := &Request{name: name, stripes: make([]stripe, stripes), merged: newWindow()}
	for i := range q.stripes {
		q.stripes[i].cur, q.stripes[i].spare = newWindow(), newWindow()
	}
	return q
}

// Name is the request name.
func (q *Request) Name() string { return q.name }

// Record adds one sample. hint chooses the stripe: give each concurrently
// recording goroutine its own (a user or session number).
func (q *Request) Record(hint uint32, s Sample) {
	st := &q.stripes[hint%uint32(len(q.stripes))]
	lat, svc := Micros(s.Latency), Micros(s.Service)
	st.mu.Lock()
	w := st.cur
	// Values are clamped into range, so recording cannot fail.
	_ = w.latency.RecordValue(lat)
	_ = w.service.RecordValue(svc)
	w.count++
	w.ko[s.Reason]++
	w.sent += s.BytesSent
	w.received += s.BytesReceived
	st.mu.Unlock()
}

// collect swaps every stripe's window for its empty spare and merges the
// full ones. ok is false when nothing was recorded.
func (q *Request) collect(pause func()) (rs wire.RequestStats, ok bool, err error) {
	q.collectMu.Lock()
	defer q.collectMu.Unlock()
	if len(q.stripes) == 1 {
		// One stripe: encode its window directly instead of merging.
		st := &q.stripes[0]
		st.swap()
		defer st.spare.reset(pause)
		return q.encode(st.spare, pause)
	}
	acc := q.merged
	defer acc.reset(pause)
	for i := range q.stripes {
		st := &q.stripes[i]
		st.swap()
		acc.merge(st.spare)
		pause()
		st.spare.reset(pause)
	}
	return q.encode(acc, pause)
}

// swap makes the recorded window the spare and the empty spare current.
func (st *stripe) swap() {
	st.mu.Lock()
	st.cur, st.spare = st.spare, st.cur
	st.mu.Unlock()
}

func (q *Request) encode(w *window, pause func()) (wire.RequestStats, bool, error) {
	if w.count == 0 {
		return wire.RequestStats{}, false, nil
	}
	rs := wire.RequestStats{
		Name:          q.name,
		OK:            w.ko[OK],
		BytesSent:     w.sent,
		BytesReceived: w.received,
	}
	for r := Status4xx; r < numReasons; r++ {
		if n := w.ko[r]; n > 0 {
			if rs.KO == nil {
				rs.KO = map[string]int64{}
			}
			rs.KO[r.String()] = n
		}
	}
	var err error
	if rs.Latency, err = EncodeHistogram(w.latency); err != nil {
		return rs, false, fmt.Errorf("encode latency of %q: %w", q.name, err)
	}
	pause()
	if rs.Service, err = EncodeHistogram(w.service); err != nil {
		return rs, false, fmt.Errorf("encode service time of %q: %w", q.name, err)
	}
	return rs, true, nil
}
