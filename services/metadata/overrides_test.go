package metadata

import (
	"errors"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

func TestApplyOverrides(t *testing.T) {
	base := func() plan.Plan {
		return plan.Plan{Target: plan.Target{BaseURL: "http://127.0.0.1:1"}, Load: plan.Load{
			Open: []plan.OpenStep{
				{ConstantUsersPerSec: &plan.ConstantUsersPerSec{Rate: 10, During: plan.Duration(time.Minute)}},
				{RampUsersPerSec: &plan.RampUsersPerSec{From: 10, To: 40, During: plan.Duration(time.Minute)}},
				{AtOnceUsers: &plan.AtOnceUsers{Users: 3}},
			},
		}}
	}
	t.Run("a rate multiplier scales every rate and user count", func(t *testing.T) {
		p := base()
		if err := applyOverrides(&p, store.Overrides{RateMultiplier: 0.5}); err != nil {
			t.Fatal(err)
		}
		o := p.Load.Open
		if o[0].ConstantUsersPerSec.Rate != 5 || o[1].RampUsersPerSec.From != 5 || o[1].RampUsersPerSec.To != 20 {
			t.Fatalf("rates not halved: %+v %+v", o[0].ConstantUsersPerSec, o[1].RampUsersPerSec)
		}
		if o[2].AtOnceUsers.Users != 2 { // 1.5 rounds half away from zero
			t.Fatalf("users = %d, want 2", o[2].AtOnceUsers.Users)
		}
	})
	t.Run("a tiny multiplier keeps at least one user", func(t *testing.T) {
		p := base()
		if err := applyOverrides(&p, store.Overrides{RateMultiplier: 0.01}); err != nil {
			t.Fatal(err)
		}
		if p.Load.Open[2].AtOnceUsers.Users != 1 {
			t.Fatalf("users = %d, want 1", p.Load.Open[2].AtOnceUsers.Users)
		}
	})
	t.Run("base URL and duration replace the plan's", func(t *testing.T) {
		p := base()
		if err := applyOverrides(&p, store.Overrides{BaseURL: "http://localhost:9", Duration: "90s"}); err != nil {
			t.Fatal(err)
		}
		if p.Target.BaseURL != "http://localhost:9" || p.Load.MaxDuration.D() != 90*time.Second {
			t.Fatalf("got %s and %s", p.Target.BaseURL, p.Load.MaxDuration)
		}
	})
	for name, tc := range map[string]struct {
		o    store.Overrides
		path string
	}{
		"a base URL that is not http":    {store.Overrides{BaseURL: "ftp://x"}, "/overrides/baseUrl"},
		"a negative multiplier":          {store.Overrides{RateMultiplier: -1}, "/overrides/rateMultiplier"},
		"a duration that does not parse": {store.Overrides{Duration: "soon"}, "/overrides/duration"},
	} {
		t.Run(name+" is refused with its field", func(t *testing.T) {
			p := base()
			err := applyOverrides(&p, tc.o)
			var ve *plan.ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Path != tc.path {
				t.Fatalf("err = %v, want a problem at %s", err, tc.path)
			}
		})
	}
}
