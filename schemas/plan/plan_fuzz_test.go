package plan_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
)

// FuzzParse: Parse never panics; every rejection is a *ValidationError
// whose problems all say where; every accepted plan round-trips through
// JSON and survives the schedule package.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, nasty := range []string{
		``, `null`, `[]`, `"plan"`, `{}`, `{"name":"x"}{}`, `{"name":"x","name":"x"}`,
		`{"load":{"open":[{"atOnceUsers":{"users":1e999}}]}}`,
		`{"load":{"open":[{"atOnceUsers":{"users":1.0}}]}}`,
		`{"load":{"open":[{"atOnceUsers":{"users":-0}}]}}`,
		`{"load":{"maxDuration":"9999999999999h"}}`,
		`{"executors":{"count":"auto"},"load":{"pattern":{"spike":{"base":0,"peak":1e7,"before":0,"hold":1,"after":0}}}}`,
		`{"load":{"closed":[{"incrementConcurrentUsers":{"increment":1000000,"times":10000,"eachLevelLasting":1}}]}}`,
		`{"criteria":[{"metric":"latency.p99.9","max":1.5,"min":"1ms"}]}`,
		`{"labels":{"a/b~":"x"},"target":{"baseUrl":"http://[::1]:8080/${x}"}}`,
		"{\"name\":\"\xff\xfe\"}", `{"name":"\ud800"}`, strings.Repeat("[", 20000),
		`{"labels":[` + strings.Repeat("{},", plan.MaxValues) + `{}]}`,
	} {
		f.Add([]byte(nasty))
	}
	parser, err := plan.NewParser()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parser.Parse(data)
		if err != nil {
			checkRejection(t, err)
			return
		}
		roundTrip(t, parser, p)
		exerciseSchedule(t, p)
	})
}

func checkRejection(t *testing.T, err error) {
	var verr *plan.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) == 0 {
		t.Fatalf("rejection %T %v is not a ValidationError with problems", err, err)
	}
	syntax, tooLarge, tooDeep := errors.Is(err, plan.ErrSyntax), errors.Is(err, plan.ErrTooLarge), errors.Is(err, plan.ErrTooDeep)
	tooMany := errors.Is(err, plan.ErrTooManyValues)
	if !syntax && !tooLarge && !tooDeep && !tooMany && !errors.Is(err, plan.ErrInvalid) {
		t.Fatalf("rejection %v has no kind", err)
	}
	if (tooDeep || tooMany) && (len(verr.Problems) != 1 || verr.Problems[0].Line < 1) {
		t.Fatalf("a depth or value-count refusal is one problem with a line: %+v", verr.Problems)
	}
	for _, p := range verr.Problems {
		switch {
		case p.Message == "":
			t.Fatalf("problem without a message: %+v", p)
		case syntax && p.Line < 1:
			t.Fatalf("syntax problem without a line: %+v", p)
		case p.Path == "" && !syntax && !tooLarge && !strings.HasPrefix(p.Message, "a plan must be a JSON object"):
			// "" is the whole document: only for problems of the whole document.
			t.Fatalf("problem without a path: %+v", p)
		case p.Path != "" && !strings.HasPrefix(p.Path, "/"):
			t.Fatalf("path %q is not a JSON pointer", p.Path)
		}
	}
}

// roundTrip checks that what Parse accepts marshals into a plan Parse
// accepts again, unchanged: the Go types and the schema agree.
func roundTrip(t *testing.T, parser *plan.Parser, p *plan.Plan) {
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal an accepted plan: %v", err)
	}
	again, err := parser.Parse(out)
	if err != nil {
		t.Fatalf("the marshalled plan %s is rejected: %v", out, err)
	}
	out2, err := json.Marshal(again)
	if err != nil || string(out2) != string(out) {
		t.Fatalf("round trip changed the plan:\n%s\n%s", out, out2)
	}
}

