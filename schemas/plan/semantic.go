package plan

import (
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hard limits of the plan contract. They keep every schedule computation
// exact and in range; servers configure lower ceilings of their own.
const (
	MaxRunLength = 31 * 24 * time.Hour // the load steps together
	MaxUsers     = 10_000_000          // users of a step or level
	MaxRate      = 10_000_000.0        // arrivals per second of a step or level
	MaxLevels    = 10_000              // times of an increment step
	MaxExecutors = 10_000
)

// Per-executor capacities "auto" assumes when the plan does not set them
// (the schedule package sizes fleets with the same numbers).
const (
	DefaultMaxRatePerExecutor  = 5000.0
	DefaultMaxUsersPerExecutor = 5000
)

// checkSemantics applies the rules a schema cannot express, recording each
// broken one at its JSON pointer.
func checkSemantics(p *Plan, v *ValidationError) {
	checkTool(p, v)
	checkTarget(&p.Target, v)
	requests := checkScenarios(p.Scenarios, v)
	load := checkLoad(&p.Load, v)
	checkCriteria(p, requests, v)
	checkExecutors(&p.Executors, load, len(p.Load.Closed) > 0, v)
}

// scriptExtensions lists the script files each non-native tool runs.
func scriptExtensions(t Tool) []string {
	switch t {
	case ToolJMeter:
		return []string{".jmx"}
	case ToolGatling:
		return []string{".scala", ".java", ".kt"}
	case ToolK6:
		return []string{".js", ".ts"}
	}
	return nil
}

func checkTool(p *Plan, v *ValidationError) {
	var git *GitSource
	if p.Source != nil {
		git = p.Source.Git
	}
	if git != nil {
		checkGitURL(git.URL, v)
		if git.Path != "" {
			if _, err := CleanRelPath(git.Path); err != nil {
				v.Add("/source/git/path", "%s", pathMessage(err))
			}
		}
	}
	tool := p.EffectiveTool()
	if tool == ToolNative {
		if git != nil && git.Path != "" {
			v.Add("/source/git/path", "the native tool runs the plan's scenarios, not a script: remove path, or set tool to jmeter, gatling or k6")
		}
		if len(p.Scenarios) == 0 {
			v.Add("/scenarios", "the native tool needs at least one scenario")
		}
		return
	}
	exts := strings.Join(scriptExtensions(tool), ", ")
	switch {
	case git == nil:
		v.Add("/source", "%s needs source.git with the path of its script (%s)", tool, exts)
	case git.Path == "":
		v.Add("/source/git/path", "%s needs the path of its script (%s)", tool, exts)
	case !slices.Contains(scriptExtensions(tool), strings.ToLower(path.Ext(git.Path))):
		v.Add("/source/git/path", "%s runs %s scripts, not %q", tool, exts, path.Base(git.Path))
	}
}

// checkGitURL accepts the URL forms git understands; which schemes and
// hosts are allowed is the server's policy, checked when fetching.
func checkGitURL(raw string, v *ValidationError) {
	const ptr = "/source/git/url"
	if scpLike(raw) {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && u.Scheme != "file" {
		v.Add(ptr, "%q is not a git URL: use https://host/repo.git, ssh://host/repo.git, git://host/repo.git or user@host:repo.git", raw)
		return
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git", "file":
	default:
		v.Add(ptr, "unsupported scheme %q: use https, ssh or git", u.Scheme)
		return
	}
	if u.User != nil && (u.Scheme != "ssh" || hasPassword(u.User)) {
		v.Add(ptr, "must not contain credentials: the server holds them")
	}
}

func hasPassword(u *url.Userinfo) bool { _, set := u.Password(); return set }

// scpLike reports git's user@host:path form.
func scpLike(s string) bool {
	at := strings.IndexByte(s, '@')
	colon := strings.IndexByte(s, ':')
	return at > 0 && colon > at+1 && colon < len(s)-1 && !strings.Contains(s, "://") &&
		!strings.ContainsAny(s[:colon], "/ ")
}

func pathMessage(err error) string {
	msg := err.Error()
	if after, ok := strings.CutPrefix(msg, ErrBadFilePath.Error()+": "); ok {
		return after
	}
	return msg
}

func checkTarget(t *Target, v *ValidationError) {
	u, err := url.Parse(t.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.Add("/target/baseUrl", "%q must be an absolute http:// or https:// URL", t.BaseURL)
	} else if u.User != nil {
		v.Add("/target/baseUrl", "must not contain credentials: send them in headers")
	}
	checkHeaders(t.Headers, "/target/headers", v)
	if t.MaxRedirects != nil && *t.MaxRedirects > 100 {
		v.Add("/target/maxRedirects", "must be at most 100")
	}
}

func checkHeaders(h map[string]string, ptr string, v *ValidationError) {
	for _, name := range sortedKeys(h) {
		if !validHeaderName(name) {
			v.Add(pointer(ptr, name), "%q is not a valid header name", name)
		}
		if err := checkTemplate(h[name]); err != nil {
			v.Add(pointer(ptr, name), "%v", err)
		}
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 127 || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// checkScenarios checks names, steps and feeders, and returns the JSON
// pointer of every request name.
func checkScenarios(scenarios []Scenario, v *ValidationError) map[string]string {
	scenarioAt := map[string]string{}
	requestAt := map[string]string{}
	weights := 0.0
	for i := range scenarios {
		s := &scenarios[i]
		sp := pointer("/scenarios", i)
		if other, dup := scenarioAt[s.Name]; dup {
			v.Add(sp+"/name", "duplicate scenario name %q (also at %s)", s.Name, other)
		} else {
			scenarioAt[s.Name] = sp + "/name"
		}
		weights += s.EffectiveWeight()
		requests := 0
		for j := range s.Steps {
			stp := pointer(sp, "steps", j)
			if r := s.Steps[j].Request; r != nil {
				requests++
				checkRequest(r, stp+"/request", requestAt, v)
			}
			if p := s.Steps[j].Pause; p != nil {
				checkPause(p, stp+"/pause", v)
			}
		}
		if requests == 0 {
			v.Add(sp+"/steps", "scenario %q has no request", s.Name)
		}
		if s.Feeder != nil {
			if _, err := CleanRelPath(s.Feeder.File); err != nil {
				v.Add(sp+"/feeder/file", "%s", pathMessage(err))
			}
		}
	}
	if len(scenarios) > 0 && weights <= 0 {
		v.Add("/scenarios", "scenario weights add up to 0: give at least one scenario a weight greater than 0")
	}
	return requestAt
}

func checkRequest(r *Request, rp string, requestAt map[string]string, v *ValidationError) {
	if other, dup := requestAt[r.Name]; dup {
		v.Add(rp+"/name", "duplicate request name %q (also at %s): results are reported by name", r.Name, other)
	} else {
		requestAt[r.Name] = rp + "/name"
	}
	checkRequestURL(r.URL, rp+"/url", v)
	checkHeaders(r.Headers, rp+"/headers", v)
	if b := r.Body; b != nil {
		if b.Raw != nil {
			if err := checkTemplate(*b.Raw); err != nil {
				v.Add(rp+"/body/raw", "%v", err)
			}
		}
		if len(b.JSON) > 0 {
			checkJSONTemplates(b.JSON, rp+"/body/json", v)
		}
		for _, k := range sortedKeys(b.Form) {
			if err := checkTemplate(b.Form[k]); err != nil {
				v.Add(pointer(rp+"/body/form", k), "%v", err)
			}
		}
	}
	for i, c := range r.Checks {
		cp := pointer(rp, "checks", i)
		if c.Body != nil {
			checkMatch(c.Body, cp+"/body", v)
		}
		if c.Header != nil {
			if !validHeaderName(c.Header.Name) {
				v.Add(cp+"/header/name", "%q is not a valid header name", c.Header.Name)
			}
			checkMatch(&c.Header.Match, cp+"/header", v)
		}
		if c.JSONPath != nil {
			checkJSONPath(c.JSONPath.Path, cp+"/jsonPath/path", v)
			checkMatch(&c.JSONPath.Match, cp+"/jsonPath", v)
		}
	}
	for i, x := range r.Extract {
		xp := pointer(rp, "extract", i)
		if x.JSONPath != "" {
			checkJSONPath(x.JSONPath, xp+"/jsonPath", v)
		}
		if x.Regex != "" {
			checkRegex(x.Regex, xp+"/regex", v)
		}
		if x.Header != "" && !validHeaderName(x.Header) {
			v.Add(xp+"/header", "%q is not a valid header name", x.Header)
		}
	}
}

// checkRequestURL accepts a URL relative to the base URL, or an absolute
// http(s) one. Template expressions are replaced before parsing: they may
// stand for any text.
func checkRequestURL(raw, ptr string, v *ValidationError) {
	if err := checkTemplate(raw); err != nil {
		v.Add(ptr, "%v", err)
		return
	}
	u, err := url.Parse(stripTemplates(raw))
	switch {
	case err != nil:
		v.Add(ptr, "%q is not a valid URL", raw)
	case u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https":
		v.Add(ptr, "%q must be relative to target.baseUrl, or an absolute http(s) URL", raw)
	case u.Scheme != "" && u.Host == "":
		v.Add(ptr, "%q has no host", raw)
	case u.Scheme == "" && strings.HasPrefix(raw, "//"):
		v.Add(ptr, "%q must not start with \"//\": write the scheme, or a path relative to target.baseUrl", raw)
	}
}

// stripTemplates replaces every ${...} by a placeholder.
func stripTemplates(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("x")
		s = s[i+end+1:]
	}
}

func checkMatch(m *Match, ptr string, v *ValidationError) {
	if m.Regex != nil {
		checkRegex(*m.Regex, ptr+"/regex", v)
	}
}

func checkRegex(expr, ptr string, v *ValidationError) {
	if _, err := regexp.Compile(expr); err != nil {
		var re *syntax.Error
		if errors.As(err, &re) {
			v.Add(ptr, "invalid regular expression: %s: %s", re.Code, re.Expr)
			return
		}
		v.Add(ptr, "invalid regular expression: %v", err)
	}
}

// checkJSONPath accepts the supported JSONPath subset: $, then .name,
// [index] or ['name'] segments.
func checkJSONPath(p, ptr string, v *ValidationError) {
	rest, ok := strings.CutPrefix(p, "$")
	for ok && rest != "" {
		switch {
		case strings.HasPrefix(rest, "."):
			n := 1
			for n < len(rest) && rest[n] != '.' && rest[n] != '[' {
				n++
			}
			ok = n > 1
			rest = rest[n:]
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			ok = end > 2
			rest = rest[max(end+2, 2):]
		case strings.HasPrefix(rest, "["):
			end := strings.IndexByte(rest, ']')
			ok = end > 1 && strings.Trim(rest[1:end], "0123456789") == ""
			rest = rest[max(end+1, 1):]
		default:
			ok = false
		}
	}
	if !ok {
		v.Add(ptr, "%q is not a supported JSONPath: use $.a.b[0].c or $['a b']", p)
	}
}

func checkPause(p *Pause, pp string, v *ValidationError) {
	positive(p.Duration, pp+"/duration", "duration", v)
	if p.Jitter > p.Duration {
		v.Add(pp+"/jitter", "jitter %s must not exceed the pause duration %s", p.Jitter, p.Duration)
	}
}

func positive(d Duration, ptr, name string, v *ValidationError) {
	if d <= 0 {
		v.Add(ptr, "%s must be greater than 0", name)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkCriteria(p *Plan, requestAt map[string]string, v *ValidationError) {
	// Script tools name their requests inside the script, so their names
	// cannot be checked here.
	checkNames := p.EffectiveTool() == ToolNative
	known := make([]string, 0, len(requestAt))
	for name := range requestAt {
		known = append(known, name)
	}
	slices.Sort(known)
	for i := range p.Criteria {
		c := &p.Criteria[i]
		cp := pointer("/criteria", i)
		if c.Request != "" && checkNames {
			if _, ok := requestAt[c.Request]; !ok {
				list := strings.Join(known, ", ")
				if list == "" {
					list = "none"
				}
				v.Add(cp+"/request", "unknown request %q in criteria; known requests: %s", c.Request, list)
			}
		}
		switch {
		case c.Max != nil && c.Min != nil:
			v.Add(cp, "set either max or min, not both: write two criteria for a range")
		case c.Max == nil && c.Min == nil:
			v.Add(cp, "needs max or min")
		}
		if c.Max != nil {
			checkThreshold(c.Metric, *c.Max, cp+"/max", "max", v)
		}
		if c.Min != nil {
			checkThreshold(c.Metric, *c.Min, cp+"/min", "min", v)
		}
		if c.Window > Duration(MaxRunLength) {
			v.Add(cp+"/window", "window must be at most %s", MaxRunLength)
		}
	}
}

func checkThreshold(metric string, t Threshold, ptr, name string, v *ValidationError) {
	if IsLatencyMetric(metric) {
		if t.Number != nil && (*t.Number != math.Trunc(*t.Number) || *t.Number < 0) {
			v.Add(ptr, "%s is a latency: write a duration such as \"250ms\" (a bare number means whole seconds)", metric)
			return
		}
		if name == "max" && t.Value() <= 0 {
			v.Add(ptr, "max must be greater than 0")
		}
		return
	}
	if t.Duration != nil {
		v.Add(ptr, "%s is a ratio: write a number between 0 and 1, not a duration", metric)
		return
	}
	if n := t.Value(); n < 0 || n > 1 {
		v.Add(ptr, "%s must be between 0 and 1, not %g", name, n)
	}
}

func checkExecutors(e *Executors, load *loadChecker, closed bool, v *ValidationError) {
	if e.Count.N > MaxExecutors {
		v.Add("/executors/count", "count must be at most %d", MaxExecutors)
	}
	if e.Count.Auto {
		checkAutoCount(e, load, closed, v)
	}
	seen := map[string]bool{}
	weights := 0.0
	for i := range e.Locations {
		l := &e.Locations[i]
		if seen[l.Name] {
			v.Add(pointer("/executors/locations", i, "name"), "duplicate location %q", l.Name)
		}
		seen[l.Name] = true
		weights += l.EffectiveWeight()
	}
	if len(e.Locations) > 0 && weights <= 0 {
		v.Add("/executors/locations", "location weights add up to 0: give at least one location a weight greater than 0")
	}
}

// checkAutoCount checks that "auto" resolves to a fleet within
// MaxExecutors: the peak divided by the per-executor capacity.
func checkAutoCount(e *Executors, load *loadChecker, closed bool, v *ValidationError) {
	if closed {
		per := e.MaxUsersPerExecutor
		if per <= 0 {
			per = DefaultMaxUsersPerExecutor
		}
		if need := math.Ceil(float64(load.peakUsers) / float64(per)); need > MaxExecutors {
			v.Add("/executors/maxUsersPerExecutor", "auto needs %s executors for a peak of %d users; the limit is %d: raise maxUsersPerExecutor", count(need), load.peakUsers, MaxExecutors)
		}
		return
	}
	per := e.MaxRatePerExecutor
	if per <= 0 {
		per = DefaultMaxRatePerExecutor
	}
	if need := math.Ceil(load.peakRate / per); need > MaxExecutors {
		v.Add("/executors/maxRatePerExecutor", "auto needs %s executors for a peak of %g arrivals per second; the limit is %d: raise maxRatePerExecutor", count(need), load.peakRate, MaxExecutors)
	}
}

// count writes a large whole number readably: digits up to a trillion.
func count(n float64) string {
	if n < 1e12 {
		return strconv.FormatFloat(n, 'f', 0, 64)
	}
	return strconv.FormatFloat(n, 'g', 3, 64)
}

// checkJSONTemplates checks the templates in the strings of a JSON body
// (values, not keys), at ptr. It reads the body without decoding it into a
// tree, and spells a pointer only for a problem.
func checkJSONTemplates(body json.RawMessage, ptr string, v *ValidationError) {
	if valid, deep := (&boundsScanner{data: body, maxDepth: MaxDepth}).scan(); !valid || deep {
		return // not from Parse, which checked both; treeReader needs them
	}
	r := &treeReader{data: body}
	r.onString = func(s string) {
		if err := checkTemplate(s); err != nil {
			v.Add(r.here(ptr), "%v", err)
		}
	}
	r.value()
}
