package httpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/httpserver"
)

func TestServeLetsRequestsInFlightFinish(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	mux := httpserver.NewMux(prometheus.NewRegistry())
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		httpserver.WriteJSON(w, http.StatusOK, map[string]string{"done": "yes"})
	})
	srv, err := httpserver.Listen("127.0.0.1:0", mux, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, 10*time.Second) }()

	status := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + srv.Addr().String() + "/slow")
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-entered
	cancel() // shutdown starts while the request is in flight
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v before the request in flight finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if got := <-status; got != http.StatusOK {
		t.Fatalf("request in flight during shutdown = %d, want 200", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v, want nil after a graceful shutdown", err)
	}
}

func TestWriteJSONKeepsMessagesReadable(t *testing.T) {
	rec := httptest.NewRecorder()
	httpserver.WriteError(rec, http.StatusUnprocessableEntity, "rate must be >= 0 & < 1e6")
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 422 || rec.Header().Get("Content-Type") != "application/json" ||
		string(body) != `{"error":"rate must be >= 0 & < 1e6","code":"invalid_plan"}`+"\n" {
		t.Fatalf("WriteError = %d %q %s", rec.Code, rec.Header().Get("Content-Type"), body)
	}
}

func TestReadyzFollowsSetReady(t *testing.T) {
	mux := httpserver.NewMux(prometheus.NewRegistry())
	for _, tt := range []struct {
		ready bool
		want  int
	}{{false, 503}, {true, 200}, {false, 503}} {
		mux.SetReady(tt.ready)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != tt.want {
			t.Fatalf("ready %v: /readyz = %d, want %d", tt.ready, rec.Code, tt.want)
		}
	}
}
