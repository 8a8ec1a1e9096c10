package schemas

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIRefsResolve catches the usual drift of a hand-written API
// description: a $ref to a schema that was renamed, an operation without an
// id, a tag that was never declared.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	components, _ := doc["components"].(map[string]any)
	walkYAML(doc, func(key string, v any) {
		ref, ok := v.(string)
		if key != "$ref" || !ok || !strings.HasPrefix(ref, "#/components/") {
			return
		}
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		section, _ := components[parts[0]].(map[string]any)
		if _, found := section[parts[1]]; !found {
			t.Errorf("$ref %s does not resolve", ref)
		}
	})

	declared := map[string]bool{}
	for _, tag := range doc["tags"].([]any) {
		declared[tag.(map[string]any)["name"].(string)] = true
	}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" { // shared by the path's operations
				continue
			}
			op := op.(map[string]any)
			if op["operationId"] == nil {
				t.Errorf("%s %s has no operationId", method, path)
			}
			for _, tag := range op["tags"].([]any) {
				if !declared[tag.(string)] {
					t.Errorf("%s %s uses undeclared tag %v", method, path, tag)
				}
			}
		}
	}
}

func walkYAML(v any, visit func(key string, v any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			visit(k, child)
			walkYAML(child, visit)
		}
	case []any:
		for _, child := range v {
			walkYAML(child, visit)
		}
	}
}
