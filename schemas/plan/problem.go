package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a plan: where (a JSON pointer into the
// document, "" for the whole document) and what.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	// Line and Column locate syntax errors (1-based); zero otherwise.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

func (p Problem) String() string {
	where := p.Path
	if where == "" {
		where = "/"
	}
	if p.Line > 0 {
		where = fmt.Sprintf("line %d, column %d", p.Line, p.Column)
	}
	return where + ": " + p.Message
}

// ValidationError lists every problem of a plan at once.
type ValidationError struct {
	// Kind says which stage rejected the plan: ErrTooLarge, ErrTooDeep,
	// ErrTooManyValues, ErrSyntax or ErrInvalid (schema and semantic
	// problems). errors.Is sees it.
	Kind     error
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid plan: " + strings.Join(lines, "; ")
}

// Unwrap returns the Kind, so that errors.Is(err, ErrSyntax) works.
func (e *ValidationError) Unwrap() error { return e.Kind }

// Add records a problem at path.
func (e *ValidationError) Add(path, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds problems, nil otherwise.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}

// sortProblems orders problems by document position (array indexes
// compared as numbers) and drops exact duplicates, so that output is stable
// whatever order the checks ran in.
func sortProblems(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := comparePointers(a.Path, b.Path); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return slices.CompactFunc(ps, func(a, b Problem) bool { return a == b })
}

// comparePointers orders JSON pointers token by token, all-digit tokens
// (array indexes) as numbers. It allocates nothing: a plan with thousands
// of problems sorts them in n log n comparisons.
func comparePointers(a, b string) int {
	for {
		at, arest, amore := strings.Cut(a, "/")
		bt, brest, bmore := strings.Cut(b, "/")
		if c := compareTokens(at, bt); c != 0 {
			return c
		}
		switch {
		case !amore && !bmore:
			return 0
		case !amore:
			return -1
		case !bmore:
			return 1
		}
		a, b = arest, brest
	}
}

func compareTokens(a, b string) int {
	if a == b {
		return 0
	}
	if isDigits(a) && isDigits(b) {
		na, nb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if c := cmp.Compare(len(na), len(nb)); c != 0 {
			return c
		}
		if c := strings.Compare(na, nb); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pointer appends reference tokens to a JSON pointer, escaping "~" and "/".
func pointer(base string, tokens ...any) string {
	var b strings.Builder
	b.WriteString(base)
	for _, t := range tokens {
		switch t := t.(type) {
		case int:
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(t))
		case string:
			writeToken(&b, t)
		default:
			writeToken(&b, fmt.Sprint(t))
		}
	}
	return b.String()
}

// keyPointer is the JSON pointer of string reference tokens (the schema
// validator's instance locations), without boxing each one into an any.
func keyPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		writeToken(&b, t)
	}
	return b.String()
}

func writeToken(b *strings.Builder, s string) {
	b.WriteByte('/')
	if strings.ContainsAny(s, "~/") { // "~" first, or "/"'s "~1" would become "~01"
		s = strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
	}
	b.WriteString(s)
}
