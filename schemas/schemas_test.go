package schemas

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

func TestTestPlanSchemaIsEmbedded(t *testing.T) {
	var doc struct {
		ID     string `json:"$id"`
		Schema string `json:"$schema"`
	}
	if err := json.Unmarshal(TestPlanSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != TestPlanSchemaURL || doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$id %q, $schema %q", doc.ID, doc.Schema)
	}
}

func TestOpenAPIIsEmbedded(t *testing.T) {
	if !bytes.HasPrefix(OpenAPI(), []byte("openapi: 3.")) {
		t.Fatalf("openapi.yaml starts with %q", OpenAPI()[:min(20, len(OpenAPI()))])
	}
}

func TestCallersGetCopies(t *testing.T) {
	b := TestPlanSchema()
	b[0] = 'X'
	if TestPlanSchema()[0] == 'X' {
		t.Fatal("a caller changed the embedded schema")
	}
}

func TestExamplesAreEmbeddedAsOnDisk(t *testing.T) {
	onDisk, err := os.ReadFile("examples/spike.json")
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := Example("spike.json")
	if err != nil || !bytes.Equal(embedded, onDisk) {
		t.Fatalf("Example(spike.json) = %d bytes, %v; want the file's %d", len(embedded), err, len(onDisk))
	}
	if _, err := Example("../openapi.yaml"); err == nil {
		t.Fatal("Example reached outside the examples")
	}
}
