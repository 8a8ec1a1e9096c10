package redact

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
)

func TestSecretNames(t *testing.T) {
	r := NewRules([]string{"X-Tenant", "pin"})
	tests := []struct {
		name string
		want bool
		why  string
	}{
		{"Authorization", true, "the credential header"},
		{"authorization", true, "header names are case-insensitive"},
		{"Proxy-Authorization", true, "the proxy's credential header"},
		{"Cookie", true, "session cookies are credentials"},
		{"Set-Cookie", true, "a response cookie checked by name"},
		{"X-Api-Key", true, "the usual API key header"},
		{"X-Auth-Token", true, "contains token"},
		{"client_secret", true, "contains secret, '_' read as '-'"},
		{"PASSWORD", true, "contains password"},
		{"passwd", true, "the Unix spelling"},
		{"api_key", true, "api-key spelled with '_'"},
		{"apikey", true, "api-key spelled as one word"},
		{"X-Tenant", true, "the plan lists it"},
		{"x-tenant", true, "the plan's names are case-insensitive too"},
		{"PIN", true, "a variable or field the plan lists"},
		{"Accept", false, "an ordinary header"},
		{"User-Agent", false, "an ordinary header"},
		{"author", false, "not a credential though it starts like one"},
		{"", false, "no name, nothing to match"},
	}
	for _, tt := range tests {
		if got := r.Secret(tt.name); got != tt.want {
			t.Errorf("Secret(%q) = %v, want %v: %s", tt.name, got, tt.want, tt.why)
		}
	}
}

func TestHeaders(t *testing.T) {
	got := Rules{}.Headers(map[string]string{"Authorization": "Bearer abc", "Accept": "application/json",
		"X-Upstream": "Basic dXNlcjpwYXNz", "X-Request-Id": "${uuid()}"})
	want := map[string]string{"Authorization": Marker, "Accept": "application/json",
		"X-Upstream": Marker, "X-Request-Id": "${uuid()}"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("headers %v: a name was lost or added", got)
	}
}

func TestURL(t *testing.T) {
	r := NewRules([]string{"sig"})
	tests := []struct {
		in, want, why string
	}{
		{"https://user:pa55@api.example.com/x", "https://user:[redacted]@api.example.com/x", "userinfo with a password"},
		{"ssh://git@git.example.com/o/r.git", "ssh://git@git.example.com/o/r.git", "ssh's user name is not a secret"},
		{"/a?access_token=${tok}", "/a?access_token=${tok}", "a template reference holds no secret, and says where the value comes from"},
		{"https://ghp_tok3n@github.com/o/r.git", "https://[redacted]@github.com/o/r.git", "a token as the user name"},
		{"/items?id=${id}&access_token=abc&x=1", "/items?id=${id}&access_token=[redacted]&x=1", "a secret parameter; templates stay"},
		{"/a?sig=zz#frag", "/a?sig=[redacted]#frag", "a parameter the plan lists, the fragment kept"},
		{"/a?api%5Fkey=zz", "/a?api%5Fkey=[redacted]", "an escaped parameter name"},
		{"http://127.0.0.1:8080/path@x", "http://127.0.0.1:8080/path@x", "an @ in the path is not userinfo"},
		{"/plain/${id}", "/plain/${id}", "nothing to hide"},
		{"", "", "empty"},
	}
	for _, tt := range tests {
		if got := r.URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q: %s", tt.in, got, tt.want, tt.why)
		}
	}
}

func TestText(t *testing.T) {
	r := NewRules([]string{"pin"})
	tests := []struct {
		in, want, why string
	}{
		{`{"user":"${user}","password":"hunter22"}`, `{"user":"${user}","password":"[redacted]"}`, "a JSON member"},
		{`{"n": ${n}, "api_key": "k-${key}"}`, `{"n": ${n}, "api_key": "[redacted]"}`, "JSON with templates, which does not parse"},
		{`{"api_key": ${key}, "pin": 12}`, `{"api_key": ${key}, "pin": "[redacted]"}`, "a bare template reference is kept, a literal is not"},
		{`{"pin": 1234}`, `{"pin": "[redacted]"}`, "a number the plan marks secret"},
		{`{"outer":{"token":"t0k"}}`, `{"outer":{"token":"[redacted]"}}`, "nested"},
		{`user=bob&password=hunter22&x=1`, `user=bob&password=[redacted]&x=1`, "a form body"},
		{`grant_type=client_credentials&client_secret=s3c`, `grant_type=client_credentials&client_secret=[redacted]`, "an OAuth form; a value named like a secret is not a name"},
		{`Bearer abc`, Marker, "an authorization value as the whole body"},
		{`hello world`, `hello world`, "nothing to hide"},
		{`{"password":"${pw}"}`, `{"password":"${pw}"}`, "a template reference holds no secret"},
		{`password=${pw}`, `password=${pw}`, "a template reference in a form holds no secret"},
	}
	for _, tt := range tests {
		if got := r.Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q: %s", tt.in, got, tt.want, tt.why)
		}
	}
}

