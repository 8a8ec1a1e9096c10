package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// nestedPlan is the attack of issue 12: a plan of about 1 MB whose value at
// key nests open brackets (open: "[" or `{"a":`) far beyond MaxDepth.
func nestedPlan(key, open, close string) []byte {
	head := `{"name":"deep","` + key + `":`
	n := (990_000 - len(head)) / (len(open) + len(close))
	return []byte(head + strings.Repeat(open, n) + strings.Repeat(close, n) + "}")
}

func TestParseRefusesDeepNestingWithTheDepthAndWhere(t *testing.T) {
	tests := []struct {
		name        string
		doc         []byte
		wantPointer string
		wantColumn  int
	}{
		{"1 MB of nested arrays", nestedPlan("labels", "[", "]"),
			"/labels" + strings.Repeat("/0", MaxDepth-1), len(`{"name":"deep","labels":`) + MaxDepth},
		{"1 MB of nested objects", nestedPlan("labels", `{"a":`, "}"),
			"/labels" + strings.Repeat("/a", MaxDepth-1), len(`{"name":"deep","labels":`) + 5*(MaxDepth-1) + 1},
		{"keys with pointer escapes", []byte(`{"a/b~":` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth) + `}`),
			"/a~1b~0" + strings.Repeat("/0", MaxDepth-1), len(`{"a/b~":`) + MaxDepth},
		{"the depth is counted, not the brackets: wide then deep", []byte(`[[],[],[` + strings.Repeat(`[`, MaxDepth) + `]`),
			"/2" + strings.Repeat("/0", MaxDepth-1), len(`[[],[],[`) + MaxDepth - 1},
	}
	parser := mustParser(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parser.Parse(tt.doc)
			var verr *ValidationError
			if !errors.Is(err, ErrTooDeep) || !errors.As(err, &verr) || len(verr.Problems) != 1 {
				t.Fatalf("err = %v, want one ErrTooDeep problem", err)
			}
			p := verr.Problems[0]
			if p.Path != tt.wantPointer || p.Line != 1 || p.Column != tt.wantColumn {
				t.Errorf("problem at %q line %d column %d, want %q line 1 column %d", p.Path, p.Line, p.Column, tt.wantPointer, tt.wantColumn)
			}
			if !strings.Contains(p.Message, "64") {
				t.Errorf("message %q does not name the limit", p.Message)
			}
		})
	}
}

func TestParseAcceptsTheMaximumDepth(t *testing.T) {
	// A request body nesting to exactly MaxDepth levels, counting the plan's
	// own: root, scenarios, [0], steps, [0], request, body, json = 8.
	inner := MaxDepth - 7
	body := strings.Repeat("[", inner) + strings.Repeat("]", inner)
	doc := with(t, "/scenarios/0/steps/0/request/body", `{"json":`+body+`}`)
	if err := CheckDepth(doc); err != nil {
		t.Fatalf("a plan %d levels deep is refused: %v", MaxDepth, err)
	}
	if _, err := mustParser(t).Parse(doc); err != nil {
		t.Fatalf("a valid plan %d levels deep is refused: %v", MaxDepth, err)
	}
	doc = with(t, "/scenarios/0/steps/0/request/body", `{"json":[`+body+`]}`)
	if err := CheckDepth(doc); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("a plan %d levels deep: err = %v, want ErrTooDeep", MaxDepth+1, err)
	}
}

// TestNestedPlansInParallelStayBounded is the memory of issue 12: four of the
// 1 MB nested plans at once cost 2.28 GB. The depth scan refuses them before
// anything is decoded, so they now allocate next to nothing; the test asserts
// on bytes allocated (not on time, which a busy machine stretches).
func TestNestedPlansInParallelStayBounded(t *testing.T) {
	parser := mustParser(t)
	docs := [][]byte{nestedPlan("labels", "[", "]"), nestedPlan("labels", `{"a":`, "}")}
	const parallel = 4
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	errs := make([]error, parallel*len(docs))
	for i := range parallel {
		for j, doc := range docs {
			wg.Go(func() { _, errs[i*len(docs)+j] = parser.Parse(doc) })
		}
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	for _, err := range errs {
		if !errors.Is(err, ErrTooDeep) {
			t.Fatalf("err = %v, want ErrTooDeep", err)
		}
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d parses of 1 MB nested plans allocated %d KiB", parallel*len(docs), allocated>>10)
	const limit = 100 << 20
	if allocated > limit {
		t.Fatalf("%d parses allocated %d MiB, over %d MiB", parallel*len(docs), allocated>>20, limit>>20)
	}
	// Each refusal allocates the problem (its pointer, its message) and
	// nothing in proportion to the document.
	if per := allocated / uint64(parallel*len(docs)); per > 64<<10 {
		t.Errorf("one refusal allocated %d KiB; the scan should allocate next to nothing", per>>10)
	}
}

func TestDepthScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `-`, `01`, `1.`, `1.5e`, `1e+5`, `1E-0`, `.5`, `+1`,
		`"\u00e9"`, `"\u00G9"`, `"\x"`, "\"a\tb\"", "\"\x7f\xff\"", `"\/"`, `tru`, `true `, `nul`, `null x`,
		`{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `[1}`, `{"a":[}]}`,
		"\ufeff{}", `{"a":{"b":[1,{"c":null}]}}`, "[\n\t1 ,\r 2 ]",
	} {
		s := depthScanner{data: []byte(doc), max: MaxDepth}
		valid, deep := s.scan()
		if deep || valid != json.Valid([]byte(doc)) {
			t.Errorf("%q: scan valid=%v deep=%v, encoding/json valid=%v", doc, valid, deep, json.Valid([]byte(doc)))
		}
	}
}

// FuzzDepthScanner: the depth scan never panics; under the depth limit it
// says valid exactly when encoding/json does; it calls a document deep
// exactly when it nests more than MaxDepth levels; and on valid documents the
// tree reader Parse uses builds what encoding/json decodes.
func FuzzDepthScanner(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":[1,2,{"b":"c\u0041"}]}`, `[1e5,-0.5,true,false,null]`, `"\ud800"`, "\"\xff\"",
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		strings.Repeat(`{"k":`, MaxDepth+1), `{"a":1,"a":2}`, `[1,]`, `{"a" : [ ] , "b" : { } }`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := depthScanner{data: data, max: MaxDepth}
		valid, deep := s.scan()
		depth, jsonValid := maxDepthOf(data)
		switch {
		case deep && (jsonValid && depth <= MaxDepth):
			t.Fatalf("%q nests %d levels, called deep", data, depth)
		case deep:
			err := CheckDepth(data)
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Problems[0].Line < 1 || !strings.HasPrefix(verr.Problems[0].Path+"/", "/") {
				t.Fatalf("deep %q: CheckDepth = %v", data, err)
			}
			return
		case valid != jsonValid:
			t.Fatalf("%q: scan valid=%v, encoding/json valid=%v", data, valid, jsonValid)
		case valid && depth > MaxDepth:
			t.Fatalf("%q nests %d levels, not called deep", data, depth)
		case !valid:
			return
		}
		var want any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("decode %q: %v", data, err)
		}
		got := (&treeReader{data: data, build: true}).value()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: tree reader built %#v, encoding/json %#v", data, got, want)
		}
	})
}

// maxDepthOf is the nesting depth of data by encoding/json's own tokens,
// and whether encoding/json finds data valid.
func maxDepthOf(data []byte) (int, bool) {
	if !json.Valid(data) {
		return 0, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest, true
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

func mustParser(t testing.TB) *Parser {
	t.Helper()
	p, err := NewParser()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
