// Package notify delivers a run's outcome to people: the Message every
// channel renders, the Sender interface each channel implements (slack,
// email, logsender), and the Dispatcher that drains the persisted outbox of
// the metadata store with retries and backoff.
package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Channels of the outbox; a Sender's Channel() is one of them.
const (
	ChannelSlack = "slack"
	ChannelEmail = "email"
)

// Verdicts of a run, as the report names them.
const (
	VerdictPassed  = "passed"
	VerdictFailed  = "failed"
	VerdictErrored = "errored"
	VerdictAborted = "aborted"
)

// Message is what a run's notification says. The caller builds it from the
// run's report; every channel renders the same facts.
type Message struct {
	RunID   string
	Name    string // the test's name
	Team    string
	Project string
	Verdict string // passed, failed, errored or aborted
	Numbers Numbers
	// FailedCriteria are human-readable lines, one per failed criterion
	// ("p95 of checkout: 512 ms > 300 ms").
	FailedCriteria []string
	// ReportURL links to the run's report; empty when no base URL is set.
	ReportURL string
	// Latency is the per-second merged latency the chart image is drawn from.
	Latency []LatencyPoint
	// ReportHTML is the self-contained HTML report, attached to emails.
	ReportHTML []byte
}

// Numbers are a run's key figures.
type Numbers struct {
	Requests  int64
	RPS       float64
	P95Ms     float64
	P99Ms     float64
	ErrorRate float64 // a fraction: 0.012 is 1.2 %
	// Arrivals: planned by the schedule, started, and dropped because no
	// user could start them in time.
	Planned  int64
	Started  int64
	Dropped  int64
	Duration time.Duration
}

// LatencyPoint is one second of merged latency percentiles.
type LatencyPoint struct {
	Time  time.Time
	P50Ms float64
	P95Ms float64
	P99Ms float64
}

// Fact is one labelled key number, formatted for people.
type Fact struct {
	Label string
	Value string
}

// Headline is the verdict and the test's name: "FAILED: checkout".
func (m Message) Headline() string {
	return strings.ToUpper(m.Verdict) + ": " + m.Name
}

// Scope is where the test lives: "team/project".
func (m Message) Scope() string {
	return m.Team + "/" + m.Project
}

// Subject is the email subject: "[loadfleet] FAILED: checkout (shop/web)".
func (m Message) Subject() string {
	return fmt.Sprintf("[loadfleet] %s (%s)", m.Headline(), m.Scope())
}

// Facts are the key numbers in display order.
func (m Message) Facts() []Fact {
	n := m.Numbers
	return []Fact{
		{"Requests", groupThousands(n.Requests)},
		{"Throughput", strconv.FormatFloat(n.RPS, 'f', 1, 64) + " req/s"},
		{"p95", formatMs(n.P95Ms)},
		{"p99", formatMs(n.P99Ms)},
		{"Error rate", strconv.FormatFloat(n.ErrorRate*100, 'f', 2, 64) + " %"},
		{"Planned arrivals", groupThousands(n.Planned)},
		{"Started arrivals", groupThousands(n.Started)},
		{"Dropped arrivals", groupThousands(n.Dropped)},
		{"Duration", n.Duration.Round(time.Second).String()},
	}
}

func formatMs(ms float64) string {
	return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
}

// groupThousands writes 1234567 as "1,234,567" so counts read at a glance.
func groupThousands(v int64) string {
	s := strconv.FormatInt(v, 10)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return sign + b.String()
}
