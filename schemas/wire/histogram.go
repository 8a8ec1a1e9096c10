package wire

import "time"

// Histogram geometry of every histogram on the wire (RequestStats.Latency
// and Service, Health.ScheduleLag) and of every merge of them: values in
// microseconds, 1 µs to 1 h, 3 significant digits. Declared here, once,
// because the executor that records and encodes them and the control plane
// that decodes and merges them must agree on it: a merge of histograms of
// two geometries re-records values and loses their exact percentiles.
const (
	HistLowest  = 1
	HistHighest = int64(time.Hour / time.Microsecond)
	HistDigits  = 3
)
