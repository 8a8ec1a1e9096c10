// Package template compiles loadfleet's templating syntax once per plan into
// segments, so that rendering a request does no parsing and no regexp work:
//
//	${name}               a session variable (a feeder column, an extraction)
//	${uuid()}             a random version 4 UUID
//	${session()}          the session number
//	${randomInt(MIN,MAX)} a random integer, both bounds inclusive
//	$${                   a literal ${
//
// Variable names are interned into slots of a Symbols table at compile time;
// a session holds its values in a slice indexed by slot.
package template

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinels of template problems.
var (
	// ErrSyntax means a template does not compile.
	ErrSyntax = errors.New("template syntax")
	// ErrUnset means a variable had no value when the template rendered.
	ErrUnset = errors.New("variable not set")
)

// Symbols interns variable names into slots. It is not safe for concurrent
// use; build it at prepare time, then only read it.
type Symbols struct {
	slots map[string]int
	names []string
}

// NewSymbols returns an empty table.
func NewSymbols() *Symbols { return &Symbols{slots: map[string]int{}} }

// Slot returns the slot of name, adding it when new.
func (s *Symbols) Slot(name string) int {
	if i, ok := s.slots[name]; ok {
		return i
	}
	s.slots[name] = len(s.names)
	s.names = append(s.names, name)
	return len(s.names) - 1
}

// Len is the number of slots; a session's Vars needs this many values.
func (s *Symbols) Len() int { return len(s.names) }

// Name is the variable name of a slot.
func (s *Symbols) Name(slot int) string { return s.names[slot] }

// Vars holds a session's variable values by slot. Set marks which slots hold
// a value, so that an empty string is a value and an unset slot is not.
type Vars struct {
	Values []string
	Set    []bool
}

// NewVars returns n unset slots.
func NewVars(n int) *Vars { return &Vars{Values: make([]string, n), Set: make([]bool, n)} }

// Put stores a value into a slot.
func (v *Vars) Put(slot int, value string) {
	v.Values[slot], v.Set[slot] = value, true
}

// Clear unsets every slot, for the next session.
func (v *Vars) Clear() {
	clear(v.Values)
	clear(v.Set)
}

// Env is what a template renders with.
type Env struct {
	Vars    *Vars
	Session int64
	Rand    *rand.Rand
}

// Escaper rewrites a variable's value for the context it lands in, such as
// the inside of a JSON string. Literal text is never escaped: it is already
// in its context's form; nor are built-ins, whose output needs no escaping.
type Escaper func(dst []byte, value string) []byte

type kind uint8

const (
	literal kind = iota
	variable
	uuidFunc
	sessionFunc
	randomIntFunc
)

type segment struct {
	kind kind
	text string // literal text, or the variable's name
	slot int    // variable slot
	lo   int64  // randomInt bounds
	span uint64 // hi - lo + 1; 0 means the whole int64 range
	esc  Escaper
}

// Template is a compiled template. It is immutable and safe for concurrent
// use.
type Template struct {
	source string
	segs   []segment
	static bool
}

// Compile compiles s, interning its variables into syms.
func Compile(s string, syms *Symbols) (*Template, error) {
	return CompileEscaped(s, syms, nil)
}

// CompileEscaped compiles s with esc applied to every variable's value.
func CompileEscaped(s string, syms *Symbols, esc Escaper) (*Template, error) {
	t := &Template{source: s}
	if !strings.Contains(s, "${") {
		// Fast path: no expression and no escape sequence ($${ contains ${).
		t.static = true
		if s != "" {
			t.segs = []segment{{kind: literal, text: s}}
		}
		return t, nil
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{kind: literal, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf(`%w: unterminated "${" at character %d: close it with "}", or write "$${" for a literal "${"`, ErrSyntax, utf8.RuneCountInString(s[:i])+1)
			}
			seg, err := parseExpr(s[i+2:i+2+end], syms)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
			}
			flush()
			if seg.kind == variable {
				seg.esc = esc
			}
			t.segs = append(t.segs, seg)
			i += 2 + end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	flush()
	t.static = len(t.segs) == 0 || len(t.segs) == 1 && t.segs[0].kind == literal
	return t, nil
}

