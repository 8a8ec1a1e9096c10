package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// basePlan is a small valid native plan the tables below break one rule at
// a time.
const basePlan = `{
  "name": "base",
  "target": {"baseUrl": "http://127.0.0.1:8080"},
  "scenarios": [
    {"name": "shop", "steps": [
      {"request": {"name": "login", "method": "POST", "url": "/login"}},
      {"pause": {"duration": "1s"}},
      {"request": {"name": "checkout", "url": "/checkout"}}
    ]}
  ],
  "load": {"open": [{"constantUsersPerSec": {"rate": 10, "during": "1m"}}]},
  "criteria": [{"metric": "latency.p95", "max": "250ms"}]
}`

// with returns basePlan with the value at each pointer replaced by a JSON
// literal ("" deletes it). Array indexes may equal the length to append.
func with(t *testing.T, edits ...string) []byte {
	t.Helper()
	// json.Number keeps number literals as written (1.5e1 stays 1.5e1).
	decode := func(s string, v *any) error {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		return dec.Decode(v)
	}
	var doc any
	if err := decode(basePlan, &doc); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(edits); i += 2 {
		var val any
		if edits[i+1] != "" {
			if err := decode(edits[i+1], &val); err != nil {
				t.Fatalf("edit %s: %v", edits[i], err)
			}
		}
		doc = set(t, doc, strings.Split(edits[i], "/")[1:], val, edits[i+1] == "")
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func set(t *testing.T, node any, path []string, val any, del bool) any {
	if len(path) == 0 {
		return val
	}
	switch n := node.(type) {
	case map[string]any:
		if len(path) == 1 && del {
			delete(n, path[0])
			return n
		}
		n[path[0]] = set(t, n[path[0]], path[1:], val, del)
		return n
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i > len(n) {
			t.Fatalf("bad index %q", path[0])
		}
		if i == len(n) {
			n = append(n, nil)
		}
		n[i] = set(t, n[i], path[1:], val, del)
		return n
	case nil:
		return set(t, map[string]any{}, path, val, del)
	}
	t.Fatalf("cannot descend into %T", node)
	return nil
}

func TestParseAcceptsBasePlan(t *testing.T) {
	p, err := Parse([]byte(basePlan))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "base" || p.Load.Open[0].ConstantUsersPerSec.Rate != 10 ||
		p.Criteria[0].Max.Duration.D().Milliseconds() != 250 {
		t.Fatalf("decoded %+v", p)
	}
}

// mustReject parses doc and returns its problems, failing unless Parse
// rejected it with an ErrInvalid ValidationError.
func mustReject(t *testing.T, doc []byte) []Problem {
	t.Helper()
	p, err := Parse(doc)
	if err == nil {
		t.Fatalf("accepted %s as %+v", doc, p)
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %T %v is not a *ValidationError", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v is not ErrInvalid", err)
	}
	return verr.Problems
}

func hasProblem(ps []Problem, path, msg string) bool {
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Message, msg) {
			return true
		}
	}
	return false
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		why   string
		edits []string
		path  string
		msg   string
	}{
		// schema
		{"a misspelt field is named, with a suggestion",
			[]string{"/load/open/0/constantUsersPerSec", `{"rte": 10, "during": "1m"}`},
			"/load/open/0/constantUsersPerSec/rte", `unknown field "rte"; did you mean "rate"?`},
		{"a missing required field is reported at its own pointer",
			[]string{"/name", ""}, "/name", `missing required field "name"`},
		{"negative rates break the schema's minimum",
			[]string{"/load/open/0/constantUsersPerSec/rate", "-1"}, "/load/open/0/constantUsersPerSec/rate", "must be >= 0"},
		{"negative integer durations say what is wrong with them",
			[]string{"/load/open/0/constantUsersPerSec/during", "-5"}, "/load/open/0/constantUsersPerSec/during", "must be >= 0"},
		{"duration strings need units",
			[]string{"/load/open/0/constantUsersPerSec/during", `"5 minutes"`}, "/load/open/0/constantUsersPerSec/during", `must be a duration such as "300s"`},
		{"a negative gracefulStop is not a duration",
			[]string{"/load/gracefulStop", `"-1s"`}, "/load/gracefulStop", "must be a duration"},
		{"an open step holds exactly one step",
			[]string{"/load/open/0/atOnceUsers", `{"users": 1}`}, "/load/open/0", "must set exactly one of atOnceUsers"},
		{"an empty open step holds no step",
			[]string{"/load/open/0", `{}`}, "/load/open/0", "must set exactly one of"},
		{"unknown metrics are listed against the allowed ones",
			[]string{"/criteria/0/metric", `"latency.p96"`}, "/criteria/0/metric", `"latency.p96" is not allowed; must be one of "latency.p50"`},
		{"executor count is an integer >= 1 or auto",
			[]string{"/executors", `{"count": "many"}`}, "/executors/count", `must be an integer >= 1 or "auto"`},
		{"executor count 0 is below the minimum",
			[]string{"/executors", `{"count": 0}`}, "/executors/count", "must be >= 1"},
		{"wrong types name both types",
			[]string{"/name", "42"}, "/name", "must be a string, not a number"},
		{"email addresses are checked",
			[]string{"/notify", `{"email": ["not-an-address"]}`}, "/notify/email/0", "is not a valid email"},
		{"an integer field written as 1.0 is located after the schema",
			[]string{"/load/open/0", `{"atOnceUsers": {"users": 1.5e1}}`}, "/load/open/0/atOnceUsers/users", "plain integer"},
		{"an integer beyond int64 is out of range",
			[]string{"/load/open/0", `{"atOnceUsers": {"users": 1e30}}`}, "/load/open/0/atOnceUsers/users", "out of range"},
		{"a well formed but enormous duration is out of range",
			[]string{"/load/open/0/constantUsersPerSec/during", `"9999999999h"`}, "/load/open/0/constantUsersPerSec/during", "out of range"},

		// load
		{"a zero rate injects nobody",
			[]string{"/load/open/0/constantUsersPerSec/rate", "0"}, "/load/open/0/constantUsersPerSec/rate", "rate must be greater than 0"},
		{"a zero during is an empty step",
			[]string{"/load/open/0/constantUsersPerSec/during", `"0s"`}, "/load/open/0/constantUsersPerSec/during", "during must be greater than 0"},
		{"nothingFor 0 waits for nothing",
			[]string{"/load/open/1", `{"nothingFor": {"during": 0}}`}, "/load/open/1/nothingFor/during", "during must be greater than 0"},
		{"atOnceUsers 0 starts nobody",
			[]string{"/load/open/1", `{"atOnceUsers": {"users": 0}}`}, "/load/open/1/atOnceUsers/users", "users must be greater than 0"},
		{"rampUsers over zero time is atOnceUsers in disguise",
			[]string{"/load/open/1", `{"rampUsers": {"users": 5, "during": 0}}`}, "/load/open/1/rampUsers/during", "during must be greater than 0"},
		{"a ramp from 0 to 0 starts nobody",
			[]string{"/load/open/1", `{"rampUsersPerSec": {"from": 0, "to": 0, "during": "1m"}}`}, "/load/open/1/rampUsersPerSec", "from 0 to 0"},
		{"stressPeakUsers needs users",
			[]string{"/load/open/1", `{"stressPeakUsers": {"users": 0, "during": "1m"}}`}, "/load/open/1/stressPeakUsers/users", "users must be greater than 0"},
		{"an increment step needs a positive increment",
			[]string{"/load/open/1", `{"incrementUsersPerSec": {"increment": 0, "times": 3, "eachLevelLasting": "1m"}}`}, "/load/open/1/incrementUsersPerSec/increment", "increment must be greater than 0"},
		{"increment levels need a length",
			[]string{"/load/open/1", `{"incrementUsersPerSec": {"increment": 5, "times": 3, "eachLevelLasting": 0}}`}, "/load/open/1/incrementUsersPerSec/eachLevelLasting", "eachLevelLasting must be greater than 0"},
		{"too many levels would blow up the schedule",
			[]string{"/load/open/1", `{"incrementUsersPerSec": {"increment": 1, "times": 20000, "eachLevelLasting": "1s"}}`}, "/load/open/1/incrementUsersPerSec/times", "between 1 and 10000"},
		{"rates above the contract's limit",
			[]string{"/load/open/0/constantUsersPerSec/rate", "2e7"}, "/load/open/0/constantUsersPerSec/rate", "at most"},
		{"a schedule longer than the limit",
			[]string{"/load/open/0/constantUsersPerSec/during", `"800h"`}, "/load", "the limit is 744h0m0s"},
		{"only nothingFor steps start nobody",
			[]string{"/load/open/0", `{"nothingFor": {"during": "1m"}}`}, "/load/open", "no step starts any user"},
		{"open and closed together",
			[]string{"/load/closed", `[{"constantConcurrentUsers": {"users": 5, "during": "1m"}}]`}, "/load", "not both"},
		{"a pattern with open steps",
			[]string{"/load/pattern", `{"constant": {"rate": 5, "during": "1m"}}`}, "/load/pattern", "not with them"},
		{"no load model at all",
			[]string{"/load/open", ""}, "/load", "load needs one of open, closed or pattern"},
		{"closed ramps from 0 to 0",
			[]string{"/load/open", "", "/load/closed", `[{"rampConcurrentUsers": {"from": 0, "to": 0, "during": "1m"}}]`}, "/load/closed/0/rampConcurrentUsers", "from 0 to 0"},
		{"a closed model of only zero levels",
			[]string{"/load/open", "", "/load/closed", `[{"constantConcurrentUsers": {"users": 0, "during": "1m"}}]`}, "/load/closed", "every step has 0 users"},
		{"closed steps need a length",
			[]string{"/load/open", "", "/load/closed", `[{"constantConcurrentUsers": {"users": 3, "during": "0s"}}]`}, "/load/closed/0/constantConcurrentUsers/during", "during must be greater than 0"},
		{"maxConcurrentSessions means nothing for closed models",
			[]string{"/load/open", "", "/load/closed", `[{"constantConcurrentUsers": {"users": 3, "during": "1m"}}]`, "/load/maxConcurrentSessions", "10"}, "/load/maxConcurrentSessions", "open models"},
		{"a constant pattern needs a rate",
			[]string{"/load/open", "", "/load/pattern", `{"constant": {"rate": 0, "during": "1m"}}`}, "/load/pattern/constant/rate", "rate must be greater than 0"},
		{"a steps pattern of zeros",
			[]string{"/load/open", "", "/load/pattern", `{"steps": {"rates": [0, 0], "eachLevelLasting": "1m"}}`}, "/load/pattern/steps/rates", "every level is 0"},
		{"a spike whose peak is not above its base",
			[]string{"/load/open", "", "/load/pattern", `{"spike": {"base": 10, "peak": 5, "before": "1m", "hold": "1m", "after": "1m"}}`}, "/load/pattern/spike/peak", "greater than base"},
		{"a spike without a hold",
			[]string{"/load/open", "", "/load/pattern", `{"spike": {"base": 1, "peak": 5, "before": "1m", "hold": 0, "after": "1m"}}`}, "/load/pattern/spike/hold", "hold must be greater than 0"},

		// names and criteria
		{"a misspelt request name in criteria lists the known ones",
			[]string{"/criteria/1", `{"metric": "errors.rate", "request": "chekout", "max": 0.01}`}, "/criteria/1/request", `unknown request "chekout" in criteria; known requests: checkout, login`},
		{"two requests with one name would merge their results",
			[]string{"/scenarios/0/steps/2/request/name", `"login"`}, "/scenarios/0/steps/2/request/name", `duplicate request name "login" (also at /scenarios/0/steps/0/request/name)`},
		{"request names are unique across scenarios too",
			[]string{"/scenarios/1", `{"name": "other", "steps": [{"request": {"name": "checkout", "url": "/"}}]}`}, "/scenarios/1/steps/0/request/name", `duplicate request name "checkout"`},
		{"two scenarios with one name",
			[]string{"/scenarios/1", `{"name": "shop", "steps": [{"request": {"name": "x", "url": "/"}}]}`}, "/scenarios/1/name", `duplicate scenario name "shop"`},
		{"weights adding up to zero pick no scenario",
			[]string{"/scenarios/0/weight", "0"}, "/scenarios", "weights add up to 0"},
		{"a scenario of pauses only",
			[]string{"/scenarios/0/steps", `[{"pause": {"duration": "1s"}}]`}, "/scenarios/0/steps", "has no request"},
		{"latency thresholds are durations",
			[]string{"/criteria/0/max", "0.25"}, "/criteria/0/max", "latency"},
		{"ratio thresholds are numbers",
			[]string{"/criteria/0", `{"metric": "errors.rate", "max": "1s"}`}, "/criteria/0/max", "not a duration"},
		{"ratios are between 0 and 1",
			[]string{"/criteria/0", `{"metric": "throughput.ratio", "min": 95}`}, "/criteria/0/min", "between 0 and 1"},
		{"drift is a ratio too",
			[]string{"/criteria/0", `{"metric": "latency.p95.drift", "max": 1.5}`}, "/criteria/0/max", "between 0 and 1"},
		{"max and min together are ambiguous",
			[]string{"/criteria/0/min", `"10ms"`}, "/criteria/0", "either max or min"},
		{"a criterion without a bound judges nothing",
			[]string{"/criteria/0/max", ""}, "/criteria/0", "needs max or min"},
		{"a zero latency max always fails",
			[]string{"/criteria/0/max", `"0ms"`}, "/criteria/0/max", "max must be greater than 0"},
		{"location weights adding up to zero",
			[]string{"/executors", `{"locations": [{"name": "a", "weight": 0}]}`}, "/executors/locations", "weights add up to 0"},
		{"duplicate locations",
			[]string{"/executors", `{"locations": [{"name": "a"}, {"name": "a"}]}`}, "/executors/locations/1/name", `duplicate location "a"`},
		{"auto with a tiny per-executor rate would need millions of executors",
			[]string{"/executors", `{"count": "auto", "maxRatePerExecutor": 0.0001}`}, "/executors/maxRatePerExecutor", "auto needs 100000 executors for a peak of 10 arrivals per second"},
		{"auto with one user per executor for a big closed model",
			[]string{"/load/open", "", "/load/closed", `[{"constantConcurrentUsers": {"users": 20000, "during": "1m"}}]`, "/executors", `{"count": "auto", "maxUsersPerExecutor": 1}`},
			"/executors/maxUsersPerExecutor", "auto needs 20000 executors"},
		{"a million users ramped over a microsecond",
			[]string{"/load/open/1", `{"rampUsers": {"users": 1000000, "during": "0.001ms"}}`}, "/load/open/1/rampUsers", "spread them over a longer time"},
		{"a stress peak too sharp to run",
			[]string{"/load/open/1", `{"stressPeakUsers": {"users": 1000000, "during": "1ms"}}`}, "/load/open/1/stressPeakUsers", "spread them over a longer time"},
		{"too many executors",
			[]string{"/executors", `{"count": 20000}`}, "/executors/count", "at most 10000"},

		// target, urls, templates, paths
		{"a relative base URL",
			[]string{"/target/baseUrl", `"127.0.0.1:8080"`}, "/target/baseUrl", "absolute http"},
		{"a base URL of another scheme",
			[]string{"/target/baseUrl", `"ftp://127.0.0.1/"`}, "/target/baseUrl", "absolute http"},
		{"request URLs of another scheme",
			[]string{"/scenarios/0/steps/0/request/url", `"file:///etc/passwd"`}, "/scenarios/0/steps/0/request/url", "relative to target.baseUrl"},
		{"scheme-relative request URLs escape the base",
			[]string{"/scenarios/0/steps/0/request/url", `"//evil.example/x"`}, "/scenarios/0/steps/0/request/url", `must not start with "//"`},
		{"an unterminated template",
			[]string{"/scenarios/0/steps/0/request/url", `"/users/${id"`}, "/scenarios/0/steps/0/request/url", "unterminated"},
		{"an unknown template function",
			[]string{"/scenarios/0/steps/0/request/headers", `{"X-Id": "${uuid4()}"}`}, "/scenarios/0/steps/0/request/headers/X-Id", `unknown function "uuid4"`},
		{"randomInt bounds in the wrong order",
			[]string{"/scenarios/0/steps/0/request/body", `{"raw": "${randomInt(10,1)}"}`}, "/scenarios/0/steps/0/request/body/raw", "greater than MAX"},
		{"templates inside JSON bodies are checked too",
			[]string{"/scenarios/0/steps/0/request/body", `{"json": {"user": {"ids": [1, "${randomInt(1)}"]}}}`}, "/scenarios/0/steps/0/request/body/json/user/ids/1", "randomInt needs two integers"},
		{"an invalid header name",
			[]string{"/target/headers", `{"Bad Header": "x"}`}, "/target/headers/Bad Header", "not a valid header name"},
		{"an invalid check regex",
			[]string{"/scenarios/0/steps/0/request/checks", `[{"body": {"regex": "(unclosed"}}]`}, "/scenarios/0/steps/0/request/checks/0/body/regex", "invalid regular expression"},
		{"an unsupported JSONPath",
			[]string{"/scenarios/0/steps/0/request/extract", `[{"var": "t", "jsonPath": "$..token"}]`}, "/scenarios/0/steps/0/request/extract/0/jsonPath", "not a supported JSONPath"},
		{"a jitter longer than its pause",
			[]string{"/scenarios/0/steps/1/pause/jitter", `"2s"`}, "/scenarios/0/steps/1/pause/jitter", "must not exceed"},
		{"a zero pause",
			[]string{"/scenarios/0/steps/1/pause/duration", "0"}, "/scenarios/0/steps/1/pause/duration", "duration must be greater than 0"},
		{"feeder paths may not leave the source",
			[]string{"/scenarios/0/feeder", `{"file": "../secrets.csv"}`}, "/scenarios/0/feeder/file", `must not contain ".."`},
		{"feeder paths are relative",
			[]string{"/scenarios/0/feeder", `{"file": "/etc/passwd"}`}, "/scenarios/0/feeder/file", "relative path"},

		// tool and source
		{"a native plan runs scenarios, not a script",
			[]string{"/source", `{"git": {"url": "https://git.example/perf.git", "path": "load.jmx"}}`}, "/source/git/path", "native tool runs the plan's scenarios"},
		{"a native plan without scenarios",
			[]string{"/scenarios", "", "/criteria", ""}, "/scenarios", "at least one scenario"},
		{"gatling cannot run a .jmx",
			[]string{"/tool", `"gatling"`, "/source", `{"git": {"url": "https://git.example/perf.git", "path": "plans/checkout.jmx"}}`}, "/source/git/path", `gatling runs .scala, .java, .kt scripts, not "checkout.jmx"`},
		{"k6 needs a .js or .ts script",
			[]string{"/tool", `"k6"`, "/source", `{"git": {"url": "https://git.example/perf.git", "path": "test.py"}}`}, "/source/git/path", "k6 runs .js, .ts scripts"},
		{"script tools need a source",
			[]string{"/tool", `"jmeter"`}, "/source", "jmeter needs source.git"},
		{"script tools need a script path",
			[]string{"/tool", `"jmeter"`, "/source", `{"git": {"url": "https://git.example/perf.git"}}`}, "/source/git/path", "needs the path of its script (.jmx)"},
		{"script paths stay inside the repository",
			[]string{"/tool", `"jmeter"`, "/source", `{"git": {"url": "https://git.example/perf.git", "path": "../x.jmx"}}`}, "/source/git/path", `".."`},
		{"credentials never come from the plan",
			[]string{"/source", `{"git": {"url": "https://user:token@git.example/perf.git"}}`}, "/source/git/url", "must not contain credentials"},
		{"git URLs of unknown schemes",
			[]string{"/source", `{"git": {"url": "gopher://git.example/perf.git"}}`}, "/source/git/url", `unsupported scheme "gopher"`},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			problems := mustReject(t, with(t, tt.edits...))
			if !hasProblem(problems, tt.path, tt.msg) {
				t.Fatalf("want a problem at %q containing %q, got:\n%s", tt.path, tt.msg, dump(problems))
			}
			for _, p := range problems {
				if p.Path == "" {
					t.Fatalf("problem without a path: %+v", p)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		why   string
		edits []string
	}{
		{"integer seconds are durations", []string{"/load/open/0/constantUsersPerSec/during", "60"}},
		{"a maxDuration shorter than the schedule truncates it", []string{"/load/maxDuration", `"30s"`}},
		{"a ramp may start from 0", []string{"/load/open/0", `{"rampUsersPerSec": {"from": 0, "to": 10, "during": "1m"}}`}},
		{"a closed level of 0 users is a pause between levels",
			[]string{"/load/open", "", "/load/closed", `[{"constantConcurrentUsers": {"users": 5, "during": "1m"}}, {"constantConcurrentUsers": {"users": 0, "during": "1m"}}]`}},
		{"a spike may start at once", []string{"/load/open", "", "/load/pattern", `{"spike": {"base": 0, "peak": 5, "before": 0, "hold": "1m", "after": 0}}`}},
		{"one scenario of weight 0 among others", []string{"/scenarios/0/weight", "0", "/scenarios/1", `{"name": "b", "steps": [{"request": {"name": "b", "url": "/b"}}]}`}},
		{"latency thresholds in whole seconds", []string{"/criteria/0/max", "2"}},
		{"absolute http(s) request URLs", []string{"/scenarios/0/steps/0/request/url", `"https://auth.127.0.0.1.nip.io/login?next=${session()}"`}},
		{"a literal ${ is written $${", []string{"/scenarios/0/steps/0/request/body", `{"raw": "price: $${not a template"}`}},
		{"script tools need no scenarios and cannot check request names",
			[]string{"/tool", `"k6"`, "/source", `{"git": {"url": "git@github.com:example/perf.git", "path": "tests/load.ts"}}`,
				"/scenarios", "", "/criteria/0/request", `"anything"`}},
		{"ssh URLs may name a user", []string{"/source", `{"git": {"url": "ssh://git@git.example/perf.git"}}`}},
		{"an executor count of auto", []string{"/executors", `{"count": "auto", "maxRatePerExecutor": 5}`}},
		{"form bodies and JSON bodies", []string{"/scenarios/0/steps/0/request/body", `{"form": {"user": "${user}"}}`, "/scenarios/0/steps/2/request/body", `{"json": null}`}},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			doc := with(t, tt.edits...)
			if _, err := Parse(doc); err != nil {
				t.Fatalf("rejected %s: %v", doc, err)
			}
		})
	}
}

