package plan

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaProblems validates the generic document against the schema and
// turns each leaf error into a Problem a plan's author can act on.
func (p *Parser) schemaProblems(tree any) []Problem {
	err := p.schema.Validate(tree)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []Problem{{Message: err.Error()}}
	}
	var out []Problem
	p.collect(verr, &out)
	return out
}

// The $defs whose failures read better as one sentence than as the
// branches of their anyOf.
func defMessage(def string) string {
	switch def {
	case "duration":
		return `must be a duration such as "300s", "5m" or "1m30s", or integer seconds`
	case "threshold":
		return `must be a duration such as "250ms" (latency metrics) or a number`
	case "executorCount":
		return `must be an integer >= 1 or "auto"`
	}
	return ""
}

func (p *Parser) collect(e *jsonschema.ValidationError, out *[]Problem) {
	ptr := keyPointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		if msg := defMessage(defName(e.SchemaURL)); msg != "" {
			// A value of the right type with a wrong value (a negative
			// integer duration) says best what is wrong by itself.
			if c := typedCause(e); c != nil {
				p.collect(c, out)
				return
			}
			*out = append(*out, Problem{Path: ptr, Message: msg})
			return
		}
	case *kind.Required:
		for _, name := range k.Missing {
			*out = append(*out, Problem{Path: pointer(ptr, name), Message: fmt.Sprintf("missing required field %q", name)})
		}
		return
	case *kind.AdditionalProperties:
		known := p.propertyNames(e.SchemaURL)
		for _, name := range k.Properties {
			msg := fmt.Sprintf("unknown field %q", name)
			if s := closest(name, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else if len(known) > 0 {
				msg += "; allowed: " + strings.Join(known, ", ")
			}
			*out = append(*out, Problem{Path: pointer(ptr, name), Message: msg})
		}
		return
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			p.collect(c, out)
		}
		return
	}
	*out = append(*out, Problem{Path: ptr, Message: p.leafMessage(e, ptr)})
}

// typedCause returns the one branch of a failed anyOf whose type matched,
// unless it failed on its pattern (then the def's sentence is clearer).
func typedCause(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	var typed []*jsonschema.ValidationError
	for _, c := range e.Causes {
		if _, isType := c.ErrorKind.(*kind.Type); isType {
			continue
		}
		if _, isConst := c.ErrorKind.(*kind.Const); isConst {
			continue
		}
		typed = append(typed, c)
	}
	if len(typed) != 1 {
		return nil
	}
	if _, isPattern := typed[0].ErrorKind.(*kind.Pattern); isPattern {
		return nil
	}
	return typed[0]
}

func (p *Parser) leafMessage(e *jsonschema.ValidationError, ptr string) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		if ptr == "" {
			return fmt.Sprintf("a plan must be a JSON object, not %s", article(k.Got))
		}
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = article(w)
		}
		return fmt.Sprintf("must be %s, not %s", strings.Join(want, " or "), article(k.Got))
	case *kind.Minimum:
		return "must be >= " + k.Want.RatString()
	case *kind.Maximum:
		return "must be <= " + k.Want.RatString()
	case *kind.ExclusiveMinimum:
		return "must be > " + k.Want.RatString()
	case *kind.ExclusiveMaximum:
		return "must be < " + k.Want.RatString()
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprintf("%q", fmt.Sprint(w))
		}
		return fmt.Sprintf("%s is not allowed; must be one of %s", quoteValue(k.Got), strings.Join(want, ", "))
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d %s", k.Want, plural(k.Want, "item"))
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d %s", k.Want, plural(k.Want, "item"))
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %d characters long", k.Want)
	case *kind.MinProperties:
		return p.oneOfMessage(e.SchemaURL)
	case *kind.MaxProperties:
		return fmt.Sprintf("%s (found %d)", p.oneOfMessage(e.SchemaURL), k.Got)
	case *kind.Pattern:
		return fmt.Sprintf("%q does not match the pattern %s", k.Got, k.Want)
	case *kind.Format:
		return fmt.Sprintf("%s is not a valid %s", quoteValue(k.Got), k.Want)
	}
	return e.ErrorKind.LocalizedString(message.NewPrinter(language.English))
}

// oneOfMessage explains the objects that hold exactly (or at most) one of
// several optional fields.
func (p *Parser) oneOfMessage(schemaURL string) string {
	return p.facts(schemaURL).oneOf
}

// propertyNames lists the properties the schema at schemaURL defines. The
// slice is shared: callers must not modify it.
func (p *Parser) propertyNames(schemaURL string) []string {
	return p.facts(schemaURL).names
}

// schemaFacts is what messages say about one schema location.
type schemaFacts struct {
	names []string // its properties, sorted
	oneOf string   // oneOfMessage's sentence
}

// facts returns the facts of a schema location, worked out once per
// location: a plan with thousands of problems at the same few locations
// (20,000 invalid steps) would otherwise walk the schema document for each.
// The locations are those of the schema, so the cache is bounded.
func (p *Parser) facts(schemaURL string) schemaFacts {
	if f, ok := p.factsCache.Load(schemaURL); ok {
		return f.(schemaFacts)
	}
	node, _ := p.schemaNode(schemaURL).(map[string]any)
	props, _ := node["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	sort.Strings(names)
	required := map[string]bool{}
	if reqs, ok := node["required"].([]any); ok {
		for _, r := range reqs {
			required[fmt.Sprint(r)] = true
		}
	}
	var optional []string
	for _, name := range names {
		if !required[name] {
			optional = append(optional, name)
		}
	}
	f := schemaFacts{names: names, oneOf: "must set at most one of " + strings.Join(optional, ", ")}
	if _, hasMin := node["minProperties"]; hasMin {
		f.oneOf = "must set exactly one of " + strings.Join(optional, ", ")
	}
	p.factsCache.Store(schemaURL, f)
	return f
}

// schemaNode resolves the fragment of a schema location in the schema
// document.
func (p *Parser) schemaNode(schemaURL string) any {
	_, frag, _ := strings.Cut(schemaURL, "#")
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	node := p.doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		if strings.Contains(tok, "~") { // "~1" first, or "~01" would become "/"
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		}
		switch n := node.(type) {
		case map[string]any:
			node = n[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil
			}
			node = n[i]
		default:
			return nil
		}
	}
	return node
}

// defName returns NAME for a location ending in #/$defs/NAME.
func defName(schemaURL string) string {
	_, frag, _ := strings.Cut(schemaURL, "#")
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	name, ok := strings.CutPrefix(frag, "/$defs/")
	if !ok || strings.Contains(name, "/") {
		return ""
	}
	return name
}

// closest suggests the known name nearest to a misspelt one.
func closest(name string, known []string) string {
	best, bestDist := "", 3 // suggest only near misses
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ar, br := []rune(a), []rune(b)
	prev := make([]int, len(br)+1)
	cur := make([]int, len(br)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ar); i++ {
		cur[0] = i
		for j := 1; j <= len(br); j++ {
			cost := 1
			if ar[i-1] == br[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(br)]
}

func article(typ string) string {
	switch typ {
	case "object", "array", "integer":
		return "an " + typ
	case "null":
		return "null"
	}
	return "a " + typ
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
