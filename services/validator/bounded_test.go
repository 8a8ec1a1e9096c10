package validator_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/validator"
	"github.com/loadfleet/loadfleet/services/validator/validatorclient"
	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

// nestedPlan is issue 12's plan: about 1 MB of nested arrays (or objects).
func nestedPlan(open, close string) string {
	n := 990_000 / (len(open) + len(close))
	return `{"name":"deep","labels":` + strings.Repeat(open, n) + strings.Repeat(close, n) + "}"
}

// TestHTTPRefusesDeepNestingCheaply posts the nested plans four at a time,
// as in the issue (2.28 GB then): each is a 422 naming the depth and where,
// and all of them together allocate well under 100 MB, request bodies
// included.
func TestHTTPRefusesDeepNestingCheaply(t *testing.T) {
	srv, _ := newServer(t)
	docs := []string{nestedPlan("[", "]"), nestedPlan(`{"a":`, "}")}
	const parallel = 4
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	bodies := make([]validator.Response, parallel*len(docs))
	var wg sync.WaitGroup
	for i := range parallel {
		for j, doc := range docs {
			wg.Go(func() {
				resp, err := srv.Client().Post(srv.URL+validator.ValidatePath, "application/json", strings.NewReader(doc))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				decode(t, resp, http.StatusUnprocessableEntity, &bodies[i*len(docs)+j])
			})
		}
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	for _, b := range bodies {
		if len(b.Problems) != 1 || !strings.HasPrefix(b.Problems[0].Path, "/labels/") || b.Problems[0].Line != 1 ||
			!strings.Contains(b.Problems[0].Message, "64 levels") {
			t.Fatalf("body %+v, want one problem naming the depth, its pointer and its position", b)
		}
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d validations of 1 MB nested plans over HTTP allocated %d MiB", len(bodies), allocated>>20)
	if allocated > 100<<20 {
		t.Fatalf("allocated %d MiB, over 100 MiB", allocated>>20)
	}
}

// TestBusyValidatorAnswers503 fills the only slot: a request waits QueueWait,
// then gets 503 with Retry-After, and the client reports ErrBusy; once the
// slot is free, validation works again.
func TestBusyValidatorAnswers503(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc := validator.New(validator.Config{Limits: validator.DefaultLimits(), MaxConcurrent: 1, QueueWait: 50 * time.Millisecond}, nil, nil, reg)
	mux := httpserver.NewMux(reg)
	svc.Routes(mux.ServeMux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	release, err := svc.TakeSlot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Post(srv.URL+validator.ValidatePath, "application/json", strings.NewReader(validatortest.ConstantPlan()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != validator.RetryAfterBusy {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After %s", resp.StatusCode, resp.Header.Get("Retry-After"), validator.RetryAfterBusy)
	}
	client := validatorclient.New(srv.URL, nil)
	if _, err := client.Validate(context.Background(), []byte(validatortest.ConstantPlan()), validator.Options{}); !errors.Is(err, validator.ErrBusy) {
		t.Fatalf("client err = %v, want ErrBusy", err)
	}
	if _, err := svc.Validate(context.Background(), []byte(validatortest.ConstantPlan()), validator.Options{}); !errors.Is(err, validator.ErrBusy) {
		t.Fatalf("in-process err = %v, want ErrBusy", err)
	}
	if got := requestsByOutcome(t, reg)["busy"]; got != 3 {
		t.Errorf("busy outcomes = %v, want 3", got)
	}

	release()
	res, err := client.Validate(context.Background(), []byte(validatortest.ConstantPlan()), validator.Options{})
	if err != nil || !res.Valid {
		t.Fatalf("after release: %+v, %v", res, err)
	}
}

func TestValidationWaitsForAFreeSlot(t *testing.T) {
	svc := validator.New(validator.Config{Limits: validator.DefaultLimits(), MaxConcurrent: 1, QueueWait: time.Minute}, nil, nil, nil)
	release, err := svc.TakeSlot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, release)
	res, err := svc.Validate(context.Background(), []byte(validatortest.ConstantPlan()), validator.Options{})
	if err != nil || !res.Valid {
		t.Fatalf("a validation waiting for the slot: %+v, %v", res, err)
	}
	// The slot was given back: another validation does not wait.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := svc.Validate(ctx, []byte(validatortest.ConstantPlan()), validator.Options{}); err != nil {
		t.Fatalf("the slot was not released: %v", err)
	}
}
