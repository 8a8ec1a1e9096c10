package report

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/reporting/analysis"
	"github.com/loadfleet/loadfleet/services/reporting/series"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// samplePlan is a staircase of 20, 40 and 60 arrivals/s, 40 s each.
func samplePlan() *plan.Plan {
	max250 := plan.Duration(250 * time.Millisecond)
	max500 := plan.Duration(500 * time.Millisecond)
	maxErr, minRatio := 0.01, 0.95
	return &plan.Plan{
		Name: "checkout <steps>", Team: "payments", Project: "shop",
		Labels: map[string]string{"env": "staging", "note": `<script>alert("x")</script>`},
		Tool:   plan.ToolNative,
		Source: &plan.Source{Git: &plan.GitSource{URL: "https://git.example.com/shop/load.git", Ref: "main"}},
		Target: plan.Target{BaseURL: "http://127.0.0.1:8080"},
		Load: plan.Load{Pattern: &plan.Pattern{Steps: &plan.StepsPattern{
			Rates: []float64{20, 40, 60}, EachLevelLasting: plan.Duration(40 * time.Second)}}},
		Criteria: []plan.Criterion{
			{Metric: "latency.p95", Max: &plan.Threshold{Duration: &max250}},
			{Metric: "errors.rate", Max: &plan.Threshold{Number: &maxErr}, AbortOnFail: true},
			{Metric: "latency.p99", Request: "checkout", Max: &plan.Threshold{Duration: &max500}},
			{Metric: "throughput.ratio", Min: &plan.Threshold{Number: &minRatio}},
		},
	}
}

// sampleSeries: each arrival logs in then checks out. Up to 40/s latency
// is flat; at 60/s checkout slows down and fails 3% of the time.
func sampleSeries() (total, requests []series.Point, executors []series.ExecutorPoint) {
	for s := range 120 {
		at := start.Add(time.Duration(s) * time.Second)
		rate := float64(20 * (1 + s/40))
		overloaded := rate > 40
		login := series.Point{RunID: "run-42", Time: at, Request: "login", Count: int64(rate), OK: int64(rate),
			RPS: rate, P50Ms: 12, P90Ms: 18, P95Ms: 20 + float64(s%3), P99Ms: 31, MaxMs: 40, MeanMs: 13}
		checkout := series.Point{RunID: "run-42", Time: at, Request: "checkout", Count: int64(rate), OK: int64(rate),
			RPS: rate, P50Ms: 40, P90Ms: 70, P95Ms: 80 + float64(s%5), P99Ms: 120, MaxMs: 150, MeanMs: 45}
		if overloaded {
			checkout.KO = 2
			checkout.OK -= 2
			checkout.KOByReason = map[string]int64{"status_5xx": 1, "timeout": 1}
			checkout.P50Ms, checkout.P90Ms, checkout.P95Ms, checkout.P99Ms, checkout.MaxMs = 150, 280, 320+float64(s%7), 480, 900
		}
		all := series.Point{RunID: "run-42", Time: at, Count: login.Count + checkout.Count, OK: login.OK + checkout.OK,
			KO: checkout.KO, KOByReason: checkout.KOByReason, RPS: login.RPS + checkout.RPS,
			P50Ms: 20, P90Ms: checkout.P90Ms, P95Ms: checkout.P95Ms - 5, P99Ms: checkout.P99Ms, MaxMs: checkout.MaxMs, MeanMs: 29,
			ActiveUsers: int64(rate / 4), PlannedArrivals: int64(rate), StartedArrivals: int64(rate),
			BytesSent: int64(rate) * 600, BytesReceived: int64(rate) * 4000}
		total = append(total, all)
		requests = append(requests, checkout, login)
		for shard := range 2 {
			executors = append(executors, series.ExecutorPoint{RunID: "run-42", Time: at, Shard: shard,
				Location: []string{"eu-west", "us-east"}[shard], CPUPercent: 10 + rate/2 + float64(shard),
				RSSBytes: 64 << 20, Goroutines: 50, OpenConnections: int64(rate/2) + int64(shard),
				ActiveSessions: int64(rate / 8), ScheduleLagP99Ms: 0.4})
		}
	}
	return total, requests, executors
}

