package app

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/loadfleet/loadfleet/services/job"
	"github.com/loadfleet/loadfleet/services/job/backend"
	"github.com/loadfleet/loadfleet/services/job/backend/docker"
	"github.com/loadfleet/loadfleet/services/job/backend/local"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/metadata/store/sqlite"
	"github.com/loadfleet/loadfleet/services/reporting"
	"github.com/loadfleet/loadfleet/services/reporting/reportingclient"
)

// initStore opens the metadata store every control-plane target shares.
func (a *App) initStore() error {
	st, err := a.openStore()
	if err != nil {
		return err
	}
	a.control.store = st
	a.closers = append(a.closers, st.Close)
	return nil
}

func (a *App) openStore() (store.Store, error) {
	logger := a.logger.With("component", "store")
	switch c := a.cfg.Store; c.Driver {
	case "", "sqlite":
		path := c.Path
		if path == "" {
			dir, err := a.dataDir()
			if err != nil {
				return nil, err
			}
			path = filepath.Join(dir, "loadfleet.db")
		}
		return sqlite.New(path, logger)
	case "mongo":
		if c.URI == "" {
			return nil, fmt.Errorf("%w: store.uri is required for the mongo store", ErrConfig)
		}
		db := c.Database
		if db == "" {
			db = "loadfleet"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return openMongo(ctx, c.URI, db, logger)
	default:
		return nil, fmt.Errorf("%w: store.driver %q (sqlite or mongo)", ErrConfig, c.Driver)
	}
}

// locations builds the configured locations' backends; without any, one
// "local" location runs executors as child processes.
func (a *App) locations() ([]job.Location, error) {
	configs := a.cfg.Locations
	if len(configs) == 0 {
		configs = []LocationConfig{{Name: "local", Backend: "local"}}
	}
	var out []job.Location
	for i, c := range configs {
		if c.Name == "" {
			return nil, fmt.Errorf("%w: locations[%d] has no name", ErrConfig, i)
		}
		b, err := a.backendOf(c)
		if err != nil {
			return nil, fmt.Errorf("%w: location %s: %w", ErrConfig, c.Name, err)
		}
		out = append(out, job.Location{Name: c.Name, Backend: b})
	}
	return out, nil
}

func (a *App) backendOf(c LocationConfig) (backend.Backend, error) {
	logger := a.logger.With("component", "job", "location", c.Name)
	switch c.Backend {
	case "", "local":
		dir, err := a.dataDir()
		if err != nil {
			return nil, err
		}
		return local.New(local.Config{Command: c.Command, Dir: filepath.Join(dir, "executors", c.Name)}, logger), nil
	case "docker":
		d := c.Docker
		return docker.New(docker.Config{Host: d.Host, TLSCA: d.TLSCA, TLSCert: d.TLSCert, TLSKey: d.TLSKey,
			Image: d.Image, NetworkMode: d.NetworkMode, CPUs: d.CPUs, MemoryBytes: d.MemoryBytes, User: d.User, Location: c.Name}, logger)
	default:
		return nil, fmt.Errorf("backend %q (local or docker)", c.Backend)
	}
}

// reportingAPI is the reporting service in this process, or a client of
// the configured one.
func (a *App) reportingAPI() (reporting.API, error) {
	if a.control.reporting != nil {
		return a.control.reporting, nil
	}
	if a.cfg.Services.Reporting == "" {
		return nil, fmt.Errorf("%w: services.reporting: the reporting target's address is needed when it runs elsewhere", ErrConfig)
	}
	return reportingclient.New(a.cfg.Services.Reporting, a.serviceClient(2*time.Minute)), nil
}
