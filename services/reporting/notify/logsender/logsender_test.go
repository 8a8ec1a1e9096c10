package logsender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/notify/logsender"
)

func TestSendLogsTheVerdictAndNumbers(t *testing.T) {
	var buf bytes.Buffer
	s := logsender.New(notify.ChannelEmail, slog.New(slog.NewJSONHandler(&buf, nil)))
	m := notify.Message{
		RunID: "run-1", Name: "checkout", Team: "shop", Project: "web", Verdict: notify.VerdictFailed,
		Numbers:        notify.Numbers{Requests: 1500, P95Ms: 42.5, Duration: time.Minute},
		FailedCriteria: []string{"p95 of checkout: 42.5 ms > 40 ms"},
		ReportURL:      "http://127.0.0.1:8080/runs/run-1/report",
	}
	if s.Channel() != notify.ChannelEmail {
		t.Errorf("Channel = %q", s.Channel())
	}
	if err := s.Send(context.Background(), "oncall@example.com", m); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	for key, want := range map[string]any{
		"msg": "notification: FAILED: checkout", "to": "oncall@example.com", "run": "run-1",
		"verdict": "failed", "Requests": "1,500", "p95": "42.5 ms", "report": m.ReportURL,
	} {
		if rec[key] != want {
			t.Errorf("%s = %v, want %v", key, rec[key], want)
		}
	}
	if crit, _ := rec["failedCriteria"].([]any); len(crit) != 1 {
		t.Errorf("failedCriteria = %v", rec["failedCriteria"])
	}
}
