package plan

import (
	"encoding/json"
	"fmt"
	"slices"
)

// MaxDepth is how deeply arrays and objects may nest in a plan (and in any
// JSON body the services read). The deepest plan the schema describes nests
// about ten levels, request bodies included a few more; 64 is plenty.
//
// Why a limit at all: the later stages (the generic tree, the schema, the
// strict decode) cost memory and time per level of every value, so a
// megabyte of "[[[[..." cost 374 MB and 3.7 s before anything refused it.
const MaxDepth = 64

// MaxValues is how many JSON values (objects, arrays, strings, numbers,
// true, false and null, at any depth; object keys are not values) a plan,
// or any JSON body the services read, may hold.
//
// Why a limit: the later stages cost memory per value (the generic tree
// about 150 bytes, the schema's errors and our problems over 1 KB for a value
// the schema refuses), so a megabyte of shallow "{},{},..." (350,000
// values) cost 55-65 MB per parse, and a megabyte of invalid steps
// gigabytes. At 10,000 values the costliest plan under the limit (10,000
// invalid steps or labels) peaks at about 30 MB of heap for four parses at
// once, request and response included (services/validator/bounded_test.go).
//
// Why it is safe: the example plans hold 32 to 117 values, and a request
// step about a dozen, so 10,000 is some 800 steps. Bulk data does not count
// against it: a feeder is a file, not part of the plan, and a raw request
// body, however long, is one string value. Only a JSON request body
// ("body": {"json": ...}) could come near it, and one of 10,000 values (100
// KB and more) is far beyond a request a load test repeats; it can be sent
// as a raw body.
const MaxValues = 10_000

// CheckBounds refuses a document that nests deeper than MaxDepth or holds
// more than MaxValues values, before any decoding: it is one pass over the
// bytes that allocates nothing unless it refuses. The error is a
// *ValidationError of kind ErrTooDeep or ErrTooManyValues whose one problem
// has the JSON pointer of the value that passes the limit and its line and
// column (depth first: a document past both is refused for its depth). Any
// other document, valid JSON or not, passes: syntax is the decoder's to
// report, and cheap to find.
func CheckBounds(data []byte) error {
	s := boundsScanner{data: data, maxDepth: MaxDepth, maxValues: MaxValues}
	valid, deep := s.scan()
	switch {
	case deep:
		line, col := position(data, s.deepAt)
		return &ValidationError{Kind: ErrTooDeep, Problems: []Problem{{
			Path: s.pointer(s.deepPath),
			Message: fmt.Sprintf("arrays and objects nest more than %d levels deep here (level %d); "+
				"the limit is %d", MaxDepth, MaxDepth+1, MaxDepth),
			Line: line, Column: col,
		}}}
	case valid && s.values > MaxValues:
		line, col := position(data, s.manyAt)
		return &ValidationError{Kind: ErrTooManyValues, Problems: []Problem{{
			Path: s.pointer(s.manyPath),
			Message: fmt.Sprintf("the document holds %d JSON values (objects, arrays, strings, numbers, "+
				"true, false, null); the limit is %d, passed here (value %d)", s.values, MaxValues, MaxValues+1),
			Line: line, Column: col,
		}}}
	}
	return nil
}

// boundsScanner is a validating JSON scanner (RFC 8259, as encoding/json
// reads it) that stops at the first container opened deeper than maxDepth,
// and counts the values. Its recursion is therefore bounded by maxDepth,
// whatever the input. It keeps the path to the current value, to name where
// a limit was passed.
type boundsScanner struct {
	data      []byte
	pos       int
	maxDepth  int
	maxValues int
	// path holds one frame per open container.
	path []frame
	// deepAt is the offset of the bracket that went too deep, and deepPath
	// the path to it (path itself unwinds as the scan returns).
	deepAt   int
	deepPath []frame
	deep     bool
	// values counts the values scanned; manyAt and manyPath locate value
	// maxValues+1 (maxValues 0: none is located). The scan goes on past it,
	// to count them all.
	values   int
	manyAt   int
	manyPath []frame
}

// frame is an open container: an array and its current index, or an object
// and the span of its current key (raw, still escaped).
type frame struct {
	array            bool
	index            int
	keyStart, keyEnd int
}

// scan reports whether data is exactly one JSON value (valid) and whether
// it nests deeper than maxDepth (deep). valid is meaningful only when deep
// is false: the scan stops where the depth limit is passed.
func (s *boundsScanner) scan() (valid, deep bool) {
	s.path = make([]frame, 0, s.maxDepth)
	ok := s.value() && !s.deep
	if s.deep {
		return false, true
	}
	s.skipSpace()
	return ok && s.pos == len(s.data), false
}

func (s *boundsScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans one value; false means invalid or too deep.
func (s *boundsScanner) value() bool {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return false
	}
	if s.values++; s.values == s.maxValues+1 && s.maxValues > 0 {
		s.manyAt, s.manyPath = s.pos, slices.Clone(s.path)
	}
	switch c := s.data[s.pos]; {
	case c == '{' || c == '[':
		if len(s.path) >= s.maxDepth {
			s.deep, s.deepAt, s.deepPath = true, s.pos, slices.Clone(s.path)
			return false
		}
		s.pos++
		if c == '{' {
			return s.object()
		}
		return s.array()
	case c == '"':
		return s.string()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *boundsScanner) object() bool {
	s.path = append(s.path, frame{})
	defer func() { s.path = s.path[:len(s.path)-1] }()
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return true
	}
	for {
		s.skipSpace()
		start := s.pos
		if s.pos >= len(s.data) || s.data[s.pos] != '"' || !s.string() {
			return false
		}
		top := &s.path[len(s.path)-1]
		top.keyStart, top.keyEnd = start, s.pos
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return false
		}
		s.pos++
		if !s.value() {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

func (s *boundsScanner) array() bool {
	s.path = append(s.path, frame{array: true})
	defer func() { s.path = s.path[:len(s.path)-1] }()
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return true
	}
	for {
		if !s.value() {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.path[len(s.path)-1].index++
		case ']':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// string scans a string literal from its opening quote. Like encoding/json,
// it refuses control characters and unknown escapes and lets any other byte
// through (invalid UTF-8 is replaced on decoding, not refused).
func (s *boundsScanner) string() bool {
	s.pos++ // the opening quote
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			s.pos++
			if s.pos >= len(s.data) {
				return false
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for range 4 {
					if s.pos >= len(s.data) || !isHex(s.data[s.pos]) {
						return false
					}
					s.pos++
				}
			default:
				return false
			}
		default:
			s.pos++
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *boundsScanner) number() bool {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos >= len(s.data):
		return false
	case s.data[s.pos] == '0':
		s.pos++
	case s.data[s.pos] >= '1' && s.data[s.pos] <= '9':
		s.digits()
	default:
		return false
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return false
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *boundsScanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

func (s *boundsScanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// pointer spells the JSON pointer of a path the scan kept (deepPath or
// manyPath).
func (s *boundsScanner) pointer(path []frame) string {
	tokens := make([]any, len(path))
	for i, f := range path {
		if f.array {
			tokens[i] = f.index
			continue
		}
		var key string
		if err := json.Unmarshal(s.data[f.keyStart:f.keyEnd], &key); err != nil {
			key = string(s.data[f.keyStart+1 : f.keyEnd-1]) // unreachable: the key scanned
		}
		tokens[i] = key
	}
	return pointer("", tokens...)
}
