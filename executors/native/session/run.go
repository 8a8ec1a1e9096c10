package session

import (
	"context"
	"time"

	nativehttp "github.com/loadfleet/loadfleet/executors/native/protocol/http"
	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/template"
)

// Outcome is how a session ended.
type Outcome uint8

// Session outcomes.
const (
	// Completed sessions ran every step.
	Completed Outcome = iota
	// Interrupted sessions were cut by the hard stop.
	Interrupted
)

// Begin readies st for a new session of sc: fresh variables and cookies,
// and the feeder's next record. It is false when sc's queue feeder is
// exhausted: the session cannot start.
func (prog *Program) Begin(st *State, sc *Scenario) bool {
	st.vars.Clear()
	st.jar.Reset()
	if sc.feeder == nil {
		return true
	}
	row, ok := sc.feeder.take(st.rand)
	if !ok {
		return false
	}
	for _, c := range row {
		st.vars.Put(c.slot, c.value)
	}
	return true
}

// Run runs one session of sc, after Begin, numbered session (${session()}), due at
// intended. The first request's latency counts from intended; each later
// request's from when the session meant to send it: the previous request's
// end, or the end of the pause before it.
//
// ctx is the hard stop: once it is done, the session ends at its next step
// as Interrupted, and a request cut by it is not recorded (its failure is
// the stop's doing, not the target's). Run returns when the session meant
// its next one to start: its last request's end, or its last pause's.
func (prog *Program) Run(ctx context.Context, st *State, sc *Scenario, session int64, intended time.Time) (time.Time, Outcome) {
	due := intended
	for i := range sc.steps {
		if ctx.Err() != nil {
			return due, Interrupted
		}
		s := &sc.steps[i]
		if s.pause != nil {
			due = due.Add(st.pauseLength(s))
			if !st.sleepUntil(ctx, due) {
				return due, Interrupted
			}
			continue
		}
		done, cut := prog.do(ctx, st, s.req, session, due)
		if cut {
			return done, Interrupted
		}
		due = done
	}
	return due, Completed
}

func (st *State) pauseLength(s *step) time.Duration {
	d, j := s.pause.Duration.D(), s.pause.Jitter.D()
	if j > 0 {
		d += time.Duration(st.rand.Int64N(int64(2*j)+1)) - j
	}
	return max(d, 0)
}

// sleepUntil waits for the instant t; false when ctx ended first.
func (st *State) sleepUntil(ctx context.Context, t time.Time) bool {
	wait := time.Until(t)
	if wait <= 0 {
		return ctx.Err() == nil
	}
	st.timer.Reset(wait)
	select {
	case <-st.timer.C:
		return true
	case <-ctx.Done():
		st.timer.Stop()
		return false
	}
}

// do sends one request due at intended and records it. cut reports a
// request failed by the hard stop, which is not recorded.
func (prog *Program) do(ctx context.Context, st *State, r *request, session int64, intended time.Time) (done time.Time, cut bool) {
	x := &st.x
	x.Method, x.Timeout, x.MaxRedirects = r.method, r.timeout, r.maxRedirects
	if r.static {
		x.URL, x.Headers, x.Body = r.staticURL, r.staticHdrs, r.staticBody
	} else if err := st.render(r, session); err != nil {
		done = time.Now()
		if r.renderAlert.CompareAndSwap(false, true) {
			prog.logger.Warn("request cannot be rendered; counted as ko \"error\", logged once", "request", r.name, "err", err)
		}
		r.rec.Record(st.hint, stats.Sample{Latency: done.Sub(intended), Reason: stats.Error})
		return done, false
	}
	err := prog.client.Do(ctx, x)
	done = time.Now()
	if err != nil && ctx.Err() != nil {
		return done, true
	}
	reason := nativehttp.Classify(err)
	if err == nil {
		reason = r.judge(x)
		if reason == stats.OK && !r.extractInto(st, x) {
			reason = stats.CheckFailed
		}
	}
	var service time.Duration
	if !x.Sent.IsZero() {
		service = done.Sub(x.Sent)
	}
	r.rec.Record(st.hint, stats.Sample{
		Latency:       done.Sub(intended),
		Service:       service,
		Reason:        reason,
		BytesSent:     x.BytesSent,
		BytesReceived: x.BytesReceived,
	})
	return done, false
}

// render fills the exchange from the request's templates. Header values
// go into one buffer, sliced once it stops growing.
func (st *State) render(r *request, session int64) error {
	env := template.Env{Vars: st.vars, Session: session, Rand: st.rand}
	var err error
	if st.url, err = r.url.Render(st.url[:0], &env); err != nil {
		return err
	}
	st.hbuf = st.hbuf[:0]
	ends := make([]int, 0, 8)
	for _, h := range r.headers {
		if st.hbuf, err = h.value.Render(st.hbuf, &env); err != nil {
			return err
		}
		ends = append(ends, len(st.hbuf))
	}
	st.hdrs = st.hdrs[:0]
	start := 0
	for i, h := range r.headers {
		st.hdrs = append(st.hdrs, nativehttp.Header{Name: h.name, Value: st.hbuf[start:ends[i]]})
		start = ends[i]
	}
	st.body = st.body[:0]
	if r.body != nil {
		if st.body, err = r.body.Render(st.body, &env); err != nil {
			return err
		}
	}
	st.x.URL, st.x.Headers, st.x.Body = st.url, st.hdrs, st.body
	return nil
}

// judge applies the status rule and the checks. Without a status check,
// a 4xx or 5xx fails with its status class; a failing status check on a
// 4xx or 5xx also reports the class, any other failing check check_failed.
func (r *request) judge(x *nativehttp.Exchange) stats.Reason {
	if !r.hasStatus && x.Status >= 400 {
		return statusClass(x.Status)
	}
	for i := range r.checks {
		c := &r.checks[i]
		if c.pass(x) {
			continue
		}
		if c.kind == checkStatus && x.Status >= 400 {
			return statusClass(x.Status)
		}
		return stats.CheckFailed
	}
	return stats.OK
}

func statusClass(status int) stats.Reason {
	if status >= 500 {
		return stats.Status5xx
	}
	return stats.Status4xx
}

// extractInto stores the request's extractions; false when one is missing.
func (r *request) extractInto(st *State, x *nativehttp.Exchange) bool {
	for i := range r.extract {
		e := &r.extract[i]
		v, ok := e.value(x)
		if !ok {
			return false
		}
		st.vars.Put(e.slot, v)
	}
	return true
}
