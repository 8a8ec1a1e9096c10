// Package app is loadfleet's composition root: it knows the targets a server
// can run, the static graph of what each needs, and wires the services
// together. It is the one place that decides whether a caller of a service
// gets it in process or through its HTTP client.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/validator"
	"github.com/loadfleet/loadfleet/services/worker"
)

// Sentinels of this package.
var (
	ErrUnknownTarget = errors.New("unknown target")
	ErrConfig        = errors.New("invalid configuration")
)

// Defaults of Config.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultShutdownTimeout = 15 * time.Second
	DefaultDataDir         = "loadfleet-data"
)

// Config is the configuration of a server process.
type Config struct {
	// Listen is the address of the HTTP listener (port 0: any free port).
	Listen string
	// ShutdownTimeout is how long requests in flight may finish on
	// shutdown.
	ShutdownTimeout time.Duration
	Validator       validator.Config
	// Git configures fetching the git sources of plans.
	Git gitsource.Config
	// DisableGit refuses plans with a git source instead of fetching it.
	DisableGit bool
	// PlanDir is the directory inline plans' relative files (feeders) are
	// read from: the plan file's directory, for the platform `loadfleet
	// run` starts in process. Empty on a server (no configuration key):
	// a server's runs read their files from their git source's checkout.
	PlanDir string

	// DataDir holds the embedded stores and the local executors' files.
	DataDir string
	// PublicURL is how executors and other targets reach this process;
	// default http://LISTEN_ADDRESS.
	PublicURL string
	Store     StoreConfig
	Series    SeriesConfig
	// Services are the other targets' addresses (microservices mode).
	Services ServicesConfig
	// Locations are where executors run; default one "local" location.
	Locations []LocationConfig
	// Worker tunes the worker (zero values take the defaults, see
	// worker.Config.WithDefaults); the file sets its fields with a yaml
	// key.
	Worker  worker.Config
	Notify  NotifyConfig
	Auth    AuthConfig
	Reports ReportsConfig
}

// DefaultConfig returns a configuration with the defaults; Git.CacheDir is
// left for the caller (the CLI puts it in the user's cache directory).
func DefaultConfig() Config {
	return Config{
		Listen:          DefaultListen,
		ShutdownTimeout: DefaultShutdownTimeout,
		Validator:       validator.Config{Limits: validator.DefaultLimits()},
		DataDir:         DefaultDataDir,
	}
}

// App is a server process running one target and what it depends on.
type App struct {
	cfg      Config
	target   string
	logger   *slog.Logger
	registry *prometheus.Registry
	mux      *httpserver.Mux
	server   *httpserver.Server

	fetcher   validator.Fetcher
	validator validator.Validator
	control   controlPlane
	// loops run in the background while the app serves (the worker, the
	// reporting merge, the notification outbox).
	loops []func(ctx context.Context) error
	// closers release what the modules opened, in reverse order.
	closers []func() error
}

