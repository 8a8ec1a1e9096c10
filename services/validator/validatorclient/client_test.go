package validatorclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/validator"
	"github.com/loadfleet/loadfleet/services/validator/validatorclient"
	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

// serve runs a real validator service on loopback and returns a client of it.
func serve(t *testing.T, cfg validator.Config, fetcher validator.Fetcher) *validatorclient.Client {
	t.Helper()
	reg := prometheus.NewRegistry()
	mux := httpserver.NewMux(reg)
	validator.New(cfg, fetcher, nil, reg).Routes(mux.ServeMux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return validatorclient.New(srv.URL, srv.Client())
}

func TestClientScenario(t *testing.T) {
	validatortest.Run(t, func(t *testing.T, cfg validator.Config, f validator.Fetcher) validator.Validator {
		return serve(t, cfg, f)
	})
}

func TestClientFillsThePlanOfAValidResult(t *testing.T) {
	c := serve(t, validator.Config{Limits: validator.DefaultLimits()}, nil)
	res, err := c.Validate(context.Background(), []byte(validatortest.ConstantPlan()), validator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan == nil || res.Plan.Name != "scenario" {
		t.Fatalf("Plan = %+v, want the parsed plan", res.Plan)
	}
}

func TestClientRefusesLocalOptions(t *testing.T) {
	c := serve(t, validator.Config{}, nil)
	for _, opts := range []validator.Options{{Dir: fstest.MapFS{}}, {Offline: true}} {
		_, err := c.Validate(context.Background(), []byte(validatortest.ConstantPlan()), opts)
		if !errors.Is(err, validatorclient.ErrLocalOption) {
			t.Fatalf("Validate(%+v) error = %v, want ErrLocalOption", opts, err)
		}
	}
}

func TestClientReportsServerFailuresAsErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"a 500 is an error, with the server's message", func(w http.ResponseWriter, _ *http.Request) {
			httpserver.WriteError(w, http.StatusInternalServerError, "disk full")
		}},
		{"a 404 (no validator at that address) is an error", func(w http.ResponseWriter, _ *http.Request) {
			httpserver.WriteError(w, http.StatusNotFound, "no route")
		}},
		{"a 400 about the request, not the plan, is an error", func(w http.ResponseWriter, _ *http.Request) {
			httpserver.WriteError(w, http.StatusBadRequest, "cannot read the request body")
		}},
		{"a 200 that is not JSON is an error", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<html>proxy login</html>"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := validatorclient.New(srv.URL, srv.Client())
			res, err := c.Validate(context.Background(), []byte(validatortest.ConstantPlan()), validator.Options{})
			if !errors.Is(err, validatorclient.ErrUnexpectedStatus) {
				t.Fatalf("Validate = %+v, %v; want ErrUnexpectedStatus", res, err)
			}
		})
	}
}
