package report

import (
	"encoding/xml"
	"strings"
	"testing"
)

func decodeJUnit(t *testing.T, d *Document) junitSuites {
	t.Helper()
	var got junitSuites
	if err := xml.Unmarshal(render(t, JUnit, d), &got); err != nil {
		t.Fatalf("JUnit output does not decode: %v", err)
	}
	if len(got.Suites) != 1 {
		t.Fatalf("%d test suites, want exactly one", len(got.Suites))
	}
	return got
}

func TestJUnit(t *testing.T) {
	tests := []struct {
		why                     string
		doc                     func() *Document
		failures, errors        int
		runError, runFailure    string
		failedCriterionMessages []string
	}{
		{"a failed run fails the criteria that failed, and only them", sampleDocument, 2, 0, "", "",
			[]string{"latency.p95 = 295.50 ms, want <= 250.00 ms", "throughput.ratio over 30s = no data, want >= 0.95"}},
		{"an errored run has an error test case saying why", erroredDocument, 2, 1, "run errored: shard 1 lost: no snapshot for 60 s", "", nil},
		{"an aborted run has an error test case saying why", spikeDocument, 2, 1, "run aborted: errors.rate 4.2% > 1% (abortOnFail)", "", nil},
		{"a run failed for no criterion says why in the run case", func() *Document {
			d := sampleDocument()
			d.VerdictReason = "dropped 12% of arrivals"
			for i := range d.Criteria {
				d.Criteria[i].Passed = true
			}
			return d
		}, 1, 0, "", "run failed: dropped 12% of arrivals", nil},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			d := tt.doc()
			got := decodeJUnit(t, d)
			s := got.Suites[0]
			if s.Tests != len(d.Criteria)+1 || len(s.Cases) != s.Tests {
				t.Fatalf("%d tests (%d cases), want one per criterion plus the run: %d", s.Tests, len(s.Cases), len(d.Criteria)+1)
			}
			if s.Failures != tt.failures || s.Errors != tt.errors || got.Failures != tt.failures || got.Errors != tt.errors {
				t.Errorf("failures %d errors %d (totals %d/%d), want %d/%d", s.Failures, s.Errors, got.Failures, got.Errors, tt.failures, tt.errors)
			}
			run := s.Cases[0]
			if (run.Error == nil) != (tt.runError == "") || run.Error != nil && run.Error.Message != tt.runError {
				t.Errorf("run case error %+v, want %q", run.Error, tt.runError)
			}
			if (run.Failure == nil) != (tt.runFailure == "") || run.Failure != nil && run.Failure.Message != tt.runFailure {
				t.Errorf("run case failure %+v, want %q", run.Failure, tt.runFailure)
			}
			var msgs []string
			for i, c := range s.Cases[1:] {
				if c.Failure != nil {
					msgs = append(msgs, c.Failure.Message)
				}
				if (c.Failure == nil) != d.Criteria[i].Passed {
					t.Errorf("case %q failure %v, criterion passed %v", c.Name, c.Failure, d.Criteria[i].Passed)
				}
			}
			if tt.failedCriterionMessages != nil && strings.Join(msgs, "\n") != strings.Join(tt.failedCriterionMessages, "\n") {
				t.Errorf("failure messages\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(tt.failedCriterionMessages, "\n"))
			}
			props := map[string]string{}
			for _, p := range s.Properties {
				props[p.Name] = p.Value
			}
			if props["runId"] != "run-42" || props["source.commit"] != d.Source.Commit || props["verdict"] != string(d.Verdict) {
				t.Errorf("properties %v, want the run id, verdict and commit", props)
			}
		})
	}
}
