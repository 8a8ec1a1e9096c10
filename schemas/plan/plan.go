// Package plan holds the Go types of the user-facing test plan
// (testplan.schema.json). The types mirror the schema one to one: every JSON
// object here is a struct with the same field names, so a JSON pointer into a
// plan document names the same place in these types.
package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Tool names the load tool that runs the plan.
type Tool string

// The tools loadfleet can drive.
const (
	ToolNative  Tool = "native"
	ToolJMeter  Tool = "jmeter"
	ToolGatling Tool = "gatling"
	ToolK6      Tool = "k6"
)

// Plan is a whole test plan.
type Plan struct {
	Name      string            `json:"name"`
	Team      string            `json:"team,omitempty"`
	Project   string            `json:"project,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Secrets   []string          `json:"secrets,omitempty"` // names reports must not show the values of (package redact)
	Tool      Tool              `json:"tool,omitempty"`
	Source    *Source           `json:"source,omitempty"`
	Target    Target            `json:"target"`
	Scenarios []Scenario        `json:"scenarios,omitempty"`
	Load      Load              `json:"load"`
	Criteria  []Criterion       `json:"criteria,omitempty"`
	Executors Executors         `json:"executors,omitzero"`
	Notify    *Notify           `json:"notify,omitempty"`
}

// EffectiveTool returns the plan's tool, native when unset.
func (p *Plan) EffectiveTool() Tool {
	if p.Tool == "" {
		return ToolNative
	}
	return p.Tool
}

// Source says where the plan's scripts and data files live.
type Source struct {
	Git *GitSource `json:"git,omitempty"`
}

// GitSource is a path inside a git repository at a ref.
type GitSource struct {
	URL  string `json:"url"`
	Ref  string `json:"ref,omitempty"`
	Path string `json:"path,omitempty"`
}

// Target is the system under test.
type Target struct {
	BaseURL string            `json:"baseUrl"`
	Headers map[string]string `json:"headers,omitempty"`
	// HTTPVersion is "1.1" (default) or "2": HTTP/2 over TLS for https
	// base URLs, and h2c (prior knowledge) for http ones.
	HTTPVersion string `json:"httpVersion,omitempty"`
	// Timeout is the default per-request timeout (60s when unset).
	Timeout Duration `json:"timeout,omitempty"`
	// MaxRedirects is how many redirects a request follows; 0 means none.
	// Unset means 10.
	MaxRedirects *int       `json:"maxRedirects,omitempty"`
	TLS          *TargetTLS `json:"tls,omitempty"`
}

// TargetTLS holds the TLS options of the target.
type TargetTLS struct {
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
	ServerName         string `json:"serverName,omitempty"`
}

// Scenario is one weighted user journey.
type Scenario struct {
	Name string `json:"name"`
	// Weight is the relative share of sessions running this scenario
	// (1 when unset).
	Weight *float64 `json:"weight,omitempty"`
	Steps  []Step   `json:"steps"`
	Feeder *Feeder  `json:"feeder,omitempty"`
}

// EffectiveWeight returns the scenario's weight, 1 when unset.
func (s *Scenario) EffectiveWeight() float64 {
	if s.Weight == nil {
		return 1
	}
	return *s.Weight
}

// Step is exactly one of a request or a pause.
type Step struct {
	Request *Request `json:"request,omitempty"`
	Pause   *Pause   `json:"pause,omitempty"`
}

// Request is one HTTP request of a scenario.
type Request struct {
	Name    string            `json:"name"`
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    *Body             `json:"body,omitempty"`
	Timeout Duration          `json:"timeout,omitempty"`
	Checks  []Check           `json:"checks,omitempty"`
	Extract []Extraction      `json:"extract,omitempty"`
}

// EffectiveMethod returns the request method, GET when unset.
func (r *Request) EffectiveMethod() string {
	if r.Method == "" {
		return "GET"
	}
	return r.Method
}

// Body is exactly one of a raw string, a JSON value or form fields.
type Body struct {
	Raw  *string           `json:"raw,omitempty"`
	JSON json.RawMessage   `json:"json,omitempty"`
	Form map[string]string `json:"form,omitempty"`
}

// Check is exactly one assertion on a response.
type Check struct {
	// Status passes when the status code is one of these.
	Status   []int        `json:"status,omitempty"`
	Body     *Match       `json:"body,omitempty"`
	Header   *HeaderCheck `json:"header,omitempty"`
	JSONPath *PathCheck   `json:"jsonPath,omitempty"`
}

// Match is a string assertion; set exactly one of its fields.
type Match struct {
	Equals   *string `json:"equals,omitempty"`
	Contains *string `json:"contains,omitempty"`
	Regex    *string `json:"regex,omitempty"`
}

// HeaderCheck asserts on a response header. With no match set it only
// requires the header to be present.
type HeaderCheck struct {
	Name string `json:"name"`
	Match
}

// PathCheck asserts on a value of a JSON response body. Path is a JSONPath
// subset: $.a.b[0].c. With no match set it only requires the value to exist.
type PathCheck struct {
	Path string `json:"path"`
	Match
}

// Extraction stores a value of the response into a session variable. Set
// exactly one of JSONPath, Header or Regex (its first capture group, or the
// whole match when it has none).
type Extraction struct {
	Var      string `json:"var"`
	JSONPath string `json:"jsonPath,omitempty"`
	Header   string `json:"header,omitempty"`
	Regex    string `json:"regex,omitempty"`
}

// Pause waits Duration, plus or minus a uniformly random Jitter.
type Pause struct {
	Duration Duration `json:"duration"`
	Jitter   Duration `json:"jitter,omitempty"`
}

// Feeder supplies one record of variables per session.
type Feeder struct {
	// File is relative to the root of the git checkout when the plan has
	// source.git, otherwise to the plan file's directory (see CheckFiles).
	File     string         `json:"file"`
	Format   FeederFormat   `json:"format,omitempty"`
	Strategy FeederStrategy `json:"strategy,omitempty"`
}

// FeederFormat is csv or json; inferred from the file extension when unset.
type FeederFormat string

// FeederStrategy says how records are handed out.
type FeederStrategy string

// Feeder formats and strategies.
const (
	FeederCSV      FeederFormat   = "csv"
	FeederJSON     FeederFormat   = "json"
	FeederCircular FeederStrategy = "circular"
	FeederRandom   FeederStrategy = "random"
	FeederQueue    FeederStrategy = "queue"
)

// Load is exactly one of an open model, a closed model or a named pattern,
// plus the limits that apply to all of them.
type Load struct {
	Open    []OpenStep   `json:"open,omitempty"`
	Closed  []ClosedStep `json:"closed,omitempty"`
	Pattern *Pattern     `json:"pattern,omitempty"`
	// MaxDuration stops the run even if the load steps last longer.
	MaxDuration Duration `json:"maxDuration,omitempty"`
	// GracefulStop is how long sessions in flight at the end may finish.
	GracefulStop Duration `json:"gracefulStop,omitempty"`
	// MaxConcurrentSessions caps open-model sessions in flight; arrivals
	// past it are counted as dropped.
	MaxConcurrentSessions int `json:"maxConcurrentSessions,omitempty"`
}

// OpenStep is exactly one open-model injection step (Gatling's names).
type OpenStep struct {
	NothingFor           *NothingFor           `json:"nothingFor,omitempty"`
	AtOnceUsers          *AtOnceUsers          `json:"atOnceUsers,omitempty"`
	RampUsers            *RampUsers            `json:"rampUsers,omitempty"`
	ConstantUsersPerSec  *ConstantUsersPerSec  `json:"constantUsersPerSec,omitempty"`
	RampUsersPerSec      *RampUsersPerSec      `json:"rampUsersPerSec,omitempty"`
	StressPeakUsers      *StressPeakUsers      `json:"stressPeakUsers,omitempty"`
	IncrementUsersPerSec *IncrementUsersPerSec `json:"incrementUsersPerSec,omitempty"`
}

// NothingFor injects nobody for a while.
type NothingFor struct {
	During Duration `json:"during"`
}

// AtOnceUsers injects Users at the same instant.
type AtOnceUsers struct {
	Users int `json:"users"`
}

// RampUsers injects Users evenly spread over During.
type RampUsers struct {
	Users  int      `json:"users"`
	During Duration `json:"during"`
}

// ConstantUsersPerSec injects Rate users per second for During.
type ConstantUsersPerSec struct {
	Rate       float64  `json:"rate"`
	During     Duration `json:"during"`
	Randomized bool     `json:"randomized,omitempty"`
}

// RampUsersPerSec injects at a rate growing linearly from From to To.
type RampUsersPerSec struct {
	From       float64  `json:"from"`
	To         float64  `json:"to"`
	During     Duration `json:"during"`
	Randomized bool     `json:"randomized,omitempty"`
}

// StressPeakUsers injects Users following a smoothed step (Heaviside)
// curve over During.
type StressPeakUsers struct {
	Users  int      `json:"users"`
	During Duration `json:"during"`
}

// IncrementUsersPerSec is Times levels of constant rate, StartingFrom,
// StartingFrom+Increment, ..., each lasting EachLevelLasting, with linear
// ramps of SeparatedByRampsLasting between consecutive levels.
type IncrementUsersPerSec struct {
	Increment               float64  `json:"increment"`
	Times                   int      `json:"times"`
	EachLevelLasting        Duration `json:"eachLevelLasting"`
	SeparatedByRampsLasting Duration `json:"separatedByRampsLasting,omitempty"`
	StartingFrom            float64  `json:"startingFrom,omitempty"`
}

// ClosedStep is exactly one closed-model (concurrency) step.
type ClosedStep struct {
	ConstantConcurrentUsers  *ConstantConcurrentUsers  `json:"constantConcurrentUsers,omitempty"`
	RampConcurrentUsers      *RampConcurrentUsers      `json:"rampConcurrentUsers,omitempty"`
	IncrementConcurrentUsers *IncrementConcurrentUsers `json:"incrementConcurrentUsers,omitempty"`
}

// ConstantConcurrentUsers keeps Users sessions looping for During.
type ConstantConcurrentUsers struct {
	Users  int      `json:"users"`
	During Duration `json:"during"`
}

// RampConcurrentUsers changes concurrency linearly from From to To.
type RampConcurrentUsers struct {
	From   int      `json:"from"`
	To     int      `json:"to"`
	During Duration `json:"during"`
}

// IncrementConcurrentUsers is the closed-model twin of IncrementUsersPerSec.
type IncrementConcurrentUsers struct {
	Increment               int      `json:"increment"`
	Times                   int      `json:"times"`
	EachLevelLasting        Duration `json:"eachLevelLasting"`
	SeparatedByRampsLasting Duration `json:"separatedByRampsLasting,omitempty"`
	StartingFrom            int      `json:"startingFrom,omitempty"`
}

// Pattern is exactly one named load pattern; each expands into open steps.
type Pattern struct {
	Constant *ConstantPattern `json:"constant,omitempty"`
	Ramp     *RampPattern     `json:"ramp,omitempty"`
	Steps    *StepsPattern    `json:"steps,omitempty"`
	Spike    *SpikePattern    `json:"spike,omitempty"`
}

// ConstantPattern is a constant arrival rate.
type ConstantPattern struct {
	Rate   float64  `json:"rate"`
	During Duration `json:"during"`
}

// RampPattern is a linear ramp of the arrival rate.
type RampPattern struct {
	From   float64  `json:"from"`
	To     float64  `json:"to"`
	During Duration `json:"during"`
}

// StepsPattern holds each rate of Rates for EachLevelLasting, in order.
type StepsPattern struct {
	Rates            []float64 `json:"rates"`
	EachLevelLasting Duration  `json:"eachLevelLasting"`
}

// SpikePattern is Base for Before, a ramp to Peak over RampUp, Peak for
// Hold, a ramp back to Base over RampDown, then Base for After.
type SpikePattern struct {
	Base     float64  `json:"base"`
	Peak     float64  `json:"peak"`
	Before   Duration `json:"before"`
	RampUp   Duration `json:"rampUp,omitempty"`
	Hold     Duration `json:"hold"`
	RampDown Duration `json:"rampDown,omitempty"`
	After    Duration `json:"after"`
}

// Criterion is one pass/fail rule judged on merged results.
type Criterion struct {
	// Metric is one of Metrics.
	Metric string `json:"metric"`
	// Request restricts the rule to one request name; empty means all.
	Request     string     `json:"request,omitempty"`
	Max         *Threshold `json:"max,omitempty"`
	Min         *Threshold `json:"min,omitempty"`
	AbortOnFail bool       `json:"abortOnFail,omitempty"`
	// Window, when set, judges the metric over a sliding window of this
	// length instead of the whole run.
	Window Duration `json:"window,omitempty"`
}

// Metrics lists every criterion metric.
var Metrics = []string{
	"latency.p50", "latency.p75", "latency.p90", "latency.p95", "latency.p99",
	"latency.p99.9", "latency.max", "latency.mean",
	"errors.rate", "throughput.ratio", "latency.p95.drift",
}

// IsLatencyMetric reports whether the metric's thresholds are durations.
func IsLatencyMetric(m string) bool {
	switch m {
	case "latency.p50", "latency.p75", "latency.p90", "latency.p95", "latency.p99",
		"latency.p99.9", "latency.max", "latency.mean":
		return true
	}
	return false
}

// Threshold is a criterion bound: a duration for latency metrics (a string
// such as "250ms", or integer seconds), a plain number otherwise. Both forms
// are kept so that validation can say which one was wrong.
type Threshold struct {
	Number   *float64
	Duration *Duration
}

// Value returns the threshold as a number: seconds for durations.
func (t Threshold) Value() float64 {
	if t.Duration != nil {
		return t.Duration.Seconds()
	}
	if t.Number != nil {
		return *t.Number
	}
	return 0
}

// MarshalJSON writes the duration string or the number.
func (t Threshold) MarshalJSON() ([]byte, error) {
	if t.Duration != nil {
		return t.Duration.MarshalJSON()
	}
	if t.Number != nil {
		return json.Marshal(*t.Number)
	}
	return []byte("null"), nil
}

// UnmarshalJSON keeps strings as durations and numbers as numbers. For
// latency metrics a number means seconds, as everywhere durations appear.
func (t *Threshold) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var d Duration
		if err := d.UnmarshalJSON(b); err != nil {
			return err
		}
		t.Duration = &d
		return nil
	}
	n, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("invalid threshold %s: want a number or a duration", b)
	}
	t.Number = &n
	return nil
}

// Executors says how many executors run the plan and where.
type Executors struct {
	Count               Count      `json:"count,omitzero"`
	MaxRatePerExecutor  float64    `json:"maxRatePerExecutor,omitempty"`
	MaxUsersPerExecutor int        `json:"maxUsersPerExecutor,omitempty"`
	Locations           []Location `json:"locations,omitempty"`
}

// Count is an executor count: a positive integer, or "auto" (derived from
// the peak load and the per-executor maxima). Zero means unset (one).
type Count struct {
	Auto bool
	N    int
}

// IsZero reports an unset count.
func (c Count) IsZero() bool { return !c.Auto && c.N == 0 }

// MarshalJSON writes "auto" or the number.
func (c Count) MarshalJSON() ([]byte, error) {
	if c.Auto {
		return []byte(`"auto"`), nil
	}
	return json.Marshal(c.N)
}

// UnmarshalJSON reads "auto" or an integer.
func (c *Count) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == `"auto"` {
		*c = Count{Auto: true}
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("invalid executor count %s: want an integer or \"auto\"", b)
	}
	*c = Count{N: n}
	return nil
}

// Location is a named place to run executors, with a relative weight.
type Location struct {
	Name   string   `json:"name"`
	Weight *float64 `json:"weight,omitempty"`
}

// EffectiveWeight returns the location's weight, 1 when unset.
func (l *Location) EffectiveWeight() float64 {
	if l.Weight == nil {
		return 1
	}
	return *l.Weight
}

// Notify lists who hears about the run's result, in addition to the team's
// defaults.
type Notify struct {
	Slack []string `json:"slack,omitempty"`
	Email []string `json:"email,omitempty"`
}
