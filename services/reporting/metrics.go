package reporting

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	snapshots *prometheus.CounterVec
	late      prometheus.Counter
	reports   *prometheus.CounterVec
	collected prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_reporting_snapshots_total", Help: "Snapshots ingested, by outcome (stored, duplicate, invalid).",
		}, []string{"outcome"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_reporting_snapshots_after_report_total", Help: "Snapshots that arrived after their run's report was written.",
		}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadfleet_reporting_reports_total", Help: "Reports written, by verdict.",
		}, []string{"verdict"}),
		collected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loadfleet_reporting_snapshots_collected_total", Help: "Snapshots collected from the spools of executors that could not deliver them.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.snapshots, m.late, m.reports, m.collected)
	}
	return m
}
