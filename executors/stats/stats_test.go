package stats

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

func decode(t *testing.T, b []byte) *hdrhistogram.Histogram {
	t.Helper()
	h, err := DecodeHistogram(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return h
}

func TestRecorderCollectsEveryStripeExactly(t *testing.T) {
	for _, stripes := range []int{1, 4} { // the single-stripe path skips merging
		r := New(WithStripes(stripes))
		home := r.Request("home")
		var wg sync.WaitGroup
		const goroutines, each = 8, 1000
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					s := Sample{Latency: time.Duration(i+1) * time.Millisecond, Service: time.Duration(i+1) * time.Microsecond, BytesSent: 10, BytesReceived: 100}
					if i%10 == 0 {
						s.Reason = Status5xx
					}
					home.Record(uint32(g), s)
				}
			}()
		}
		wg.Wait()
		got, err := r.Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Name != "home" {
			t.Fatalf("stripes=%d: got %+v", stripes, got)
		}
		rs := got[0]
		if rs.OK != goroutines*each*9/10 || rs.KO["status_5xx"] != goroutines*each/10 || len(rs.KO) != 1 {
			t.Errorf("stripes=%d: ok %d ko %v", stripes, rs.OK, rs.KO)
		}
		if rs.BytesSent != goroutines*each*10 || rs.BytesReceived != goroutines*each*100 {
			t.Errorf("stripes=%d: bytes %d/%d", stripes, rs.BytesSent, rs.BytesReceived)
		}
		lat, svc := decode(t, rs.Latency), decode(t, rs.Service)
		if lat.TotalCount() != goroutines*each || svc.TotalCount() != goroutines*each {
			t.Errorf("stripes=%d: counts %d/%d", stripes, lat.TotalCount(), svc.TotalCount())
		}
		// Latency values are 1..1000 ms in µs: p50 is 500 ms within 3 digits.
		if p50 := lat.ValueAtQuantile(50); p50 < 499_000 || p50 > 501_000 {
			t.Errorf("stripes=%d: latency p50 %d µs", stripes, p50)
		}
		if max := svc.Max(); max < 999 || max > 1001 {
			t.Errorf("stripes=%d: service max %d µs", stripes, max)
		}
		// The next interval starts empty.
		again, err := r.Collect()
		if err != nil || len(again) != 0 {
			t.Errorf("stripes=%d: second collect %+v, %v", stripes, again, err)
		}
	}
}

func TestRecorderClampsOutOfRangeDurations(t *testing.T) {
	r := New(WithStripes(1))
	q := r.Request("x")
	q.Record(0, Sample{Latency: 2 * time.Hour, Service: -time.Second}) // a clock step must not lose the sample
	got, _ := r.Collect()
	if len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	if lat := decode(t, got[0].Latency); lat.TotalCount() != 1 || lat.Max() < wire.HistHighest*999/1000 {
		t.Errorf("latency count %d max %d", lat.TotalCount(), lat.Max())
	}
}

func TestCollectSortsNamesAndSkipsIdleOnes(t *testing.T) {
	r := New()
	r.Request("idle")
	r.Request("b").Record(0, Sample{})
	r.Request("a").Record(1, Sample{Reason: Timeout})
	got, _ := r.Collect()
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("got %+v", got)
	}
	if got[0].KO["timeout"] != 1 {
		t.Errorf("ko %v", got[0].KO)
	}
}

func TestReasonNamesRoundTrip(t *testing.T) {
	for r := Status4xx; r < numReasons; r++ {
		if ParseReason(r.String()) != r {
			t.Errorf("%v does not round-trip", r)
		}
	}
	if ParseReason("weird") != Error {
		t.Error("unknown reasons must map to error")
	}
}

func TestArrivalsAndLagCollectIntervals(t *testing.T) {
	var a Arrivals
	a.Planned(3)
	a.Started(2)
	a.Dropped(1)
	if got := a.Collect(); got.Planned != 3 || got.Started != 2 || got.Dropped != 1 {
		t.Errorf("got %+v", got)
	}
	a.Dropped(2)
	if got := a.Collect(); got.Planned != 0 || got.Dropped != 2 || a.DroppedTotal() != 3 {
		t.Errorf("got %+v total %d", got, a.DroppedTotal())
	}
	l := NewLag(func() {})
	for i := range 100 {
		l.Record(time.Duration(i+1) * 100 * time.Microsecond)
	}
	p99, enc, err := l.Collect()
	if p99 < 9.8 || p99 > 10 || err != nil {
		t.Errorf("p99 %v ms, %v", p99, err)
	}
	// The interval travels whole: its decoded lags are those recorded.
	if h, err := DecodeHistogram(enc); err != nil || h.TotalCount() != 100 || h.Max() < 9990 || h.Max() > 10010 {
		t.Errorf("encoded interval: %v, count %d, max %d µs", err, h.TotalCount(), h.Max())
	}
	if p99, enc, _ := l.Collect(); p99 != 0 || enc != nil {
		t.Errorf("empty interval p99 %v, %d bytes", p99, len(enc))
	}
	// The two histograms take turns: a third interval starts empty and
	// measures only its own values.
	l.Record(3 * time.Millisecond)
	if p99, _, _ := l.Collect(); p99 < 2.99 || p99 > 3.01 {
		t.Errorf("third interval p99 %v ms, want 3", p99)
	}
	l.Record(time.Millisecond)
	if p99, _, _ := l.Collect(); p99 < 0.99 || p99 > 1.01 {
		t.Errorf("fourth interval p99 %v ms, want 1", p99)
	}
}

// BenchmarkRecord measures the hot path from parallel goroutines, each with
// its own hint, as the engine's users record.
func BenchmarkRecord(b *testing.B) {
	q := New().Request("home")
	var next atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		hint := next.Add(1)
		s := Sample{Latency: 1200 * time.Microsecond, Service: 800 * time.Microsecond, BytesSent: 80, BytesReceived: 250}
		for pb.Next() {
			q.Record(hint, s)
		}
	})
}

// BenchmarkCollect measures the per-second cost of one request name.
func BenchmarkCollect(b *testing.B) {
	r := New()
	q := r.Request("home")
	for i := range b.N {
		for j := range 1000 {
			q.Record(uint32(j), Sample{Latency: time.Duration(j) * time.Microsecond})
		}
		_ = i
		if _, err := r.Collect(); err != nil {
			b.Fatal(err)
		}
	}
}
