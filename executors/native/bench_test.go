package native

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// rawServer answers every request on a keep-alive connection with a tiny
// fixed response, as cheaply as possible, so that benchmarks measure the
// injector rather than the server.
func rawServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReaderSize(conn, 4096)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(bytes.TrimSpace(line)) == 0 { // end of a GET's headers
						if _, err := conn.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// benchTarget is LOADFLEET_BENCH_URL (say, nginx pinned to another CPU) or
// an in-process raw server.
func benchTarget(b *testing.B) string {
	if u := os.Getenv("LOADFLEET_BENCH_URL"); u != "" {
		return u
	}
	return rawServer(b)
}

// BenchmarkClosedLoop runs the real Tool: 64 users looping a one-request
// scenario for LOADFLEET_BENCH_SECONDS (default 2), and reports req/s.
// One iteration is one whole run: use -benchtime 1x.
func BenchmarkClosedLoop(b *testing.B) {
	target := benchTarget(b)
	during := os.Getenv("LOADFLEET_BENCH_SECONDS")
	if during == "" {
		during = "2"
	}
	for b.Loop() {
		spec := &wire.ShardSpec{RunID: "bench", Shards: 1}
		benchPlan(b, spec, `{"name": "bench", "target": {"baseUrl": %q},
			"scenarios": [{"name": "s", "steps": [{"request": {"name": "r", "url": "/"}}]}],
			"load": {"closed": [{"constantConcurrentUsers": {"users": 64, "during": %s}}], "gracefulStop": "1s"}}`, target, during)
		reportRun(b, spec)
	}
}

// BenchmarkOpenModel runs an open model at LOADFLEET_BENCH_RATE (default
// 20000/s) and reports the achieved rate and the schedule lag p99.
func BenchmarkOpenModel(b *testing.B) {
	target := benchTarget(b)
	rate := os.Getenv("LOADFLEET_BENCH_RATE")
	if rate == "" {
		rate = "20000"
	}
	during := os.Getenv("LOADFLEET_BENCH_SECONDS")
	if during == "" {
		during = "2"
	}
	for b.Loop() {
		spec := &wire.ShardSpec{RunID: "bench", Shards: 1}
		benchPlan(b, spec, `{"name": "bench", "target": {"baseUrl": %q},
			"scenarios": [{"name": "s", "steps": [{"request": {"name": "r", "url": "/"}}]}],
			"load": {"open": [{"constantUsersPerSec": {"rate": %s, "during": %s}}], "gracefulStop": "1s"}}`, target, rate, during)
		reportRun(b, spec)
	}
}

func benchPlan(b *testing.B, spec *wire.ShardSpec, format string, args ...any) {
	b.Helper()
	*spec = *parsePlan(b, format, args...)
}

func reportRun(b *testing.B, spec *wire.ShardSpec) {
	tool := New(logger())
	if err := tool.Prepare(context.Background(), spec); err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(10 * time.Millisecond)
	var lagP99 float64
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tool.Run(context.Background(), start)
	}()
	var ok, ko, started, conns, active int64
	collect := func() {
		iv := tool.Collect()
		conns = max(conns, iv.Health.OpenConnections)
		active = max(active, iv.Health.ActiveSessions)
		lagP99 = max(lagP99, iv.Health.ScheduleLagP99Ms)
		started += iv.Arrivals.Started
		for _, rs := range iv.Requests {
			ok += rs.OK
			for _, n := range rs.KO {
				ko += n
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			collect()
		case <-done:
			collect()
			break loop
		}
	}
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(ok+ko)/secs, "req/s")
	b.ReportMetric(float64(ko), "ko")
	b.ReportMetric(lagP99, "lagP99ms")
	b.ReportMetric(float64(started)/secs, "sessions/s")
	b.ReportMetric(float64(conns), "maxConns")
	b.ReportMetric(float64(active), "maxActive")
}
