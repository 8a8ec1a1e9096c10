package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/internal/private"
	"github.com/loadfleet/loadfleet/services/job"
	"github.com/loadfleet/loadfleet/services/job/jobclient"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting"
	"github.com/loadfleet/loadfleet/services/validator"
	"github.com/loadfleet/loadfleet/services/validator/validatorclient"
	"github.com/loadfleet/loadfleet/services/worker"
)

// controlPlane is what the control-plane modules built in this process.
type controlPlane struct {
	store     store.Store
	metadata  *metadata.Service
	jobs      *job.Service
	worker    *worker.Worker
	reporting *reporting.Service
	// dataDir is the data directory once made private (see App.dataDir).
	dataDir string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// dataDir is the absolute data directory, created 0700 or tightened to its
// owner: it holds shard tokens, plans and reports. A directory this process
// cannot chmod (a volume's root-owned mount point) is used with a warning.
func (a *App) dataDir() (string, error) {
	if a.control.dataDir != "" {
		return a.control.dataDir, nil
	}
	dir := a.cfg.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%w: data directory %q: %w", ErrConfig, dir, err)
	}
	switch err := private.Dir(abs); {
	case errors.Is(err, private.ErrNotTightened):
		a.logger.Warn("the data directory stays readable by others: restrict it to this user (chmod 700)", "err", err)
	case err != nil:
		return "", fmt.Errorf("%w: data directory: %w", ErrConfig, err)
	}
	a.control.dataDir = abs
	return abs, nil
}

func (a *App) initMetadata() error {
	v, err := a.validatorAPI()
	if err != nil {
		return err
	}
	a.control.metadata = metadata.New(a.control.store, v, a.logger.With("component", "metadata"), a.registry)
	if a.cfg.PlanDir != "" {
		root, err := os.OpenRoot(a.cfg.PlanDir)
		if err != nil {
			return fmt.Errorf("%w: the plan directory: %w", ErrConfig, err)
		}
		a.closers = append(a.closers, root.Close)
		a.control.metadata.SetPlanFiles(root.FS())
	}
	metadata.Routes(a.mux.ServeMux, a.control.metadata)
	if !a.serves(TargetReporting) && a.cfg.Services.Reporting != "" {
		rep, err := a.reportingAPI()
		if err != nil {
			return err
		}
		reporting.ProgressRoute(a.mux.ServeMux, rep.Progress)
	}
	return nil
}

// serves says whether this process runs the service name.
func (a *App) serves(name string) bool {
	order, err := resolve(a.target)
	return err == nil && slices.ContainsFunc(order, func(m module) bool { return m.name == name })
}

func (a *App) initJob() error {
	locations, err := a.locations()
	if err != nil {
		return err
	}
	svc, err := job.New(locations, job.SpecRules{Limits: a.cfg.Validator.Limits, Roots: a.planRoots()},
		a.logger.With("component", "job"), a.registry)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	a.control.jobs = svc
	job.Routes(a.mux.ServeMux, svc)
	return nil
}

func (a *App) initWorker() error {
	jobs, err := a.jobAPI()
	if err != nil {
		return err
	}
	rep, err := a.reportingAPI()
	if err != nil {
		return err
	}
	// The worker defaults what is not set (worker.Config.WithDefaults); the
	// plan directory and the endpoints are this process's.
	cfg := a.cfg.Worker
	cfg.PlanDir = a.cfg.PlanDir
	w := worker.New(cfg, a.control.store, jobs, rep, a.fetcher, a.logger.With("component", "worker"), a.registry)
	w.ControlRoutes(a.mux.ServeMux)
	a.control.worker = w
	a.loops = append(a.loops, func(ctx context.Context) error {
		// Executors reach the executor API at the configured worker address
		// (a load balancer over the workers: any worker answers it), else here.
		w.SetEndpoints(a.serviceURL(a.cfg.Services.Worker, false), a.serviceURL(a.cfg.Services.Reporting, a.control.reporting != nil))
		return w.Run(ctx)
	})
	return nil
}

// planRoots are the directories executors may read plans' files from: the
// git cache's checkouts, and the plan directory of `loadfleet run`.
func (a *App) planRoots() []string {
	var roots []string
	if !a.cfg.DisableGit {
		if dir := gitsource.CheckoutsDir(a.cfg.Git); dir != "" {
			roots = append(roots, dir)
		}
	}
	if a.cfg.PlanDir != "" {
		roots = append(roots, a.cfg.PlanDir)
	}
	return roots
}

// validatorAPI is the validator in this process, or a client of the
// configured one.
func (a *App) validatorAPI() (validator.Validator, error) {
	if a.validator != nil {
		return a.validator, nil
	}
	if a.cfg.Services.Validator == "" {
		return nil, fmt.Errorf("%w: services.validator: the validator's address is needed when it runs elsewhere", ErrConfig)
	}
	return validatorclient.New(a.cfg.Services.Validator, a.serviceClient(2*time.Minute)), nil
}

// jobAPI is the job service in this process, or a client of the configured
// one.
func (a *App) jobAPI() (job.API, error) {
	if a.control.jobs != nil {
		return a.control.jobs, nil
	}
	if a.cfg.Services.Job == "" {
		return nil, fmt.Errorf("%w: services.job: the job service's address is needed when it runs elsewhere", ErrConfig)
	}
	return jobclient.New(a.cfg.Services.Job, a.serviceClient(jobclient.DefaultTimeout)), nil
}

// publicURL is how others reach this process.
func (a *App) publicURL() string {
	if a.cfg.PublicURL != "" {
		return strings.TrimRight(a.cfg.PublicURL, "/")
	}
	if a.server != nil {
		return "http://" + a.server.Addr().String()
	}
	return "http://" + a.cfg.Listen
}

// serviceURL is this process's URL when the service runs here, else the
// configured address.
func (a *App) serviceURL(configured string, local bool) string {
	if local || configured == "" {
		return a.publicURL()
	}
	return strings.TrimRight(configured, "/")
}

// startLoops starts the modules' background loops. Each loop returns only
// once every goroutine it started has (the worker's drives, the outbox's
// deliveries), so stopLoops returning means nothing uses what Close
// releases.
func (a *App) startLoops(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	a.control.cancel = cancel
	for _, loop := range a.loops {
		a.control.wg.Go(func() {
			if err := loop(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.logger.Error("background loop failed", "err", err)
			}
		})
	}
}

// stopLoops ends the loops and waits for every one of them.
func (a *App) stopLoops() {
	if a.control.cancel != nil {
		a.control.cancel()
	}
	a.control.wg.Wait()
}
