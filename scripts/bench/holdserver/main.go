// Command holdserver is the benchmark's slow target: an HTTP server on
// loopback that holds every request for a fixed time before answering, so
// that a load generator must keep many sessions in flight at once.
//
// It prints its address ("127.0.0.1:PORT") on the first line of stdout once
// it accepts connections, then serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	hold := flag.Duration("hold", time.Second, "how long each request is held before the answer")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *hold, logger); err != nil {
		logger.Error("holdserver failed", "err", err)
		os.Exit(1)
	}
}

func run(addr string, hold time.Duration, logger *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("parse -addr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only loopback addresses are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           holdHandler(hold),
		ReadHeaderTimeout: 10 * time.Second,
		// Silence "too many open files"-style accept noise from flooding the
		// benchmark output; it still shows up as failed requests.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	fmt.Println(ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// holdHandler answers "ok" after hold, or gives up when the client leaves.
func holdHandler(hold time.Duration) http.Handler {
	body := []byte("ok")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(hold)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "2")
		_, _ = w.Write(body)
	})
}
