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

// CheckDepth refuses a document that nests deeper than MaxDepth, before any
// decoding: it is one pass over the bytes that allocates nothing unless it
// refuses. The error is a *ValidationError of kind ErrTooDeep whose one
// problem has the JSON pointer of the value that goes too deep and its line
// and column. Any other document, valid JSON or not, passes: syntax is the
// decoder's to report.
func CheckDepth(data []byte) error {
	s := depthScanner{data: data, max: MaxDepth}
	if _, deep := s.scan(); !deep {
		return nil
	}
	line, col := position(data, s.deepAt)
	return &ValidationError{Kind: ErrTooDeep, Problems: []Problem{{
		Path: s.pointer(),
		Message: fmt.Sprintf("arrays and objects nest more than %d levels deep here (level %d); "+
			"the limit is %d", MaxDepth, MaxDepth+1, MaxDepth),
		Line: line, Column: col,
	}}}
}

// depthScanner is a validating JSON scanner (RFC 8259, as encoding/json
// reads it) that stops at the first container opened deeper than max. Its
// recursion is therefore bounded by max, whatever the input. It keeps the
// path to the current value, to name where the limit was passed.
type depthScanner struct {
	data []byte
	pos  int
	max  int
	// path holds one frame per open container.
	path []frame
	// deepAt is the offset of the bracket that went too deep, and deepPath
	// the path to it (path itself unwinds as the scan returns).
	deepAt   int
	deepPath []frame
	deep     bool
}

// frame is an open container: an array and its current index, or an object
// and the span of its current key (raw, still escaped).
type frame struct {
	array            bool
	index            int
	keyStart, keyEnd int
}

// scan reports whether data is exactly one JSON value (valid) and whether
// it nests deeper than max (deep). valid is meaningful only when deep is
// false: the scan stops where the limit is passed.
func (s *depthScanner) scan() (valid, deep bool) {
	s.path = make([]frame, 0, s.max)
	ok := s.value() && !s.deep
	if s.deep {
		return false, true
	}
	s.skipSpace()
	return ok && s.pos == len(s.data), false
}

func (s *depthScanner) skipSpace() {
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
func (s *depthScanner) value() bool {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '{' || c == '[':
		if len(s.path) >= s.max {
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

func (s *depthScanner) object() bool {
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

func (s *depthScanner) array() bool {
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
func (s *depthScanner) string() bool {
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
func (s *depthScanner) number() bool {
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

func (s *depthScanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

func (s *depthScanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// pointer is the JSON pointer of the container that went too deep; only
// meaningful once scan has reported deep.
func (s *depthScanner) pointer() string {
	tokens := make([]any, len(s.deepPath))
	for i, f := range s.deepPath {
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
