package componenttest

import (
	"fmt"
	"testing"
)

// recorder stands for a test: it notes whether Fatal or Skip came first.
type recorder struct {
	testing.TB
	first string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) { r.note("fatal: " + fmt.Sprint(args...)) }

func (r *recorder) Skip(args ...any) { r.note("skip: " + fmt.Sprint(args...)) }

func (r *recorder) note(s string) {
	if r.first == "" {
		r.first = s
	}
}

// Under CI a missing component fails the test; elsewhere it skips it.
func TestMissingFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	for env, want := range map[string]string{"true": "fatal: no dockerd", "": "skip: no dockerd"} {
		t.Setenv("CI", env)
		r := &recorder{}
		Missing(r, "no dockerd")
		if r.first != want {
			t.Errorf("CI=%q: %q, want %q", env, r.first, want)
		}
	}
}
