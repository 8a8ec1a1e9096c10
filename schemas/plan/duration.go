package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a plan duration. In JSON it is either a Go-style duration
// string ("300s", "5m", "1m30s", "250ms") or an integer number of seconds.
// It always marshals as a string so that documents round-trip unambiguously.
type Duration time.Duration

// ParseDuration parses the string form of a plan duration.
func ParseDuration(s string) (Duration, error) {
	if strings.TrimSpace(s) != s || s == "" {
		return 0, fmt.Errorf("invalid duration %q: want a duration such as \"300s\", \"5m\" or \"1m30s\"", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil && wellFormedDuration(s) {
		// time.ParseDuration failed on the size, not the syntax.
		return 0, fmt.Errorf("duration %q is out of range", s)
	}
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a duration such as \"300s\", \"5m\" or \"1m30s\"", s)
	}
	return Duration(d), nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds returns the value in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the canonical string form, in the units the schema
// accepts (ms, s, m, h): under a millisecond it writes fractional
// milliseconds where time.Duration.String would write µs or ns.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.canonical())
}

func (d Duration) canonical() string {
	td := time.Duration(d)
	if td > 0 && td < time.Millisecond {
		return strconv.FormatFloat(float64(td)/float64(time.Millisecond), 'f', -1, 64) + "ms"
	}
	return td.String()
}

// UnmarshalJSON accepts a duration string or integer seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	secs, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a string such as \"300s\" or integer seconds", b)
	}
	const maxSeconds = int64(1<<63-1) / int64(time.Second)
	if secs > maxSeconds || secs < -maxSeconds {
		return fmt.Errorf("invalid duration %s: out of range", b)
	}
	*d = Duration(time.Duration(secs) * time.Second)
	return nil
}

// wellFormedDuration matches ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$, the
// schema's duration pattern.
func wellFormedDuration(s string) bool {
	digits := func() bool {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		s = s[n:]
		return n > 0
	}
	for s != "" {
		if !digits() {
			return false
		}
		if strings.HasPrefix(s, ".") {
			s = s[1:]
			if !digits() {
				return false
			}
		}
		switch {
		case strings.HasPrefix(s, "ms"):
			s = s[2:]
		case strings.HasPrefix(s, "s"), strings.HasPrefix(s, "m"), strings.HasPrefix(s, "h"):
			s = s[1:]
		default:
			return false
		}
	}
	return true
}
