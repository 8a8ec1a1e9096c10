package validatortest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/validator"
)

// Factory returns the Validator under test, validating with cfg and
// fetching git sources with fetcher (nil: git sources disabled).
type Factory func(t *testing.T, cfg validator.Config, fetcher validator.Fetcher) validator.Validator

// OpenPlan is a valid plan with the given load and executors objects.
func OpenPlan(load, executors string) string {
	return fmt.Sprintf(`{
  "name": "scenario",
  "target": {"baseUrl": "http://127.0.0.1:8080"},
  "scenarios": [{"name": "browse", "steps": [{"request": {"name": "home", "url": "/"}}]}],
  "load": %s,
  "executors": %s
}`, load, executors)
}

// ConstantPlan runs 100 arrivals/s for 300 s on two executors: exactly
// 30,000 arrivals, 15,000 per shard.
func ConstantPlan() string {
	return OpenPlan(`{"pattern": {"constant": {"rate": 100, "during": "300s"}}}`, `{"count": 2}`)
}

// gitPlan is a native plan whose feeder lives in the git repository at url.
func gitPlan(url, ref, feeder string) string {
	return fmt.Sprintf(`{
  "name": "from-git",
  "source": {"git": {"url": %q, "ref": %q}},
  "target": {"baseUrl": "http://127.0.0.1:8080"},
  "scenarios": [{"name": "login", "feeder": {"file": %q},
                 "steps": [{"request": {"name": "login", "url": "/login?u=${user}"}}]}],
  "load": {"pattern": {"constant": {"rate": 10, "during": "10s"}}}
}`, url, ref, feeder)
}

