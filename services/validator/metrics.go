package validator

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a validation request, the values of the "outcome" label.
const (
	outcomeValid                = "valid"
	outcomeError                = "error"
	outcomeUnsupportedMediaType = "unsupported_media_type"
	outcomeBadRequest           = "bad_request"
	outcomeBusy                 = "busy"
)

// metrics counts every validation once, whether it came in process or over
// HTTP: Validate observes what it decided, the HTTP handler only what it
// refused before calling Validate.
type metrics struct {
	requests *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_validator_requests_total",
			Help: "Plan validations, by outcome: valid, invalid, syntax, too_large, unsupported_media_type, bad_request, busy, error.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "loadfleet_validator_request_duration_seconds",
			Help:    "Time to validate one plan, git fetch included.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 15, 60},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

func (m *metrics) observe(outcome string, d time.Duration) {
	m.requests.WithLabelValues(outcome).Inc()
	m.duration.Observe(d.Seconds())
}

func outcome(res *Result, err error) string {
	switch {
	case errors.Is(err, ErrBusy):
		return outcomeBusy
	case err != nil:
		return outcomeError
	case res.Valid:
		return outcomeValid
	}
	return string(res.Reason)
}
