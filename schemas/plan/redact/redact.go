// Package redact hides a plan's secrets from what people read: reports,
// their renderings and the messages that link to them. It works by rule,
// on names, because a plan's secrets are ordinary strings:
//
//   - headers: Authorization, Proxy-Authorization, Cookie, Set-Cookie,
//     X-Api-Key, any name containing token, secret, passw(or)d, credential
//     or api-key/api_key/apikey (case-insensitive), and any value that
//     starts with an authorization scheme (Bearer, Basic, ...);
//   - URLs: the userinfo (user:pass@) and the values of query parameters
//     named like a secret;
//   - bodies: form fields and JSON fields (at any depth) named like a
//     secret, and the same in raw bodies, found by their JSON or form shape;
//   - labels and header checks named like a secret;
//   - every name the plan lists in its "secrets" field, under all the
//     rules above.
//
// Names stay, values become Marker, so the reader still sees that a header
// was sent. The plan's templates have no environment references: ${name}
// is a session variable whose value comes from a feeder or an extraction
// at run time and never enters the plan, so the plan itself holds no
// resolved value to hide. Redaction is for readers only: the executors
// run the plan as written.
package redact

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

// Marker replaces every redacted value.
const Marker = "[redacted]"

// secretNames are matched whole; secretParts anywhere in a name. Names are
// compared lowercased with '_' read as '-'.
var (
	secretNames = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true,
		"set-cookie": true, "x-api-key": true}
	secretParts = []string{"token", "secret", "password", "passwd", "credential", "api-key", "apikey"}
	// authSchemes start a header value that carries a credential whatever
	// the header's name.
	authSchemes = []string{"bearer ", "basic ", "digest ", "token ", "apikey ", "negotiate ", "aws4-hmac-sha256 "}
)

// Rules decides which names hold secrets: the built-in names and a plan's
// own list. The zero value applies the built-in names only.
type Rules struct {
	extra map[string]bool
}

// RulesOf returns the rules of a plan: the built-in names and p.Secrets.
func RulesOf(p *plan.Plan) Rules {
	if p == nil {
		return Rules{}
	}
	return NewRules(p.Secrets)
}

// NewRules returns the built-in rules plus names.
func NewRules(names []string) Rules {
	r := Rules{extra: map[string]bool{}}
	for _, n := range names {
		r.extra[normalize(n)] = true
	}
	return r
}

func normalize(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
}

// Secret reports whether a header, parameter, field or label of this name
// holds a secret.
func (r Rules) Secret(name string) bool {
	n := normalize(name)
	if n == "" {
		return false
	}
	if secretNames[n] || r.extra[n] {
		return true
	}
	for _, part := range secretParts {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// headerValue reports whether a header value carries a credential by its
// shape, whatever the header's name.
func headerValue(v string) bool {
	lv := strings.ToLower(strings.TrimSpace(v))
	for _, s := range authSchemes {
		if strings.HasPrefix(lv, s) {
			return true
		}
	}
	return false
}

// Headers returns a copy of h with the values of secret headers replaced.
func (r Rules) Headers(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if r.Secret(k) || headerValue(v) {
			v = hide(v)
		}
		out[k] = v
	}
	return out
}

// hide returns Marker for a value, unless the value is made of template
// references only (${password}): such a value has no literal text, so
// nothing to hide, and the reader learns where it came from.
func hide(v string) string {
	for rest := v; rest != ""; {
		end := strings.IndexByte(rest, '}')
		if !strings.HasPrefix(rest, "${") || end < 0 {
			return Marker // literal text, or $${ (a literal ${)
		}
		rest = rest[end+1:]
	}
	return v
}

// Labels returns a copy of labels with the values of secret names replaced.
func (r Rules) Labels(labels map[string]string) map[string]string {
	if labels == nil {
		return nil
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if r.Secret(k) {
			v = hide(v)
		}
		out[k] = v
	}
	return out
}

// URL returns raw with the password of its userinfo replaced by Marker
// (the whole userinfo when it is one name, which can be a token, except
// ssh's user name), and the values of its secret query parameters too. It works on text, not on a parsed URL,
// so that templates (${id}) and the rest of the URL stay as written.
func (r Rules) URL(raw string) string {
	rest, frag, hasFrag := strings.Cut(raw, "#")
	if i := strings.Index(rest, "://"); i >= 0 {
		authStart := i + 3
		authEnd := len(rest)
		if j := strings.IndexAny(rest[authStart:], "/?"); j >= 0 {
			authEnd = authStart + j
		}
		if at := strings.LastIndexByte(rest[authStart:authEnd], '@'); at >= 0 {
			user, _, hasPass := strings.Cut(rest[authStart:authStart+at], ":")
			switch {
			case hasPass:
				rest = rest[:authStart] + user + ":" + Marker + rest[authStart+at:]
			case !strings.EqualFold(rest[:i], "ssh"):
				rest = rest[:authStart] + Marker + rest[authStart+at:]
			}
		}
	}
	if base, query, ok := strings.Cut(rest, "?"); ok {
		rest = base + "?" + r.pairs(query, "&")
	}
	if hasFrag {
		rest += "#" + frag
	}
	return rest
}

// pairs redacts the secret values of name=value pairs separated by sep.
func (r Rules) pairs(s, sep string) string {
	parts := strings.Split(s, sep)
	for i, p := range parts {
		name, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		if eq := strings.IndexByte(p, '='); r.Secret(name) {
			parts[i] = p[:eq+1] + hideEscaped(p[eq+1:])
		}
	}
	return strings.Join(parts, sep)
}

// hideEscaped is hide for a URL- or form-encoded value.
func hideEscaped(v string) string {
	if un, err := url.QueryUnescape(v); err == nil && hide(un) == un {
		return v
	}
	return Marker
}

// Form returns a copy of form fields with the secret ones replaced.
func (r Rules) Form(form map[string]string) map[string]string { return r.Labels(form) }

// JSON returns doc with the values of secret fields replaced, at any
// depth (a secret field's whole value, object or array, becomes Marker).
// A document that is not JSON is treated as raw text (see Text).
func (r Rules) JSON(doc json.RawMessage) json.RawMessage {
	if len(doc) == 0 {
		return doc
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return json.RawMessage(r.Text(string(doc)))
	}
	if !r.walk(v) {
		return doc // as written, member order included
	}
	out, err := json.Marshal(v)
	if err != nil { // cannot happen: v came from JSON
		return json.RawMessage(`"` + Marker + `"`)
	}
	return out
}

// walk redacts v in place and reports whether it changed anything.
func (r Rules) walk(v any) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if !r.Secret(k) {
				changed = r.walk(child) || changed
				continue
			}
			if s, ok := child.(string); ok && hide(s) == s {
				continue
			}
			t[k], changed = Marker, true
		}
	case []any:
		for _, child := range t {
			changed = r.walk(child) || changed
		}
	}
	return changed
}

