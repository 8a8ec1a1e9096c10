package deploy

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/loadfleet/loadfleet/services/app"
)

// serverTargets are the targets that run as their own process: every one
// but "all".
func serverTargets() []string {
	return slices.DeleteFunc(app.Targets(), func(t string) bool { return t == app.TargetAll })
}

// envReference is ${NAME} in a loadfleet configuration ($${ is a literal).
var envReference = regexp.MustCompile(`(^|[^$])\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadConfig runs a loadfleet configuration file through the server's own
// loader, in the environment a deployment gives the process: every ${NAME}
// the file references must be in env, or the process would not start.
func loadConfig(t *testing.T, file string, env map[string]string) app.Config {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range envReference.FindAllStringSubmatch(string(data), -1) {
		if _, ok := env[m[2]]; !ok {
			t.Errorf("%s references ${%s}, which the deployment does not set", file, m[2])
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := app.LoadConfigFile(file, app.DefaultConfig())
	if err != nil {
		t.Fatalf("loadfleet refuses %s: %v", file, err)
	}
	// The job, reporting and worker targets refuse to start without a
	// service credential, which must not be an API token.
	if len(cfg.Auth.ServiceTokens) == 0 {
		t.Errorf("%s sets no auth.serviceTokens: the job, reporting and worker targets would not start", file)
	}
	for _, st := range cfg.Auth.ServiceTokens {
		if slices.Contains(cfg.Auth.Tokens, st) {
			t.Errorf("%s: a service token is also an API token: users could call the executor layer", file)
		}
	}
	return cfg
}

// targetAddresses are the addresses a configuration gives the targets.
func targetAddresses(cfg app.Config) map[string]string {
	s := cfg.Services
	return map[string]string{
		app.TargetValidator: s.Validator,
		app.TargetMetadata:  s.Metadata,
		app.TargetJob:       s.Job,
		app.TargetReporting: s.Reporting,
		app.TargetWorker:    s.Worker,
	}
}

// hostPort splits an http URL into its host and port (default 80).
func hostPort(t *testing.T, raw string) (host, port string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("address %q is not a URL with a host", raw)
	}
	port = u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "mongodb": "27017"}[u.Scheme]
		if port == "" {
			port = "80"
		}
	}
	return u.Hostname(), port
}
