package plan

import (
	"fmt"
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
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid plan: " + strings.Join(lines, "; ")
}

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
