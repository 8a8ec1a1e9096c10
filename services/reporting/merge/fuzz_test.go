package merge_test

import (
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/services/reporting/merge"
	"github.com/loadfleet/loadfleet/services/reporting/merge/mergetest"
)

// encodeForeign encodes one value in a histogram of another geometry (2
// significant digits, up to 100 h), as a foreign tool might.
func encodeForeign(t testing.TB, v int64) []byte {
	t.Helper()
	h := hdrhistogram.New(1, int64(100*time.Hour/time.Microsecond), 2)
	if err := h.RecordValue(v); err != nil {
		t.Fatal(err)
	}
	raw, err := stats.EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// FuzzAdd feeds arbitrary histogram bytes: Add must never panic, and a
// snapshot it accepts must leave queryable, consistent results.
func FuzzAdd(f *testing.F) {
	f.Add(mergetest.Hist(f, 1, 2, 3), mergetest.Hist(f, 1), int64(3))
	f.Add(encodeForeign(f, 1_000_000), []byte{}, int64(1))
	f.Add([]byte("HISTFAAAAB"), []byte{0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 0}, int64(0))
	f.Fuzz(func(t *testing.T, latency, service []byte, ok int64) {
		a := merge.New(merge.Config{RunID: "r", Start: t0}, nil)
		s := mergetest.Snapshot(t, mergetest.Shot{RunID: "r", Seq: 1, Start: t0})
		s.Requests = append(s.Requests, s.Requests...)
		s.Requests = append(s.Requests, mergetest.Snapshot(t, mergetest.Shot{Start: t0, Requests: []mergetest.Req{{Name: "x"}}}).Requests...)
		s.Requests[0].OK, s.Requests[0].Latency, s.Requests[0].Service = ok, latency, service
		_, err := a.Add(s)
		total := a.Total("x")
		if err != nil && total.Count != 0 {
			t.Fatalf("a refused snapshot left count %d", total.Count)
		}
		_ = a.Window(t0, t0.Add(time.Minute), "x")
		_ = a.Flush()
	})
}
