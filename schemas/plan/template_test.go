package plan

import (
	"strings"
	"testing"
)

func TestCheckTemplate(t *testing.T) {
	tests := []struct {
		why string
		in  string
		err string // "" when valid
	}{
		{"plain text", "/api/items?page=1", ""},
		{"a variable", "/users/${user}", ""},
		{"feeder columns may have dashes and dots", "${user-id}.${a.b}", ""},
		{"the built-ins", "${uuid()}-${session()}-${randomInt(1, 10)}", ""},
		{"randomInt bounds may be equal or negative", "${randomInt(-5,-5)}", ""},
		{"$${ is a literal and needs no closing brace", "cost: $${price", ""},
		{"a lone dollar", "5$ and $x", ""},
		{"an empty expression", "${}", "invalid variable name"},
		{"spaces are not part of names", "${first name}", "invalid variable name"},
		{"an unterminated expression", "/a/${user", `unterminated "${" at character 4`},
		{"uuid takes no arguments", "${uuid(4)}", "takes no arguments"},
		{"an unknown function", "${now()}", `unknown function "now"`},
		{"a call without its parenthesis", "${uuid(}", `missing ")"`},
		{"randomInt needs two integers", "${randomInt(1)}", "two integers"},
		{"randomInt bounds are integers", "${randomInt(1.5,2)}", "two integers"},
		{"randomInt bounds in order", "${randomInt(3,2)}", "greater than MAX"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			err := checkTemplate(tt.in)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}
