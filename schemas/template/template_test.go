package template

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func env(vars map[string]string, syms *Symbols) *Env {
	for k := range vars {
		syms.Slot(k)
	}
	v := NewVars(syms.Len())
	for k, val := range vars {
		v.Put(syms.Slot(k), val)
	}
	return &Env{Vars: v, Session: 42, Rand: rand.New(rand.NewPCG(1, 2))}
}

func TestRender(t *testing.T) {
	tests := []struct {
		why, in, want string
	}{
		{"no template is the fast path", "/api/items?q=1", "/api/items?q=1"},
		{"a variable", "/users/${id}", "/users/7"},
		{"spaces inside braces are ignored", "${ id }", "7"},
		{"the session number", "s=${session()}", "s=42"},
		{"$${ is a literal ${", "$${id}", "${id}"},
		{"a lone $ stays", "cost: $5 ${id}", "cost: $5 7"},
		{"an empty value is a value", "[${empty}]", "[]"},
		{"a degenerate range is its bound", "${randomInt(3,3)}", "3"},
		{"adjacent expressions", "${id}${id}", "77"},
	}
	for _, tt := range tests {
		syms := NewSymbols()
		tmpl, err := Compile(tt.in, syms)
		if err != nil {
			t.Fatalf("%s: %v", tt.why, err)
		}
		got, err := tmpl.RenderString(env(map[string]string{"id": "7", "empty": ""}, syms))
		if err != nil || got != tt.want {
			t.Errorf("%s: %q renders %q, %v; want %q", tt.why, tt.in, got, err, tt.want)
		}
	}
}

func TestBuiltinsRenderFreshValues(t *testing.T) {
	syms := NewSymbols()
	tmpl, err := Compile("${uuid()} ${randomInt(-5, 5)}", syms)
	if err != nil {
		t.Fatal(err)
	}
	e := env(nil, syms)
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} (-?\d)$`)
	seen := map[string]bool{}
	ints := map[string]bool{}
	for range 500 {
		got, err := tmpl.RenderString(e)
		if err != nil {
			t.Fatal(err)
		}
		m := uuidRE.FindStringSubmatch(got)
		if m == nil {
			t.Fatalf("%q is not a v4 UUID and an int in [-5,5]", got)
		}
		seen[got[:36]] = true
		ints[m[1]] = true
	}
	if len(seen) != 500 {
		t.Errorf("UUIDs repeat: %d distinct of 500", len(seen))
	}
	if len(ints) != 11 { // both bounds are inclusive
		t.Errorf("randomInt(-5,5) gave %d distinct values, want 11: %v", len(ints), ints)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct{ why, in string }{
		{"unclosed", "/a/${id"},
		{"empty expression", "${}"},
		{"unknown function", "${now()}"},
		{"uuid takes no argument", "${uuid(1)}"},
		{"randomInt needs two bounds", "${randomInt(1)}"},
		{"randomInt bounds are integers", "${randomInt(a,b)}"},
		{"randomInt min above max", "${randomInt(5,1)}"},
		{"a call must close its parenthesis", "${randomInt(1,2}"},
	} {
		if _, err := Compile(tt.in, NewSymbols()); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: %q compiled, err %v", tt.why, tt.in, err)
		}
	}
}

func TestUnsetVariableFailsRender(t *testing.T) {
	syms := NewSymbols()
	tmpl, _ := Compile("/x/${token}", syms)
	got, err := tmpl.Render([]byte("keep"), env(nil, syms))
	if !errors.Is(err, ErrUnset) || !strings.Contains(err.Error(), "token") {
		t.Errorf("err %v", err)
	}
	if string(got) != "keep" {
		t.Errorf("dst must be returned as it was, got %q", got)
	}
}

func TestCompileJSONEscapesVariablesOnly(t *testing.T) {
	syms := NewSymbols()
	tmpl, err := CompileJSON(json.RawMessage(`{ "name": "${name}", "n": 1, "lit": "a\"b ${session()}", "esc": "$${x}" }`), syms)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.RenderString(env(map[string]string{"name": "say \"hi\"\n"}, syms))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatalf("%s is not JSON: %v", got, err)
	}
	if doc["name"] != "say \"hi\"\n" || doc["lit"] != `a"b 42` || doc["esc"] != "${x}" || doc["n"] != 1.0 {
		t.Errorf("got %v", doc)
	}
}

func TestCompileFormEncodesEverything(t *testing.T) {
	syms := NewSymbols()
	tmpl, err := CompileForm(map[string]string{"user name": "a b", "pw": "${pw}"}, syms)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.RenderString(env(map[string]string{"pw": "p&w=1"}, syms))
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(got)
	if err != nil || q.Get("user name") != "a b" || q.Get("pw") != "p&w=1" || !strings.HasPrefix(got, "pw=") {
		t.Errorf("%q parses to %v, %v", got, q, err)
	}
}

func BenchmarkRender(b *testing.B) {
	syms := NewSymbols()
	tmpl, _ := Compile("/api/users/${id}/items?s=${session()}", syms)
	e := env(map[string]string{"id": "12345"}, syms)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = tmpl.Render(buf[:0], e)
	}
}
