package report

import (
	"encoding/json"
	"fmt"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/plan/redact"
)

// Redacted returns a copy of d that shows no secret of its plan: the plan
// itself, the source URL and the labels, by the rules of package redact
// (the built-in names and the plan's own "secrets"). The reporting service
// stores redacted documents; every rendering redacts again, so that a
// report stored before redaction existed renders without secrets too. A
// plan that cannot be read, hence not redacted, is left out.
func Redacted(d *Document) *Document {
	if d == nil {
		return nil
	}
	c := *d
	rules := redact.Rules{}
	if len(d.Plan) > 0 {
		var p plan.Plan
		red, err := redact.PlanJSON(d.Plan)
		if err == nil {
			err = json.Unmarshal(d.Plan, &p)
		}
		if err != nil {
			c.Plan = nil
		} else {
			c.Plan, rules = red, redact.RulesOf(&p)
		}
	}
	c.Labels = rules.Labels(d.Labels)
	if d.Source != nil {
		s := *d.Source
		s.URL = rules.URL(s.URL)
		c.Source = &s
	}
	return &c
}

// RedactJSON redacts a stored report document (see Redacted) and leaves
// every other member as it is.
func RedactJSON(raw json.RawMessage) (json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("%w: the report is not a JSON object: %w", ErrInvalid, err)
	}
	var d Document
	for name, dst := range map[string]any{"plan": &d.Plan, "labels": &d.Labels, "source": &d.Source} {
		if v, ok := members[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("%w: the report's %s: %w", ErrInvalid, name, err)
			}
		}
	}
	red := Redacted(&d)
	for name, v := range map[string]any{"plan": red.Plan, "labels": red.Labels, "source": red.Source} {
		if _, ok := members[name]; !ok {
			continue
		}
		out, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("report: encode the redacted %s: %w", name, err)
		}
		members[name] = out
	}
	if red.Plan == nil {
		delete(members, "plan")
	}
	out, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("report: encode the redacted report: %w", err)
	}
	return out, nil
}
