package session

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/loadfleet/loadfleet/executors/native/protocol/http"
	"github.com/loadfleet/loadfleet/schemas/plan"
)

// matcher is a compiled plan.Match; with nothing set it only requires the
// value to exist.
type matcher struct {
	equals, contains *string
	re               *regexp.Regexp
}

func compileMatch(m plan.Match) (matcher, error) {
	out := matcher{equals: m.Equals, contains: m.Contains}
	if m.Regex != nil {
		re, err := regexp.Compile(*m.Regex)
		if err != nil {
			return out, fmt.Errorf("regex %q: %w", *m.Regex, err)
		}
		out.re = re
	}
	return out, nil
}

func (m matcher) match(v []byte) bool {
	switch {
	case m.equals != nil:
		return string(v) == *m.equals
	case m.contains != nil:
		return bytes.Contains(v, []byte(*m.contains))
	case m.re != nil:
		return m.re.Match(v)
	}
	return true
}

type checkKind uint8

const (
	checkStatus checkKind = iota
	checkBody
	checkHeader
	checkJSONPath
)

// check is one compiled assertion on a response.
type check struct {
	kind     checkKind
	statuses []int
	name     string // header name, or gjson path
	m        matcher
}

func compileCheck(c plan.Check) (check, error) {
	switch {
	case c.Status != nil:
		return check{kind: checkStatus, statuses: slices.Clone(c.Status)}, nil
	case c.Body != nil:
		m, err := compileMatch(*c.Body)
		return check{kind: checkBody, m: m}, err
	case c.Header != nil:
		m, err := compileMatch(c.Header.Match)
		return check{kind: checkHeader, name: c.Header.Name, m: m}, err
	case c.JSONPath != nil:
		path, err := GJSONPath(c.JSONPath.Path)
		if err != nil {
			return check{}, err
		}
		m, err := compileMatch(c.JSONPath.Match)
		return check{kind: checkJSONPath, name: path, m: m}, err
	}
	return check{}, fmt.Errorf("empty check")
}

// pass evaluates the check on the exchange's final response.
func (c *check) pass(x *http.Exchange) bool {
	switch c.kind {
	case checkStatus:
		return slices.Contains(c.statuses, x.Status)
	case checkBody:
		return c.m.match(x.ResponseBody())
	case checkHeader:
		v, ok := x.ResponseHeader(c.name)
		return ok && c.m.match(v)
	case checkJSONPath:
		r := gjson.GetBytes(x.ResponseBody(), c.name)
		return r.Exists() && c.m.match(resultBytes(r))
	}
	return false
}

// resultBytes is a JSON value as text: a string's content, anything else
// as its JSON text (42, true, {"a":1}).
func resultBytes(r gjson.Result) []byte {
	if r.Type == gjson.String {
		return []byte(r.Str)
	}
	return []byte(r.Raw)
}

// extraction is one compiled plan.Extraction.
type extraction struct {
	slot     int
	jsonPath string
	header   string
	re       *regexp.Regexp
}

// value extracts from the exchange's final response; ok is false when the
// value is not there.
func (e *extraction) value(x *http.Exchange) (string, bool) {
	switch {
	case e.jsonPath != "":
		r := gjson.GetBytes(x.ResponseBody(), e.jsonPath)
		return string(resultBytes(r)), r.Exists()
	case e.header != "":
		v, ok := x.ResponseHeader(e.header)
		return string(v), ok
	case e.re != nil:
		m := e.re.FindSubmatch(x.ResponseBody())
		switch {
		case m == nil:
			return "", false
		case len(m) > 1:
			return string(m[1]), true
		}
		return string(m[0]), true
	}
	return "", false
}

// GJSONPath converts the plan's JSONPath subset ($.a.b[0].c, $['a.b'])
// into a gjson path (a.b.0.c), escaping gjson's special characters in keys.
func GJSONPath(p string) (string, error) {
	if !strings.HasPrefix(p, "$") {
		return "", fmt.Errorf("JSONPath %q must start with $", p)
	}
	rest := p[1:]
	var parts []string
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			if end < 0 {
				return "", fmt.Errorf("JSONPath %q: unclosed ['", p)
			}
			parts = append(parts, escapeKey(rest[2:end]))
			rest = rest[end+2:]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return "", fmt.Errorf("JSONPath %q: unclosed [", p)
			}
			idx := rest[1:end]
			if _, err := strconv.Atoi(idx); err != nil {
				return "", fmt.Errorf("JSONPath %q: index %q is not an integer", p, idx)
			}
			parts = append(parts, idx)
			rest = rest[end+1:]
		case rest[0] == '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return "", fmt.Errorf("JSONPath %q: empty key", p)
			}
			parts = append(parts, escapeKey(rest[:end]))
			rest = rest[end:]
		default:
			return "", fmt.Errorf("JSONPath %q: unexpected %q", p, rest)
		}
	}
	if len(parts) == 0 {
		return "@this", nil
	}
	return strings.Join(parts, "."), nil
}

func escapeKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if strings.ContainsRune(`.*?|#@\!=<>%`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
