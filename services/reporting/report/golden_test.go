package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/analysis"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the rendering (%d vs %d bytes); inspect it and run go test -update if the change is intended", path, len(want), len(got))
	}
}

func render(t *testing.T, fn func(io.Writer, *Document) error, d *Document) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := fn(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jsonRender(w io.Writer, d *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// Variants of the sample for the other shapes and verdicts.
func rampDocument() *Document {
	d := sampleDocument()
	rate, safe := 118.0, 94.4
	d.Analysis = analysis.Result{Shape: analysis.ShapeRamp, Knee: &analysis.Knee{Found: true, Rate: &rate,
		SafeRate: &safe, Method: analysis.KneeMethod(), P95AtKneeMs: 24.5, MaxRate: 200, Seconds: 190}}
	return d
}

func spikeDocument() *Document {
	d := sampleDocument()
	d.Verdict, d.VerdictReason = Aborted, "errors.rate 4.2% > 1% (abortOnFail)"
	d.Analysis = analysis.Result{Shape: analysis.ShapeSpike, Spike: &analysis.Spike{BaseRate: 20, PeakRate: 200,
		StartSeconds: 60, EndSeconds: 100, BaselineP95Ms: 30.2, PeakP95Ms: 912.7, PeakErrorRate: 0.042,
		Method: analysis.SpikeMethod()}}
	return d
}

func erroredDocument() *Document {
	d := sampleDocument()
	d.Verdict, d.VerdictReason = Errored, "shard 1 lost: no snapshot for 60 s"
	return d
}

// hostileDocument is the sample with user-given names written to break
// out: terminal escapes, code spans, table cells, links, HTML, line breaks
// and bidirectional overrides.
func hostileDocument() *Document {
	d := sampleDocument()
	d.Name = "shop\x1b[2J\x1b[31m`rm -rf`\n# owned"
	d.VerdictReason = "- 1. [click](http://evil.example) <img src=x>"
	d.Labels = map[string]string{"env|x": "a\u202eb", "note": "``` fence"}
	d.Requests[0].Name = "check|out`\x1b]8;;http://evil.example\x07link\x1b]8;;\x07"
	d.Criteria[0].Detail = "p95 | 295\nms **bold** _it_ ~~x~~ \\|"
	d.Source.Commit = "abc`def"
	return d
}

func TestGolden(t *testing.T) {
	tests := []struct {
		file string
		fn   func(io.Writer, *Document) error
		doc  func() *Document
	}{
		{"sample.json", jsonRender, sampleDocument},
		{"sample.html", HTML, sampleDocument},
		{"sample.junit.xml", JUnit, sampleDocument},
		{"sample.md", Markdown, sampleDocument},
		{"ramp.md", Markdown, rampDocument},
		{"spike.md", Markdown, spikeDocument},
		{"spike.junit.xml", JUnit, spikeDocument},
		{"errored.junit.xml", JUnit, erroredDocument},
		{"hostile.md", Markdown, hostileDocument},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			golden(t, tt.file, render(t, tt.fn, tt.doc()))
		})
	}
}

func TestRenderingsAreDeterministic(t *testing.T) {
	for _, fn := range []func(io.Writer, *Document) error{HTML, JUnit, Markdown} {
		a, b := render(t, fn, sampleDocument()), render(t, fn, sampleDocument())
		if !bytes.Equal(a, b) {
			t.Fatal("two renderings of the same document differ")
		}
	}
}

func TestRenderingsRejectADocumentWithoutRunID(t *testing.T) {
	for _, fn := range []func(io.Writer, *Document) error{HTML, JUnit, Markdown} {
		if err := fn(io.Discard, &Document{CreatedAt: time.Now()}); err == nil {
			t.Fatal("rendered a document with no run id")
		}
	}
}
