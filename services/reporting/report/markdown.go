package report

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Markdown writes a summary of the document: the verdict, the key numbers,
// the per-request table, the criteria and the analysis.
func Markdown(w io.Writer, d *Document) error {
	if d == nil || d.RunID == "" {
		return fmt.Errorf("%w: no run id", ErrInvalid)
	}
	d = Redacted(d) // a report stored before redaction shows no secret either
	b := bufio.NewWriter(w)
	md := mdWriter{b}
	md.header(d)
	md.requests(d)
	md.criteria(d)
	md.analysis(d)
	md.executors(d)
	if err := b.Flush(); err != nil {
		return fmt.Errorf("report: write markdown: %w", err)
	}
	return nil
}

type mdWriter struct{ w *bufio.Writer }

func (m mdWriter) f(format string, args ...any) { fmt.Fprintf(m.w, format, args...) }

// cell makes user text inert in Markdown (names of the plan, its requests,
// labels, criteria details): it may come from anyone who can submit a
// plan, and CI shows it as a step summary. Terminal escape sequences are
// removed and other control or bidirectional-override characters become
// U+FFFD, so nothing rewrites a terminal or reorders what is read; line
// breaks collapse into one space, so nothing leaves its table cell, quote
// or heading; Markdown's punctuation is backslash-escaped, so nothing
// becomes a link, an image, emphasis, a code span or a new cell; and HTML,
// which renderers pass through, is written as entities.
func cell(s string) string {
	s = strings.Join(strings.Fields(inert(s)), " ")
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune("\\`*_[]~|", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lineStart is cell for text that starts a line (after "> "), where a
// leading #, -, +, = or "1." would make a heading, a list or an underline.
func lineStart(s string) string {
	s = cell(s)
	if s != "" && strings.ContainsRune("#-+=", rune(s[0])) {
		return `\` + s
	}
	return blockNumber.ReplaceAllString(s, `$1\$2`)
}

// blockNumber is an ordered list's "1." or "1)".
var blockNumber = regexp.MustCompile(`^(\d+)([.)])`)

// code writes s as a code span that s cannot close: the fence is one
// backtick longer than the longest run of backticks in s (CommonMark), and
// a space pads s when it starts or ends with one.
func code(s string) string {
	s = strings.Join(strings.Fields(inert(s)), " ")
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s) + fence
}

// terminalEscape is an ANSI/ECMA-48 sequence: CSI (colours, cursor moves),
// OSC (titles, hyperlinks) ended by BEL or ST, or a two-character escape.
var terminalEscape = regexp.MustCompile("\x1b\\[[0-?]*[ -/]*[@-~]|\u009b[0-?]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x1b[@-_]?")

// inert removes terminal escape sequences and replaces the characters a
// reader cannot see but a terminal or a renderer obeys: C0 and C1 controls
// (tabs and line breaks become spaces) and Unicode's bidirectional
// overrides and isolates.
func inert(s string) string {
	s = terminalEscape.ReplaceAllString(s, "")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			return utf8.RuneError
		}
		return r
	}, s)
}

func verdictMark(v Verdict) string {
	switch v {
	case Passed:
		return "✅ PASSED"
	case Failed:
		return "❌ FAILED"
	case Aborted:
		return "⏹️ ABORTED"
	}
	return "⚠️ " + strings.ToUpper(string(v))
}

func (m mdWriter) header(d *Document) {
	m.f("# %s: %s\n\n", cell(d.Name), verdictMark(d.Verdict))
	if d.VerdictReason != "" {
		m.f("> %s\n\n", lineStart(d.VerdictReason))
	}
	m.f("Run %s", code(d.RunID))
	if d.Team != "" {
		m.f(" · team %s", cell(d.Team))
	}
	if d.Project != "" {
		m.f(" · project %s", cell(d.Project))
	}
	m.f(" · tool %s", cell(d.Tool))
	for _, k := range slices.Sorted(maps.Keys(d.ToolVersions)) {
		m.f(" · %s %s", cell(k), cell(d.ToolVersions[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
		m.f(" · %s=%s", cell(k), cell(d.Labels[k]))
	}
	m.f("\n\nStarted %s · %s", formatTime(d.StartedAt), formatFloat(d.DurationSeconds, 0)+" s")
	if s := d.Source; s != nil {
		m.f(" · source %s", cell(s.URL))
		if s.Ref != "" {
			m.f(" @ %s", cell(s.Ref))
		}
		if s.Commit != "" {
			m.f(" (commit %s)", code(s.Commit))
		}
	}
	m.f("\n\n| requests | throughput | p95 | p99 | errors | arrivals planned / started / dropped |\n|---:|---:|---:|---:|---:|---:|\n")
	t := d.Total
	m.f("| %d | %s/s | %s ms | %s ms | %d (%s) | %d / %d / %d |\n\n", t.Count, formatFloat(t.RPS, 1),
		formatFloat(t.P95Ms, 2), formatFloat(t.P99Ms, 2), t.KO, errorRate(t),
		d.Arrivals.Planned, d.Arrivals.Started, d.Arrivals.Dropped)
}

func errorRate(r Request) string {
	if r.Count == 0 {
		return "–"
	}
	return formatFloat(float64(r.KO)/float64(r.Count)*100, 2) + "%"
}

func (m mdWriter) requests(d *Document) {
	m.f("## Requests\n\nLatencies in ms, from the intended start.\n\n")
	m.f("| name | count | ok | ko | rps | p50 | p90 | p95 | p99 | max | mean | service p99 |\n")
	m.f("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, r Request) {
		m.f("| %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, r.Count, r.OK, r.KO,
			formatFloat(r.RPS, 1), formatFloat(r.P50Ms, 2), formatFloat(r.P90Ms, 2), formatFloat(r.P95Ms, 2),
			formatFloat(r.P99Ms, 2), formatFloat(r.MaxMs, 2), formatFloat(r.MeanMs, 2), formatFloat(r.ServiceP99Ms, 2))
	}
	for _, r := range d.Requests {
		row(cell(r.Name), r)
	}
	row("**TOTAL**", d.Total)
	if len(d.Total.KOByReason) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(d.Total.KOByReason)) {
			parts = append(parts, fmt.Sprintf("%s %d", cell(k), d.Total.KOByReason[k]))
		}
		m.f("\nErrors by reason: %s\n", strings.Join(parts, ", "))
	}
	m.f("\n")
}

func (m mdWriter) criteria(d *Document) {
	m.f("## Criteria\n\n")
	if len(d.Criteria) == 0 {
		m.f("The plan has no criteria.\n\n")
		return
	}
	m.f("| | metric | request | threshold | value | detail |\n|---|---|---|---|---:|---|\n")
	for _, c := range d.Criteria {
		mark := "✅"
		if !c.Passed {
			mark = "❌"
		}
		req := c.Request
		if req == "" {
			req = "all"
		}
		metric := c.Metric
		if c.Window != "" {
			metric += " over " + c.Window
		}
		if c.AbortOnFail {
			metric += " (abortOnFail)"
		}
		m.f("| %s | %s | %s | %s %s | %s | %s |\n", mark, cell(metric), cell(req), c.Op,
			formatThreshold(c.Threshold, c.Unit), formatValue(c.Value, c.Unit), cell(c.Detail))
	}
	m.f("\n")
}

func (m mdWriter) analysis(d *Document) {
	a := d.Analysis
	m.f("## Analysis: %s load\n\n", cell(a.Shape))
	switch {
	case a.Knee != nil:
		k := a.Knee
		if k.Found {
			m.f("Knee at **%s requests/s** (p95 ≈ %s ms); safe operating range up to **%s requests/s**.\n\n",
				formatOptional(k.Rate), formatFloat(k.P95AtKneeMs, 2), formatOptional(k.SafeRate))
		} else {
			m.f("No knee within the tested range: latency grew linearly up to %s requests/s.\n\n", formatFloat(k.MaxRate, 1))
		}
		m.f("_Method: %s._\n\n", k.Method)
	case len(a.Steps) > 0:
		m.f("| # | planned | achieved rps | active users | p95 ms | p99 ms | errors | error rate | met |\n")
		m.f("|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for i, s := range a.Steps {
			planned := formatFloat(s.PlannedRate, 1) + "/s"
			if s.PlannedUsers > 0 {
				planned = formatFloat(s.PlannedUsers, 0) + " users"
			}
			met := "✅"
			if !s.Passed {
				met = "❌ " + cell(strings.Join(s.Failures, "; "))
			}
			m.f("| %d | %s | %s | %s | %s | %s | %d | %s | %s |\n", i+1, planned, formatFloat(s.AchievedRate, 1),
				formatFloat(s.ActiveUsers, 1), formatFloat(s.P95Ms, 2), formatFloat(s.P99Ms, 2), s.Errors,
				formatFloat(s.ErrorRate*100, 2)+"%", met)
		}
		if h := a.HighestPassingStep; h != nil {
			m.f("\nHighest step that met the criteria: **#%d**.\n\n", *h+1)
		} else {
			m.f("\nNo step met the criteria.\n\n")
		}
	case a.Spike != nil:
		s := a.Spike
		rec := "never"
		if s.RecoverySeconds != nil {
			rec = formatFloat(*s.RecoverySeconds, 0) + " s"
		}
		m.f("Spike %s → %s/s: baseline p95 **%s ms**, peak p95 **%s ms**, error rate during it %s; "+
			"time until p95 is back within 20%% of baseline: **%s**.\n\n_Method: %s._\n\n",
			formatFloat(s.BaseRate, 1), formatFloat(s.PeakRate, 1), formatFloat(s.BaselineP95Ms, 2),
			formatFloat(s.PeakP95Ms, 2), formatFloat(s.PeakErrorRate*100, 2)+"%", rec, s.Method)
	case a.Constant != nil:
		c := a.Constant
		ratio := "–"
		if c.ThroughputRatio != nil {
			ratio = formatFloat(*c.ThroughputRatio*100, 2) + "%"
		}
		m.f("p95 drift %s (%s → %s ms); throughput %s of plan, %s requests/s; error rate %s, trend %s per minute.\n\n_Method: %s._\n\n",
			formatFloat(c.P95Drift*100, 2)+"%", formatFloat(c.FirstMinuteP95Ms, 2), formatFloat(c.LastMinuteP95Ms, 2),
			ratio, formatFloat(c.MeanRPS, 1), formatFloat(c.ErrorRate*100, 2)+"%",
			formatFloat(c.ErrorRateSlopePerMinute*100, 3)+"%", c.Method)
	default:
		m.f("No shape-specific analysis.\n\n")
	}
}

func (m mdWriter) executors(d *Document) {
	m.f("## Executors\n\n| shard | location | backend | clock offset | restarts |\n|---:|---|---|---:|---:|\n")
	for _, e := range d.Executors {
		m.f("| %d | %s | %s | %s ms | %d |\n", e.Shard, cell(e.Location), cell(e.Backend), formatFloat(e.ClockOffsetMs, 2), len(e.Restarts))
	}
	for _, g := range d.Degraded {
		m.f("\nDegraded %s – %s: %s", formatTime(g.From), formatTime(g.To), cell(g.Reason))
	}
	if len(d.Degraded) > 0 {
		m.f("\n")
	}
}
