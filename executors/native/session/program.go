// Package session compiles a plan's scenarios once (templates, checks,
// regexps, feeders) and runs sessions of them: each request is rendered,
// sent, checked, measured from its intended start, and its extractions land
// in the session's variables.
package session

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	nativehttp "github.com/loadfleet/loadfleet/executors/native/protocol/http"
	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/template"
)

// DefaultTimeout is the per-request timeout when the plan sets none.
const DefaultTimeout = 60 * time.Second

// defaultMaxRedirects applies when target.maxRedirects is unset.
const defaultMaxRedirects = 10

// ErrFeederExhausted means a queue feeder has handed out every record.
var ErrFeederExhausted = errors.New("feeder exhausted")

// Program is a compiled plan. It is immutable once built and safe for
// concurrent use.
type Program struct {
	Scenarios []*Scenario
	syms      *template.Symbols
	client    *nativehttp.Client
	logger    *slog.Logger
}

// Scenario is one compiled scenario.
type Scenario struct {
	Name   string
	Weight float64
	steps  []step
	feeder *feeder
}

type step struct {
	req   *request
	pause *plan.Pause
}

type request struct {
	name         string
	rec          *stats.Request
	method       string
	url          *template.Template
	headers      []header
	body         *template.Template
	timeout      time.Duration
	maxRedirects int
	checks       []check
	hasStatus    bool
	extract      []extraction
	// static requests are rendered once, here.
	static      bool
	staticURL   []byte
	staticHdrs  []nativehttp.Header
	staticBody  []byte
	renderAlert atomic.Bool // the first render failure is logged, the rest counted
}

type header struct {
	name  string
	value *template.Template
}

// Config is what Compile needs besides the plan.
type Config struct {
	// Files is where feeder paths are relative to.
	Files fs.FS
	// Shard and Shards split queue feeders: shard i takes records k ≡ i
	// (mod Shards), so each record is used once across the fleet.
	Shard, Shards int
	Recorder      *stats.Recorder
	Client        *nativehttp.Client
	Logger        *slog.Logger
}

// Compile builds the program of a validated plan.
func Compile(p *plan.Plan, cfg Config) (*Program, error) {
	prog := &Program{syms: template.NewSymbols(), client: cfg.Client, logger: cfg.Logger}
	base := strings.TrimRight(p.Target.BaseURL, "/")
	targetTimeout := p.Target.Timeout.D()
	if targetTimeout <= 0 {
		targetTimeout = DefaultTimeout
	}
	maxRedirects := defaultMaxRedirects
	if p.Target.MaxRedirects != nil {
		maxRedirects = *p.Target.MaxRedirects
	}
	for i, sc := range p.Scenarios {
		out := &Scenario{Name: sc.Name, Weight: sc.EffectiveWeight()}
		if sc.Feeder != nil {
			f, err := loadFeeder(cfg, sc.Feeder, prog.syms)
			if err != nil {
				return nil, fmt.Errorf("scenario %q feeder: %w", sc.Name, err)
			}
			out.feeder = f
		}
		for j, st := range sc.Steps {
			switch {
			case st.Request != nil:
				r, err := prog.compileRequest(st.Request, p.Target.Headers, base, targetTimeout, maxRedirects, cfg.Recorder)
				if err != nil {
					return nil, fmt.Errorf("/scenarios/%d/steps/%d/request: %w", i, j, err)
				}
				out.steps = append(out.steps, step{req: r})
			case st.Pause != nil:
				pause := *st.Pause
				out.steps = append(out.steps, step{pause: &pause})
			}
		}
		prog.Scenarios = append(prog.Scenarios, out)
	}
	return prog, nil
}

