package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loadfleet/loadfleet/schemas"
	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/demotarget"
	"github.com/loadfleet/loadfleet/services/internal/private"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// demoPlan is the example the demo runs: a spike, so that the knee and the
// recovery show.
const demoPlan = "spike.json"

type demoOptions struct {
	run      runOptions
	listen   string
	planPath string
	once     bool
}

func newDemoCommand() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [--listen ADDR] [--data-dir DIR]",
		Short: "Run the spike example against a demo service, on a platform in this process",
		Long: `Demo starts the platform with its embedded defaults (every service in this
process, data under --data-dir) and a demo service on 127.0.0.1 whose latency
rises with load, then runs schemas/examples/` + demoPlan + ` against it (about a
minute), following it live. It prints the summary and where the HTML report is,
and keeps the platform serving its API and reports until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.demo(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", app.DefaultListen, "address of the platform's HTTP listener (port 0: any free port)")
	f.StringVar(&o.run.dataDir, "data-dir", app.DefaultDataDir, "where the platform keeps its data and the report")
	f.StringVar(&o.planPath, "plan", "", "run this plan instead of the spike example (its baseUrl is replaced by the demo service)")
	f.StringVar(&o.run.executorCmd, "executor-command", "", "command that runs an executor (default: this binary's executor command)")
	f.DurationVar(&o.run.interval, "progress-interval", 0, "how often progress is printed (default: 1 s on a terminal, 5 s otherwise)")
	f.BoolVar(&o.once, "once", false, "stop the platform when the run ends instead of serving until Ctrl-C")
	o.run.api.output = "text"
	return cmd
}

func (o *demoOptions) demo(cmd *cobra.Command) error {
	doc, err := o.plan()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	targetURL, stopTarget, err := serveDemoTarget()
	if err != nil {
		return failed(err)
	}
	defer stopTarget()
	platform, err := o.run.startPlatform(ctx, o.listen, cmd.ErrOrStderr())
	if err != nil {
		return withListenHint(err)
	}
	defer platform.stop()
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "platform on %s (data in %s), demo service on %s\n", platform.url, o.run.dataDir, targetURL)

	reports, err := filepath.Abs(filepath.Join(o.run.dataDir, "reports"))
	if err == nil {
		err = private.Dir(reports)
	}
	if err != nil {
		return failed(err)
	}
	o.run.htmlReport = filepath.Join(reports, "demo-"+time.Now().Format("20060102-150405")+".html")
	runID, runErr := o.run.submit(ctx, cmd, platform.url, doc, store.Overrides{BaseURL: targetURL})
	if runID == "" {
		return runErr
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\nHTML report: %s\n             %s/v1/reports/%s.html\n", o.run.htmlReport, platform.url, runID)
	if !o.once && ctx.Err() == nil {
		fmt.Fprintf(out, "\nThe platform keeps serving on %s (try `loadfleet runs list --server %s`); Ctrl-C stops it.\n",
			platform.url, platform.url)
		<-ctx.Done()
	}
	return runErr
}

// plan is the spike example, built into the binary so that the demo runs
// from anywhere, or the --plan file.
func (o *demoOptions) plan() ([]byte, error) {
	if o.planPath != "" {
		doc, err := readPlanFile(o.planPath)
		if err != nil {
			return nil, &exitError{code: exitUsage, err: err, noHint: true}
		}
		return doc, nil
	}
	doc, err := schemas.Example(demoPlan)
	if err != nil {
		return nil, failed(err)
	}
	return doc, nil
}

// serveDemoTarget serves the demo service on a free loopback port.
func serveDemoTarget() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo service: %w", err)
	}
	srv := &http.Server{Handler: demotarget.New(demotarget.Config{}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// withListenHint points at --listen when the default port is taken, or
// when it is not loopback (the demo's platform has no API token).
func withListenHint(err error) error {
	var ee *exitError
	switch {
	case !errors.As(err, &ee):
	case errors.Is(ee.err, syscall.EADDRINUSE):
		ee.err = fmt.Errorf("%w (another server there? --listen 127.0.0.1:0 picks a free port)", ee.err)
	case errors.Is(ee.err, app.ErrNoToken):
		ee.err = fmt.Errorf("the demo's platform has no API token, so it listens on loopback only (--listen 127.0.0.1:PORT): %w", ee.err)
	}
	return err
}