// exerciseSchedule runs the schedule computations an accepted plan feeds,
// bounded so that each input stays fast.
func exerciseSchedule(t *testing.T, p *plan.Plan) {
	n := schedule.ExecutorCount(p)
	if n < 1 || n > plan.MaxExecutors*10 {
		t.Fatalf("executor count %d", n)
	}
	if len(p.Load.Closed) > 0 {
		c := schedule.NewClosed(schedule.ExpandClosed(p.Load), p.Load.MaxDuration.D())
		if c.Peak() < 0 || c.Duration() < 0 {
			t.Fatalf("closed peak %d duration %v", c.Peak(), c.Duration())
		}
		_ = schedule.Explain(p)
		return
	}
	steps := schedule.ExpandOpen(p.Load)
	var randomized int64
	for _, s := range steps {
		if s.Arrivals < 0 || s.Duration < 0 {
			t.Fatalf("step %+v", s)
		}
		if s.Randomized {
			randomized += s.Arrivals
		}
	}
	if randomized > 100_000 {
		return // NewOpen draws every randomized gap: too slow for a fuzz input
	}
	o := schedule.NewOpen(steps, p.Load.MaxDuration.D(), 1)
	e := schedule.Explain(p)
	if e.TotalArrivals == nil || *e.TotalArrivals != o.Total() {
		t.Fatalf("explain total %v, schedule %d", e.TotalArrivals, o.Total())
	}
	var sum int64
	for _, s := range e.Shards {
		sum += *s.Arrivals
	}
	if sum != o.Total() {
		t.Fatalf("shards add up to %d of %d", sum, o.Total())
	}
	if o.Total() == 0 {
		return
	}
	first, last := o.At(0), o.At(o.Total()-1)
	if first < 0 || last < first || last > o.Duration()+time.Second {
		t.Fatalf("arrivals from %v to %v in a %v run", first, last, o.Duration())
	}
	cur := o.Shard(0, n)
	for range 100 {
		if _, at, ok := cur.Next(); !ok || at < 0 {
			break
		}
	}
}

// FuzzParseParts fuzzes the scenarios, load, criteria and executors of an
// otherwise valid plan, where the semantic rules and the schedule
// arithmetic live, which whole-document fuzzing rarely reaches.
func FuzzParseParts(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var doc struct{ Scenarios, Load, Criteria, Executors json.RawMessage }
		if err := json.Unmarshal(data, &doc); err != nil {
			f.Fatal(err)
		}
		f.Add(string(doc.Scenarios), string(doc.Load), string(doc.Criteria), string(doc.Executors))
	}
	const scenario = `[{"name":"s","steps":[{"request":{"name":"r","url":"/"}}]}]`
	for _, seed := range [][2]string{
		{`{"open":[{"stressPeakUsers":{"users":10000000,"during":1}}]}`, `{"count":"auto","maxRatePerExecutor":1e-300}`},
		{`{"open":[{"rampUsersPerSec":{"from":0,"to":1e-300,"during":"744h"}}]}`, `{}`},
		{`{"open":[{"incrementUsersPerSec":{"increment":1000,"times":10000,"eachLevelLasting":"1ms","separatedByRampsLasting":"1ms"}}],"maxDuration":"1ns"}`, `{"count":10000}`},
		{`{"closed":[{"rampConcurrentUsers":{"from":10000000,"to":0,"during":"1ms"}}]}`, `{"count":"auto","maxUsersPerExecutor":1}`},
		{`{"pattern":{"steps":{"rates":[0,1e7,0],"eachLevelLasting":"0.5ms"}}}`, `{"locations":[{"name":"a","weight":0},{"name":"b"}]}`},
	} {
		f.Add(scenario, seed[0], `[]`, seed[1])
	}
	parser, err := plan.NewParser()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, scenarios, load, criteria, executors string) {
		doc := `{"name":"fuzz","target":{"baseUrl":"http://127.0.0.1:8080"},` +
			`"scenarios":` + scenarios + `,"load":` + load + `,"criteria":` + criteria +
			`,"executors":` + executors + `}`
		p, err := parser.Parse([]byte(doc))
		if err != nil {
			checkRejection(t, err)
			return
		}
		roundTrip(t, parser, p)
		exerciseSchedule(t, p)
	})
}