// In raw text, a JSON member ("name": value, where value is a string, a
// template reference or a scalar) and a form pair (name=value after a start, &, ; or space).
var (
	jsonMember = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|\$\{[^}]*\}|[^\s,}\]{\[]+)`)
	formPair   = regexp.MustCompile(`(^|[&;?\s])([^=&;?\s"]+)=([^&;\s]*)`)
)

// Text redacts a raw body: the values of JSON members and form pairs named
// like a secret, wherever they appear, and the whole text when it is an
// authorization value. A raw body may hold templates that make it invalid
// JSON ({"n": ${n}}), so it is matched by shape rather than parsed.
func (r Rules) Text(s string) string {
	if headerValue(s) {
		return Marker
	}
	s = jsonMember.ReplaceAllStringFunc(s, func(m string) string {
		g := jsonMember.FindStringSubmatch(m)
		value := strings.Trim(g[3], `"`)
		if !r.Secret(g[1]) || hide(value) == value {
			return m
		}
		return `"` + g[1] + `"` + g[2] + `"` + Marker + `"`
	})
	return formPair.ReplaceAllStringFunc(s, func(m string) string {
		g := formPair.FindStringSubmatch(m)
		name := g[2]
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		if !r.Secret(name) || hideEscaped(g[3]) == g[3] {
			return m
		}
		return g[1] + g[2] + "=" + Marker
	})
}

// Plan returns a redacted deep copy of p; p is not changed.
func Plan(p *plan.Plan) (*plan.Plan, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("redact: encode the plan: %w", err)
	}
	var c plan.Plan
	if err := json.Unmarshal(doc, &c); err != nil {
		return nil, fmt.Errorf("redact: copy the plan: %w", err)
	}
	RulesOf(&c).apply(&c)
	return &c, nil
}

// PlanJSON returns the redacted form of a plan document, as stored with
// a run or a report. A document that does not decode as a plan is refused:
// the caller shows no plan rather than one it could not redact.
func PlanJSON(doc json.RawMessage) (json.RawMessage, error) {
	if len(doc) == 0 {
		return doc, nil
	}
	var p plan.Plan
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("redact: the plan does not decode: %w", err)
	}
	RulesOf(&p).apply(&p)
	out, err := json.Marshal(&p)
	if err != nil {
		return nil, fmt.Errorf("redact: encode the plan: %w", err)
	}
	return out, nil
}

// apply redacts p in place; p must not share maps or slices with anyone.
func (r Rules) apply(p *plan.Plan) {
	p.Labels = r.Labels(p.Labels)
	if p.Source != nil && p.Source.Git != nil {
		p.Source.Git.URL = r.URL(p.Source.Git.URL)
	}
	p.Target.BaseURL = r.URL(p.Target.BaseURL)
	p.Target.Headers = r.Headers(p.Target.Headers)
	for i := range p.Scenarios {
		for j := range p.Scenarios[i].Steps {
			if req := p.Scenarios[i].Steps[j].Request; req != nil {
				r.request(req)
			}
		}
	}
}

func (r Rules) request(req *plan.Request) {
	req.URL = r.URL(req.URL)
	req.Headers = r.Headers(req.Headers)
	if b := req.Body; b != nil {
		if b.Raw != nil {
			raw := r.Text(*b.Raw)
			b.Raw = &raw
		}
		b.JSON = r.JSON(b.JSON)
		b.Form = r.Form(b.Form)
	}
	for i := range req.Checks {
		if h := req.Checks[i].Header; h != nil && r.Secret(h.Name) {
			h.Match = redactMatch(h.Match)
		}
	}
}

func redactMatch(m plan.Match) plan.Match {
	for _, f := range []**string{&m.Equals, &m.Contains, &m.Regex} {
		if *f != nil {
			hidden := hide(**f)
			*f = &hidden
		}
	}
	return m
}