func dump(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %q: %s\n", p.Path, p.Message)
	}
	return b.String()
}

func TestParseSyntaxError(t *testing.T) {
	tests := []struct {
		why       string
		doc       string
		line, col int
	}{
		{"a missing value points at the closing brace", "{\n  \"name\": \"x\",\n  \"load\": }", 3, 11},
		{"a missing comma points at the next key", "{\"a\": 1\n \"b\": 2}", 2, 2},
		{"columns count characters, not bytes", "{\"name\": \"héllo\" x}", 1, 18},
		{"truncated input points past the end", "{\n  \"name\": [1, 2", 2, 16},
		{"an empty document", "", 1, 1},
		{"data after the plan", "{}\n{}", 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v is not ErrSyntax", err)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Problems) != 1 {
				t.Fatalf("want one problem, got %v", err)
			}
			p := verr.Problems[0]
			if p.Line != tt.line || p.Column != tt.col {
				t.Fatalf("at %d:%d, want %d:%d (%s)", p.Line, p.Column, tt.line, tt.col, p.Message)
			}
		})
	}
}

func TestParseTokenWalk(t *testing.T) {
	tests := []struct {
		why  string
		doc  string
		path string
		msg  string
	}{
		{"a duplicate key at the top", `{"name": "a", "name": "b"}`, "/name", `duplicate key "name"`},
		{"a duplicate key deep inside", strings.Replace(basePlan, `"rate": 10,`, `"rate": 10, "rate": 20,`, 1),
			"/load/open/0/constantUsersPerSec/rate", `duplicate key "rate"`},
		{"keys with / and ~ are escaped in pointers", `{"labels": {"a/b~c": "x", "a/b~c": "y"}}`, "/labels/a~1b~0c", "duplicate key"},
		{"1e999 is infinite in float64", strings.Replace(basePlan, `"rate": 10`, `"rate": 1e999`, 1),
			"/load/open/0/constantUsersPerSec/rate", "number 1e999 is out of range"},
		{"-1e999 too", `{"x": [-1e999]}`, "/x/0", "out of range"},
		{"a tiny number that rounds to zero", `{"x": 1e-999}`, "/x", "too close to zero"},
		{"an absurdly long number", `{"x": 1.` + strings.Repeat("0", 200) + `}`, "/x", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			problems := mustReject(t, []byte(tt.doc))
			if !hasProblem(problems, tt.path, tt.msg) {
				t.Fatalf("want %q at %q, got:\n%s", tt.msg, tt.path, dump(problems))
			}
			for _, p := range problems {
				if p.Path == tt.path && p.Message != "" && !strings.Contains(p.Message, tt.msg) {
					t.Fatalf("the schema reported the walked value again: %+v", p)
				}
			}
		})
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	doc := with(t,
		"/name", "",
		"/load/open/0/constantUsersPerSec/rte", "1",
		"/target/timeout", `"soon"`,
		"/criteria/0/metric", `"p95"`,
	)
	problems := mustReject(t, doc)
	for _, want := range []struct{ path, msg string }{
		{"/name", "missing required field"},
		{"/load/open/0/constantUsersPerSec/rte", "unknown field"},
		{"/target/timeout", "must be a duration"},
		{"/criteria/0/metric", "not allowed"},
	} {
		if !hasProblem(problems, want.path, want.msg) {
			t.Errorf("missing %q at %s in:\n%s", want.msg, want.path, dump(problems))
		}
	}
	// Problems come in document order whatever the checks' order.
	for i := 1; i < len(problems); i++ {
		if comparePointers(problems[i-1].Path, problems[i].Path) > 0 {
			t.Fatalf("problems out of order:\n%s", dump(problems))
		}
	}
}

