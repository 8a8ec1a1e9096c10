package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/reporting/series/influx"
)

// openInflux opens the InfluxDB series store.
func openInflux(c InfluxConfig, logger *slog.Logger, reg prometheus.Registerer) (seriesStore, error) {
	return influx.Open(influx.Config{URL: c.URL, Token: c.Token, Org: c.Org, Bucket: c.Bucket}, logger, reg)
}
