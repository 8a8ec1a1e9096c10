package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// page is the parsed HTML report.
type page struct{ root *html.Node }

func parse(t *testing.T, b []byte) page {
	t.Helper()
	root, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return page{root}
}

func (p page) all(match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for n := range p.root.Descendants() {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	}
	return out
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id }
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

func TestHTMLIsSelfContained(t *testing.T) {
	b := render(t, HTML, sampleDocument())
	p := parse(t, b)
	for _, n := range p.all(func(*html.Node) bool { return true }) {
		for _, key := range []string{"src", "href", "srcset", "action", "data", "poster"} {
			if v, ok := attr(n, key); ok {
				t.Errorf("<%s %s=%q>: the report must load nothing", n.Data, key, v)
			}
		}
		if n.Data == "link" || n.Data == "iframe" || n.Data == "img" {
			t.Errorf("<%s> element: the report must load nothing", n.Data)
		}
	}
	for _, style := range p.all(func(n *html.Node) bool { return n.Data == "style" }) {
		if strings.Contains(text(style), "url(") || strings.Contains(text(style), "@import") {
			t.Errorf("a style loads a resource: %.80s", text(style))
		}
	}
	lib, err := files.ReadFile("assets/uPlot.iife.min.js")
	if err != nil {
		t.Fatal(err)
	}
	inlined := false
	for _, s := range p.all(func(n *html.Node) bool { return n.Data == "script" }) {
		inlined = inlined || strings.TrimSpace(text(s)) == strings.TrimSpace(string(lib))
	}
	if !inlined {
		t.Fatal("uPlot is not inlined verbatim in a <script>")
	}
}

func TestHTMLChartsHaveData(t *testing.T) {
	d := sampleDocument()
	p := parse(t, render(t, HTML, d))
	data := p.all(byID("lf-charts"))
	if len(data) != 1 {
		t.Fatalf("%d chart data blocks, want 1", len(data))
	}
	var cs []chart
	if err := json.Unmarshal([]byte(text(data[0])), &cs); err != nil {
		t.Fatalf("chart data is not JSON: %v", err)
	}
	want := []string{"throughput", "latency", "errors", "users", "request-p95", "executor-cpu", "executor-connections"}
	if len(cs) != len(want) {
		t.Fatalf("%d charts, want %v", len(cs), want)
	}
	for i, c := range cs {
		if c.ID != want[i] {
			t.Errorf("chart %d is %q, want %q", i, c.ID, want[i])
		}
		if len(p.all(byID("chart-"+c.ID))) != 1 {
			t.Errorf("chart %q has no container", c.ID)
		}
		if len(c.X) != len(d.Series.Total) || len(c.Y) == 0 || len(c.Y) != len(c.Series) {
			t.Errorf("chart %q: %d times, %d series (%v), want %d times and data", c.ID, len(c.X), len(c.Y), c.Series, len(d.Series.Total))
			continue
		}
		for j, row := range c.Y {
			if len(row) != len(c.X) || row[0] == nil {
				t.Errorf("chart %q series %q: %d values (first %v) for %d times", c.ID, c.Series[j], len(row), row[0], len(c.X))
			}
		}
	}
	// Values come from the document: the 100th second's p95 and a shard's CPU.
	if got := *cs[1].Y[2][100]; got != d.Series.Total[100].P95Ms {
		t.Errorf("latency chart p95 at 100 s = %v, want %v", got, d.Series.Total[100].P95Ms)
	}
	if cs[2].Series[0] != "status_5xx" || cs[2].Series[1] != "timeout" {
		t.Errorf("error chart series %v, want one per reason", cs[2].Series)
	}
	if cs[5].Series[1] != "shard 1 (us-east)" {
		t.Errorf("cpu chart series %v, want one per shard", cs[5].Series)
	}
}

func TestHTMLCriteriaTableMatchesDocument(t *testing.T) {
	d := sampleDocument()
	p := parse(t, render(t, HTML, d))
	tables := p.all(byID("criteria"))
	if len(tables) != 1 {
		t.Fatalf("%d criteria tables, want 1", len(tables))
	}
	var rows []*html.Node
	for n := range tables[0].Descendants() {
		if n.Type == html.ElementNode && n.Data == "tr" && n.Parent.Data == "tbody" {
			rows = append(rows, n)
		}
	}
	if len(rows) != len(d.Criteria) {
		t.Fatalf("%d criteria rows, want %d", len(rows), len(d.Criteria))
	}
	for i, row := range rows {
		c := d.Criteria[i]
		var cells []string
		for td := range row.ChildNodes() {
			if td.Type == html.ElementNode {
				cells = append(cells, text(td))
			}
		}
		req := c.Request
		if req == "" {
			req = "all"
		}
		verdict := "failed"
		if c.Passed {
			verdict = "passed"
		}
		want := []string{c.Metric, req, c.Op + " " + formatThreshold(c.Threshold, c.Unit), formatValue(c.Value, c.Unit), c.Window}
		for j, w := range want {
			if cells[j] != w {
				t.Errorf("row %d cell %d = %q, want %q", i, j, cells[j], w)
			}
		}
		if !strings.HasPrefix(cells[5], verdict) || cells[6] != c.Detail {
			t.Errorf("row %d verdict %q detail %q, want %s and %q", i, cells[5], cells[6], verdict, c.Detail)
		}
	}
}

func TestHTMLEscapesUserText(t *testing.T) {
	b := render(t, HTML, sampleDocument())
	if bytes.Contains(b, []byte(`<script>alert("x")</script>`)) || bytes.Contains(b, []byte("checkout <steps>")) {
		t.Fatal("user-provided text reached the page unescaped")
	}
	p := parse(t, b)
	if got := text(p.all(func(n *html.Node) bool { return n.Data == "h1" })[0]); got != "checkout <steps>" {
		t.Fatalf("title %q, want the plan name shown as text", got)
	}
	if got := text(p.all(byID("commit"))[0]); got != "3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345" {
		t.Fatalf("commit %q, want the full SHA in the metadata", got)
	}
}

// A run judged incomplete lists what is missing, each problem and note a
// line of its own, the problems marked as failures.
func TestHTMLListsWhatTheDataIsMissing(t *testing.T) {
	d := sampleDocument()
	d.Completeness = &Completeness{Problems: []string{"shard 1 (attempt 0): no snapshot arrived"},
		Notes: []string{"arrivals: 1 missing"}}
	p := parse(t, render(t, HTML, d))
	items := p.all(func(n *html.Node) bool { return n.Data == "li" && n.Parent != nil && n.Parent.Data == "ul" })
	var got []string
	for _, li := range items {
		got = append(got, text(li))
	}
	if len(p.all(byID("completeness"))) != 1 || !slices.Contains(got, "shard 1 (attempt 0): no snapshot arrived") || !slices.Contains(got, "arrivals: 1 missing") {
		t.Fatalf("completeness list %q", got)
	}
	d.Completeness = &Completeness{Complete: true}
	if len(parse(t, render(t, HTML, d)).all(byID("completeness"))) != 0 {
		t.Fatal("a complete run shows an empty completeness section")
	}
}
