package slack

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/golang/freetype/truetype"
	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
	"github.com/wcharczuk/go-chart/v2/roboto"

	"github.com/loadfleet/loadfleet/services/reporting/notify"
)

// minChartPoints is the fewest seconds worth a chart; a shorter run's
// message goes without one.
const minChartPoints = 2

// chartRenderer draws the latency chart with go-chart. Each renderer has
// its own font so that concurrent sends share no mutable state.
type chartRenderer struct {
	font *truetype.Font
}

func newChartRenderer() (*chartRenderer, error) {
	font, err := truetype.Parse(roboto.Roboto)
	if err != nil {
		return nil, fmt.Errorf("parse chart font: %w", err)
	}
	return &chartRenderer{font: font}, nil
}

// latencyPNG renders p50, p95 and p99 over time as a PNG image.
func (r *chartRenderer) latencyPNG(title string, points []notify.LatencyPoint) ([]byte, error) {
	if len(points) < minChartPoints {
		return nil, fmt.Errorf("latency chart needs %d points, got %d", minChartPoints, len(points))
	}
	times := make([]time.Time, len(points))
	p50 := make([]float64, len(points))
	p95 := make([]float64, len(points))
	p99 := make([]float64, len(points))
	for i, p := range points {
		times[i], p50[i], p95[i], p99[i] = p.Time, p.P50Ms, p.P95Ms, p.P99Ms
	}
	top := max(slices.Max(p50), slices.Max(p95), slices.Max(p99))
	if top <= 0 {
		top = 1 // a flat zero line still needs a range to draw in
	}
	graph := chart.Chart{
		Title:  title,
		Font:   r.font,
		Width:  960,
		Height: 420,
		Background: chart.Style{
			Padding: chart.Box{Top: 50, Left: 20, Right: 20, Bottom: 20},
		},
		XAxis: chart.XAxis{
			Name:           "time (UTC)",
			ValueFormatter: chart.TimeValueFormatterWithFormat("15:04:05"),
		},
		YAxis: chart.YAxis{
			Name:  "latency (ms)",
			Range: &chart.ContinuousRange{Min: 0, Max: top * 1.1},
		},
		Series: []chart.Series{
			latencySeries("p50", times, p50, drawing.ColorFromHex("2ca02c")),
			latencySeries("p95", times, p95, drawing.ColorFromHex("ff7f0e")),
			latencySeries("p99", times, p99, drawing.ColorFromHex("d62728")),
		},
	}
	graph.Elements = []chart.Renderable{chart.Legend(&graph)}
	var buf bytes.Buffer
	if err := graph.Render(chart.PNG, &buf); err != nil {
		return nil, fmt.Errorf("render latency chart: %w", err)
	}
	return buf.Bytes(), nil
}

func latencySeries(name string, times []time.Time, values []float64, color drawing.Color) chart.TimeSeries {
	utc := make([]time.Time, len(times))
	for i, t := range times {
		utc[i] = t.UTC()
	}
	return chart.TimeSeries{
		Name:    name,
		XValues: utc,
		YValues: values,
		Style:   chart.Style{StrokeColor: color, StrokeWidth: 2},
	}
}
