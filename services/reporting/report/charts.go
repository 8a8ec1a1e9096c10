package report

import (
	"fmt"
	"maps"
	"slices"

	"github.com/loadfleet/loadfleet/services/reporting/series"
)

// chart is one time chart of the HTML report, in the aligned layout uPlot
// draws: X holds unix seconds, Y one row per series with null gaps.
type chart struct {
	ID     string       `json:"id"`
	Title  string       `json:"title"`
	Unit   string       `json:"unit"`
	Series []string     `json:"series"`
	X      []int64      `json:"x"`
	Y      [][]*float64 `json:"y"`
}

// column is one series of a chart: its label and its value at a time (ok
// false leaves a gap).
type column struct {
	label string
	at    map[int64]float64
}

// aligned lays columns out on the union of their times.
func aligned(id, title, unit string, cols []column) chart {
	c := chart{ID: id, Title: title, Unit: unit, Series: []string{}, X: []int64{}, Y: [][]*float64{}}
	times := map[int64]bool{}
	for _, col := range cols {
		for t := range col.at {
			times[t] = true
		}
	}
	c.X = slices.Sorted(maps.Keys(times))
	for _, col := range cols {
		row := make([]*float64, len(c.X))
		for i, t := range c.X {
			if v, ok := col.at[t]; ok {
				row[i] = &v
			}
		}
		c.Series = append(c.Series, col.label)
		c.Y = append(c.Y, row)
	}
	return c
}

func pointColumn(label string, pts []series.Point, v func(series.Point) float64) column {
	col := column{label: label, at: map[int64]float64{}}
	for _, p := range pts {
		col.at[p.Time.Unix()] = v(p)
	}
	return col
}

// charts builds every chart of the report from the document's series.
func charts(d *Document) []chart {
	total := d.Series.Total
	out := []chart{
		aligned("throughput", "Throughput: achieved vs planned", "per second", []column{
			pointColumn("requests/s (achieved)", total, func(p series.Point) float64 { return p.RPS }),
			pointColumn("arrivals/s planned", total, func(p series.Point) float64 { return float64(p.PlannedArrivals) }),
			pointColumn("arrivals/s started", total, func(p series.Point) float64 { return float64(p.StartedArrivals) }),
			pointColumn("arrivals/s dropped", total, func(p series.Point) float64 { return float64(p.Dropped) }),
		}),
		aligned("latency", "Latency percentiles (all requests)", "ms", []column{
			pointColumn("p50", total, func(p series.Point) float64 { return p.P50Ms }),
			pointColumn("p90", total, func(p series.Point) float64 { return p.P90Ms }),
			pointColumn("p95", total, func(p series.Point) float64 { return p.P95Ms }),
			pointColumn("p99", total, func(p series.Point) float64 { return p.P99Ms }),
		}),
		aligned("errors", "Errors by reason", "per second", errorColumns(total)),
		aligned("users", "Active users", "users", []column{
			pointColumn("active users", total, func(p series.Point) float64 { return float64(p.ActiveUsers) }),
		}),
		aligned("request-p95", "p95 latency by request", "ms", requestColumns(d.Series.Requests)),
	}
	cpu, conns := executorColumns(d.Series.Executors)
	return append(out,
		aligned("executor-cpu", "Executor CPU", "%", cpu),
		aligned("executor-connections", "Executor open connections", "connections", conns))
}

// errorColumns has one column per failure reason; with no failure at all,
// one column of zeros, so the chart says "no errors" rather than nothing.
func errorColumns(total []series.Point) []column {
	reasons := map[string]bool{}
	for _, p := range total {
		for r := range p.KOByReason {
			reasons[r] = true
		}
	}
	if len(reasons) == 0 {
		return []column{pointColumn("ko", total, func(p series.Point) float64 { return float64(p.KO) })}
	}
	var cols []column
	for _, r := range slices.Sorted(maps.Keys(reasons)) {
		cols = append(cols, pointColumn(r, total, func(p series.Point) float64 { return float64(p.KOByReason[r]) }))
	}
	return cols
}

func requestColumns(pts []series.Point) []column {
	byName := map[string][]series.Point{}
	for _, p := range pts {
		byName[p.Request] = append(byName[p.Request], p)
	}
	var cols []column
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		cols = append(cols, pointColumn(name, byName[name], func(p series.Point) float64 { return p.P95Ms }))
	}
	return cols
}

func executorColumns(pts []series.ExecutorPoint) (cpu, conns []column) {
	byShard := map[int][]series.ExecutorPoint{}
	for _, p := range pts {
		byShard[p.Shard] = append(byShard[p.Shard], p)
	}
	for _, shard := range slices.Sorted(maps.Keys(byShard)) {
		label := fmt.Sprintf("shard %d", shard)
		if loc := byShard[shard][0].Location; loc != "" {
			label += " (" + loc + ")"
		}
		c, n := column{label, map[int64]float64{}}, column{label, map[int64]float64{}}
		for _, p := range byShard[shard] {
			c.at[p.Time.Unix()] = p.CPUPercent
			n.at[p.Time.Unix()] = float64(p.OpenConnections)
		}
		cpu, conns = append(cpu, c), append(conns, n)
	}
	return cpu, conns
}