func f64(v float64) *float64 { return &v }

// sampleDocument is a realistic failed staircase run.
func sampleDocument() *Document {
	p := samplePlan()
	total, requests, executors := sampleSeries()
	planJSON, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("marshal plan: %v", err))
	}
	return &Document{
		SchemaVersion: SchemaVersion, RunID: "run-42", Verdict: Failed,
		VerdictReason: "2 of 4 criteria failed",
		Name:          p.Name, Team: p.Team, Project: p.Project, Labels: p.Labels, Tool: string(p.Tool),
		ToolVersions: map[string]string{"loadfleet": "0.1.0", "go": "go1.26.8"},
		CreatedAt:    start.Add(-30 * time.Second), StartedAt: start, EndedAt: start.Add(122 * time.Second),
		DurationSeconds: 122,
		Source: &Source{URL: "https://git.example.com/shop/load.git", Ref: "main",
			Commit: "3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345"},
		Plan:     planJSON,
		Arrivals: Arrivals{Planned: 4800, Started: 4800},
		Total: Request{Count: 9600, OK: 9520, KO: 80, RPS: 78.69, P50Ms: 20, P90Ms: 160, P95Ms: 295.5, P99Ms: 470.3,
			MaxMs: 912.4, MeanMs: 48.2, ServiceP99Ms: 455.1, KOByReason: map[string]int64{"status_5xx": 40, "timeout": 40},
			Bytes: Bytes{Sent: 2880000, Received: 19200000}},
		Requests: []Request{
			{Name: "checkout", Count: 4800, OK: 4720, KO: 80, RPS: 39.34, P50Ms: 41, P90Ms: 275, P95Ms: 322.1, P99Ms: 478.9,
				MaxMs: 912.4, MeanMs: 81.7, ServiceP99Ms: 461.2, KOByReason: map[string]int64{"status_5xx": 40, "timeout": 40},
				Bytes: Bytes{Sent: 2400000, Received: 14400000}},
			{Name: "login", Count: 4800, OK: 4800, RPS: 39.34, P50Ms: 12, P90Ms: 18, P95Ms: 21.3, P99Ms: 31.2,
				MaxMs: 40.1, MeanMs: 13.1, ServiceP99Ms: 30.8, Bytes: Bytes{Sent: 480000, Received: 4800000}},
		},
		Criteria: []Criterion{
			{Metric: "latency.p95", Op: OpAtMost, Threshold: 250, Unit: "ms", Value: f64(295.5), Passed: false,
				Detail: "p95 295.50 ms over the whole run"},
			{Metric: "errors.rate", Op: OpAtMost, Threshold: 0.01, Unit: "fraction", Value: f64(80.0 / 9600), Passed: true,
				AbortOnFail: true},
			{Metric: "latency.p99", Request: "checkout", Op: OpAtMost, Threshold: 500, Unit: "ms", Value: f64(478.9), Passed: true},
			{Metric: "throughput.ratio", Op: OpAtLeast, Threshold: 0.95, Unit: "ratio", Value: nil, Passed: false,
				Window: "30s", Detail: "no arrivals in the window 12:01:50–12:02:20 & <after>"},
		},
		Analysis: analysis.Analyze(p, start, total, analysis.Options{
			StepLatency: map[int]analysis.Latency{0: {P95Ms: 80.1, P99Ms: 119.5}}}),
		Executors: []Executor{
			{Shard: 0, Location: "eu-west", Backend: "local", ClockOffsetMs: 0.42, Restarts: []Restart{}},
			{Shard: 1, Location: "us-east", Backend: "docker", ClockOffsetMs: -1.37,
				Restarts: []Restart{{At: start.Add(70 * time.Second), Reason: "container exited (137)"}}},
		},
		Degraded: []DegradedInterval{{From: start.Add(68 * time.Second), To: start.Add(73 * time.Second),
			Reason: "shard 1 restarting", Shards: []int{1}}},
		Series: Series{Total: total, Requests: requests, Executors: executors},
	}
}
