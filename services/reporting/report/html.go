package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// The chart library (uPlot, MIT) and the page template, inlined into every
// report so that it opens with no network.
//
//go:embed assets/uPlot.iife.min.js assets/uPlot.min.css templates/report.html.tmpl
var files embed.FS

// htmlPage is what the template renders.
type htmlPage struct {
	Doc      *Document
	Charts   []chart
	Library  template.JS
	Style    template.CSS
	Failures int
}

// HTML writes the document as one self-contained HTML page: the charts are
// drawn by uPlot, inlined with its data; nothing is fetched.
func HTML(w io.Writer, d *Document) error {
	if d == nil || d.RunID == "" {
		return fmt.Errorf("%w: no run id", ErrInvalid)
	}
	d = Redacted(d) // a report stored before redaction shows no secret either
	tmpl, err := template.New("report.html.tmpl").Funcs(funcs()).ParseFS(files, "templates/report.html.tmpl")
	if err != nil {
		return fmt.Errorf("report: parse template: %w", err)
	}
	lib, err := files.ReadFile("assets/uPlot.iife.min.js")
	if err != nil {
		return fmt.Errorf("report: chart library: %w", err)
	}
	css, err := files.ReadFile("assets/uPlot.min.css")
	if err != nil {
		return fmt.Errorf("report: chart style: %w", err)
	}
	page := htmlPage{Doc: d, Charts: charts(d), Library: template.JS(lib), Style: template.CSS(css)}
	for _, c := range d.Criteria {
		if !c.Passed {
			page.Failures++
		}
	}
	if err := tmpl.Execute(w, page); err != nil {
		return fmt.Errorf("report: render html: %w", err)
	}
	return nil
}

// funcs are the formatting helpers shared by the HTML and Markdown
// renderings: fixed formats, so that golden files are stable.
func funcs() template.FuncMap {
	return template.FuncMap{
		"ms":      func(v float64) string { return formatFloat(v, 2) },
		"num":     func(v float64) string { return formatFloat(v, 1) },
		"pct":     func(v float64) string { return formatFloat(v*100, 2) + "%" },
		"when":    formatTime,
		"seconds": func(v float64) string { return formatFloat(v, 0) + " s" },
		"value":   formatValue,
		"thr":     formatThreshold,
		"opt":     formatOptional,
		"short":   shortSHA,
		"inc":     func(i int) int { return i + 1 },
		"isIndex": func(p *int, i int) bool { return p != nil && *p == i },
		"join":    strings.Join,
	}
}

func formatFloat(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format(time.RFC3339)
}

// formatValue writes a criterion's value in its unit.
func formatValue(v *float64, unit string) string {
	if v == nil {
		return "no data"
	}
	return formatThreshold(*v, unit)
}

func formatThreshold(v float64, unit string) string {
	switch unit {
	case "ms":
		return formatFloat(v, 2) + " ms"
	case "fraction":
		return formatFloat(v*100, 2) + "%"
	case "", "ratio":
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}

func formatOptional(v *float64) string {
	if v == nil {
		return "–"
	}
	return formatFloat(*v, 1)
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
