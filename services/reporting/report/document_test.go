package report

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/loadfleet/loadfleet/executors/runtime"
)

func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

// Scripts rely on these names: they are the contract, checked on
// the JSON itself rather than on the Go types.
func TestDocumentJSONNames(t *testing.T) {
	b, err := json.Marshal(sampleDocument())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	first := func(raw json.RawMessage) json.RawMessage {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
			t.Fatalf("want a non-empty array, got %s", raw)
		}
		return list[0]
	}
	var an map[string]json.RawMessage
	if err := json.Unmarshal(doc["analysis"], &an); err != nil {
		t.Fatal(err)
	}
	// The same fields as the executor's standalone JSON summary, read from
	// its type so that the two cannot drift apart.
	executorSummary, err := json.Marshal(runtime.RequestReport{})
	if err != nil {
		t.Fatal(err)
	}
	summary := keysOf(t, executorSummary)
	if len(summary) < 11 {
		t.Fatalf("the executor's summary has only %v", summary)
	}
	tests := []struct {
		what string
		raw  json.RawMessage
		want []string
	}{
		{"document", b, []string{"runId", "verdict", "arrivals", "total", "requests", "criteria", "analysis", "executors", "source",
			"name", "team", "project", "labels", "tool", "toolVersions", "createdAt", "startedAt", "endedAt", "durationSeconds",
			"plan", "degraded", "series", "schemaVersion"}},
		{"arrivals", doc["arrivals"], []string{"planned", "started", "dropped"}},
		{"total", doc["total"], slices.Concat(summary, []string{"koByReason", "bytes"})},
		{"requests[]", first(doc["requests"]), slices.Concat(summary, []string{"name", "koByReason", "bytes"})},
		{"criteria[]", first(doc["criteria"]), []string{"metric", "threshold", "value", "passed", "op"}},
		{"analysis", doc["analysis"], []string{"shape", "steps", "highestPassingStep"}},
		{"steps[]", first(an["steps"]), []string{"plannedRate", "achievedRate", "activeUsers", "p95Ms", "p99Ms", "errors"}},
		{"executors[]", first(doc["executors"]), []string{"shard", "location", "backend", "clockOffsetMs", "restarts"}},
		{"source", doc["source"], []string{"url", "ref", "commit"}},
		{"series", doc["series"], []string{"total", "requests", "executors"}},
	}
	for _, tt := range tests {
		have := keysOf(t, tt.raw)
		for _, k := range tt.want {
			if !slices.Contains(have, k) {
				t.Errorf("%s lacks %q (has %v)", tt.what, k, have)
			}
		}
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(first(doc["criteria"]), &c); err != nil {
		t.Fatal(err)
	}
	if string(c["request"]) != "" {
		t.Errorf("a run-wide criterion has request %s, want it omitted", c["request"])
	}
	var noValue map[string]json.RawMessage
	var crits []json.RawMessage
	_ = json.Unmarshal(doc["criteria"], &crits)
	_ = json.Unmarshal(crits[3], &noValue)
	if string(noValue["value"]) != "null" {
		t.Errorf("a criterion with no data has value %s, want null", noValue["value"])
	}
}

func TestKneeAndSpikeJSONNames(t *testing.T) {
	for _, tt := range []struct {
		doc  *Document
		key  string
		want []string
	}{
		{rampDocument(), "knee", []string{"rate", "method", "safeRate"}},
		{spikeDocument(), "spike", []string{"baselineP95Ms", "peakP95Ms", "recoverySeconds"}},
	} {
		b, err := json.Marshal(tt.doc.Analysis)
		if err != nil {
			t.Fatal(err)
		}
		var an map[string]json.RawMessage
		if err := json.Unmarshal(b, &an); err != nil {
			t.Fatal(err)
		}
		have := keysOf(t, an[tt.key])
		for _, k := range tt.want {
			if !slices.Contains(have, k) {
				t.Errorf("analysis.%s lacks %q (has %v)", tt.key, k, have)
			}
		}
	}
}
