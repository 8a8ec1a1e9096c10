package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// examplesDir holds the example plans of the schemas module.
const examplesDir = "../../../schemas/examples"

// syncBuffer is a bytes.Buffer safe for a server goroutine writing while
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loadfleet runs the command line in process, as main would, with a git
// cache of its own.
func loadfleet(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	if len(args) > 0 && (args[0] == "validate" || args[0] == "server") {
		args = append([]string{args[0], "--git-cache-dir", t.TempDir()}, args[1:]...)
	}
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// examples returns the example plans, failing when there are none: they
// are part of the repository.
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example plans in %s (%v)", examplesDir, err)
	}
	return files
}

// writePlan writes a plan file (and its other files) in a new directory.
func writePlan(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestValidateEveryExample(t *testing.T) {
	for _, file := range examples(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			// --offline: an example's git source is not on loopback.
			code, stdout, stderr := loadfleet(t, "validate", "--offline", "--explain", file)
			if code != exitOK || !strings.HasPrefix(stdout, file+": valid\n") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0 and %q", code, stdout, stderr, file+": valid")
			}
			if !strings.Contains(stdout, "executors:") || !strings.Contains(stdout, "STEP") {
				t.Fatalf("--explain printed\n%s\nwant the summary and the steps table", stdout)
			}
		})
	}
}

func TestValidateExplainText(t *testing.T) {
	for _, name := range []string{"open", "closed"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("testdata", name+".json")
			code, stdout, stderr := loadfleet(t, "validate", "--explain", file)
			if code != exitOK {
				t.Fatalf("exit %d: %s%s", code, stdout, stderr)
			}
			golden := filepath.Join("testdata", name+".explain.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if stdout != string(want) {
				t.Fatalf("explanation:\n%s\nwant (%s):\n%s", stdout, golden, want)
			}
		})
	}
}

// jsonLine is one line of validate --output json.
type jsonLine struct {
	File     *string         `json:"file"`
	Valid    *bool           `json:"valid"`
	Problems *[]plan.Problem `json:"problems"`
	Explain  *struct {
		Model     string `json:"model"`
		Executors int    `json:"executors"`
		Shards    []any  `json:"shards"`
	} `json:"explain"`
}

// jsonLines decodes every line of stdout, requiring the keys every line
// has (file, valid, problems) and exactly the expected extra keys.
func jsonLines(t *testing.T, stdout string, extraKeys ...string) []jsonLine {
	t.Helper()
	wantKeys := slices.Sorted(slices.Values(append([]string{"file", "valid", "problems"}, extraKeys...)))
	var lines []jsonLine
	for _, raw := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &keys); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", raw, err)
		}
		got := make([]string, 0, len(keys))
		for k := range keys {
			got = append(got, k)
		}
		if slices.Sort(got); !slices.Equal(got, wantKeys) {
			t.Fatalf("line %s has keys %v, want %v", raw, got, wantKeys)
		}
		var l jsonLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestValidateJSONOneLinePerPlan(t *testing.T) {
	files := examples(t)
	code, stdout, stderr := loadfleet(t, append([]string{"validate", "--offline", "-o", "json"}, files...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	lines := jsonLines(t, stdout)
	if len(lines) != len(files) {
		t.Fatalf("%d lines for %d plans:\n%s", len(lines), len(files), stdout)
	}
	for i, l := range lines {
		if *l.File != files[i] || !*l.Valid || len(*l.Problems) != 0 {
			t.Fatalf("line %d = file %s valid %v problems %v; want %s valid with no problems",
				i, *l.File, *l.Valid, *l.Problems, files[i])
		}
	}
}

func TestValidateJSONWithExplain(t *testing.T) {
	code, stdout, _ := loadfleet(t, "validate", "--output=json", "--explain", filepath.Join("testdata", "open.json"))
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	l := jsonLines(t, stdout, "explain")[0]
	if l.Explain.Model != "open" || l.Explain.Executors != 3 || len(l.Explain.Shards) != 3 {
		t.Fatalf("explain = %+v, want open on 3 executors and 3 shards", l.Explain)
	}
}

func TestValidateJSONOfInvalidPlans(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"syntax.json":  "{\n  \"name\": \"x\",\n}",
		"invalid.json": validatortest.OpenPlan(`{"open": [{"constantUsersPerSec": {"rate": -1, "during": "10s"}}]}`, `{"count": 1}`),
	})
	syntax, invalid := filepath.Join(dir, "syntax.json"), filepath.Join(dir, "invalid.json")
	code, stdout, _ := loadfleet(t, "validate", "-o", "json", "--explain", syntax, invalid)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := jsonLines(t, stdout) // no explain key for invalid plans
	if p := *lines[0].Problems; *lines[0].Valid || len(p) != 1 || p[0].Line != 3 || p[0].Column == 0 {
		t.Fatalf("syntax line = %+v, want one problem with line 3 and a column", p)
	}
	if p := *lines[1].Problems; *lines[1].Valid || len(p) == 0 || p[0].Path != "/load/open/0/constantUsersPerSec/rate" || p[0].Message == "" {
		t.Fatalf("invalid line = %+v, want the problem at the rate", p)
	}
}

