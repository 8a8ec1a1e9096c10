// Package httpserver is the HTTP plumbing every loadfleet target shares: JSON
// responses and errors, the ops endpoints (/healthz, /readyz, /metrics) and a
// listener that shuts down gracefully.
package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts of every loadfleet listener. Request bodies are small (plans are
// at most 1 MiB), so a client that trickles one for longer is cut off.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
)

// WriteJSON writes v as the JSON body of a response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // messages quote plans: keep "<" and ">" readable
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		body.Reset()
		_ = enc.Encode(ErrorBody{Error: "cannot encode the response", Code: CodeInternal})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

// WriteError writes {"error": message, "code": ...} with the given status,
// for an answer no error table decides (a malformed path, a refused
// credential); the code is the general one of the status (CodeOfStatus).
func WriteError(w http.ResponseWriter, status int, message string) {
	WriteJSON(w, status, ErrorBody{Error: message, Code: CodeOfStatus(status)})
}

// Mux is an http.ServeMux whose unknown routes answer with a JSON 404, and
// which serves the ops endpoints of one target.
type Mux struct {
	*http.ServeMux
	ready atomic.Bool
}

// NewMux returns a mux serving /healthz (always 200 while the process
// serves), /readyz (200 once SetReady(true), 503 otherwise) and /metrics
// (what g gathers: the target's own registry, never the global one).
func NewMux(g prometheus.Gatherer) *Mux {
	m := &Mux{ServeMux: http.NewServeMux()}
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.ready.Load() {
			WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	m.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return m
}

// SetReady says whether /readyz answers 200.
func (m *Mux) SetReady(ready bool) { m.ready.Store(ready) }

// Server is one listener serving one handler.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	logger *slog.Logger
}

// Listen binds addr ("127.0.0.1:8080", or port 0 for any free port); the
// bound address is then known through Addr before Serve is called.
func Listen(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return &Server{srv: srv, ln: ln, logger: logger}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx ends, then stops accepting connections and waits up
// to shutdownTimeout for requests in flight to finish. It returns nil after a
// graceful shutdown.
func (s *Server) Serve(ctx context.Context, shutdownTimeout time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	s.logger.Info("shutting down", "addr", s.Addr().String(), "timeout", shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down %s: %w", s.Addr(), err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", s.Addr(), err)
	}
	return nil
}
