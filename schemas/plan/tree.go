package plan

import (
	"encoding/json"
	"unicode/utf8"
)

// treeReader reads a document that is valid JSON nesting at most MaxDepth
// levels (Parse checks both first, and the value count) in one recursive pass, bounded by that
// depth. It replaces encoding/json's Decoder.Token, which allocates an
// error value for every number it reads.
//
// With build set it returns the generic value (objects as map[string]any,
// arrays as []any, numbers as json.Number, as the schema validator wants
// them). Without, it builds nothing and only calls onString for each string
// value. The path to the current value is kept as tokens, and a JSON
// pointer is spelt only when asked for (a problem): one per value would cost
// memory quadratic in the depth.
type treeReader struct {
	data  []byte
	pos   int
	build bool
	path  []any
	// onDuplicate is called for a key that already occurred in its object,
	// and onNumber turns a number literal into its value (build only);
	// onString is called for each string value, not for keys.
	onDuplicate func(key string)
	onNumber    func(n string) any
	onString    func(s string)
}

// here is the JSON pointer of the current value.
func (r *treeReader) here(base string) string { return pointer(base, r.path...) }

func (r *treeReader) space() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *treeReader) value() any {
	r.space()
	if r.pos >= len(r.data) {
		return nil
	}
	switch c := r.data[r.pos]; c {
	case '{':
		r.pos++
		return r.object()
	case '[':
		r.pos++
		return r.array()
	case '"':
		s := r.string()
		if r.onString != nil {
			r.onString(s)
		}
		if !r.build {
			return nil
		}
		return s
	case 't':
		r.pos += len("true")
		return true
	case 'f':
		r.pos += len("false")
		return false
	case 'n':
		r.pos += len("null")
		return nil
	}
	start := r.pos
	for r.pos < len(r.data) && isNumberByte(r.data[r.pos]) {
		r.pos++
	}
	if !r.build {
		return nil
	}
	n := string(r.data[start:r.pos])
	if r.onNumber != nil {
		return r.onNumber(n)
	}
	return json.Number(n)
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func (r *treeReader) object() any {
	var obj map[string]any
	if r.build {
		obj = map[string]any{}
	}
	for {
		r.space()
		if r.data[r.pos] == '}' {
			r.pos++
			break
		}
		if r.data[r.pos] == ',' {
			r.pos++
			r.space()
		}
		key := r.string()
		r.space()
		r.pos++ // the colon
		r.path = append(r.path, key)
		if r.build {
			if _, dup := obj[key]; dup && r.onDuplicate != nil {
				r.onDuplicate(key)
			}
		}
		v := r.value()
		if r.build {
			obj[key] = v
		}
		r.path = r.path[:len(r.path)-1]
	}
	if !r.build {
		return nil
	}
	return obj
}

func (r *treeReader) array() any {
	var arr []any
	if r.build {
		arr = []any{}
	}
	for i := 0; ; i++ {
		r.space()
		if r.data[r.pos] == ']' {
			r.pos++
			break
		}
		if r.data[r.pos] == ',' {
			r.pos++
		}
		r.path = append(r.path, i)
		v := r.value()
		if r.build {
			arr = append(arr, v)
		}
		r.path = r.path[:len(r.path)-1]
	}
	if !r.build {
		return nil
	}
	return arr
}

// string reads a string literal from its opening quote. Plain ASCII is
// copied as is; escapes and other bytes go through encoding/json, so that
// invalid UTF-8 and lone surrogates become U+FFFD exactly as it decodes
// them.
func (r *treeReader) string() string {
	start := r.pos
	r.pos++
	plain := true
	for {
		c := r.data[r.pos]
		if c == '"' {
			break
		}
		if c == '\\' {
			r.pos++
			plain = false
		} else if c >= utf8.RuneSelf {
			plain = false
		}
		r.pos++
	}
	r.pos++
	lit := r.data[start:r.pos]
	if plain {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	_ = json.Unmarshal(lit, &s) // cannot fail: the document is valid
	return s
}
