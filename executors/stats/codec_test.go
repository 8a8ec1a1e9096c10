package stats

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"math"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/schemas/wire"
)

// histogramsToEncode covers an empty histogram, single values, runs of
// empty buckets, counts needing every LEB128 length and the extremes of
// the geometry.
func histogramsToEncode(t *testing.T) map[string]*hdrhistogram.Histogram {
	t.Helper()
	out := map[string]*hdrhistogram.Histogram{"empty": NewHistogram()}
	one := NewHistogram()
	_ = one.RecordValue(1)
	out["the lowest value once"] = one
	wide := NewHistogram()
	for i, v := range []int64{1, 2, 3, 999, 1000, 1001, 123_456, 9_999_999, wire.HistHighest} {
		if err := wide.RecordValues(v, int64(1)<<(7*i)); err != nil {
			t.Fatal(err)
		}
	}
	out["every count length, both ends"] = wide
	huge := NewHistogram()
	_ = huge.RecordValues(5000, math.MaxInt64/2)
	out["a count of nine LEB128 bytes"] = huge
	dense := NewHistogram()
	for v := int64(1); v < 200_000; v += 7 {
		_ = dense.RecordValues(v, v%13+1)
	}
	out["dense"] = dense
	return out
}

// At the library's own compression level our encoding is its encoding,
// byte for byte; at ours it decodes to the same histogram.
func TestEncodeHistogramMatchesHdrHistogramGo(t *testing.T) {
	for name, h := range histogramsToEncode(t) {
		t.Run(name, func(t *testing.T) {
			text, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				t.Fatal(err)
			}
			theirs, _ := base64.StdEncoding.DecodeString(string(text))
			ours, err := newEncoder(zlib.BestCompression).encode(h)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, theirs) {
				t.Fatalf("at the same level the encodings differ:\nours   %x\ntheirs %x", ours, theirs)
			}
			raw, err := EncodeHistogram(h)
			if err != nil {
				t.Fatal(err)
			}
			if back := decode(t, raw); !back.Equals(h) {
				t.Fatalf("decoded %d values (max %d), encoded %d (max %d)", back.TotalCount(), back.Max(), h.TotalCount(), h.Max())
			}
		})
	}
}

// Encoding reuses its buffers: what a snapshot's encoding leaves to the
// garbage collector is the exported counts and the result.
func TestEncodeHistogramAllocatesLittle(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	h := histogramsToEncode(t)["dense"]
	if _, err := EncodeHistogram(h); err != nil { // warm the pool
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := EncodeHistogram(h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 5 {
		t.Fatalf("%v allocations per encoding, want at most 5", allocs)
	}
}

func BenchmarkEncodeHistogram(b *testing.B) {
	h := NewHistogram()
	for i := int64(1); i < 60000; i++ {
		_ = h.RecordValue(100 + i%5000)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeHistogram(h); err != nil {
			b.Fatal(err)
		}
	}
}
