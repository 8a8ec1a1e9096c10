package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// openMongo opens the MongoDB store.
func openMongo(ctx context.Context, uri, db string, logger *slog.Logger) (store.Store, error) {
	return nil, fmt.Errorf("%w: the mongo store is not wired yet", ErrConfig)
}
