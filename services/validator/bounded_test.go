package validator_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loadfleet/loadfleet/schemas/plan"
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

// TestHTTPShallowPlansStayUnder100MB is the other memory case of issue 12:
// plans of many small shallow values. Four 1 MB plans of "{},{},..." at
// once peaked at 130 MB of heap in use; now the bounds scan refuses them,
// naming the count. The costliest plans the scan lets through hold exactly
// plan.MaxValues values, nearly all of which the schema refuses (one
// problem each, listed in full): four of those at once, request and
// response included, must stay under 100 MB of heap in use too, sampled
// every millisecond while they run (about 30 MB when measured).
func TestHTTPShallowPlansStayUnder100MB(t *testing.T) {
	srv, _ := newServer(t)
	repeat := func(elem string, n int) string { return strings.Repeat(elem+",", n-1) + elem }
	// planWith is a valid plan but for its labels and steps; without them, it
	// holds 13 values.
	planWith := func(labels, steps string) string {
		return `{"name":"x","labels":` + labels + `,"target":{"baseUrl":"http://127.0.0.1:1"},` +
			`"load":{"open":[{"atOnceUsers":{"users":1}}]},"scenarios":[{"name":"a","steps":[` + steps + `]}]}`
	}
	labels := make([]string, plan.MaxValues-13-1-4) // the object, and one valid step
	for i := range labels {
		labels[i] = fmt.Sprintf(`"k%d":0`, i)
	}
	tests := []struct {
		name string
		doc  string
		// problems is how many the answer lists (1: the bounds refusal).
		problems int
	}{
		{"1 MB of empty objects", `{"name":"x","labels":[` + repeat("{}", 340_000) + `]}`, 1},
		{"1 MB of zeros", `{"name":"x","labels":[` + repeat("0", 500_000) + `]}`, 1},
		{"steps that are numbers, at the limit",
			planWith("{}", repeat("1", plan.MaxValues-13-1)), plan.MaxValues - 13 - 1},
		{"labels that are numbers, at the limit",
			planWith("{"+strings.Join(labels, ",")+"}", `{"request":{"name":"r","url":"/"}}`), len(labels)},
	}
	const parallel = 4
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies := make([]validator.Response, parallel)
			peak := peakHeapInUse(func() {
				var wg sync.WaitGroup
				for i := range parallel {
					wg.Go(func() {
						resp, err := srv.Client().Post(srv.URL+validator.ValidatePath, "application/json", strings.NewReader(tt.doc))
						if err != nil {
							t.Error(err)
							return
						}
						defer resp.Body.Close()
						decode(t, resp, http.StatusUnprocessableEntity, &bodies[i])
					})
				}
				wg.Wait()
			})
			for _, b := range bodies {
				if len(b.Problems) != tt.problems {
					t.Fatalf("%d problems, want %d: %v...", len(b.Problems), tt.problems, b.Problems[:min(3, len(b.Problems))])
				}
				if p := b.Problems[0]; tt.problems == 1 && (p.Line != 1 || !strings.HasPrefix(p.Path, "/labels/") ||
					!strings.Contains(p.Message, fmt.Sprintf("the limit is %d", plan.MaxValues))) {
					t.Fatalf("problem %+v, want one naming the count, the limit, the pointer and the position", p)
				}
			}
			t.Logf("%d validations of a %d KB plan at once: peak heap in use %d MiB", parallel, len(tt.doc)>>10, peak>>20)
			if peak > 100<<20 {
				t.Fatalf("peak heap in use %d MiB, over 100 MiB", peak>>20)
			}
		})
	}
}

// peakHeapInUse runs f and returns the most heap in use (HeapInuse: spans
// holding objects, live or not yet collected) seen while it ran, sampled
// every millisecond, after a GC has cleared what came before.
func peakHeapInUse(f func()) uint64 {
	runtime.GC()
	done, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var m runtime.MemStats
		var most uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			most = max(most, m.HeapInuse)
			select {
			case <-done:
				peak <- most
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	return <-peak
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
