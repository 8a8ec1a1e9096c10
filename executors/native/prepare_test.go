package native

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestPreparedWorkers(t *testing.T) {
	cases := []struct {
		name  string
		rate  float64
		limit int
		want  int
	}{
		{"a slow plan still gets a few", 1, 0, minPreparedWorkers},
		{"4 ms of arrivals at the peak rate", 40000, 0, 160},
		{"never more than the session cap", 40000, 100, 100},
		{"never more than the ceiling", 1e6, 0, maxPreparedWorkers},
	}
	for _, tc := range cases {
		if got := preparedWorkers(tc.rate, tc.limit); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Prepare readies the open model's workers and connections before the
// start; a shard aborted before it started releases them on Close.
func TestCloseReleasesWhatPrepareHeldWithoutARun(t *testing.T) {
	var hits atomic.Int64
	srv := okServer(t, &hits)
	before := runtime.NumGoroutine()
	spec := parsePlan(t, `{"name": "warm", "target": {"baseUrl": %q},
		"scenarios": [{"name": "s", "steps": [{"request": %s}]}],
		"load": {"open": [{"constantUsersPerSec": {"rate": 20000, "during": "1s"}}]}}`, srv.URL, oneRequest)
	tool := New(logger())
	if err := tool.Prepare(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if n := tool.client.OpenConnections(); n != 20 {
		t.Errorf("%d connections warmed, want 20 (1 ms of service at 20,000/s)", n)
	}
	if grew := runtime.NumGoroutine() - before; grew < preparedWorkers(20000, 0) {
		t.Errorf("%d goroutines more after Prepare, want at least the %d prepared workers", grew, preparedWorkers(20000, 0))
	}
	if hits.Load() != 0 {
		t.Errorf("the target saw %d requests before the start", hits.Load())
	}
	if err := tool.Close(); err != nil {
		t.Fatal(err)
	}
	if n := tool.client.OpenConnections(); n != 0 {
		t.Errorf("%d connections open after Close", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after Close, %d before Prepare", n, before)
	}
}
