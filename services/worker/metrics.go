package worker

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	transitions *prometheus.CounterVec
	restarts    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_worker_transitions_total", Help: "Run state transitions made by this worker, by target state.",
		}, []string{"state"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_worker_executor_restarts_total", Help: "Lost executors started again.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.transitions, m.restarts)
	}
	return m
}
