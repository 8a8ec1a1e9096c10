package schemas

import (
	"bytes"
	"encoding/json"
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
