package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	if err := CheckBounds(doc); err != nil {
		t.Fatalf("a plan %d levels deep is refused: %v", MaxDepth, err)
	}
	if _, err := mustParser(t).Parse(doc); err != nil {
		t.Fatalf("a valid plan %d levels deep is refused: %v", MaxDepth, err)
	}
	doc = with(t, "/scenarios/0/steps/0/request/body", `{"json":[`+body+`]}`)
	if err := CheckBounds(doc); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("a plan %d levels deep: err = %v, want ErrTooDeep", MaxDepth+1, err)
	}
}

// TestRefusalsInParallelStayBounded is the memory of issue 12: four of the
// 1 MB nested plans at once cost 2.28 GB, and four 1 MB plans of shallow
// values ("{},{},...") 130 MB. The bounds scan refuses both before anything
// is decoded, so they now allocate next to nothing; the test asserts on
// bytes allocated (not on time, which a busy machine stretches).
func TestRefusalsInParallelStayBounded(t *testing.T) {
	parser := mustParser(t)
	docs := [][]byte{nestedPlan("labels", "[", "]"), nestedPlan("labels", `{"a":`, "}"),
		shallowPlan("{}"), shallowPlan("0")}
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
	for i, err := range errs {
		if want := []error{ErrTooDeep, ErrTooDeep, ErrTooManyValues, ErrTooManyValues}[i%len(docs)]; !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d parses of 1 MB nested or shallow plans allocated %d KiB", len(errs), allocated>>10)
	const limit = 100 << 20
	if allocated > limit {
		t.Fatalf("%d parses allocated %d MiB, over %d MiB", len(errs), allocated>>20, limit>>20)
	}
	// Each refusal allocates the problem (its pointer, its message) and
	// nothing in proportion to the document.
	if per := allocated / uint64(len(errs)); per > 64<<10 {
		t.Errorf("one refusal allocated %d KiB; the scan should allocate next to nothing", per>>10)
	}
}

// shallowPlan is the other attack: about 1 MB of one small value repeated
// in an array, nesting two levels.
func shallowPlan(elem string) []byte {
	head := `{"name":"shallow","labels":[`
	n := (990_000 - len(head)) / (len(elem) + 1)
	return []byte(head + strings.Repeat(elem+",", n-1) + elem + "]}")
}

func TestParseRefusesTooManyValuesWithTheCountAndWhere(t *testing.T) {
	manyKeys := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`{"name":"keys","labels":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":"v"`, i)
		}
		b.WriteString("}}")
		return []byte(b.String())
	}
	keys := manyKeys(MaxValues)
	tests := []struct {
		name        string
		doc         []byte
		wantValues  int
		wantPointer string
		wantColumn  int
	}{
		// The root, "shallow" and the array are values 1 to 3: the limit is
		// passed at element MaxValues-3.
		{"1 MB of empty objects", shallowPlan("{}"), 3 + (990_000-28)/3,
			fmt.Sprintf("/labels/%d", MaxValues-3), 28 + 3*(MaxValues-3) + 1},
		{"1 MB of zeros", shallowPlan("0"), 3 + (990_000-28)/2,
			fmt.Sprintf("/labels/%d", MaxValues-3), 28 + 2*(MaxValues-3) + 1},
		// Keys are not values: the label values are.
		{"an object of many keys", keys, 3 + MaxValues,
			fmt.Sprintf("/labels/k%d", MaxValues-3), bytes.Index(keys, fmt.Appendf(nil, `"k%d":`, MaxValues-3)) + len(fmt.Sprintf(`"k%d":`, MaxValues-3)) + 1},
		{"one value over, at the root", []byte("[" + strings.Repeat("0,", MaxValues-1) + "0]"), MaxValues + 1,
			fmt.Sprintf("/%d", MaxValues-1), 1 + 2*(MaxValues-1) + 1},
	}
	parser := mustParser(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parser.Parse(tt.doc)
			var verr *ValidationError
			if !errors.Is(err, ErrTooManyValues) || !errors.As(err, &verr) || len(verr.Problems) != 1 {
				t.Fatalf("err = %.300v, want one ErrTooManyValues problem", err)
			}
			p := verr.Problems[0]
			if p.Path != tt.wantPointer || p.Line != 1 || p.Column != tt.wantColumn {
				t.Errorf("problem at %q line %d column %d, want %q line 1 column %d", p.Path, p.Line, p.Column, tt.wantPointer, tt.wantColumn)
			}
			if want := fmt.Sprintf("holds %d JSON values", tt.wantValues); !strings.Contains(p.Message, want) ||
				!strings.Contains(p.Message, fmt.Sprintf("the limit is %d", MaxValues)) {
				t.Errorf("message %q does not say %q and the limit", p.Message, want)
			}
		})
	}
}

