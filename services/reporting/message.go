package reporting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// MessageRenderer renders a run's notification from its stored report;
// reportBaseURL (may be empty) prefixes links to the HTML report, which are
// signed for the link TTL (see ReportURL).
func (s *Service) MessageRenderer(reportBaseURL string) notify.RenderFunc {
	return func(ctx context.Context, runID string) (notify.Message, error) {
		raw, err := s.store.Report(ctx, runID)
		if err != nil {
			return notify.Message{}, err
		}
		var doc report.Document
		if err := json.Unmarshal(raw, &doc); err != nil {
			return notify.Message{}, fmt.Errorf("the stored report of %s does not parse: %w", runID, err)
		}
		reportURL := ""
		if reportBaseURL != "" {
			reportURL = s.ReportURL(reportBaseURL, runID, time.Now())
		}
		return messageOf(&doc, reportURL)
	}
}

// messageOf builds a run's message from its report; reportURL may be empty.
func messageOf(doc *report.Document, reportURL string) (notify.Message, error) {
	var html bytes.Buffer
	if err := report.HTML(&html, doc); err != nil {
		return notify.Message{}, fmt.Errorf("render the HTML report: %w", err)
	}
	m := notify.Message{RunID: doc.RunID, Name: doc.Name, Team: doc.Team, Project: doc.Project,
		Verdict: string(doc.Verdict), ReportHTML: html.Bytes(),
		Numbers: notify.Numbers{Requests: doc.Total.Count, RPS: doc.Total.RPS, P95Ms: doc.Total.P95Ms,
			P99Ms: doc.Total.P99Ms, Planned: doc.Arrivals.Planned, Started: doc.Arrivals.Started,
			Dropped: doc.Arrivals.Dropped, Duration: time.Duration(doc.DurationSeconds * float64(time.Second))}}
	if doc.Total.Count > 0 {
		m.Numbers.ErrorRate = float64(doc.Total.KO) / float64(doc.Total.Count)
	}
	m.ReportURL = reportURL
	for _, c := range doc.Criteria {
		if !c.Passed {
			m.FailedCriteria = append(m.FailedCriteria, c.Detail)
		}
	}
	for _, p := range doc.Series.Total {
		m.Latency = append(m.Latency, notify.LatencyPoint{Time: p.Time, P50Ms: p.P50Ms, P95Ms: p.P95Ms, P99Ms: p.P99Ms})
	}
	return m, nil
}
