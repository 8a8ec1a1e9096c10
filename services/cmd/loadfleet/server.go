package main

import (
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loadfleet/loadfleet/services/app"
)

type serverOptions struct {
	target      string
	listTargets bool
	configFile  string
	config      *configFlags
	authToken   string
}

func newServerCommand() *cobra.Command {
	o := &serverOptions{target: app.TargetAll, config: newConfigFlags()}
	cmd := &cobra.Command{
		Use:   "server [--target=TARGET] [--listen ADDR]",
		Short: "Run loadfleet's services: one target, or all of them in one process",
		Long: `Server runs one target and what it depends on (--list-targets prints the
graph), serving its HTTP API and /healthz, /readyz and /metrics on --listen.
SIGINT or SIGTERM shuts it down gracefully.

Targets: ` + strings.Join(app.Targets(), ", ") + `. The default, all, needs no
configuration: SQLite and the embedded series under --data-dir, executors as
child processes. In microservices mode each process runs one target and
--config gives the others' addresses.

Without API tokens (auth.tokens, --auth-token) the server listens on loopback
only: a non-loopback --listen is refused unless --insecure-no-auth, and the
loopback API refuses requests from web pages (foreign Host or Origin) and
bodies that are not application/json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", o.target, "what to run: "+strings.Join(app.Targets(), ", "))
	f.BoolVar(&o.listTargets, "list-targets", false, "print the targets and what each runs, then exit")
	f.StringVar(&o.config.cfg.Listen, "listen", app.DefaultListen, "address of the HTTP listener")
	f.DurationVar(&o.config.cfg.ShutdownTimeout, "shutdown-timeout", app.DefaultShutdownTimeout,
		"how long requests in flight may finish on shutdown")
	f.StringVar(&o.configFile, "config", "", "YAML configuration file (stores, series, locations, other targets' addresses)")
	f.StringVar(&o.config.cfg.DataDir, "data-dir", app.DefaultDataDir, "where the embedded stores and local executors keep their files")
	f.StringVar(&o.config.cfg.PublicURL, "public-url", "", "how executors and other targets reach this process (default http://LISTEN)")
	f.StringVar(&o.authToken, "auth-token", "",
		"an API token the server accepts, besides auth.tokens (prefer LOADFLEET_AUTH_TOKEN: a command line is visible to every user)")
	f.BoolVar(&o.config.cfg.Auth.InsecureNoAuth, "insecure-no-auth", false,
		"allow a non-loopback --listen without API tokens: an open API on the network (logged every minute)")
	o.config.register(f)
	return cmd
}

func (o *serverOptions) run(cmd *cobra.Command) error {
	if o.listTargets {
		if err := app.ListTargets(cmd.OutOrStdout()); err != nil {
			return failed(err)
		}
		return nil
	}
	cfg, err := o.config.config()
	if err != nil {
		return usageErrorf("%v", err)
	}
	if o.configFile != "" {
		if cfg, err = app.LoadConfigFile(o.configFile, cfg); err != nil {
			return usageErrorf("%v", err)
		}
	}
	if o.authToken != "" {
		cfg.Auth.Tokens = append(cfg.Auth.Tokens, o.authToken)
	}
	logger := newLogger(cmd.ErrOrStderr(), o.config.logLevel)
	a, err := app.New(o.target, cfg, logger)
	if err != nil {
		return usageErrorf("%v", err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := a.Run(ctx); err != nil {
		return failed(err)
	}
	logger.Info("stopped", "target", o.target, "uptime", time.Since(start).Round(time.Second))
	return nil
}
