package plan

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCheckFiles(t *testing.T) {
	big := fstest.MapFile{Data: []byte("a\n" + strings.Repeat("x\n", MaxFileBytes/2+1))}
	withFeeder := func(file string) []string {
		return []string{"/scenarios/0/feeder", `{"file": "` + file + `"}`}
	}
	jmeter := func(path string) []string {
		return []string{"/tool", `"jmeter"`, "/source", `{"git": {"url": "https://git.example/perf.git", "path": "` + path + `"}}`}
	}
	fsys := fstest.MapFS{
		"data/users.csv":    {Data: []byte("user\nalice\n")},
		"data/ragged.csv":   {Data: []byte("user,pass\nalice,x\nbob\n")},
		"data/big.csv":      &big,
		"plans/ok.jmx":      {Data: []byte("<jmeterTestPlan/>")},
		"plans/big.jmx":     &big,
		"plans/dir.jmx/x":   {Data: []byte("x")},
		"data/records.json": {Data: []byte(`[{"user": "alice"}]`)},
	}
	tests := []struct {
		why   string
		edits []string
		path  string // "" when the files are fine
		msg   string
	}{
		{"a CSV feeder next to the plan", withFeeder("data/users.csv"), "", ""},
		{"a JSON feeder", withFeeder("data/records.json"), "", ""},
		{"a script that exists", jmeter("plans/ok.jmx"), "", ""},
		{"a missing feeder", withFeeder("data/nobody.csv"), "/scenarios/0/feeder/file", `file "data/nobody.csv" not found (paths are relative to the plan's directory)`},
		{"a feeder that does not parse carries its line", withFeeder("data/ragged.csv"), "/scenarios/0/feeder/file", "data/ragged.csv line 3: wrong number of fields"},
		{"a feeder over 1 MiB", withFeeder("data/big.csv"), "/scenarios/0/feeder/file", "is over 1048576 bytes"},
		{"a missing script", jmeter("plans/missing.jmx"), "/source/git/path", `file "plans/missing.jmx" not found (paths are relative to the root of the git source)`},
		{"a script over 1 MiB", jmeter("plans/big.jmx"), "/source/git/path", "is over 1048576 bytes"},
		{"a directory named like a script", jmeter("plans/dir.jmx"), "/source/git/path", "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			p, err := Parse(with(t, tt.edits...))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckFiles(p, fsys)
			if tt.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			if !hasProblem(verr.Problems, tt.path, tt.msg) {
				t.Fatalf("want %q at %s, got:\n%s", tt.msg, tt.path, dump(verr.Problems))
			}
		})
	}
}

func TestCheckFilesReportsEveryFile(t *testing.T) {
	doc := with(t,
		"/scenarios/0/feeder", `{"file": "a.csv"}`,
		"/scenarios/1", `{"name": "b", "feeder": {"file": "b.csv"}, "steps": [{"request": {"name": "b", "url": "/b"}}]}`,
	)
	p, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	var verr *ValidationError
	if err := CheckFiles(p, fstest.MapFS{}); !errors.As(err, &verr) || len(verr.Problems) != 2 {
		t.Fatalf("want two problems, got %v", err)
	}
}

// brokenFS fails every open with an error that is not the plan's fault.
type brokenFS struct{}

func (brokenFS) Open(string) (fs.File, error) { return nil, fs.ErrPermission }

func TestCheckFilesReturnsInternalErrors(t *testing.T) {
	p, err := Parse(with(t, "/scenarios/0/feeder", `{"file": "a.csv"}`))
	if err != nil {
		t.Fatal(err)
	}
	err = CheckFiles(p, brokenFS{})
	var verr *ValidationError
	if errors.As(err, &verr) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("want the permission error itself, got %v", err)
	}
}
