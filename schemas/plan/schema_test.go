package plan

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/schemas"
)

func loadSchemaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(schemas.TestPlanSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestSchemaIsStrictAndDescribed walks every schema of the document: each
// object schema must close itself (additionalProperties false, or a value
// schema for free-form maps such as headers), and every property must be
// described, since editors show the descriptions as documentation.
func TestSchemaIsStrictAndDescribed(t *testing.T) {
	doc := loadSchemaDoc(t)
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema is %v", doc["$schema"])
	}
	var walk func(node any, at string)
	walk = func(node any, at string) {
		switch n := node.(type) {
		case map[string]any:
			if n["type"] == "object" {
				ap, has := n["additionalProperties"]
				if !has {
					t.Errorf("%s: object without additionalProperties", at)
				}
				if _, hasProps := n["properties"]; hasProps && ap != false {
					t.Errorf("%s: an object with properties must have additionalProperties: false", at)
				}
			}
			if props, ok := n["properties"].(map[string]any); ok {
				for name, p := range props {
					desc, _ := p.(map[string]any)["description"].(string)
					if strings.TrimSpace(desc) == "" {
						t.Errorf("%s/properties/%s: no description", at, name)
					}
				}
			}
			for k, v := range n {
				walk(v, at+"/"+k)
			}
		case []any:
			for i, v := range n {
				walk(v, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
}

// TestSchemaMatchesGoTypes checks that the schema and the Go types name
// the same fields everywhere, so that a JSON pointer names the same place
// in both.
func TestSchemaMatchesGoTypes(t *testing.T) {
	doc := loadSchemaDoc(t)
	defs := doc["$defs"].(map[string]any)
	resolve := func(n map[string]any) map[string]any {
		if ref, ok := n["$ref"].(string); ok {
			return defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		return n
	}
	var match func(node map[string]any, typ reflect.Type, at string)
	match = func(node map[string]any, typ reflect.Type, at string) {
		node = resolve(node)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch {
		case isUnmarshaler(typ) || typ == reflect.TypeFor[json.RawMessage]():
			return // Duration, Threshold, Count, RawMessage: checked by the parse tests
		case typ.Kind() == reflect.Struct:
			props, _ := node["properties"].(map[string]any)
			fields := jsonFields(typ)
			if got, want := sortedNames(props), sortedTypeNames(fields); !slices.Equal(got, want) {
				t.Errorf("%s: schema properties %v, Go fields %v", at, got, want)
			}
			for name, ft := range fields {
				if p, ok := props[name].(map[string]any); ok {
					match(p, ft, at+"/"+name)
				}
			}
		case typ.Kind() == reflect.Slice:
			if node["type"] != "array" {
				t.Errorf("%s: Go slice, schema type %v", at, node["type"])
				return
			}
			match(node["items"].(map[string]any), typ.Elem(), at+"/items")
		case typ.Kind() == reflect.Map:
			ap, ok := node["additionalProperties"].(map[string]any)
			if !ok || ap["type"] != "string" {
				t.Errorf("%s: Go map, schema additionalProperties %v", at, node["additionalProperties"])
			}
		case typ.Kind() == reflect.String:
			if node["type"] != "string" {
				t.Errorf("%s: Go string, schema type %v", at, node["type"])
			}
		case typ.Kind() == reflect.Bool:
			if node["type"] != "boolean" {
				t.Errorf("%s: Go bool, schema type %v", at, node["type"])
			}
		case typ.Kind() == reflect.Float64:
			if node["type"] != "number" {
				t.Errorf("%s: Go float64, schema type %v", at, node["type"])
			}
		case isIntKind(typ.Kind()):
			if node["type"] != "integer" {
				t.Errorf("%s: Go integer, schema type %v", at, node["type"])
			}
		default:
			t.Errorf("%s: unexpected Go type %v", at, typ)
		}
	}
	match(doc, reflect.TypeFor[Plan](), "#")
}

func TestSchemaEnumsMatchGo(t *testing.T) {
	doc := loadSchemaDoc(t)
	props := doc["properties"].(map[string]any)
	criteria := props["criteria"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)
	var enum []string
	for _, m := range criteria["metric"].(map[string]any)["enum"].([]any) {
		enum = append(enum, m.(string))
	}
	if !slices.Equal(enum, Metrics) {
		t.Errorf("metric enum %v, plan.Metrics %v", enum, Metrics)
	}
	var tools []string
	for _, m := range props["tool"].(map[string]any)["enum"].([]any) {
		tools = append(tools, m.(string))
	}
	if want := []string{string(ToolNative), string(ToolJMeter), string(ToolGatling), string(ToolK6)}; !slices.Equal(tools, want) {
		t.Errorf("tool enum %v, want %v", tools, want)
	}
}

func TestSchemaDescribesTemplating(t *testing.T) {
	s := string(schemas.TestPlanSchema())
	for _, want := range []string{"${uuid()}", "${session()}", "${randomInt(MIN,MAX)}", "$${ is a literal ${"} {
		if !strings.Contains(s, want) {
			t.Errorf("the schema does not describe %s", want)
		}
	}
}

func sortedNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func sortedTypeNames(m map[string]reflect.Type) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
