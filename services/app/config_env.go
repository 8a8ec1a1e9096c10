package app

import (
	"bytes"
	"fmt"
	"regexp"
)

// envReference is ${NAME} in a configuration file; $${ stays a literal ${.
var envReference = regexp.MustCompile(`\$?\$\{([^}]*)\}`)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${NAME} with the environment variable NAME, so that
// credentials come from Secrets and the environment, not from the file. A
// reference to an unset variable is an error naming it and its line: a
// silently empty token or password fails much later and less clearly.
func expandEnv(data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var out bytes.Buffer
	last := 0
	for _, m := range envReference.FindAllSubmatchIndex(data, -1) {
		start, end := m[0], m[1]
		out.Write(data[last:start])
		last = end
		ref := data[start:end]
		if bytes.HasPrefix(ref, []byte("$$")) {
			out.Write(ref[1:])
			continue
		}
		line := 1 + bytes.Count(data[:start], []byte("\n"))
		name := string(data[m[2]:m[3]])
		if !envName.MatchString(name) {
			return nil, fmt.Errorf("line %d: %q is not an environment variable reference (${NAME}; $${ for a literal ${)", line, ref)
		}
		value, ok := lookup(name)
		if !ok {
			return nil, fmt.Errorf("line %d: environment variable %s is not set", line, name)
		}
		out.WriteString(value)
	}
	out.Write(data[last:])
	return out.Bytes(), nil
}