// parseExpr parses what stands between ${ and }. The plan validator and the
// injector both call it, so a plan that validates renders.
func parseExpr(raw string, syms *Symbols) (segment, error) {
	expr := strings.TrimSpace(raw)
	open := strings.IndexByte(expr, '(')
	if open < 0 {
		if expr == "" || strings.ContainsAny(expr, "${}) \t") {
			return segment{}, fmt.Errorf("invalid variable name %q in ${%s}", raw, raw)
		}
		return segment{kind: variable, text: expr, slot: syms.Slot(expr)}, nil
	}
	if !strings.HasSuffix(expr, ")") {
		return segment{}, fmt.Errorf(`missing ")" in ${%s}`, raw)
	}
	name, args := strings.TrimSpace(expr[:open]), strings.TrimSpace(expr[open+1:len(expr)-1])
	switch name {
	case "uuid", "session":
		if args != "" {
			return segment{}, fmt.Errorf("%s() takes no arguments, in ${%s}", name, raw)
		}
		if name == "uuid" {
			return segment{kind: uuidFunc}, nil
		}
		return segment{kind: sessionFunc}, nil
	case "randomInt":
		return parseRandomInt(args, raw)
	}
	return segment{}, fmt.Errorf("unknown function %q in ${%s}; known: uuid(), session(), randomInt(MIN,MAX)", name, raw)
}

func parseRandomInt(args, raw string) (segment, error) {
	a, b, ok := strings.Cut(args, ",")
	lo, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	hi, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return segment{}, fmt.Errorf("randomInt needs two integers, MIN and MAX, in ${%s}", raw)
	}
	if lo > hi {
		return segment{}, fmt.Errorf("randomInt MIN %d is greater than MAX %d in ${%s}", lo, hi, raw)
	}
	// hi-lo+1 wraps to 0 exactly for the full int64 range, which Render
	// treats as "any int64".
	return segment{kind: randomIntFunc, lo: lo, span: uint64(hi) - uint64(lo) + 1}, nil
}

// Source is the template's text as written.
func (t *Template) Source() string { return t.source }

// IsStatic reports whether the template renders the same text every time.
func (t *Template) IsStatic() bool { return t.static }

// Static is the rendered text of a static template.
func (t *Template) Static() string {
	if len(t.segs) == 0 {
		return ""
	}
	return t.segs[0].text
}

// Render appends the rendered template to dst. An unset variable is an
// error wrapping ErrUnset; dst is then returned as it was.
func (t *Template) Render(dst []byte, env *Env) ([]byte, error) {
	start := len(dst)
	for i := range t.segs {
		seg := &t.segs[i]
		switch seg.kind {
		case literal:
			dst = append(dst, seg.text...)
		case variable:
			if env.Vars == nil || !env.Vars.Set[seg.slot] {
				return dst[:start], fmt.Errorf("%w: ${%s}", ErrUnset, seg.text)
			}
			if seg.esc != nil {
				dst = seg.esc(dst, env.Vars.Values[seg.slot])
			} else {
				dst = append(dst, env.Vars.Values[seg.slot]...)
			}
		// Built-ins render digits, '-' and hex only, which need no escaping
		// in any context (URL, form, JSON string, header).
		case sessionFunc:
			dst = strconv.AppendInt(dst, env.Session, 10)
		case randomIntFunc:
			n := env.Rand.Uint64()
			if seg.span != 0 {
				n = env.Rand.Uint64N(seg.span)
			}
			dst = strconv.AppendInt(dst, seg.lo+int64(n), 10)
		case uuidFunc:
			dst = appendUUID(dst, env.Rand)
		}
	}
	return dst, nil
}

// RenderString renders into a new string.
func (t *Template) RenderString(env *Env) (string, error) {
	if t.static {
		return t.Static(), nil
	}
	b, err := t.Render(nil, env)
	return string(b), err
}

// appendUUID appends a random (version 4, RFC 9562) UUID drawn from r: fast,
// and unique enough for test data, but not for secrets.
func appendUUID(dst []byte, r *rand.Rand) []byte {
	const hex = "0123456789abcdef"
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		b[i], b[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[c>>4], hex[c&0x0f])
	}
	return dst
}

// Escape returns s written as a template that renders s literally.
func Escape(s string) string { return strings.ReplaceAll(s, "${", "$${") }
