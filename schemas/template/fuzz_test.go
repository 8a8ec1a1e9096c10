package template

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// FuzzTemplate compiles and renders arbitrary text: it must never panic, a
// text without ${ must render as itself, and any text written with Escape
// must render back to the original.
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{"", "/a", "${x}", "$${x}", "$$${x}", "${uuid()}", "${randomInt(1,9)}",
		"${randomInt(-9223372036854775808,9223372036854775807)}", "${", "}${", "a${b}c$${d}", "$", "${session( )}"} {
		f.Add(seed, "v")
	}
	f.Fuzz(func(t *testing.T, s, value string) {
		syms := NewSymbols()
		tmpl, err := Compile(s, syms)
		e := &Env{Vars: NewVars(0), Session: 1, Rand: rand.New(rand.NewPCG(1, 1))}
		if err == nil {
			e.Vars = NewVars(syms.Len())
			for i := range syms.Len() {
				e.Vars.Put(i, value)
			}
			if _, err := tmpl.Render(nil, e); err != nil {
				t.Fatalf("%q: render with every variable set: %v", s, err)
			}
		}
		if !strings.Contains(s, "${") {
			if err != nil {
				t.Fatalf("%q: a literal must compile: %v", s, err)
			}
			if got, _ := tmpl.RenderString(e); got != s || !tmpl.IsStatic() {
				t.Fatalf("%q: literal renders %q (static %v)", s, got, tmpl.IsStatic())
			}
		}
		esc, err := Compile(Escape(s), NewSymbols())
		if err != nil {
			t.Fatalf("%q: escaped form %q does not compile: %v", s, Escape(s), err)
		}
		if got, err := esc.RenderString(e); err != nil || got != s {
			t.Fatalf("%q: escaped form renders %q, %v", s, got, err)
		}
	})
}
