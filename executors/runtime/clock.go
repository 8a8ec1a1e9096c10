package runtime

import "time"

// ClockSample is one round trip to the control plane: when the request left
// and its answer arrived (executor clock), and the control plane's clock when
// it answered.
type ClockSample struct {
	Sent, Received time.Time
	Server         time.Time
}

// RTT is the sample's round-trip time.
func (s ClockSample) RTT() time.Duration { return s.Received.Sub(s.Sent) }

// Offset is the control plane's clock minus the executor's, assuming the
// server answered at the midpoint of the round trip. The error of that
// assumption is at most RTT/2, which is why the best sample is the fastest.
func (s ClockSample) Offset() time.Duration {
	mid := s.Sent.Add(s.RTT() / 2)
	return s.Server.Sub(mid)
}

// EstimateOffset returns the offset of the sample with the lowest round-trip
// time, and that round-trip time; ok is false when there is no usable sample
// (none, or all with a negative round trip).
func EstimateOffset(samples []ClockSample) (offset, rtt time.Duration, ok bool) {
	best := -1
	for i, s := range samples {
		if s.RTT() < 0 {
			continue
		}
		if best < 0 || s.RTT() < samples[best].RTT() {
			best = i
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	return samples[best].Offset(), samples[best].RTT(), true
}
