// Package demotarget is the service `loadfleet demo` loads. It behaves like a
// real service with a fixed capacity: a few workers serve requests one at a
// time and the rest wait in line, so its latency stays flat at low load,
// rises steeply past the knee and recovers once the line drains. That makes
// a ramp's knee and a spike's recovery visible in the report.
package demotarget

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// Defaults of Config: 4 workers at 10 ms (plus timer overshoot) serve ~380
// requests/s, just under the peak of schemas/examples/spike.json (200
// sessions/s, 2 requests each), so its spike builds a line of a few hundred
// requests that drains after.
const (
	DefaultWorkers     = 4
	DefaultServiceTime = 10 * time.Millisecond
	DefaultMaxWaiting  = 5000
	DefaultStock       = 1_000_000
)

// Config sizes the service; zero values take the defaults.
type Config struct {
	// Workers serve one request each at a time.
	Workers int
	// ServiceTime is the mean time a request holds a worker (±20%).
	ServiceTime time.Duration
	// MaxWaiting is the line's length past which requests are shed with 503.
	MaxWaiting int
	// Stock is how many reservations succeed before they answer 409.
	Stock int64
}

// Target is the demo service: GET /sale, POST /api/reserve, GET /.
type Target struct {
	cfg     Config
	workers chan struct{}
	waiting atomic.Int64
	stock   atomic.Int64
	served  atomic.Int64
	shed    atomic.Int64
	mux     *http.ServeMux
}

// New returns the service, ready to serve.
func New(cfg Config) *Target {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.ServiceTime <= 0 {
		cfg.ServiceTime = DefaultServiceTime
	}
	if cfg.MaxWaiting <= 0 {
		cfg.MaxWaiting = DefaultMaxWaiting
	}
	if cfg.Stock <= 0 {
		cfg.Stock = DefaultStock
	}
	t := &Target{cfg: cfg, workers: make(chan struct{}, cfg.Workers), mux: http.NewServeMux()}
	t.stock.Store(cfg.Stock)
	t.mux.HandleFunc("GET /sale", t.sale)
	t.mux.HandleFunc("POST /api/reserve", t.reserve)
	t.mux.HandleFunc("GET /{$}", t.sale)
	return t
}

// Served is how many requests got an answer from a worker.
func (t *Target) Served() int64 { return t.served.Load() }

// Shed is how many requests were refused because the line was full.
func (t *Target) Shed() int64 { return t.shed.Load() }

// ServeHTTP queues the request for a worker, then answers it.
func (t *Target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t.waiting.Add(1) > int64(t.cfg.MaxWaiting) {
		t.waiting.Add(-1)
		t.shed.Add(1)
		http.Error(w, "overloaded: too many requests waiting", http.StatusServiceUnavailable)
		return
	}
	err := t.work(r.Context())
	t.waiting.Add(-1)
	if err != nil {
		return // the client gave up waiting
	}
	t.served.Add(1)
	t.mux.ServeHTTP(w, r)
}

// work holds a worker for one service time.
func (t *Target) work(ctx context.Context) error {
	select {
	case t.workers <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t.workers }()
	jitter := 0.8 + 0.4*rand.Float64()
	timer := time.NewTimer(time.Duration(jitter * float64(t.cfg.ServiceTime)))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Target) sale(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"sku":"FLASH-1","price":19.99,"left":%d}`+"\n", max(0, t.stock.Load()))
}

func (t *Target) reserve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("sku") == "" {
		http.Error(w, "a form with sku is required", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if t.stock.Add(-1) < 0 {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintln(w, `{"error":"sold out"}`)
		return
	}
	fmt.Fprintf(w, `{"reserved":%q,"session":%q}`+"\n", r.PostForm.Get("sku"), r.PostForm.Get("session"))
}
