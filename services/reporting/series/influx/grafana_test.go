package influx

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// grafanaDir is the repository's grafana/ provisioning, from this package.
var grafanaDir = filepath.Join("..", "..", "..", "..", "grafana", "provisioning")

// dashboard is the part of a Grafana dashboard whose queries run.
type dashboard struct {
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Query      string     `json:"query"`
			Datasource datasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Query      string     `json:"query"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a row's
}

type datasource struct {
	UID string `json:"uid"`
}

type dashboardQuery struct {
	name, flux, datasourceUID string
}

// TestDashboardQueriesReturnData writes a run through the Sink, then runs
// every query of every provisioned dashboard (its run variable's included)
// against InfluxDB the way Grafana would: variables and Flux macros
// substituted, the datasource's default bucket being InfluxDB 1.8's
// "loadfleet/autogen". A query that returns nothing fails.
func TestDashboardQueriesReturnData(t *testing.T) {
	cfg := sharedConfig(t)
	sink, reader := newSink(t, cfg), newReader(t, cfg)
	runID := fmt.Sprintf("grafana-test-%d", time.Now().UnixNano()) // Grafana substitutes $run raw
	start := time.Now().UTC().Truncate(time.Second).Add(-40 * time.Second)
	ctx := context.Background()
	for sec := range 30 {
		if err := sink.Write(ctx, rampSecond(runID, start, sec)); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, sink)

	dsUID := provisionedDatasourceUID(t)
	files, err := filepath.Glob(filepath.Join(grafanaDir, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", grafanaDir, err)
	}
	from, to := start.Add(-time.Minute), time.Now().Add(time.Minute)
	// What the stat panels must show for rampSecond's 30 seconds: 10+2s
	// requests in second s, of which 2*(s/10)+1 KO; 34 users at the end.
	wantStat := map[string]float64{
		"panel Requests A": 1170, "panel Error rate A": 90.0 / 1170,
		"panel Dropped arrivals A": 0, "panel Active users now A": 34,
	}
	for _, file := range files {
		queries := dashboardQueries(t, file)
		if len(queries) < 2 {
			t.Fatalf("%s: %d queries", file, len(queries))
		}
		for _, q := range queries {
			if q.datasourceUID != dsUID {
				t.Errorf("%s %s: datasource uid %q, provisioned %q", filepath.Base(file), q.name, q.datasourceUID, dsUID)
			}
			// 1s: the datasource's minimum; 10s: a zoomed-out window that
			// aggregates several points.
			for _, interval := range []time.Duration{time.Second, 10 * time.Second} {
				name := fmt.Sprintf("%s/%s/interval=%s", filepath.Base(file), q.name, interval)
				t.Run(name, func(t *testing.T) {
					flux := grafanaInterpolate(q.flux, map[string]string{"run": runID}, from, to, interval, cfg.Bucket, cfg.Org)
					if leftover := unexpandedMacro.FindString(flux); leftover != "" {
						t.Fatalf("%q left unexpanded in:\n%s", leftover, flux)
					}
					values := runFlux(t, reader, flux)
					if len(values) == 0 {
						t.Fatalf("no data for run %s from:\n%s", runID, flux)
					}
					if strings.HasPrefix(q.name, "variable ") && !slices.Contains(values, runID) {
						t.Fatalf("the run variable lists %d runs, not %s", len(values), runID)
					}
					if want, ok := wantStat[q.name]; ok {
						got, err := strconv.ParseFloat(values[len(values)-1], 64)
						if err != nil || len(values) != 1 || math.Abs(got-want) > 1e-9 {
							t.Fatalf("stat %v, want the single value %v", values, want)
						}
					}
				})
			}
		}
	}
}

// rampSecond is one second of a run ramping from 10 to 68 rps over two
// request names, with errors and two executors.
func rampSecond(runID string, start time.Time, sec int) series.Batch {
	at := start.Add(time.Duration(sec) * time.Second)
	rate := int64(10 + 2*sec)
	var b series.Batch
	var all series.Point
	for i, name := range []string{"GET /products", "POST /cart"} {
		count := rate / 2
		ko := int64(sec/10 + i)
		p := series.Point{
			RunID: runID, Time: at, Request: name, Count: count, OK: count - ko, KO: ko,
			RPS: float64(count), P50Ms: 12 + float64(sec)/3, P90Ms: 25, P95Ms: 31 + float64(sec), P99Ms: 60, MaxMs: 120, MeanMs: 15,
		}
		if ko > 0 {
			p.KOByReason = map[string]int64{"status_5xx": ko}
		}
		b.Points = append(b.Points, p)
		all.Count += p.Count
		all.OK += p.OK
		all.KO += p.KO
	}
	all.RunID, all.Time, all.Request = runID, at, series.AllRequests
	all.RPS = float64(all.Count)
	all.P50Ms, all.P90Ms, all.P95Ms, all.P99Ms, all.MaxMs, all.MeanMs = 12, 26, 33, 61, 120, 15
	all.KOByReason = map[string]int64{"status_5xx": all.KO - 1, "timeout": 1}
	all.ActiveUsers, all.PlannedArrivals, all.StartedArrivals, all.Dropped = rate/2, rate/2, rate/2, 0
	all.BytesSent, all.BytesReceived = all.Count*300, all.Count*2000
	b.Points = append(b.Points, all)
	for shard, loc := range []string{"eu-west", "us-east"} {
		b.Executors = append(b.Executors, series.ExecutorPoint{
			RunID: runID, Time: at, Shard: shard, Location: loc, CPUPercent: float64(20 + sec + shard),
			RSSBytes: 80 << 20, Goroutines: 50, OpenConnections: rate/2 + int64(shard), ActiveSessions: rate / 4,
			ScheduleLagP99Ms: 0.4,
		})
	}
	return b
}

func provisionedDatasourceUID(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(grafanaDir, "datasources", "influxdb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+uid:\s*([\w-]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no uid in the provisioned datasource")
	}
	for _, want := range []string{"version: Flux", "defaultBucket: ${LOADFLEET_INFLUXDB_BUCKET}", "token: ${LOADFLEET_INFLUXDB_TOKEN}"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the provisioned datasource lacks %q", want)
		}
	}
	return string(m[1])
}

func dashboardQueries(t *testing.T, file string) []dashboardQuery {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []dashboardQuery
	for _, v := range d.Templating.List {
		out = append(out, dashboardQuery{"variable " + v.Name, v.Query, v.Datasource.UID})
	}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			for _, tg := range p.Targets {
				uid := cmp.Or(tg.Datasource.UID, p.Datasource.UID)
				out = append(out, dashboardQuery{"panel " + p.Title + " " + tg.RefID, tg.Query, uid})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// unexpandedMacro finds what Grafana would have replaced: a dashboard
// variable or a Flux macro.
var unexpandedMacro = regexp.MustCompile(`\$\{?\w+|\[\[\w+\]\]|\bv\.(timeRangeStart|timeRangeStop|windowPeriod|defaultBucket|bucket|organization)\b`)

var (
	templateVariable = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)
	// As Grafana's backend (pkg/tsdb/influxdb/flux/macros.go) finds them.
	fluxVariable = regexp.MustCompile(`(?m)([a-zA-Z]+)\.([a-zA-Z]+)`)
)

// grafanaInterpolate expands a Flux query as Grafana does: its frontend
// replaces dashboard variables ($run, ${run}, [[run]]) with their raw value
// (single-valued variables, no escaping); its backend then replaces the
// v.* macros with RFC 3339 times, v.windowPeriod with the Go duration
// string of the interval, v.defaultBucket and v.organization with quoted
// strings, and $__interval / $__interval_ms.
func grafanaInterpolate(flux string, vars map[string]string, from, to time.Time, interval time.Duration, bucket, org string) string {
	flux = templateVariable.ReplaceAllStringFunc(flux, func(m string) string {
		sub := templateVariable.FindStringSubmatch(m)
		if v, ok := vars[sub[1]+sub[2]+sub[3]]; ok {
			return v
		}
		return m
	})
	for _, match := range fluxVariable.FindAllStringSubmatch(flux, -1) {
		switch match[2] {
		case "timeRangeStart":
			flux = strings.ReplaceAll(flux, match[0], from.UTC().Format(time.RFC3339Nano))
		case "timeRangeStop":
			flux = strings.ReplaceAll(flux, match[0], to.UTC().Format(time.RFC3339Nano))
		case "windowPeriod":
			flux = strings.ReplaceAll(flux, match[0], interval.String())
		case "bucket", "defaultBucket":
			flux = strings.ReplaceAll(flux, match[0], strconv.Quote(bucket))
		case "organization":
			flux = strings.ReplaceAll(flux, match[0], strconv.Quote(org))
		}
	}
	flux = strings.ReplaceAll(flux, "$__interval_ms", strconv.FormatInt(interval.Milliseconds(), 10))
	return strings.ReplaceAll(flux, "$__interval", formatInterval(interval))
}

// formatInterval is Grafana's gtime.FormatInterval for whole units.
func formatInterval(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// runFlux returns the non-null _value cells of the query's result, as text.
func runFlux(t *testing.T, r *Reader, flux string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := r.query.Query(ctx, flux)
	if err != nil {
		t.Fatalf("query failed: %v\n%s", err, flux)
	}
	defer res.Close()
	var values []string
	for res.Next() {
		if v := res.Record().Value(); v != nil {
			values = append(values, fmt.Sprint(v))
		}
	}
	if err := res.Err(); err != nil {
		t.Fatalf("reading the result: %v\n%s", err, flux)
	}
	return values
}
