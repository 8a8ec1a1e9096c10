package stats

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The HdrHistogram V2 cookies: the inner one heads the uncompressed
// payload, the outer one the zlib stream (both with the word-size bits
// every V2 writer sets).
const (
	payloadCookie    int32 = hdrhistogram.V2EncodingCookieBase | 0x10
	compressedCookie int32 = hdrhistogram.V2CompressedEncodingCookieBase | 0x10
)

// encodeLevel trades a few bytes of a snapshot for far less CPU than the
// best compression hdrhistogram-go uses; any zlib level decodes alike.
const encodeLevel = zlib.BestSpeed

// encoder is the reusable state of one encoding: hdrhistogram-go's own
// encoder allocated 850 kB in 3,000 pieces per histogram, and the garbage
// of a snapshot each second set off a collection that stalled an injector
// on one CPU for 10 ms.
type encoder struct {
	payload    []byte
	compressed bytes.Buffer
	zw         *zlib.Writer
}

// encoders keeps idle encoders across garbage collections. A sync.Pool
// is emptied by each collection, and a new zlib writer is 1.2 MB: the
// first snapshot after a collection allocated one, which brought the next
// collection closer (at 20,000 requests/s, a third of all garbage).
var encoders encoderList

type encoderList struct {
	mu   sync.Mutex
	idle []*encoder
}

func (l *encoderList) get() *encoder {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.idle); n > 0 {
		e := l.idle[n-1]
		l.idle = l.idle[:n-1]
		return e
	}
	return newEncoder(encodeLevel)
}

// put keeps e for reuse, up to a few: snapshots are encoded by one
// goroutine at a time, rarely more.
func (l *encoderList) put(e *encoder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.idle) < maxIdleEncoders {
		l.idle = append(l.idle, e)
	}
}

const maxIdleEncoders = 4

func newEncoder(level int) *encoder {
	e := &encoder{}
	e.zw, _ = zlib.NewWriterLevel(&e.compressed, level) // the level is a valid constant
	return e
}

// EncodeHistogram is the wire form of a histogram: the HdrHistogram V2
// compressed encoding as raw bytes (not the base64 text hdrhistogram-go
// returns: the wire's JSON base64-encodes []byte itself).
func EncodeHistogram(h *hdrhistogram.Histogram) ([]byte, error) {
	e := encoders.get()
	defer encoders.put(e)
	return e.encode(h)
}

func (e *encoder) encode(h *hdrhistogram.Histogram) ([]byte, error) {
	snap := h.Export()
	e.payload = appendCountsPayload(e.payload[:0], snap)
	e.compressed.Reset()
	e.zw.Reset(&e.compressed)
	if _, err := e.zw.Write(e.payload); err != nil {
		return nil, fmt.Errorf("compress histogram: %w", err)
	}
	if err := e.zw.Close(); err != nil {
		return nil, fmt.Errorf("compress histogram: %w", err)
	}
	out := make([]byte, 0, 8+e.compressed.Len())
	out = binary.BigEndian.AppendUint32(out, uint32(compressedCookie))
	out = binary.BigEndian.AppendUint32(out, uint32(e.compressed.Len()))
	return append(out, e.compressed.Bytes()...), nil
}

// appendCountsPayload appends the uncompressed V2 form: a 40-byte header,
// then the counts up to the last one recorded, as ZigZag LEB128 numbers
// where a negative number is a run of that many empty buckets.
func appendCountsPayload(b []byte, s *hdrhistogram.Snapshot) []byte {
	last := len(s.Counts) - 1
	for last > 0 && s.Counts[last] == 0 {
		last--
	}
	counts := s.Counts[:last+1]
	start := len(b)
	b = append(b, make([]byte, 40)...) // the header, written once the length is known
	for i := 0; i < len(counts); {
		zeros := 0
		for i+zeros < len(counts) && counts[i+zeros] == 0 {
			zeros++
		}
		switch {
		case zeros > 1:
			b = appendZigZag(b, -int64(zeros))
			i += zeros
		default:
			b = appendZigZag(b, counts[i])
			i++
		}
	}
	header := b[start : start+40]
	binary.BigEndian.PutUint32(header[0:], uint32(payloadCookie))
	binary.BigEndian.PutUint32(header[4:], uint32(len(b)-start-40))
	binary.BigEndian.PutUint32(header[8:], 0) // normalizing index offset: counts are not rotated
	binary.BigEndian.PutUint32(header[12:], uint32(s.SignificantFigures))
	binary.BigEndian.PutUint64(header[16:], uint64(s.LowestTrackableValue))
	binary.BigEndian.PutUint64(header[24:], uint64(s.HighestTrackableValue))
	binary.BigEndian.PutUint64(header[32:], math.Float64bits(1)) // integer values
	return b
}

// appendZigZag appends v as a ZigZag LEB128 number of at most 9 bytes, the
// ninth carrying a full 8 bits (HdrHistogram's variant).
func appendZigZag(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for i := 0; i < 8; i++ {
		if u>>7 == 0 {
			return append(b, byte(u))
		}
		b = append(b, byte(u&0x7f|0x80))
		u >>= 7
	}
	return append(b, byte(u))
}

// DecodeHistogram reads a histogram in its wire form.
func DecodeHistogram(raw []byte) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

// WarmCodec does once, before a run, what the first snapshot would
// otherwise do on the run's time: make the zlib writer (1.2 MB, kept) and
// go through the decoder once. On one CPU, the first snapshot of a run at
// 40,000 arrivals/s used to delay arrivals by several milliseconds.
func WarmCodec() {
	enc, err := EncodeHistogram(NewHistogram())
	if err == nil {
		_, _ = DecodeHistogram(enc)
	}
}