func (prog *Program) compileRequest(r *plan.Request, targetHeaders map[string]string, base string,
	timeout time.Duration, maxRedirects int, rec *stats.Recorder) (*request, error) {
	out := &request{
		name:         r.Name,
		rec:          rec.Request(r.Name),
		method:       r.EffectiveMethod(),
		timeout:      timeout,
		maxRedirects: maxRedirects,
	}
	if r.Timeout > 0 {
		out.timeout = r.Timeout.D()
	}
	rawURL := r.URL
	if !strings.HasPrefix(rawURL, "http://") && !strings.HasPrefix(rawURL, "https://") {
		// Relative: the base URL is literal text, so escape any ${ in it.
		sep := ""
		if !strings.HasPrefix(rawURL, "/") && !strings.HasPrefix(rawURL, "?") {
			sep = "/"
		}
		rawURL = template.Escape(base) + sep + rawURL
	}
	var err error
	if out.url, err = template.Compile(rawURL, prog.syms); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	contentType := ""
	if b := r.Body; b != nil {
		switch {
		case b.Raw != nil:
			out.body, err = template.Compile(*b.Raw, prog.syms)
		case b.JSON != nil:
			out.body, err = template.CompileJSON(b.JSON, prog.syms)
			contentType = "application/json"
		case b.Form != nil:
			out.body, err = template.CompileForm(b.Form, prog.syms)
			contentType = "application/x-www-form-urlencoded"
		}
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	}
	if out.headers, err = prog.compileHeaders(targetHeaders, r.Headers, contentType); err != nil {
		return nil, err
	}
	for k, c := range r.Checks {
		cc, err := compileCheck(c)
		if err != nil {
			return nil, fmt.Errorf("checks/%d: %w", k, err)
		}
		out.hasStatus = out.hasStatus || cc.kind == checkStatus
		out.checks = append(out.checks, cc)
	}
	for k, e := range r.Extract {
		ex := extraction{slot: prog.syms.Slot(e.Var), header: e.Header}
		switch {
		case e.JSONPath != "":
			if ex.jsonPath, err = GJSONPath(e.JSONPath); err != nil {
				return nil, fmt.Errorf("extract/%d: %w", k, err)
			}
		case e.Regex != "":
			if ex.re, err = regexp.Compile(e.Regex); err != nil {
				return nil, fmt.Errorf("extract/%d: regex: %w", k, err)
			}
		}
		out.extract = append(out.extract, ex)
	}
	out.prerender()
	return out, nil
}

// compileHeaders merges target and request headers, the request's
// replacing the target's of the same name (case-insensitively), in a stable
// order.
func (prog *Program) compileHeaders(target, req map[string]string, contentType string) ([]header, error) {
	merged := map[string][2]string{} // canonical name -> name as written, value
	for _, m := range []map[string]string{target, req} {
		for k, v := range m {
			merged[http.CanonicalHeaderKey(k)] = [2]string{k, v}
		}
	}
	if _, ok := merged["Content-Type"]; !ok && contentType != "" {
		merged["Content-Type"] = [2]string{"Content-Type", contentType}
	}
	names := make([]string, 0, len(merged))
	for k := range merged {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []header
	for _, k := range names {
		t, err := template.Compile(merged[k][1], prog.syms)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", merged[k][0], err)
		}
		out = append(out, header{name: merged[k][0], value: t})
	}
	return out, nil
}

// prerender renders a request whose every part is static once, so that
// sending it renders nothing.
func (r *request) prerender() {
	if !r.url.IsStatic() || r.body != nil && !r.body.IsStatic() {
		return
	}
	for _, h := range r.headers {
		if !h.value.IsStatic() {
			return
		}
	}
	r.static = true
	r.staticURL = []byte(r.url.Static())
	for _, h := range r.headers {
		r.staticHdrs = append(r.staticHdrs, nativehttp.Header{Name: h.name, Value: []byte(h.value.Static())})
	}
	if r.body != nil {
		r.staticBody = []byte(r.body.Static())
	}
}

// Slots is the number of variable slots a session needs.
func (prog *Program) Slots() int { return prog.syms.Len() }

// NewState returns the reusable state of one goroutine running sessions:
// hint picks its stats stripe, seed its random stream.
func (prog *Program) NewState(hint uint32, seed uint64) *State {
	st := &State{
		hint:  hint,
		vars:  template.NewVars(prog.syms.Len()),
		rand:  rand.New(rand.NewPCG(seed, uint64(hint))),
		timer: time.NewTimer(time.Hour),
	}
	st.timer.Stop()
	st.x.Jar = &st.jar
	return st
}

// State is one goroutine's reusable session state: variables, cookie jar,
// exchange and buffers. It is not safe for concurrent use.
type State struct {
	hint  uint32
	vars  *template.Vars
	jar   nativehttp.Jar
	x     nativehttp.Exchange
	rand  *rand.Rand
	timer *time.Timer
	url   []byte
	hbuf  []byte
	body  []byte
	hdrs  []nativehttp.Header
}
