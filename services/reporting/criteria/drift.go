package criteria

import (
	"time"

	"github.com/loadfleet/loadfleet/services/reporting/merge"
)

// drift measures the relative rise of p95 from the first to the last stable
// minute ending by end (see the package comment). thirds allows the
// fallback to the first and last thirds of the data, which the live check
// does not use: early in a run, thirds of a few seconds are noise.
func drift(data Data, request string, end time.Time, thirds bool) measure {
	first, last, ok := stableMinutes(data, request, end)
	note := "first and last stable minutes"
	if !ok {
		if !thirds {
			return measure{note: "fewer than two stable minutes yet"}
		}
		if first, last, ok = thirdsOf(data, request, end); !ok {
			return measure{note: "fewer than three seconds of data"}
		}
		note = "first and last thirds"
	}
	if first.P95Ms <= 0 || last.Count == 0 {
		return measure{note: "no p95 to compare with"}
	}
	return measure{value: (last.P95Ms - first.P95Ms) / first.P95Ms, ok: true, from: last.From, to: last.To,
		note: note + ", p95 " + fmtMs(first.P95Ms) + " then " + fmtMs(last.P95Ms)}
}

func fmtMs(v float64) string { return Result{Unit: UnitMs}.format(v) }

// stableMinutes finds the first and the last stable minutes holding
// requests and ending by end.
func stableMinutes(data Data, request string, end time.Time) (first, last merge.Summary, ok bool) {
	origin, steps := data.Origin(), data.Steps()
	var minutes []time.Time // starts of the stable minutes, in order
	for _, st := range steps {
		if !st.Constant() {
			continue
		}
		for m := ceilMinutes(st.Start); (m+1)*time.Minute <= st.End; m++ {
			if from := origin.Add(m * time.Minute); !from.Add(time.Minute).After(end) {
				minutes = append(minutes, from)
			}
		}
	}
	window := func(from time.Time) merge.Summary { return data.Window(from, from.Add(time.Minute), request) }
	i := 0
	for ; i < len(minutes); i++ {
		if first = window(minutes[i]); first.Count > 0 {
			break
		}
	}
	for j := len(minutes) - 1; j > i; j-- {
		if last = window(minutes[j]); last.Count > 0 {
			return first, last, true
		}
	}
	return first, last, false
}

// ceilMinutes is the index of the first whole minute starting at or after d.
func ceilMinutes(d time.Duration) time.Duration {
	m := d / time.Minute
	if d%time.Minute > 0 {
		m++
	}
	return m
}

// thirdsOf summarizes the first and the last thirds of the seconds holding
// data, up to end.
func thirdsOf(data Data, request string, end time.Time) (first, last merge.Summary, ok bool) {
	from, dataEnd := data.Extent()
	if dataEnd.Before(end) {
		end = dataEnd
	}
	third := (end.Sub(from) / 3).Truncate(time.Second)
	if third < time.Second {
		return first, last, false
	}
	return data.Window(from, from.Add(third), request), data.Window(end.Add(-third), end, request), true
}
