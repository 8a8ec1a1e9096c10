package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loadfleet/loadfleet/schemas"
)

// MaxPlanBytes is the largest plan document Parse accepts.
const MaxPlanBytes = 1 << 20

// maxNumberLen bounds number literals: no plan needs more digits, and
// arbitrary-precision checks of huge literals would be slow.
const maxNumberLen = 100

// The kinds of ValidationError; errors.Is(err, ErrSyntax) tells them apart.
var (
	// ErrTooLarge: the document is over MaxPlanBytes.
	ErrTooLarge = errors.New("plan too large")
	// ErrSyntax: the document is not JSON; its one problem has a line and
	// column.
	ErrSyntax = errors.New("plan is not valid JSON")
	// ErrInvalid: the document is JSON but breaks the schema or a semantic
	// rule; every problem has a JSON pointer.
	ErrInvalid = errors.New("plan is invalid")
	// ErrTooDeep: arrays and objects nest deeper than MaxDepth; its one
	// problem has the JSON pointer and the line and column where.
	ErrTooDeep = errors.New("plan nests too deeply")
	// ErrTooManyValues: the document holds more than MaxValues JSON values;
	// its one problem names the count, the limit, and the pointer, line and
	// column of the first value over it.
	ErrTooManyValues = errors.New("plan holds too many values")
)

// Parser parses and validates plans against the embedded schema. It is
// safe for concurrent use; create one and reuse it when parsing many plans.
type Parser struct {
	schema *jsonschema.Schema
	// doc is the schema document itself, to name the fields an object
	// allows in messages; factsCache holds what facts found in it, by
	// schema location (string to schemaFacts).
	doc        any
	factsCache sync.Map
}

// NewParser compiles the embedded test-plan schema.
func NewParser() (*Parser, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.TestPlanSchema()))
	if err != nil {
		return nil, fmt.Errorf("read the plan schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemas.TestPlanSchemaURL, doc); err != nil {
		return nil, fmt.Errorf("load the plan schema: %w", err)
	}
	sch, err := c.Compile(schemas.TestPlanSchemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile the plan schema: %w", err)
	}
	return &Parser{schema: sch, doc: doc}, nil
}

// Parse parses and validates a plan document with a new Parser. Compiling
// the schema takes about a millisecond; callers parsing many plans should
// keep a Parser.
func Parse(data []byte) (*Plan, error) {
	p, err := NewParser()
	if err != nil {
		return nil, err
	}
	return p.Parse(data)
}

// Parse parses a plan document and validates it completely. A plan that
// is rejected comes back as a *ValidationError listing every problem found
// (its Kind is ErrTooLarge, ErrTooDeep, ErrTooManyValues, ErrSyntax or
// ErrInvalid); a plan that is accepted is safe to hand to the schedule
// package.
//
// The stages: size limit; nesting depth and value count (a scan of the
// bytes that refuses more than MaxDepth levels or MaxValues values before
// anything is decoded, as every later stage costs memory per level and per
// value); JSON syntax (one problem with line and column); a token walk for
// duplicate keys and numbers out of float64 range; the JSON Schema; a
// strict decode; the semantic rules. A stage's problems stop the later
// stages that would only report their consequences.
func (p *Parser) Parse(data []byte) (*Plan, error) {
	if len(data) > MaxPlanBytes {
		return nil, &ValidationError{Kind: ErrTooLarge, Problems: []Problem{{
			Message: fmt.Sprintf("plan is %d bytes; the limit is %d bytes (1 MiB)", len(data), MaxPlanBytes),
		}}}
	}
	if err := CheckBounds(data); err != nil {
		return nil, err
	}
	if prob, bad := syntaxProblem(data); bad {
		return nil, &ValidationError{Kind: ErrSyntax, Problems: []Problem{prob}}
	}
	verr := &ValidationError{Kind: ErrInvalid}
	tree := walkDocument(data, verr)
	if _, isObject := tree.(map[string]any); !isObject {
		// Whatever is wrong inside a non-object, the one problem worth
		// saying is that a plan is an object.
		verr.Problems = nil
	}
	walked := pathsOf(verr.Problems)
	schema := p.schemaProblems(tree)
	kept := schema[:0] // filtered in place: there may be thousands
	for _, prob := range schema {
		if !walked.covers(prob.Path) {
			kept = append(kept, prob)
		}
	}
	verr.Problems = append(verr.Problems, kept...)
	if len(verr.Problems) > 0 {
		verr.Problems = sortProblems(append(verr.Problems, semanticsOfCleanSections(tree, verr.Problems)...))
		return nil, verr
	}
	pl, err := decodeStrict(data, tree)
	if err != nil {
		return nil, err
	}
	checkSemantics(pl, verr)
	if len(verr.Problems) > 0 {
		verr.Problems = sortProblems(verr.Problems)
		return nil, verr
	}
	return pl, nil
}

// pathSet holds the paths of problems already reported.
type pathSet map[string]bool

func pathsOf(problems []Problem) pathSet {
	set := make(pathSet, len(problems))
	for _, p := range problems {
		set[p.Path] = true
	}
	return set
}

// covers reports whether path is at or under a path in the set. It looks
// up path and each of its prefixes, so that thousands of problems checked
// against thousands cost no more than their depth each.
func (s pathSet) covers(path string) bool {
	if len(s) == 0 {
		return false
	}
	for {
		if s[path] {
			return true
		}
		i := strings.LastIndexByte(path, '/')
		if i < 0 {
			return false
		}
		path = path[:i]
	}
}