func TestParseTooLarge(t *testing.T) {
	doc := append([]byte(`{"name": "`), bytes.Repeat([]byte("x"), MaxPlanBytes)...)
	doc = append(doc, `"}`...)
	_, err := Parse(doc)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v is not ErrTooLarge", err)
	}
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || !strings.Contains(verr.Problems[0].Message, "1 MiB") {
		t.Fatalf("want one problem naming the limit, got %v", err)
	}
	if errors.Is(err, ErrSyntax) || errors.Is(err, ErrInvalid) {
		t.Fatal("a too-large plan is only ErrTooLarge")
	}
}

func TestParseRootMustBeAnObject(t *testing.T) {
	problems := mustReject(t, []byte(`[1, 2]`))
	if len(problems) != 1 || problems[0].Path != "" || !strings.Contains(problems[0].Message, "must be a JSON object, not an array") {
		t.Fatalf("got:\n%s", dump(problems))
	}
}

func TestParserIsReusable(t *testing.T) {
	p, err := NewParser()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := p.Parse([]byte(basePlan)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse([]byte(`{}`)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("want ErrInvalid, got %v", err)
		}
	}
}

func BenchmarkNewParser(b *testing.B) {
	for b.Loop() {
		if _, err := NewParser(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	p, err := NewParser()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.Parse([]byte(basePlan)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParserIsSafeForConcurrentUse(t *testing.T) {
	p, err := NewParser()
	if err != nil {
		t.Fatal(err)
	}
	bad := with(t, "/load/open/0/constantUsersPerSec/rte", "1")
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			doc := []byte(basePlan)
			if i%2 == 1 {
				doc = bad
			}
			_, err := p.Parse(doc)
			if (err != nil) != (i%2 == 1) {
				errs <- fmt.Errorf("goroutine %d: %v", i, err)
				return
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestComparePointers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		why  string
	}{
		{"/a", "/a", 0, "the same pointer"},
		{"", "/a", -1, "the whole document comes before its parts"},
		{"/a", "/a/b", -1, "a value comes before what it holds"},
		{"/s/2", "/s/10", -1, "indexes compare as numbers, not as text"},
		{"/s/10/x", "/s/9/y", 1, "the index decides before the rest"},
		{"/s/007", "/s/7", -1, "equal numbers spelt differently stay apart, as text"},
		{"/b", "/a/z", 1, "keys compare as text"},
		{"/1", "/a", -1, "a number and a key compare as text"},
		{"/a//b", "/a/b", -1, "an empty key is a token too"},
	}
	for _, tt := range tests {
		if got := comparePointers(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: comparePointers(%q, %q) = %d, want %d", tt.why, tt.a, tt.b, got, tt.want)
		}
		if got := comparePointers(tt.b, tt.a); got != -tt.want {
			t.Errorf("%s: comparePointers(%q, %q) = %d, want %d", tt.why, tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestPathSetCovers(t *testing.T) {
	tests := []struct {
		reported []string
		path     string
		want     bool
		why      string
	}{
		{nil, "/a", false, "nothing reported"},
		{[]string{"/a"}, "/a", true, "the path itself"},
		{[]string{"/a"}, "/a/b/0", true, "under a reported path"},
		{[]string{"/a"}, "/ab", false, "a longer key is not under it"},
		{[]string{"/a/"}, "/a", false, "the empty key under /a does not cover /a"},
		{[]string{"/a/"}, "/a//x", true, "under the empty key"},
		{[]string{""}, "/anything", true, "the whole document covers every path"},
		{[]string{"/b", "/c/1"}, "/c/10", false, "index 1 does not cover index 10"},
	}
	for _, tt := range tests {
		var problems []Problem
		for _, p := range tt.reported {
			problems = append(problems, Problem{Path: p})
		}
		if got := pathsOf(problems).covers(tt.path); got != tt.want {
			t.Errorf("%s: %q covers %q = %v, want %v", tt.why, tt.reported, tt.path, got, tt.want)
		}
	}
}
