package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   []string
	}{
		{"the validator needs the git fetcher first", TargetValidator, []string{moduleGitSource, TargetValidator}},
		{"the worker needs the store, and the git fetcher for the checkouts executors read", TargetWorker,
			[]string{moduleGitSource, moduleStore, TargetWorker}},
		{"all runs every target, each dependency once, the job and reporting before the worker",
			TargetAll, []string{moduleGitSource, TargetValidator, moduleStore, TargetMetadata, TargetJob,
				TargetReporting, TargetWorker, TargetAll}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, err := resolve(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range order {
				got = append(got, m.name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("resolve(%s) = %v, want %v", tt.target, got, tt.want)
			}
		})
	}
}

func TestResolveRefusesWhatIsNotATarget(t *testing.T) {
	for _, name := range []string{"nope", moduleGitSource, ""} {
		if _, err := resolve(name); !errors.Is(err, ErrUnknownTarget) {
			t.Fatalf("resolve(%q) error = %v, want ErrUnknownTarget", name, err)
		}
	}
}

func TestGraphIsClosedAndAcyclic(t *testing.T) {
	index := map[string]int{}
	for i, m := range graph() {
		for _, d := range m.deps {
			at, ok := index[d]
			if !ok {
				t.Fatalf("%s depends on %s, which is not declared before it", m.name, d)
			}
			if at >= i {
				t.Fatalf("%s depends on %s, declared after it", m.name, d)
			}
		}
		index[m.name] = i
	}
}

func TestAllRunsEveryTarget(t *testing.T) {
	order, err := resolve(TargetAll)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range Targets() {
		if !slices.ContainsFunc(order, func(m module) bool { return m.name == target }) {
			t.Fatalf("all does not run target %s", target)
		}
	}
}

func TestListTargets(t *testing.T) {
	var b strings.Builder
	if err := ListTargets(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"validator  validator, gitsource", "worker  worker, store", "(gitsource)", "(store)"} {
		if !strings.Contains(collapse(b.String()), want) {
			t.Fatalf("ListTargets printed\n%s\nwant a line with %q", b.String(), want)
		}
	}
}

// collapse turns runs of spaces into two, so assertions ignore alignment.
func collapse(s string) string {
	for strings.Contains(s, "   ") {
		s = strings.ReplaceAll(s, "   ", "  ")
	}
	return s
}

func TestNewRefusesGitWithoutACacheDir(t *testing.T) {
	cfg := DefaultConfig()
	if _, err := New(TargetValidator, cfg, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("New error = %v, want ErrConfig", err)
	}
	cfg.DisableGit = true
	if _, err := New(TargetValidator, cfg, nil); err != nil {
		t.Fatalf("New with git disabled: %v", err)
	}
}

// A target whose dependencies run elsewhere needs their addresses, and
// says which one is missing.
func TestTargetsNeedTheOthersAddresses(t *testing.T) {
	for target, missing := range map[string]string{
		TargetMetadata: "services.validator", TargetWorker: "services.job",
	} {
		cfg := DefaultConfig()
		cfg.DataDir, cfg.Git.CacheDir = t.TempDir(), t.TempDir()
		cfg.Auth.ServiceTokens = []string{"s3rvice"}
		if _, err := New(target, cfg, nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), missing) {
			t.Errorf("%s without addresses: err %v, want ErrConfig naming %s", target, err, missing)
		}
		cfg.Services = ServicesConfig{Validator: "http://127.0.0.1:1", Job: "http://127.0.0.1:1",
			Reporting: "http://127.0.0.1:1"}
		a, err := New(target, cfg, nil)
		if err != nil {
			t.Errorf("%s with addresses: %v", target, err)
			continue
		}
		_ = a.Close()
	}
}

