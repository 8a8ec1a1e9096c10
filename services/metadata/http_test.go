package metadata_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/metadataclient"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/metadata/store/sqlite"
	"github.com/loadfleet/loadfleet/services/validator"
	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

// apis returns the service in process and its HTTP client, over one store:
// every test runs against both, so they behave alike.
func apis(t *testing.T) map[string]metadata.API {
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.New(filepath.Join(t.TempDir(), "loadfleet.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	v := validator.New(validator.Config{Limits: validator.DefaultLimits()}, nil, logger, nil)
	svc := metadata.New(st, v, logger, nil)
	mux := http.NewServeMux()
	metadata.Routes(mux, svc)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return map[string]metadata.API{"in process": svc, "over HTTP": metadataclient.New(srv.URL, "", nil)}
}

func TestTestsAreValidatedAndVersioned(t *testing.T) {
	for name, api := range apis(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			first, err := api.CreateTest(ctx, "", []byte(validatortest.ConstantPlan()))
			if err != nil {
				t.Fatal(err)
			}
			second, err := api.CreateTest(ctx, first.ID, []byte(strings.Replace(validatortest.ConstantPlan(), `"rate": 100`, `"rate": 50`, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if first.Version != 1 || second.Version != 2 || second.ID != first.ID || first.Team != metadata.DefaultTeam {
				t.Fatalf("versions %+v %+v", first, second)
			}
			list, err := api.Tests(ctx, store.TestFilter{Team: metadata.DefaultTeam})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range list {
				if x.ID == first.ID && x.Version != 2 {
					t.Fatalf("tests list version %d of %s: want the latest only", x.Version, x.ID)
				}
			}
			_, err = api.CreateTest(ctx, "", []byte(`{"name": "x", "load": {"open": [{"bogus": {}}]}}`))
			var ve *plan.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || ve.Problems[0].Path == "" {
				t.Fatalf("invalid plan: err %v, want problems with their paths", err)
			}
			if _, err := api.Test(ctx, "t-missing", 0); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("missing test: %v", err)
			}
		})
	}
}

func TestRunsStartWithOverridesAndAbort(t *testing.T) {
	for name, api := range apis(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			test, err := api.CreateTest(ctx, "", []byte(validatortest.ConstantPlan()))
			if err != nil {
				t.Fatal(err)
			}
			run, err := api.StartRun(ctx, metadata.StartRequest{TestID: test.ID,
				Overrides: store.Overrides{BaseURL: "http://127.0.0.1:9999", RateMultiplier: 0.5, Duration: "60s"}})
			if err != nil {
				t.Fatal(err)
			}
			var p plan.Plan
			if err := json.Unmarshal(run.Plan, &p); err != nil {
				t.Fatal(err)
			}
			if run.State != store.Queued || run.TestVersion != 1 || p.Target.BaseURL != "http://127.0.0.1:9999" ||
				p.Load.Pattern.Constant.Rate != 50 || p.Load.MaxDuration.D() != time.Minute {
				t.Fatalf("run %+v with plan %+v: overrides not applied", run, p)
			}
			_, err = api.StartRun(ctx, metadata.StartRequest{TestID: test.ID, Overrides: store.Overrides{RateMultiplier: -2}})
			var ve *plan.ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Path != "/overrides/rateMultiplier" {
				t.Fatalf("bad override: %v", err)
			}
			queued, err := api.Runs(ctx, store.RunFilter{States: []store.State{store.Queued}})
			if err != nil || len(queued) != 1 {
				t.Fatalf("queued runs %+v, %v", queued, err)
			}
			aborted, err := api.AbortRun(ctx, run.ID, "not today")
			if err != nil || aborted.State != store.Aborted || aborted.Reason != "not today" {
				t.Fatalf("abort of a queued run: %+v, %v", aborted, err)
			}
			if _, err := api.Report(ctx, run.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("report of an unreported run: %v", err)
			}
		})
	}
}

func TestTeamDefaults(t *testing.T) {
	for name, api := range apis(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			team, err := api.PutTeam(ctx, store.Team{Name: "shop", Slack: []string{"#perf"}, Email: []string{"Perf <perf@example.com>"}})
			if err != nil || team.Created.IsZero() {
				t.Fatalf("put team: %+v, %v", team, err)
			}
			got, err := api.Team(ctx, "shop")
			if err != nil || len(got.Slack) != 1 || len(got.Email) != 1 {
				t.Fatalf("team = %+v, %v", got, err)
			}
			_, err = api.PutTeam(ctx, store.Team{Name: "shop", Email: []string{"not an address"}})
			var ve *plan.ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Path != "/email/0" {
				t.Fatalf("bad address: %v", err)
			}
		})
	}
}

func TestRunFilterRefusesBadParameters(t *testing.T) {
	_, err := metadata.ParseRunFilter(map[string][]string{"state": {"running,sleeping"}, "since": {"yesterday"}, "limit": {"-1"}})
	var ve *plan.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("err %v: want three problems (state, since, limit)", err)
	}
}
