// Package componenttest says what a test does when a real component it
// needs (a server, a binary) is not on the machine.
package componenttest

import (
	"os"
	"testing"
)

// Missing fails t under CI=true, where scripts/ci-deps.sh must have
// provided every component, and skips it elsewhere, so that a developer
// without the component can still run the rest.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