func TestValidateInvalidPlans(t *testing.T) {
	feederPlan := `{"name": "f", "target": {"baseUrl": "http://127.0.0.1:8080"},
	  "scenarios": [{"name": "s", "feeder": {"file": "data/users.csv"}, "steps": [{"request": {"name": "a", "url": "/"}}]}],
	  "load": {"pattern": {"constant": {"rate": 10, "during": "10s"}}}}`
	tests := []struct {
		name  string
		files map[string]string // plan.json is validated
		args  []string
		// want are lines stdout must contain, after "PLAN: ".
		want []string
	}{
		{"a syntax error shows its line and column",
			map[string]string{"plan.json": "{\n  \"name\": \"x\",\n}"}, nil,
			[]string{"line 3, column 1: "}},
		{"a schema problem shows its pointer",
			map[string]string{"plan.json": validatortest.OpenPlan(`{"open": [{"constantUsersPerSec": {"rate": -1, "during": "10s"}}]}`, `{"count": 1}`)}, nil,
			[]string{"/load/open/0/constantUsersPerSec/rate: "}},
		{"a ceiling given as a flag is enforced and named",
			map[string]string{"plan.json": validatortest.ConstantPlan()}, []string{"--max-rate", "10"},
			[]string{"/load/pattern/constant: peak arrival rate of 100/s is above this server's ceiling of 10/s (max rate)"}},
		{"a feeder missing next to the plan file is a problem",
			map[string]string{"plan.json": feederPlan}, nil,
			[]string{`/scenarios/0/feeder/file: file "data/users.csv" not found`}},
		{"a plan file over 1 MiB is refused with its size",
			map[string]string{"plan.json": strings.Repeat(" ", 2*plan.MaxPlanBytes)}, nil,
			[]string{"plan is 2097152 bytes; the limit is 1048576 bytes (1 MiB)"}},
		{"a plan nesting deeper than 64 levels is refused at its position",
			map[string]string{"plan.json": `{"name": "x", "labels":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`}, nil,
			[]string{"line 1, column 87: arrays and objects nest more than 64 levels deep here (level 65); the limit is 64"}},
		{"a plan of 1 MB of shallow values is refused with the count at its position",
			// The root, "x" and the array are values 1 to 3: value 10,001 is
			// element 9,997, after the 24 bytes of the head.
			map[string]string{"plan.json": `{"name": "x", "labels":[` + strings.Repeat("{},", 340_000) + `{}]}`}, nil,
			[]string{fmt.Sprintf("line 1, column %d: the document holds 340004 JSON values (objects, arrays, strings, numbers, true, false, null); "+
				"the limit is %d, passed here (value %d)", 24+3*(plan.MaxValues-3)+1, plan.MaxValues, plan.MaxValues+1)}},
		{"a plan file that does not exist is a problem too",
			map[string]string{"other.json": "{}"}, nil,
			[]string{"cannot read the plan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(writePlan(t, tt.files), "plan.json")
			code, stdout, stderr := loadfleet(t, append(append([]string{"validate"}, tt.args...), file)...)
			if code != exitFailure {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, file+": "+w) {
					t.Fatalf("stdout:\n%s\nwant a line %q", stdout, file+": "+w)
				}
			}
		})
	}
}