func TestJSONBody(t *testing.T) {
	got := NewRules([]string{"pin"}).JSON(json.RawMessage(`{"items":[{"sku":"A"}],"auth":{"password":"p","user":"u"},"pin":[1,2],"refresh_token":{"v":"x"}}`))
	want := `{"auth":{"password":"[redacted]","user":"u"},"items":[{"sku":"A"}],"pin":"[redacted]","refresh_token":"[redacted]"}`
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

const secretPlan = `{
  "name": "secrets",
  "labels": {"owner": "shop", "deploy_token": "dt-SECRET-1"},
  "secrets": ["X-Tenant-Key", "pin"],
  "target": {"baseUrl": "http://127.0.0.1:8080",
    "headers": {"Authorization": "Bearer s3cr3t-VALUE", "X-Tenant-Key": "tenant-SECRET-4", "Accept": "*/*"}},
  "scenarios": [{"name": "s", "steps": [
    {"request": {"name": "login", "method": "POST", "url": "http://svc:userinfo-SECRET-3@127.0.0.1:8080/login?session_token=qs-SECRET-5&page=1",
      "headers": {"Cookie": "sid=cookie-SECRET-6"},
      "body": {"form": {"user": "bob", "password": "form-SECRET-7"}},
      "checks": [{"header": {"name": "Set-Cookie", "contains": "sid=check-SECRET-8"}}]}},
    {"request": {"name": "order", "method": "POST", "url": "/orders",
      "body": {"json": {"sku": "A-1", "pin": "json-SECRET-9"}}}},
    {"request": {"name": "raw", "method": "POST", "url": "/raw",
      "body": {"raw": "{\"n\": ${n}, \"apiKey\": \"raw-SECRET-10\"}"}}}
  ]}],
  "load": {"open": [{"atOnceUsers": {"users": 1}}]}
}`

// The plan with a secret in every place a rule covers comes out with none
// of them, every name kept, and still a valid plan.
func TestPlanJSONHidesEverySecret(t *testing.T) {
	if _, err := plan.Parse([]byte(secretPlan)); err != nil {
		t.Fatalf("the test plan is not valid: %v", err)
	}
	got, err := PlanJSON(json.RawMessage(secretPlan))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("SECRET")) || bytes.Contains(got, []byte("s3cr3t")) {
		t.Fatalf("a secret is left in %s", got)
	}
	for _, kept := range []string{`"Authorization":"[redacted]"`, `"X-Tenant-Key":"[redacted]"`, `"Accept":"*/*"`,
		`"owner":"shop"`, `page=1`, `"user":"bob"`, `"sku":"A-1"`, `${n}`, `svc:[redacted]@127.0.0.1`} {
		if !bytes.Contains(got, []byte(kept)) {
			t.Errorf("%s is missing from %s", kept, got)
		}
	}
	again, err := PlanJSON(got)
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("redacting twice changed the plan:\n%s\n%s (%v)", got, again, err)
	}
}

// Redaction changes secrets and nothing else: every example comes back as
// it was, but for its Authorization headers.
func TestPlanJSONChangesNothingElse(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range p.Scenarios {
			for _, st := range p.Scenarios[i].Steps {
				if st.Request != nil && st.Request.Headers["Authorization"] != "" {
					st.Request.Headers["Authorization"] = Marker
				}
				if st.Request != nil && st.Request.Body != nil && string(st.Request.Body.JSON) == `{"user": "demo", "password": "demo"}` {
					st.Request.Body.JSON = json.RawMessage(`{"password":"[redacted]","user":"demo"}`)
				}
			}
		}
		want, _ := json.Marshal(p)
		got, err := PlanJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", filepath.Base(f), got, want)
		}
	}
}

func TestPlanLeavesTheOriginalAlone(t *testing.T) {
	p, err := plan.Parse([]byte(secretPlan))
	if err != nil {
		t.Fatal(err)
	}
	red, err := Plan(p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Target.Headers["Authorization"] != "Bearer s3cr3t-VALUE" || *p.Scenarios[0].Steps[0].Request.Checks[0].Header.Contains != "sid=check-SECRET-8" {
		t.Fatal("Plan changed the plan it was given: the executors need the real values")
	}
	if red.Target.Headers["Authorization"] != Marker {
		t.Fatalf("the copy keeps %q", red.Target.Headers["Authorization"])
	}
}

func TestPlanJSONRefusesWhatItCannotRead(t *testing.T) {
	for _, doc := range []string{`{"target": 1}`, `not json`, `[1]`} {
		if out, err := PlanJSON(json.RawMessage(doc)); err == nil {
			t.Errorf("%s: redacted into %s; a document that is not a plan cannot be redacted by rule", doc, out)
		}
	}
	if out, err := PlanJSON(nil); err != nil || len(out) != 0 {
		t.Errorf("no plan: %s, %v", out, err)
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{`{"password":"x"}`, `a=1&token=2`, `Bearer x`, `{"k": ${v}}`, `"\"`} {
		f.Add(s)
	}
	r := NewRules([]string{"k"})
	f.Fuzz(func(t *testing.T, s string) {
		out := r.Text(s)
		if strings.Contains(s, Marker) {
			return
		}
		// What is not a secret stays byte for byte: redacting twice is
		// redacting once.
		if r.Text(out) != out {
			t.Fatalf("Text is not idempotent on %q: %q then %q", s, out, r.Text(out))
		}
	})
}

// The plan's secrets field is part of the contract: names, not values.
func TestPlanSecretsField(t *testing.T) {
	bad := strings.Replace(secretPlan, `"secrets": ["X-Tenant-Key", "pin"]`, `"secrets": ["pin", ""]`, 1)
	_, err := plan.Parse([]byte(bad))
	if err == nil || !strings.Contains(err.Error(), "/secrets/1") {
		t.Fatalf("an empty secret name: %v; want a problem at /secrets/1", err)
	}
}
