package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JUnit XML, as CI servers read it (Jenkins, GitLab, GitHub actions'
// reporters): one suite, one case per criterion, plus one case for the run
// itself that errors when the run errored or was aborted.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes the document as JUnit XML.
func JUnit(w io.Writer, d *Document) error {
	if d == nil || d.RunID == "" {
		return fmt.Errorf("%w: no run id", ErrInvalid)
	}
	d = Redacted(d) // a report stored before redaction shows no secret either
	suite := junitSuite{Name: "loadfleet: " + d.Name, Time: seconds3(d.DurationSeconds),
		Properties: properties(d)}
	if !d.StartedAt.IsZero() {
		suite.Timestamp = formatTime(d.StartedAt)
	}
	class := "loadfleet." + d.Name
	suite.Cases = append(suite.Cases, runCase(d, class))
	for _, c := range d.Criteria {
		tc := junitCase{Name: criterionName(c), Classname: class, Time: "0"}
		if !c.Passed {
			msg := fmt.Sprintf("%s = %s, want %s %s", criterionSubject(c), formatValue(c.Value, c.Unit), c.Op, formatThreshold(c.Threshold, c.Unit))
			tc.Failure = &junitProblem{Message: msg, Type: "criterion", Text: c.Detail}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	for _, tc := range suite.Cases {
		suite.Tests++
		if tc.Failure != nil {
			suite.Failures++
		}
		if tc.Error != nil {
			suite.Errors++
		}
	}
	doc := junitSuites{Name: "loadfleet", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("report: write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("report: write junit: %w", err)
	}
	return nil
}

// runCase judges the run itself: an errored or aborted run is an error (it
// did not complete, so its criteria say little); a failed run whose
// criteria all passed failed for another reason, which it states.
func runCase(d *Document, class string) junitCase {
	tc := junitCase{Name: "run " + d.RunID, Classname: class, Time: seconds3(d.DurationSeconds)}
	reason := d.VerdictReason
	switch d.Verdict {
	case Errored, Aborted:
		if reason == "" {
			reason = "no reason recorded"
		}
		tc.Error = &junitProblem{Message: fmt.Sprintf("run %s: %s", d.Verdict, reason), Type: string(d.Verdict)}
	case Failed:
		for _, c := range d.Criteria {
			if !c.Passed {
				return tc
			}
		}
		tc.Failure = &junitProblem{Message: "run failed: " + reason, Type: "run"}
	case Passed:
	default:
		tc.Error = &junitProblem{Message: fmt.Sprintf("unknown verdict %q", d.Verdict), Type: "verdict"}
	}
	return tc
}

func criterionName(c Criterion) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", c.Metric, c.Op, formatThreshold(c.Threshold, c.Unit))
	if c.Request != "" {
		fmt.Fprintf(&b, " [%s]", c.Request)
	}
	if c.Window != "" {
		fmt.Fprintf(&b, " over %s", c.Window)
	}
	return b.String()
}

// criterionSubject names what a criterion measured: metric, request, window.
func criterionSubject(c Criterion) string {
	s := c.Metric
	if c.Request != "" {
		s += " [" + c.Request + "]"
	}
	if c.Window != "" {
		s += " over " + c.Window
	}
	return s
}

func properties(d *Document) []junitProperty {
	ps := []junitProperty{{"runId", d.RunID}, {"verdict", string(d.Verdict)}, {"tool", d.Tool}}
	if s := d.Source; s != nil {
		ps = append(ps, junitProperty{"source.url", s.URL}, junitProperty{"source.ref", s.Ref},
			junitProperty{"source.commit", s.Commit})
	}
	return ps
}

func seconds3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