func TestValidateFeederNextToThePlan(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"plan.json": `{"name": "f", "target": {"baseUrl": "http://127.0.0.1:8080"},
		  "scenarios": [{"name": "s", "feeder": {"file": "data/users.csv"}, "steps": [{"request": {"name": "a", "url": "/?u=${user}"}}]}],
		  "load": {"pattern": {"constant": {"rate": 10, "during": "10s"}}}}`,
		"data/users.csv": "user\nalice\n",
	})
	// From another working directory: the feeder is relative to the plan file.
	code, stdout, stderr := loadfleet(t, "validate", filepath.Join(dir, "plan.json"))
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestValidateSeveralPlansExitsOneWhenAnyIsInvalid(t *testing.T) {
	dir := writePlan(t, map[string]string{"bad.json": "[]"})
	good, bad := filepath.Join("testdata", "open.json"), filepath.Join(dir, "bad.json")
	code, stdout, _ := loadfleet(t, "validate", good, bad)
	if code != exitFailure || !strings.Contains(stdout, good+": valid\n") || !strings.Contains(stdout, bad+": ") {
		t.Fatalf("exit %d, stdout:\n%s\nwant 1, the valid plan and the invalid one both reported", code, stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"no plan to validate", nil, []string{"validate"}},
		{"an output format that does not exist", nil, []string{"validate", "--output", "yaml", "testdata/open.json"}},
		{"an unknown flag", nil, []string{"validate", "--bogus", "testdata/open.json"}},
		{"an unknown command", nil, []string{"bogus"}},
		{"an environment variable that does not parse", map[string]string{"LOADFLEET_MAX_RATE": "lots"},
			[]string{"validate", "testdata/open.json"}},
		{"a credentials file that does not exist", nil,
			[]string{"validate", "--git-credentials", "/nonexistent/creds.json", "testdata/open.json"}},
		{"a malformed --git-allow entry", nil,
			[]string{"validate", "--git-allow", "git.corp,https://git.corp", "testdata/open.json"}},
		{"a malformed LOADFLEET_GIT_ALLOW entry", map[string]string{"LOADFLEET_GIT_ALLOW": "10.0.0.0/8:0"},
			[]string{"validate", "testdata/open.json"}},
		{"an unknown server target", nil, []string{"server", "--target", "nope", "--listen", "127.0.0.1:0"}},
		{"arguments to server", nil, []string{"server", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := loadfleet(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, "loadfleet --help") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 2 and a usage hint", code, stdout, stderr)
			}
		})
	}
}

func TestEnvironmentStandsInForFlags(t *testing.T) {
	plan := filepath.Join("testdata", "open.json") // peak 100/s
	t.Setenv("LOADFLEET_MAX_RATE", "50")
	if code, stdout, _ := loadfleet(t, "validate", plan); code != exitFailure || !strings.Contains(stdout, "max rate") {
		t.Fatalf("with LOADFLEET_MAX_RATE=50: exit %d %s, want 1 and the rate ceiling", code, stdout)
	}
	if code, stdout, _ := loadfleet(t, "validate", "--max-rate", "200", plan); code != exitOK {
		t.Fatalf("--max-rate 200 over LOADFLEET_MAX_RATE=50: exit %d %s, want 0: the flag wins", code, stdout)
	}
}

func TestValidateFetchesTheGitSource(t *testing.T) {
	url := validatortest.GitRepo(t, map[string]string{"data/users.csv": "user\nalice\n"})
	dir := writePlan(t, map[string]string{"plan.json": `{"name": "g",
	  "source": {"git": {"url": "` + url + `", "ref": "main"}},
	  "target": {"baseUrl": "http://127.0.0.1:8080"},
	  "scenarios": [{"name": "s", "feeder": {"file": "data/users.csv"}, "steps": [{"request": {"name": "a", "url": "/?u=${user}"}}]}],
	  "load": {"pattern": {"constant": {"rate": 10, "during": "10s"}}}}`})
	file := filepath.Join(dir, "plan.json")
	loopback := []string{"--git-allow-http", "--git-allow-private"}

	code, stdout, stderr := loadfleet(t, append(append([]string{"validate", "--explain"}, loopback...), file)...)
	if code != exitOK || !strings.Contains(stdout, "source:") || !strings.Contains(stdout, "refs/heads/main") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant valid with the resolved source", code, stdout, stderr)
	}

	code, stdout, _ = loadfleet(t, append(append([]string{"validate", "-o", "json"}, loopback...), file)...)
	var line struct{ Source struct{ SHA string } }
	if err := json.Unmarshal([]byte(stdout), &line); err != nil || code != exitOK || len(line.Source.SHA) != 40 {
		t.Fatalf("exit %d, %s (%v); want the source's SHA in the JSON line", code, stdout, err)
	}

	// The server's default policy refuses a loopback http URL.
	code, stdout, _ = loadfleet(t, "validate", file)
	if code != exitFailure || !strings.Contains(stdout, file+": /source/git/url: ") {
		t.Fatalf("without the loopback flags: exit %d %s, want the URL refused", code, stdout)
	}

	code, stdout, stderr = loadfleet(t, "validate", "--offline", file)
	if code != exitOK || !strings.Contains(stderr, "not fetched (offline)") {
		t.Fatalf("--offline: exit %d\nstdout:\n%s\nstderr:\n%s\nwant valid and a note on stderr", code, stdout, stderr)
	}
}
