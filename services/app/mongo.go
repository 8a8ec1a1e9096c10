package app

import (
	"context"
	"log/slog"

	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/metadata/store/mongo"
)

// openMongo opens the MongoDB store.
func openMongo(ctx context.Context, uri, db string, logger *slog.Logger) (store.Store, error) {
	return mongo.New(ctx, uri, db, logger)
}
