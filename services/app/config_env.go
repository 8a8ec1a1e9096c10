package app

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// envReference is ${NAME} in a configuration value; $${ stays a literal ${.
var envReference = regexp.MustCompile(`\$?\$\{([^}]*)\}`)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnvNodes replaces ${NAME} in every scalar value of the document with
// the environment variable NAME, so that credentials come from Secrets and
// the environment, not from the file. Only values are expanded: comments
// stay comments, and a value cannot inject YAML. A reference to an unset
// variable is an error naming it and its line: a silently empty token or
// password fails much later and less clearly.
func expandEnvNodes(n *yaml.Node, lookup func(string) (string, bool)) error {
	if n.Kind == yaml.ScalarNode {
		value, err := expandEnv(n.Value, lookup)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if value != n.Value {
			n.Value = value
			if n.Style == 0 {
				n.Tag = "" // an unquoted ${PORT} is a number once expanded
			}
		}
		return nil
	}
	for _, child := range n.Content {
		if err := expandEnvNodes(child, lookup); err != nil {
			return err
		}
	}
	return nil
}

// expandEnv expands the references in one value.
func expandEnv(value string, lookup func(string) (string, bool)) (string, error) {
	var firstErr error
	out := envReference.ReplaceAllStringFunc(value, func(ref string) string {
		if ref[1] == '$' {
			return ref[1:]
		}
		name := ref[2 : len(ref)-1]
		switch value, ok := lookup(name); {
		case firstErr != nil:
		case !envName.MatchString(name):
			firstErr = fmt.Errorf("%q is not an environment variable reference (${NAME}; $${ for a literal ${)", ref)
		case !ok:
			firstErr = fmt.Errorf("environment variable %s is not set", name)
		default:
			return value
		}
		return ref
	})
	return out, firstErr
}

// knownFields refuses mapping keys that t has no field for, with their
// line: a misspelt key would otherwise be ignored. (yaml.v3 checks this when
// decoding bytes, not when decoding a node, and the node is what expandEnv
// changes.)
func knownFields(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.DocumentNode || n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		elem := t
		if n.Kind == yaml.SequenceNode {
			elem = t.Elem()
		}
		for _, child := range n.Content {
			if err := knownFields(child, elem); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			ft, ok := fields[key.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown field %q", key.Line, key.Value)
			}
			if err := knownFields(n.Content[i+1], ft); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps t's YAML keys to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}