// syntaxProblem checks that data is one JSON value and locates the first
// syntax error.
func syntaxProblem(data []byte) (Problem, bool) {
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	if err == nil {
		return Problem{}, false
	}
	offset := len(data)
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(data) &&
		!strings.Contains(se.Error(), "unexpected end") {
		offset = int(se.Offset) - 1 // Offset counts the offending byte
	}
	line, col := position(data, offset)
	msg := "invalid JSON: " + err.Error()
	if len(bytes.TrimSpace(data)) == 0 {
		msg = "empty document: a plan is a JSON object"
	}
	return Problem{Message: msg, Line: line, Column: col}, true
}

// position converts a byte offset into a 1-based line and column, the
// column counted in characters.
func position(data []byte, offset int) (line, col int) {
	offset = min(max(offset, 0), len(data))
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[lineStart:])
}

// walkDocument builds the generic value of a syntactically valid document
// (numbers as json.Number, as the schema validator wants them) and records
// what the schema cannot see: duplicate keys, and numbers no float64 holds.
// A document that is not an object is not walked: the one problem worth
// saying about it is that a plan is an object, and a value of its type is
// enough for the schema to say so.
func walkDocument(data []byte, verr *ValidationError) any {
	switch first := bytes.TrimLeft(data, " \t\r\n"); {
	case len(first) > 0 && first[0] == '[':
		return []any{}
	case len(first) > 0 && first[0] != '{':
		var v any
		_ = json.Unmarshal(data, &v) // a scalar: small
		return v
	}
	r := &treeReader{data: data, build: true}
	r.onDuplicate = func(key string) { verr.Add(r.here(""), "duplicate key %q", key) }
	r.onNumber = func(n string) any { return checkNumber(n, func() string { return r.here("") }, verr) }
	return r.value()
}

// checkNumber rejects literals that float64 cannot represent. A rejected
// number becomes 0 in the tree so that the schema does not report it again.
func checkNumber(s string, here func() string, verr *ValidationError) any {
	if len(s) > maxNumberLen {
		verr.Add(here(), "number is too long (over %d characters)", maxNumberLen)
		return json.Number("0")
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.IsInf(f, 0) || math.IsNaN(f):
		verr.Add(here(), "number %s is out of range", s)
		return json.Number("0")
	case f == 0 && hasNonZeroDigit(s):
		verr.Add(here(), "number %s is too close to zero to be represented", s)
		return json.Number("0")
	}
	return json.Number(s)
}

// hasNonZeroDigit reports whether a number literal's mantissa is not zero.
func hasNonZeroDigit(s string) bool {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	return strings.ContainsAny(s, "123456789")
}

// decodeStrict decodes the document into a Plan. The schema has passed, so
// a failure here is a value the schema allows but Go cannot hold (1.0 for
// an integer, an overlong duration); locate finds where.
func decodeStrict(data []byte, tree any) (*Plan, error) {
	var pl Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pl); err != nil {
		probs := locateDecodeErrors(tree, &pl)
		if len(probs) == 0 {
			probs = []Problem{{Message: err.Error()}}
		}
		return nil, &ValidationError{Kind: ErrInvalid, Problems: sortProblems(probs)}
	}
	return &pl, nil
}

// sectionDeps lists, per top-level section, the sections its semantic rules
// read: criteria name requests of the scenarios, executors size the load.
var sectionDeps = map[string][]string{
	"criteria":  {"scenarios", "tool"},
	"executors": {"load"},
	"tool":      {"source", "scenarios"},
	"source":    {"tool"},
	"scenarios": {"tool"},
}

// semanticsOfCleanSections runs the semantic rules on a plan whose schema
// check failed, so that one pass reports every problem: the top-level
// sections the schema found nothing wrong with are decoded on their own, and
// a semantic problem is kept only when its section and the sections it
// depends on are clean (the others would report consequences of a schema
// problem, not new ones).
func semanticsOfCleanSections(tree any, schemaProblems []Problem) []Problem {
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil
	}
	dirty := map[string]bool{}
	for _, prob := range schemaProblems {
		dirty[topSection(prob.Path)] = true
	}
	var pl Plan
	for key, val := range obj {
		if dirty[key] {
			continue
		}
		raw, err := json.Marshal(map[string]any{key: val})
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err != nil || dec.Decode(&pl) != nil {
			dirty[key] = true
		}
	}
	sem := &ValidationError{Kind: ErrInvalid}
	checkSemantics(&pl, sem)
	reported := pathsOf(schemaProblems)
	var kept []Problem
	for _, prob := range sem.Problems {
		if cleanWithDeps(topSection(prob.Path), dirty) && !reported.covers(prob.Path) {
			kept = append(kept, prob)
		}
	}
	return kept
}

// topSection is the first segment of a JSON pointer ("" for the root).
func topSection(ptr string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(ptr, "/"), "/")
	return seg
}

func cleanWithDeps(section string, dirty map[string]bool) bool {
	if section == "" || dirty[""] || dirty[section] {
		return false
	}
	for _, dep := range sectionDeps[section] {
		if dirty[dep] {
			return false
		}
	}
	return true
}
