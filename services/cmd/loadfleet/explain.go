package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/validator"
)

// maxListedShards is how many shards the text explanation lists one by one;
// more are summarised by their range of shares.
const maxListedShards = 8

// writeExplanation prints the load of a valid plan as it will run: a
// summary, then one row per expanded step.
func writeExplanation(w io.Writer, e *schedule.Explanation, src *validator.SourceInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, "  "+strings.Join(cells, "\t")) }
	row("model:", e.Model)
	row("duration:", seconds(e.DurationSeconds))
	if e.TotalArrivals != nil {
		row("arrivals:", fmt.Sprintf("%d in total, peak %s/s", *e.TotalArrivals, rate(e.PeakRate)))
	}
	if e.PeakUsers != nil {
		row("users:", fmt.Sprintf("%d at peak", *e.PeakUsers))
	}
	row("executors:", strconv.Itoa(e.Executors))
	row("shards:", shards(e))
	if src != nil {
		row("source:", printable(fmt.Sprintf("%s %s (%s)", src.URL, src.Ref, src.SHA)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if e.Model == "closed" {
		fmt.Fprintln(tw, "  #\tSTEP\tSTART\tDURATION\tUSERS\tSOURCE")
		for i, s := range e.Steps {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", i, s.Kind, seconds(s.StartSeconds),
				seconds(s.DurationSeconds), span(s.FromUsers, s.ToUsers, strconv.Itoa), printable(s.Source))
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "  #\tSTEP\tSTART\tDURATION\tRATE/S\tARRIVALS\tSOURCE")
	for i, s := range e.Steps {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", i, s.Kind+randomized(s.Randomized),
			seconds(s.StartSeconds), seconds(s.DurationSeconds), span(s.FromRate, s.ToRate, rate),
			count(s.Arrivals), printable(s.Source))
	}
	return tw.Flush()
}

// shards lists each shard's share, or their range when there are many.
func shards(e *schedule.Explanation) string {
	unit := "arrivals"
	shares := make([]int64, len(e.Shards))
	for i, s := range e.Shards {
		switch {
		case s.Arrivals != nil:
			shares[i] = *s.Arrivals
		case s.PeakUsers != nil:
			shares[i], unit = int64(*s.PeakUsers), "users"
		}
	}
	if len(shares) == 0 {
		return "none"
	}
	if len(shares) > maxListedShards {
		lo, hi := shares[0], shares[0]
		for _, s := range shares {
			lo, hi = min(lo, s), max(hi, s)
		}
		return fmt.Sprintf("%d shards of %d-%d %s", len(shares), lo, hi, unit)
	}
	parts := make([]string, len(shares))
	for i, s := range shares {
		parts[i] = fmt.Sprintf("#%d %d", i, s)
	}
	return strings.Join(parts, ", ") + " " + unit
}

func span[T comparable](from, to *T, format func(T) string) string {
	switch {
	case from == nil || to == nil:
		return "-"
	case *from == *to:
		return format(*from)
	}
	return format(*from) + " -> " + format(*to)
}

func randomized(r bool) string {
	if r {
		return " (randomized)"
	}
	return ""
}

func count(n *int64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatInt(*n, 10)
}

// rate prints an arrival rate to the millisecond's precision: ramps have
// rates like 33.333333333333336.
func rate(r float64) string { return strconv.FormatFloat(math.Round(r*1000)/1000, 'f', -1, 64) }

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}