// The targets that serve or call internal routes do not start without a
// service credential (fail closed, auth or no auth); the all-in-one target
// makes its own; an API token can never be one.
func TestInternalTargetsNeedAServiceCredential(t *testing.T) {
	addresses := ServicesConfig{Validator: "http://127.0.0.1:1", Job: "http://127.0.0.1:1", Reporting: "http://127.0.0.1:1"}
	for _, tt := range []struct {
		target  string
		auth    AuthConfig
		wantErr string
	}{
		{TargetJob, AuthConfig{}, "auth.serviceTokens: the job target"},
		{TargetReporting, AuthConfig{Tokens: []string{"api"}}, "auth.serviceTokens: the reporting target"},
		{TargetWorker, AuthConfig{}, "auth.serviceTokens: the worker target"},
		{TargetJob, AuthConfig{ServiceTokens: []string{"same"}, Tokens: []string{"same"}}, "cannot be a service credential"},
		{TargetAll, AuthConfig{ServiceTokens: []string{"api"}, Tokens: []string{"api"}}, "cannot be a service credential"},
		{TargetJob, AuthConfig{ServiceTokens: []string{"s"}}, ""},
		{TargetValidator, AuthConfig{}, ""},
		{TargetMetadata, AuthConfig{Tokens: []string{"api"}}, ""},
		{TargetAll, AuthConfig{}, ""},
	} {
		cfg := DefaultConfig()
		cfg.DataDir, cfg.DisableGit, cfg.Services, cfg.Auth = t.TempDir(), true, addresses, tt.auth
		a, err := New(tt.target, cfg, nil)
		if tt.wantErr != "" {
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s with %+v: %v, want ErrConfig with %q", tt.target, tt.auth, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s with %+v: %v", tt.target, tt.auth, err)
			continue
		}
		if tt.target == TargetAll && (len(a.cfg.Auth.ServiceTokens) != 1 || len(a.cfg.Auth.ServiceTokens[0]) < 64) {
			t.Errorf("the all-in-one target's service credential is %q, want a random one", a.cfg.Auth.ServiceTokens)
		}
		_ = a.Close()
	}
}

func TestServerServesTheValidatorAndShutsDownGracefully(t *testing.T) {
	for _, target := range []string{TargetValidator, TargetAll} {
		t.Run(target, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Listen = "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			cfg.Git = validatortest.GitConfig(t)
			a, err := New(target, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			addr, err := a.Listen()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- a.Serve(ctx) }()
			base := "http://" + addr.String()

			requireGet(t, base+"/healthz", 200, `"ok"`)
			requireGet(t, base+"/readyz", 200, `"ready"`)
			resp, err := http.Post(base+"/v1/validate", "application/json", strings.NewReader(validatortest.ConstantPlan()))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"totalArrivals":30000`) {
				t.Fatalf("POST /v1/validate = %d %s, want 200 with 30000 arrivals", resp.StatusCode, body)
			}
			requireGet(t, base+"/metrics", 200, `loadfleet_validator_requests_total{outcome="valid"} 1`)

			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("Serve after cancel = %v, want nil (graceful)", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after cancel")
			}
			if _, err := http.Get(base + "/healthz"); err == nil {
				t.Fatal("the server still answers after shutdown")
			}
		})
	}
}

func requireGet(t *testing.T, url string, wantStatus int, wantIn string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus || !strings.Contains(string(body), wantIn) {
		t.Fatalf("GET %s = %d %s, want %d with %s", url, resp.StatusCode, body, wantStatus, wantIn)
	}
}

// TestServeClosesAfterEveryLoopReturned: stopping a server closes what the
// modules opened only once every background loop has returned (a loop, as
// the worker's drives do, may still use the store while it winds down).
func TestServeClosesAfterEveryLoopReturned(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DisableGit = "127.0.0.1:0", t.TempDir(), true
	a, err := New(TargetValidator, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var loopsDone atomic.Int32
	for range 3 {
		a.loops = append(a.loops, func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // winding down
			loopsDone.Add(1)
			return nil
		})
	}
	closedAfter := int32(-1)
	a.closers = append(a.closers, func() error { closedAfter = loopsDone.Load(); return nil })
	_, stop, err := a.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if closedAfter != 3 {
		t.Fatalf("closed after %d of 3 loops returned, want after all of them", closedAfter)
	}
}