func TestCheckBoundsOrder(t *testing.T) {
	many := strings.Repeat("0,", MaxValues)
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"exactly MaxValues values pass", "[" + strings.Repeat("0,", MaxValues-2) + "0]", nil},
		{"a document past both limits is refused for its depth, the graver",
			"[" + many + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "]", ErrTooDeep},
		{"invalid JSON with too many values is a syntax error, for the decoder to locate",
			"[" + many + "0,]", nil},
	}
	for _, tt := range tests {
		if err := CheckBounds([]byte(tt.doc)); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: err = %.200v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestParseAcceptsAPlanAtTheValueLimit: a valid plan whose JSON request body
// brings it to exactly MaxValues values is accepted, whole.
func TestParseAcceptsAPlanAtTheValueLimit(t *testing.T) {
	base := with(t)
	_, values, _ := shapeOf(base)
	// The body adds the {"json":[...]} object and the array besides its
	// elements.
	elems := MaxValues - values - 2
	doc := with(t, "/scenarios/0/steps/0/request/body", `{"json":[`+strings.Repeat("1,", elems-1)+`1]}`)
	if _, got, _ := shapeOf(doc); got != MaxValues {
		t.Fatalf("the test plan holds %d values, want %d", got, MaxValues)
	}
	if _, err := mustParser(t).Parse(doc); err != nil {
		t.Fatalf("a valid plan of %d values is refused: %.300v", MaxValues, err)
	}
}

func TestBoundsScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `-`, `01`, `1.`, `1.5e`, `1e+5`, `1E-0`, `.5`, `+1`,
		`"\u00e9"`, `"\u00G9"`, `"\x"`, "\"a\tb\"", "\"\x7f\xff\"", `"\/"`, `tru`, `true `, `nul`, `null x`,
		`{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `[1}`, `{"a":[}]}`,
		"\ufeff{}", `{"a":{"b":[1,{"c":null}]}}`, "[\n\t1 ,\r 2 ]", `{"a":1,"a":2}`, `[[],{},[{}]]`,
	} {
		s := boundsScanner{data: []byte(doc), maxDepth: MaxDepth}
		valid, deep := s.scan()
		_, values, jsonValid := shapeOf([]byte(doc))
		if deep || valid != jsonValid || valid && s.values != values {
			t.Errorf("%q: scan valid=%v deep=%v values=%d, encoding/json valid=%v values=%d", doc, valid, deep, s.values, jsonValid, values)
		}
	}
}

// FuzzBoundsScanner: the bounds scan never panics; under the depth limit it
// says valid exactly when encoding/json does, and counts the values
// encoding/json reads; it calls a document deep exactly when it nests more
// than MaxDepth levels, and locates the value over a (small) value limit at
// the start of a value; and on valid documents the tree reader Parse uses
// builds what encoding/json decodes.
func FuzzBoundsScanner(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":[1,2,{"b":"c\u0041"}]}`, `[1e5,-0.5,true,false,null]`, `"\ud800"`, "\"\xff\"",
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		strings.Repeat(`{"k":`, MaxDepth+1), `{"a":1,"a":2}`, `[1,]`, `{"a" : [ ] , "b" : { } }`,
		`[{},{},{},{},{}]`, `{"a":0,"b":0,"c":0,"d":0}`,
	} {
		f.Add([]byte(seed))
	}
	const smallLimit = 3 // for the fuzzer's small documents to pass it
	f.Fuzz(func(t *testing.T, data []byte) {
		s := boundsScanner{data: data, maxDepth: MaxDepth, maxValues: smallLimit}
		valid, deep := s.scan()
		depth, values, jsonValid := shapeOf(data)
		switch {
		case deep && (jsonValid && depth <= MaxDepth):
			t.Fatalf("%q nests %d levels, called deep", data, depth)
		case deep:
			err := CheckBounds(data)
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Problems[0].Line < 1 || !strings.HasPrefix(verr.Problems[0].Path+"/", "/") {
				t.Fatalf("deep %q: CheckBounds = %v", data, err)
			}
			return
		case valid != jsonValid:
			t.Fatalf("%q: scan valid=%v, encoding/json valid=%v", data, valid, jsonValid)
		case valid && depth > MaxDepth:
			t.Fatalf("%q nests %d levels, not called deep", data, depth)
		case !valid:
			return
		case s.values != values:
			t.Fatalf("%q: scan counted %d values, encoding/json %d", data, s.values, values)
		case values > smallLimit && !bytes.ContainsRune([]byte(`{["tfn-0123456789`), rune(data[s.manyAt])):
			t.Fatalf("%q: value %d located at offset %d, not the start of a value", data, smallLimit+1, s.manyAt)
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

// shapeOf is the nesting depth and the number of values of data by
// encoding/json's own tokens, and whether encoding/json finds data valid.
func shapeOf(data []byte) (depth, values int, valid bool) {
	if !json.Valid(data) {
		return 0, 0, false
	}
	// One entry per open container: whether it is an object whose next
	// token is a key (keys are not values).
	type open struct{ object, key bool }
	var stack []open
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return depth, values, true
		}
		if tok == json.Delim(']') || tok == json.Delim('}') {
			stack = stack[:len(stack)-1]
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			if stack[n-1].key = !stack[n-1].key; !stack[n-1].key {
				continue // it was a key
			}
		}
		values++
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, open{object: d == '{', key: true})
			depth = max(depth, len(stack))
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
