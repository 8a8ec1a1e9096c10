package app

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// openInflux opens the InfluxDB series store.
func openInflux(c InfluxConfig, logger *slog.Logger, reg prometheus.Registerer) (seriesStore, error) {
	return nil, fmt.Errorf("%w: the influx series store is not wired yet", ErrConfig)
}
