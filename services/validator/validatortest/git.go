// Package validatortest holds what tests of validators share: the scenario
// every validator.Validator implementation must pass, and a real git server
// on loopback to fetch plan sources from.
package validatortest

import (
	"testing"

	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/gitsource/gitsourcetest"
)

// RequireGit fails the test under CI=true and skips it elsewhere when git or
// its smart HTTP backend is missing.
func RequireGit(t testing.TB) { gitsourcetest.RequireGit(t) }

// GitConfig is a fetcher configuration for repositories served by GitRepo.
func GitConfig(t testing.TB) gitsource.Config { return gitsourcetest.Config(t) }

// GitRepo serves a new repository holding files (path: content) on branch
// main over git's smart HTTP protocol on 127.0.0.1, and returns its URL.
func GitRepo(t testing.TB, files map[string]string) string { return gitsourcetest.Repo(t, files) }