// Run is the scenario every Validator must pass, in process or remote: the
// same plans get the same results.
func Run(t *testing.T, newValidator Factory) {
	limits := validator.DefaultLimits()
	validate := func(t *testing.T, v validator.Validator, doc string) *validator.Result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := v.Validate(ctx, []byte(doc), validator.Options{})
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return res
	}

	t.Run("a valid open plan is explained exactly", func(t *testing.T) {
		res := validate(t, newValidator(t, validator.Config{Limits: limits}, nil), ConstantPlan())
		requireValid(t, res)
		e := res.Explain
		if e.Model != "open" || e.TotalArrivals == nil || *e.TotalArrivals != 30000 || e.Executors != 2 {
			t.Fatalf("explanation = %+v, want open, 30000 arrivals, 2 executors", e)
		}
		if len(e.Shards) != 2 || *e.Shards[0].Arrivals+*e.Shards[1].Arrivals != 30000 {
			t.Fatalf("shards = %+v, want two adding up to 30000", e.Shards)
		}
		if res.Plan == nil || res.Plan.Name != "scenario" {
			t.Fatalf("Plan = %+v, want the parsed plan", res.Plan)
		}
	})

	t.Run("a valid closed plan reports its peak users", func(t *testing.T) {
		doc := OpenPlan(`{"closed": [{"rampConcurrentUsers": {"from": 0, "to": 40, "during": "1m"}},
		                            {"constantConcurrentUsers": {"users": 40, "during": "1m"}}]}`, `{"count": 3}`)
		res := validate(t, newValidator(t, validator.Config{Limits: limits}, nil), doc)
		requireValid(t, res)
		if e := res.Explain; e.Model != "closed" || e.PeakUsers == nil || *e.PeakUsers != 40 || len(e.Shards) != 3 {
			t.Fatalf("explanation = %+v, want closed with 40 users on 3 shards", e)
		}
	})

	t.Run("malformed JSON is a syntax problem with line and column", func(t *testing.T) {
		res := validate(t, newValidator(t, validator.Config{Limits: limits}, nil), "{\n  \"name\": \"x\",\n}")
		requireReason(t, res, validator.ReasonSyntax)
		if p := res.Problems[0]; p.Line != 3 || p.Column == 0 {
			t.Fatalf("problem = %+v, want line 3 and a column", p)
		}
	})

	t.Run("a document one byte over 1 MiB is too large, whatever it holds", func(t *testing.T) {
		doc := ConstantPlan() + strings.Repeat(" ", plan.MaxPlanBytes+1-len(ConstantPlan()))
		res := validate(t, newValidator(t, validator.Config{Limits: limits}, nil), doc)
		requireReason(t, res, validator.ReasonTooLarge)
	})

	t.Run("a document of exactly 1 MiB is still validated", func(t *testing.T) {
		doc := ConstantPlan() + strings.Repeat(" ", plan.MaxPlanBytes-len(ConstantPlan()))
		requireValid(t, validate(t, newValidator(t, validator.Config{Limits: limits}, nil), doc))
	})

	t.Run("an invalid plan lists its problems with pointers", func(t *testing.T) {
		doc := OpenPlan(`{"open": [{"constantUsersPerSec": {"rate": -1, "during": "10s"}}]}`, `{"count": 1}`)
		res := validate(t, newValidator(t, validator.Config{Limits: limits}, nil), doc)
		requireReason(t, res, validator.ReasonInvalid)
		requireProblemAt(t, res, "/load/open/0/constantUsersPerSec/rate", "")
	})

	t.Run("every ceiling exceeded is a problem naming it", func(t *testing.T) {
		tight := validator.Limits{MaxRate: 50, MaxUsers: 10, MaxDuration: time.Minute, MaxExecutors: 1}
		res := validate(t, newValidator(t, validator.Config{Limits: tight}, nil), ConstantPlan())
		requireReason(t, res, validator.ReasonInvalid)
		requireProblemAt(t, res, "/load/pattern/constant", "max rate")
		requireProblemAt(t, res, "/load", "max duration")
		requireProblemAt(t, res, "/executors/count", "max executors")
		if len(res.Problems) != 3 {
			t.Fatalf("problems = %v, want exactly the three ceilings", res.Problems)
		}
	})

	t.Run("the users ceiling applies to closed plans", func(t *testing.T) {
		doc := OpenPlan(`{"closed": [{"constantConcurrentUsers": {"users": 20, "during": "1m"}}]}`, `{"count": 1}`)
		res := validate(t, newValidator(t, validator.Config{Limits: validator.Limits{MaxUsers: 10}}, nil), doc)
		requireReason(t, res, validator.ReasonInvalid)
		requireProblemAt(t, res, "/load/closed/0", "max users")
	})

	t.Run("git sources are refused when the validator has no fetcher", func(t *testing.T) {
		doc := gitPlan("https://git.example.com/plans.git", "main", "users.csv")
		res := validate(t, newValidator(t, validator.Config{Limits: limits}, nil), doc)
		requireReason(t, res, validator.ReasonInvalid)
		requireProblemAt(t, res, "/source/git", "disabled")
	})

	t.Run("a git source is fetched and its files checked", func(t *testing.T) {
		url := GitRepo(t, map[string]string{"data/users.csv": "user\nalice\nbob\n"})
		newV := func(t *testing.T) validator.Validator {
			return newValidator(t, validator.Config{Limits: limits}, gitsource.New(GitConfig(t), nil))
		}

		res := validate(t, newV(t), gitPlan(url, "main", "data/users.csv"))
		requireValid(t, res)
		fullSHA := regexp.MustCompile(`^[0-9a-f]{40}$`)
		if s := res.Source; s == nil || s.Ref != "refs/heads/main" || !fullSHA.MatchString(s.SHA) {
			t.Fatalf("source = %+v, want refs/heads/main at a full SHA", s)
		}

		res = validate(t, newV(t), gitPlan(url, "main", "data/missing.csv"))
		requireReason(t, res, validator.ReasonInvalid)
		requireProblemAt(t, res, "/scenarios/0/feeder/file", "not found")

		res = validate(t, newV(t), gitPlan(url, "no-such-branch", "data/users.csv"))
		requireReason(t, res, validator.ReasonInvalid)
		requireProblemAt(t, res, "/source/git/ref", "")
	})
}

func requireValid(t *testing.T, res *validator.Result) {
	t.Helper()
	if !res.Valid || res.Reason != validator.ReasonValid || len(res.Problems) > 0 || res.Explain == nil {
		t.Fatalf("result = valid %v, reason %q, problems %v, explain %v; want valid with an explanation",
			res.Valid, res.Reason, res.Problems, res.Explain != nil)
	}
}

func requireReason(t *testing.T, res *validator.Result, want validator.Reason) {
	t.Helper()
	if res.Valid || res.Reason != want || len(res.Problems) == 0 || res.Explain != nil {
		t.Fatalf("result = valid %v, reason %q, problems %v; want reason %q with problems and no explanation",
			res.Valid, res.Reason, res.Problems, want)
	}
}

// requireProblemAt requires a problem at path whose message contains word.
func requireProblemAt(t *testing.T, res *validator.Result, path, word string) {
	t.Helper()
	for _, p := range res.Problems {
		if p.Path == path && strings.Contains(p.Message, word) {
			return
		}
	}
	t.Fatalf("problems = %v, want one at %s mentioning %q", res.Problems, path, word)
}
