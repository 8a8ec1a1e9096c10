package gitsource

import (
	"errors"
	"regexp"
	"strings"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Sentinels of this package. Every error Fetch returns for a problem of the
// plan wraps one of them, with a message meant for the plan's author; the
// one neutral error for a server that cannot be reached wraps ErrFetch, and
// ErrTimeout as well when the time limit ended the fetch (its message is the
// same either way).
var (
	ErrURLNotAllowed = errors.New("git URL not allowed")
	ErrRefNotFound   = errors.New("git ref not found")
	ErrTooLarge      = errors.New("git repository too large")
	ErrTimeout       = errors.New("git fetch timed out")
	ErrPathNotFound  = errors.New("path not found in the git repository")
	ErrFetch         = errors.New("git fetch failed")
)

// JSON pointers of the plan fields the errors are about.
const (
	pointerURL  = "/source/git/url"
	pointerRef  = "/source/git/ref"
	pointerPath = "/source/git/path"
)

// Problems maps an error of Fetch to the plan problems it stands for. It
// returns nil for errors that are not the plan's fault (a cancelled context,
// an unwritable cache directory): the caller reports those as internal errors.
func Problems(err error) []plan.Problem {
	pointer := ""
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrRefNotFound):
		pointer = pointerRef
	case errors.Is(err, ErrPathNotFound):
		pointer = pointerPath
	case errors.Is(err, ErrURLNotAllowed), errors.Is(err, ErrTooLarge),
		errors.Is(err, ErrTimeout), errors.Is(err, ErrFetch):
		pointer = pointerURL
	default:
		return nil
	}
	return []plan.Problem{{Path: pointer, Message: err.Error()}}
}

// userinfoPattern matches credentials embedded in a URL.
var userinfoPattern = regexp.MustCompile(`://[^/@\s]+@`)

// redact removes secrets and URL credentials from s.
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return userinfoPattern.ReplaceAllString(s, "://***@")
}

// gitMessage turns git's stderr into one short line a user can read: the last
// line that says what went wrong, without git's "fatal:"/"error:" prefixes.
func gitMessage(stderr string, secrets []string) string {
	line := ""
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "hint:") {
			continue
		}
		line = l
		if strings.HasPrefix(l, "fatal:") {
			break // the first fatal line is the cause; what follows is noise
		}
	}
	for _, prefix := range []string{"fatal:", "error:", "remote:"} {
		line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
	}
	line = redact(line, secrets)
	const maxLen = 200
	if len(line) > maxLen {
		line = line[:maxLen] + "..."
	}
	return line
}
