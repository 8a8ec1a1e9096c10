// Package schemas embeds loadfleet's contracts: the JSON Schema of the test
// plan and the OpenAPI description of every service. The Go types and the
// parsing live in the sub-packages (plan, schedule, wire).
package schemas

import (
	"embed"
	"fmt"
)

var (
	//go:embed testplan.schema.json
	testPlanSchema []byte
	//go:embed openapi.yaml
	openAPI []byte
	//go:embed examples/*.json
	examples embed.FS
)

// TestPlanSchemaURL is the $id of the test-plan schema.
const TestPlanSchemaURL = "https://loadfleet.dev/schemas/testplan.schema.json"

// TestPlanSchema returns the test-plan JSON Schema (2020-12). The slice is a
// copy: callers may keep or change it.
func TestPlanSchema() []byte { return clone(testPlanSchema) }

// OpenAPI returns the OpenAPI 3.1 description of the services' HTTP API.
func OpenAPI() []byte { return clone(openAPI) }

// Example returns the example plan schemas/examples/NAME (such as
// "spike.json"), so that commands find it wherever they run.
func Example(name string) ([]byte, error) {
	data, err := examples.ReadFile("examples/" + name)
	if err != nil {
		return nil, fmt.Errorf("no example plan %q: %w", name, err)
	}
	return data, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
