package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// CompileJSON compiles a JSON value whose strings may hold templates. The
// value is compacted once; variables rendered inside its strings are
// JSON-escaped, so a value holding a quote keeps the document valid.
func CompileJSON(raw json.RawMessage, syms *Symbols) (*Template, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("%w: JSON body: %w", ErrSyntax, err)
	}
	doc := compact.String()
	var parts []*Template
	last := 0
	for i := 0; i < len(doc); i++ {
		if doc[i] != '"' {
			continue
		}
		end := stringEnd(doc, i+1)
		// The quotes stay literal; the inside of the string is a template.
		parts = append(parts, literalOf(doc[last:i+1]))
		inner, err := CompileEscaped(doc[i+1:end], syms, AppendJSONString)
		if err != nil {
			return nil, fmt.Errorf("JSON body: %w", err)
		}
		parts = append(parts, inner)
		last, i = end, end
	}
	parts = append(parts, literalOf(doc[last:]))
	return concat(doc, parts), nil
}

// stringEnd returns the index of the quote closing the JSON string whose
// content starts at i (the document is valid JSON, so there is one).
func stringEnd(doc string, i int) int {
	for ; i < len(doc); i++ {
		switch doc[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(doc)
}

// CompileForm compiles form fields into an application/x-www-form-urlencoded
// body, fields sorted by name so that the body is the same on every run.
// Names and literal text are encoded once; variables at render time.
func CompileForm(fields map[string]string, syms *Symbols) (*Template, error) {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []*Template
	for i, name := range names {
		sep := "&"
		if i == 0 {
			sep = ""
		}
		parts = append(parts, literalOf(sep+url.QueryEscape(name)+"="))
		value, err := CompileEscaped(fields[name], syms, appendQueryEscaped)
		if err != nil {
			return nil, fmt.Errorf("form field %q: %w", name, err)
		}
		for j := range value.segs {
			if value.segs[j].kind == literal {
				value.segs[j].text = url.QueryEscape(value.segs[j].text)
			}
		}
		parts = append(parts, value)
	}
	var src strings.Builder
	for i, name := range names {
		if i > 0 {
			src.WriteByte('&')
		}
		src.WriteString(name + "=" + fields[name])
	}
	return concat(src.String(), parts), nil
}

func literalOf(s string) *Template {
	t := &Template{source: s, static: true}
	if s != "" {
		t.segs = []segment{{kind: literal, text: s}}
	}
	return t
}

// concat joins templates into one, each segment keeping the escaping of the
// template it came from, and merging neighbouring literals.
func concat(source string, parts []*Template) *Template {
	t := &Template{source: source, static: true}
	for _, p := range parts {
		for _, seg := range p.segs {
			if seg.kind != literal {
				t.static = false
			}
			if n := len(t.segs); n > 0 && seg.kind == literal && t.segs[n-1].kind == literal {
				t.segs[n-1].text += seg.text
				continue
			}
			t.segs = append(t.segs, seg)
		}
	}
	return t
}

// AppendJSONString appends s escaped as the inside of a JSON string.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...) // keep the document valid UTF-8
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		i++
	}
	return dst
}

func appendQueryEscaped(dst []byte, s string) []byte {
	return append(dst, url.QueryEscape(s)...)
}