// New builds the modules target needs, in dependency order. It does not
// listen yet: see Listen and Serve, or Run.
func New(target string, cfg Config, logger *slog.Logger) (*App, error) {
	order, err := resolve(target)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Auth.Tokens = slices.Clone(cfg.Auth.Tokens)
	cfg.Auth.ServiceTokens = slices.Clone(cfg.Auth.ServiceTokens)
	if err := setUpAuth(target, &cfg.Auth); err != nil {
		return nil, err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &App{cfg: cfg, target: target, logger: logger, registry: registry,
		mux: httpserver.NewMux(registry)}
	for _, m := range order {
		if m.init == nil {
			continue
		}
		if err := m.init(a); err != nil {
			_ = a.Close()
			return nil, fmt.Errorf("start %s: %w", m.name, err)
		}
	}
	return a, nil
}

// Validator is the validator this process uses.
func (a *App) Validator() validator.Validator { return a.validator }

// Listen binds the HTTP listener and returns its address. Without API
// tokens it refuses a non-loopback address unless Auth.InsecureNoAuth (see
// listenExposure), and guards the loopback API against web pages.
func (a *App) Listen() (net.Addr, error) {
	exp, err := listenExposure(a.cfg.Listen, a.cfg.Auth)
	if err != nil {
		return nil, err
	}
	handler := a.handler()
	if exp == exposureLoopback {
		// The executor API, the ingest and the reports take their callers'
		// own content types.
		handler = httpserver.GuardLoopback(handler, ownCredentials)
	}
	srv, err := httpserver.Listen(a.cfg.Listen, handler, a.logger)
	if err != nil {
		return nil, err
	}
	a.server = srv
	if exp == exposureInsecure {
		a.loops = append(a.loops, a.warnInsecure(srv.Addr().String(), insecureWarningEvery))
	}
	return srv.Addr(), nil
}

// handler serves the routes of this process, each behind the credential
// it takes (see access).
func (a *App) handler() http.Handler {
	return httpserver.Authorize(a.mux, httpserver.Credentials{API: a.cfg.Auth.Tokens, Service: a.cfg.Auth.ServiceTokens}, a.access)
}

// Serve serves until ctx ends, then shuts down gracefully: the HTTP server
// first, then the background loops, waited for, and only then Close. Listen
// must have succeeded.
func (a *App) Serve(ctx context.Context) error {
	if a.server == nil {
		return errors.New("app: Serve called before Listen")
	}
	a.startLoops(ctx)
	a.mux.SetReady(true)
	a.logger.Info("serving", "target", a.target, "addr", a.server.Addr().String())
	err := a.server.Serve(ctx, a.shutdownTimeout())
	a.stopLoops()
	return errors.Join(err, a.Close())
}

// Close releases what the modules opened (stores, sinks). Serve calls it.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Start listens and serves in the background until stop is called (or ctx
// ends); stop then waits for the graceful shutdown and returns what Serve
// did. It returns the base URL: what an in-process platform (loadfleet run,
// tests) is reached at.
func (a *App) Start(ctx context.Context) (url string, stop func() error, err error) {
	addr, err := a.Listen()
	if err != nil {
		_ = a.Close()
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx) }()
	return "http://" + addr.String(), func() error { cancel(); return <-served }, nil
}

// Run listens and serves until ctx ends.
func (a *App) Run(ctx context.Context) error {
	if _, err := a.Listen(); err != nil {
		return err
	}
	return a.Serve(ctx)
}

func (a *App) shutdownTimeout() time.Duration {
	if a.cfg.ShutdownTimeout <= 0 {
		return DefaultShutdownTimeout
	}
	return a.cfg.ShutdownTimeout
}

func (a *App) initGitSource() error {
	f, err := NewFetcher(a.cfg, a.logger.With("component", "gitsource"))
	a.fetcher = f
	return err
}

func (a *App) initValidator() error {
	svc := validator.New(a.cfg.Validator, a.fetcher, a.logger.With("component", "validator"), a.registry)
	svc.Routes(a.mux.ServeMux)
	a.validator = svc
	return nil
}

// NewFetcher returns the git fetcher cfg asks for, or nil when git sources
// are disabled (a nil interface, so the validator sees them as disabled).
func NewFetcher(cfg Config, logger *slog.Logger) (validator.Fetcher, error) {
	if cfg.DisableGit {
		return nil, nil
	}
	if cfg.Git.CacheDir == "" {
		return nil, fmt.Errorf("%w: the git cache directory is not set", ErrConfig)
	}
	if err := cfg.Git.Check(); err != nil {
		return nil, fmt.Errorf("%w: git allow list: %w", ErrConfig, err)
	}
	return gitsource.New(cfg.Git, logger), nil
}

// NewValidator returns the validator service in process, with its own git
// fetcher: what the CLI validates with. Metrics go to reg (nil: none).
func NewValidator(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*validator.Service, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := NewFetcher(cfg, logger.With("component", "gitsource"))
	if err != nil {
		return nil, err
	}
	return validator.New(cfg.Validator, f, logger.With("component", "validator"), reg), nil
}
