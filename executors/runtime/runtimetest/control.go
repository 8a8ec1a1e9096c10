package runtimetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// Control is a real HTTP server on loopback speaking the executor API for
// one shard: it serves Spec, records the Ready report, and answers command
// polls with its clock shifted by Skew, the start instant once Start was
// called, and an abort once Abort was.
type Control struct {
	URL  string
	Skew time.Duration

	token string
	spec  wire.ShardSpec
	mu    sync.Mutex
	ready *wire.Ready
	start *time.Time
	abort bool
	fail  int
}

// NewControl starts a control plane for spec (whose Token it requires); it
// stops with the test.
func NewControl(t testing.TB, spec wire.ShardSpec, skew time.Duration) *Control {
	t.Helper()
	c := &Control{Skew: skew, token: spec.Token, spec: spec}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.SpecPath, c.authed(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, c.spec)
	}))
	mux.HandleFunc("POST "+wire.ReadyPath, c.authed(func(w http.ResponseWriter, r *http.Request) {
		var ready wire.Ready
		if err := json.NewDecoder(r.Body).Decode(&ready); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ready.RunID != c.spec.RunID || ready.Shard != c.spec.Shard {
			http.Error(w, "not this token's shard", http.StatusConflict)
			return
		}
		c.mu.Lock()
		c.ready = &ready
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET "+wire.CommandPath, c.authed(func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		cmd := wire.Command{StartAt: c.start, Abort: c.abort, ServerTime: c.Now()}
		c.mu.Unlock()
		writeJSON(w, cmd)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *Control) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+c.token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		c.mu.Lock()
		fail := c.fail > 0
		if fail {
			c.fail--
		}
		c.mu.Unlock()
		if fail {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Now is the control plane's clock.
func (c *Control) Now() time.Time { return time.Now().Add(c.Skew) }

// Ready is the executor's ready report, nil before it came.
func (c *Control) Ready() *wire.Ready {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// Start publishes the start instant (control plane clock).
func (c *Control) Start(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start = &at
}

// FailNext makes the next n requests answer 503, as a control plane that
// is not reachable yet.
func (c *Control) FailNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = n
}

// Abort asks the executor to stop.
func (c *Control) Abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abort = true
}
