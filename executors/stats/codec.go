package stats

import (
	"encoding/base64"
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// EncodeHistogram is the wire form of a histogram: the HdrHistogram V2
// compressed encoding as raw bytes. hdrhistogram-go returns it as base64
// text; the wire's JSON base64-encodes []byte itself, so keeping the text
// would encode it twice.
func EncodeHistogram(h *hdrhistogram.Histogram) ([]byte, error) {
	text, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(raw, text)
	if err != nil {
		return nil, fmt.Errorf("hdrhistogram encoding: %w", err)
	}
	return raw[:n], nil
}

// DecodeHistogram reads a histogram in its wire form.
func DecodeHistogram(raw []byte) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}
