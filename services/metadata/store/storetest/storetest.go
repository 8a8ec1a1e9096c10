// Package storetest is the contract suite every metadata store passes: the
// same behaviour from SQLite and MongoDB, checked by the same tests.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// Run runs the contract suite; open returns a new, empty store, which the
// suite closes.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"teams and projects", teamsAndProjects},
		{"tests are versioned", testVersions},
		{"concurrent saves get distinct versions", concurrentTestSaves},
		{"a run round-trips every field", runRoundTrip},
		{"runs are filtered newest first", runFilters},
		{"updates are optimistic", optimisticUpdates},
		{"one of concurrent updates wins", concurrentUpdates},
		{"transitions follow the state machine", transitions},
		{"one of concurrent transitions wins", concurrentTransitions},
		{"an abort is recorded once", aborts},
		{"one claim wins a race", claimRace},
		{"leases expire and are lost", leases},
		{"reports", reports},
		{"snapshots are kept once until deleted", snapshots},
		{"the outbox hands each entry to one claimer", outbox},
		{"the outbox respects limits, retries and sends", outboxLifecycle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tt.fn(t, st)
		})
	}
}

// t0 is a fixed instant. Stores may keep only milliseconds (MongoDB), so
// times are compared after truncation to milliseconds.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newRun(id, team, project string, created time.Time) store.Run {
	return store.Run{ID: id, Team: team, Project: project, State: store.Queued, Created: created,
		Plan: json.RawMessage(`{"name":"p"}`), Seed: 42, Transitions: []store.Transition{}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err %v, want %v", what, err, want)
	}
}

func ms(at time.Time) time.Time { return at.Truncate(time.Millisecond).UTC() }

func msp(at *time.Time) *time.Time {
	if at == nil {
		return nil
	}
	v := ms(*at)
	return &v
}

func ptr[T any](v T) *T { return &v }

func teamsAndProjects(t *testing.T, st store.Store) {
	ctx := context.Background()
	_, err := st.Team(ctx, "shop")
	wantErr(t, "missing team", err, store.ErrNotFound)
	teams, err := st.Teams(ctx)
	must(t, err)
	if len(teams) != 0 {
		t.Fatalf("an empty store lists teams %+v", teams)
	}
	must(t, st.PutTeam(ctx, store.Team{Name: "shop", Slack: []string{"#perf"}, Created: t0}))
	must(t, st.PutTeam(ctx, store.Team{Name: "shop", Email: []string{"a@example.com", "b@example.com"}, Created: t0.Add(time.Nanosecond)}))
	must(t, st.PutTeam(ctx, store.Team{Name: "bank", Created: t0}))
	team, err := st.Team(ctx, "shop")
	must(t, err)
	if len(team.Slack) != 0 || !slices.Equal(team.Email, []string{"a@example.com", "b@example.com"}) || !ms(team.Created).Equal(t0) {
		t.Fatalf("PutTeam replaces the team: got %+v", team)
	}
	teams, err = st.Teams(ctx)
	must(t, err)
	if len(teams) != 2 || teams[0].Name != "bank" || teams[1].Name != "shop" {
		t.Fatalf("teams = %+v, want bank and shop by name", teams)
	}

	must(t, st.PutProject(ctx, store.Project{Team: "shop", Name: "search", Created: t0}))
	must(t, st.PutProject(ctx, store.Project{Team: "shop", Name: "checkout", Created: t0}))
	must(t, st.PutProject(ctx, store.Project{Team: "shop", Name: "checkout", Created: t0.Add(time.Hour)}))
	must(t, st.PutProject(ctx, store.Project{Team: "bank", Name: "checkout", Created: t0}))
	projects, err := st.Projects(ctx, "shop")
	must(t, err)
	if len(projects) != 2 || projects[0].Name != "checkout" || projects[1].Name != "search" ||
		projects[0].Team != "shop" || !ms(projects[0].Created).Equal(t0) {
		t.Fatalf("projects = %+v, want checkout (unchanged by the second put) and search, of shop only", projects)
	}
	none, err := st.Projects(ctx, "nobody")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("projects of an unknown team: %+v", none)
	}
}

// Plans keep their bytes: key order, spacing, escapes and numbers a
// document store could rewrite.
const (
	planV1 = `{"name":"checkout","z":1,"a":[1,2.50,1e-7,12345678901234567890],"body":"<a & b>","u":"\u00e9"}`
	planV2 = "{\n  \"name\": \"checkout\",\n  \"v\": 2\n}"
)

func testVersions(t *testing.T, st store.Store) {
	ctx := context.Background()
	_, err := st.Test(ctx, "t-1", 0)
	wantErr(t, "missing test", err, store.ErrNotFound)
	for i, plan := range []string{planV1, planV2} {
		saved, err := st.SaveTest(ctx, store.Test{ID: "t-1", Version: 99, Name: "checkout", Team: "shop", Project: "checkout",
			Plan: json.RawMessage(plan), Created: t0.Add(time.Duration(i) * time.Minute)})
		must(t, err)
		if saved.Version != i+1 || saved.ID != "t-1" {
			t.Fatalf("save %d: got %s v%d, want t-1 v%d (the given version is ignored)", i, saved.ID, saved.Version, i+1)
		}
	}
	for _, tt := range []store.Test{
		{ID: "t-2", Name: "search", Team: "shop", Project: "search", Plan: json.RawMessage(`{}`), Created: t0.Add(3 * time.Minute)},
		{ID: "t-3", Name: "pay", Team: "bank", Project: "checkout", Plan: json.RawMessage(`{}`), Created: t0.Add(2 * time.Minute)},
		// t-4 moves from bank to shop: filters judge its latest version.
		{ID: "t-4", Name: "moved", Team: "bank", Project: "checkout", Plan: json.RawMessage(`{}`), Created: t0},
		{ID: "t-4", Name: "moved", Team: "shop", Project: "checkout", Plan: json.RawMessage(`{}`), Created: t0.Add(4 * time.Minute)},
	} {
		_, err := st.SaveTest(ctx, tt)
		must(t, err)
	}

	latest, err := st.Test(ctx, "t-1", 0)
	must(t, err)
	first, err := st.Test(ctx, "t-1", 1)
	must(t, err)
	if latest.Version != 2 || string(latest.Plan) != planV2 {
		t.Fatalf("latest = v%d %s, want v2 %s", latest.Version, latest.Plan, planV2)
	}
	if first.Version != 1 || string(first.Plan) != planV1 || first.Name != "checkout" || first.Team != "shop" ||
		first.Project != "checkout" || !ms(first.Created).Equal(t0) {
		t.Fatalf("version 1 = %+v (plan %s), want it unchanged by version 2", first, first.Plan)
	}
	_, err = st.Test(ctx, "t-1", 3)
	wantErr(t, "missing version", err, store.ErrNotFound)

	cases := []struct {
		why  string
		f    store.TestFilter
		want []string // id@version
	}{
		{"latest versions only, newest first", store.TestFilter{}, []string{"t-4@2", "t-2@1", "t-3@1", "t-1@2"}},
		{"by team, judged on the latest version", store.TestFilter{Team: "shop"}, []string{"t-4@2", "t-2@1", "t-1@2"}},
		{"a team a test left lists it no more", store.TestFilter{Team: "bank"}, []string{"t-3@1"}},
		{"by team and project", store.TestFilter{Team: "shop", Project: "checkout"}, []string{"t-4@2", "t-1@2"}},
		{"by project alone", store.TestFilter{Project: "search"}, []string{"t-2@1"}},
		{"limit keeps the newest", store.TestFilter{Limit: 2}, []string{"t-4@2", "t-2@1"}},
		{"nothing matches", store.TestFilter{Team: "nobody"}, nil},
	}
	for _, c := range cases {
		got, err := st.Tests(ctx, c.f)
		must(t, err)
		var ids []string
		for _, x := range got {
			ids = append(ids, fmt.Sprintf("%s@%d", x.ID, x.Version))
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: got %v, want %v", c.why, ids, c.want)
		}
	}
}

func concurrentTestSaves(t *testing.T, st store.Store) {
	ctx := context.Background()
	const savers = 6
	versions := make(chan int, savers)
	var wg sync.WaitGroup
	for i := range savers {
		wg.Go(func() {
			saved, err := st.SaveTest(ctx, store.Test{ID: "t-1", Name: "a", Team: "shop", Project: "p",
				Plan: json.RawMessage(fmt.Sprintf(`{"saver":%d}`, i)), Created: t0})
			if err != nil {
				t.Errorf("saver %d: %v", i, err)
				return
			}
			versions <- saved.Version
		})
	}
	wg.Wait()
	close(versions)
	var got []int
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("concurrent saves got versions %v, want 1..%d once each", got, savers)
	}
	latest, err := st.Test(ctx, "t-1", 0)
	must(t, err)
	if latest.Version != savers {
		t.Fatalf("latest version %d, want %d", latest.Version, savers)
	}
}

// richRun sets every field of a run, with sub-millisecond times and a seed
// above the int64 range.
func richRun() store.Run {
	at := t0.Add(1500 * time.Microsecond)
	end := at.Add(time.Minute)
	return store.Run{
		ID: "r-rich", TestID: "t-1", TestVersion: 3, Team: "shop", Project: "checkout", State: store.Queued,
		Plan:         json.RawMessage(planV1),
		Overrides:    store.Overrides{BaseURL: "http://127.0.0.1:8080", RateMultiplier: 1.5, Duration: "90s"},
		Source:       &store.Source{URL: "http://127.0.0.1:9/repo.git", Ref: "main", Path: "plans/a.json", Commit: "abc123"},
		ToolVersions: map[string]string{"native": "dev", "k6": "v1.8.1"},
		Seed:         math.MaxUint64 - 7,
		Created:      at.In(time.FixedZone("CET", 3600)),
		StartAt:      &at,
		Reason:       "because",
		AbortWanted:  false,
		Transitions:  []store.Transition{},
		Shards: []store.Shard{{
			Index: 1, Location: "eu", Backend: "local", Attempt: 2, Token: "secret", PastTokens: []string{"old"},
			Ready: true, ClockOffset: -1234567 * time.Nanosecond, ResumeAt: 3 * time.Second,
			Restarts: []store.Interval{{Start: at, End: &end, Reason: "lost"}}, LastSeen: &end, Done: true,
			Tool: "native", ToolVersion: "dev",
		}},
		Degraded: []store.Interval{{Start: at, Reason: "shard 1 lost"}},
	}
}

// normalRun prepares a run for comparison: times to UTC milliseconds, and
// an absent transition list as an empty one.
func normalRun(r store.Run) store.Run {
	r.Created = ms(r.Created)
	r.StartAt, r.Ended = msp(r.StartAt), msp(r.Ended)
	if r.Lease != nil {
		r.Lease = &store.Lease{Worker: r.Lease.Worker, Until: ms(r.Lease.Until)}
	}
	trs := make([]store.Transition, len(r.Transitions))
	for i, tr := range r.Transitions {
		tr.At = ms(tr.At)
		trs[i] = tr
	}
	r.Transitions = trs
	r.Degraded = normalIntervals(r.Degraded)
	if r.Shards != nil {
		shards := make([]store.Shard, len(r.Shards))
		for i, sh := range r.Shards {
			sh.LastSeen = msp(sh.LastSeen)
			sh.Restarts = normalIntervals(sh.Restarts)
			shards[i] = sh
		}
		r.Shards = shards
	}
	return r
}

func normalIntervals(in []store.Interval) []store.Interval {
	if in == nil {
		return nil
	}
	out := make([]store.Interval, len(in))
	for i, iv := range in {
		out[i] = store.Interval{Start: ms(iv.Start), End: msp(iv.End), Reason: iv.Reason}
	}
	return out
}

func sameRun(t *testing.T, what string, got, want store.Run) {
	t.Helper()
	g, w := normalRun(got), normalRun(want)
	if string(g.Plan) != string(w.Plan) {
		t.Fatalf("%s: plan %s, want the same bytes %s", what, g.Plan, w.Plan)
	}
	g.Plan, w.Plan = nil, nil
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		t.Fatalf("%s:\n got %s\nwant %s", what, gj, wj)
	}
}

func runRoundTrip(t *testing.T, st store.Store) {
	ctx := context.Background()
	want := richRun()
	must(t, st.CreateRun(ctx, want))
	got, err := st.Run(ctx, want.ID)
	must(t, err)
	if got.Version != 1 {
		t.Fatalf("a created run has version %d, want 1", got.Version)
	}
	want.Version = got.Version
	sameRun(t, "created", got, want)

	// UpdateRun stores every field it may change.
	want.Shards[0].Attempt, want.Shards[0].Token = 3, "newer"
	want.ToolVersions = map[string]string{"gatling": "3.11"}
	want.Degraded[0].End = ptr(t0.Add(time.Hour))
	want.Source = nil
	want.Reason = "updated"
	updated, err := st.UpdateRun(ctx, want)
	must(t, err)
	want.Version++
	sameRun(t, "returned by UpdateRun", updated, want)
	got, err = st.Run(ctx, want.ID)
	must(t, err)
	sameRun(t, "updated", got, want)
}

func runFilters(t *testing.T, st store.Store) {
	ctx := context.Background()
	runs := []store.Run{
		newRun("r-1", "shop", "checkout", t0),
		newRun("r-2", "shop", "search", t0.Add(time.Minute)),
		newRun("r-3", "bank", "checkout", t0.Add(2*time.Minute)),
		newRun("r-4", "shop", "checkout", t0.Add(3*time.Minute)),
	}
	for _, r := range runs {
		must(t, st.CreateRun(ctx, r))
	}
	wantErr(t, "duplicate ID", st.CreateRun(ctx, runs[0]), store.ErrConflict)
	_, err := st.Transition(ctx, "r-2", store.Scheduling, "claimed", t0)
	must(t, err)
	_, err = st.Transition(ctx, "r-4", store.Aborted, "by alice", t0)
	must(t, err)
	cases := []struct {
		why  string
		f    store.RunFilter
		want []string
	}{
		{"everything, newest first", store.RunFilter{}, []string{"r-4", "r-3", "r-2", "r-1"}},
		{"by team", store.RunFilter{Team: "shop"}, []string{"r-4", "r-2", "r-1"}},
		{"by team and project", store.RunFilter{Team: "shop", Project: "checkout"}, []string{"r-4", "r-1"}},
		{"by project across teams", store.RunFilter{Project: "checkout"}, []string{"r-4", "r-3", "r-1"}},
		{"by state, as stored by transitions", store.RunFilter{States: []store.State{store.Scheduling}}, []string{"r-2"}},
		{"by several states", store.RunFilter{States: []store.State{store.Queued, store.Aborted}}, []string{"r-4", "r-3", "r-1"}},
		{"since is inclusive", store.RunFilter{Since: t0.Add(time.Minute)}, []string{"r-4", "r-3", "r-2"}},
		{"until is exclusive", store.RunFilter{Until: t0.Add(time.Minute)}, []string{"r-1"}},
		{"since and until", store.RunFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"r-3", "r-2"}},
		{"limit keeps the newest", store.RunFilter{Limit: 2}, []string{"r-4", "r-3"}},
		{"every filter at once", store.RunFilter{Team: "shop", Project: "checkout", States: []store.State{store.Queued},
			Since: t0, Until: t0.Add(time.Hour), Limit: 5}, []string{"r-1"}},
		{"nothing matches", store.RunFilter{Team: "nobody"}, nil},
	}
	for _, c := range cases {
		got, err := st.Runs(ctx, c.f)
		must(t, err)
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: got %v, want %v", c.why, ids, c.want)
		}
	}
	_, err = st.Run(ctx, "nope")
	wantErr(t, "missing run", err, store.ErrNotFound)
}

func optimisticUpdates(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.CreateRun(ctx, newRun("r-1", "shop", "checkout", t0)))
	_, err := st.ClaimRun(ctx, "w-1", time.Minute, t0)
	must(t, err)
	r, err := st.Run(ctx, "r-1")
	must(t, err)
	r.Shards = []store.Shard{{Index: 0, Location: "local", Token: "secret"}}
	// UpdateRun must not change the state, transitions or lease.
	r.State = store.Running
	r.Transitions = append(r.Transitions, store.Transition{From: store.Queued, To: store.Running, At: t0})
	r.Lease = &store.Lease{Worker: "thief", Until: t0.Add(time.Hour)}
	updated, err := st.UpdateRun(ctx, r)
	must(t, err)
	if updated.Version != r.Version+1 || updated.State != store.Queued || len(updated.Transitions) != 0 ||
		updated.Lease == nil || updated.Lease.Worker != "w-1" || len(updated.Shards) != 1 || updated.Shards[0].Token != "secret" {
		t.Fatalf("updated = %+v", updated)
	}
	_, err = st.UpdateRun(ctx, r)
	wantErr(t, "stale version", err, store.ErrConflict)
	stored, err := st.Run(ctx, "r-1")
	must(t, err)
	sameRun(t, "after a refused update", stored, updated)

	// Every write moves the version, so a copy read before it is stale.
	_, err = st.Transition(ctx, "r-1", store.Scheduling, "", t0)
	must(t, err)
	_, err = st.UpdateRun(ctx, updated)
	wantErr(t, "update after a transition", err, store.ErrConflict)

	missing := newRun("nope", "shop", "checkout", t0)
	missing.Version = 1
	_, err = st.UpdateRun(ctx, missing)
	wantErr(t, "update of a missing run", err, store.ErrNotFound)
}

func concurrentUpdates(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.CreateRun(ctx, newRun("r-1", "shop", "checkout", t0)))
	r, err := st.Run(ctx, "r-1")
	must(t, err)
	const writers = 6
	var wg sync.WaitGroup
	won := make(chan string, writers)
	for i := range writers {
		wg.Go(func() {
			mine := r
			mine.Reason = fmt.Sprintf("writer %d", i)
			_, err := st.UpdateRun(ctx, mine)
			switch {
			case err == nil:
				won <- mine.Reason
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(won)
	winners := slices.Collect(chanValues(won))
	if len(winners) != 1 {
		t.Fatalf("%d updates of one version won (%v), want exactly 1", len(winners), winners)
	}
	stored, err := st.Run(ctx, "r-1")
	must(t, err)
	if stored.Reason != winners[0] || stored.Version != r.Version+1 {
		t.Fatalf("stored %q v%d, want the winner's %q v%d", stored.Reason, stored.Version, winners[0], r.Version+1)
	}
}

func chanValues[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

func transitions(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.CreateRun(ctx, newRun("r-1", "shop", "checkout", t0)))
	_, err := st.Transition(ctx, "nope", store.Scheduling, "", t0)
	wantErr(t, "transition of a missing run", err, store.ErrNotFound)
	before, err := st.Run(ctx, "r-1")
	must(t, err)
	_, err = st.Transition(ctx, "r-1", store.Running, "skip", t0)
	wantErr(t, "queued -> running", err, store.ErrIllegalTransition)
	after, err := st.Run(ctx, "r-1")
	must(t, err)
	sameRun(t, "after a refused transition", after, before)

	path := []store.State{store.Scheduling, store.Starting, store.Running, store.Stopping, store.Reporting, store.Passed}
	version := before.Version
	for i, to := range path {
		r, err := st.Transition(ctx, "r-1", to, "step "+string(to), t0.Add(time.Duration(i)*time.Second+time.Microsecond))
		must(t, err)
		if r.State != to || r.Version != version+1 || r.Reason != "step "+string(to) {
			t.Fatalf("after -> %s: state %s v%d reason %q, want v%d", to, r.State, r.Version, r.Reason, version+1)
		}
		version = r.Version
	}
	r, err := st.Run(ctx, "r-1")
	must(t, err)
	if len(r.Transitions) != len(path) {
		t.Fatalf("%d transitions stored, want %d", len(r.Transitions), len(path))
	}
	from := store.Queued
	for i, tr := range r.Transitions {
		want := store.Transition{From: from, To: path[i], At: t0.Add(time.Duration(i) * time.Second), Reason: "step " + string(path[i])}
		if tr.From != want.From || tr.To != want.To || !ms(tr.At).Equal(want.At) || tr.Reason != want.Reason {
			t.Fatalf("transition %d = %+v, want %+v", i, tr, want)
		}
		from = path[i]
	}
	if r.Ended == nil || !ms(*r.Ended).Equal(t0.Add(5*time.Second)) || r.State != store.Passed {
		t.Fatalf("ended %v in %s, want the time of the last transition, passed", r.Ended, r.State)
	}
	_, err = st.Transition(ctx, "r-1", store.Errored, "late", t0)
	wantErr(t, "a transition out of an ended run", err, store.ErrIllegalTransition)
	after, err = st.Run(ctx, "r-1")
	must(t, err)
	sameRun(t, "an ended run after a refused transition", after, r)
}

func concurrentTransitions(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.CreateRun(ctx, newRun("r-1", "shop", "checkout", t0)))
	const movers = 6
	var wg sync.WaitGroup
	won := make(chan int, movers)
	for i := range movers {
		wg.Go(func() {
			_, err := st.Transition(ctx, "r-1", store.Scheduling, fmt.Sprintf("mover %d", i), t0)
			switch {
			case err == nil:
				won <- i
			case !errors.Is(err, store.ErrIllegalTransition):
				t.Errorf("mover %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(won)
	winners := slices.Collect(chanValues(won))
	r, err := st.Run(ctx, "r-1")
	must(t, err)
	if len(winners) != 1 || len(r.Transitions) != 1 {
		t.Fatalf("%d movers won queued -> scheduling, %d transitions stored; want exactly 1", len(winners), len(r.Transitions))
	}
}

func aborts(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.CreateRun(ctx, newRun("r-1", "shop", "checkout", t0)))
	r, err := st.RequestAbort(ctx, "r-1", "by alice")
	must(t, err)
	if !r.AbortWanted || r.Reason != "by alice" || r.State != store.Queued || r.Version != 2 {
		t.Fatalf("after abort: %+v, want abortWanted, reason by alice, still queued, version 2", r)
	}
	r, err = st.RequestAbort(ctx, "r-1", "by bob")
	must(t, err)
	if r.Reason != "by alice" {
		t.Fatalf("a second abort replaced the first's reason: %q", r.Reason)
	}
	stored, err := st.Run(ctx, "r-1")
	must(t, err)
	if !stored.AbortWanted || stored.Reason != "by alice" {
		t.Fatalf("stored after abort: %+v", stored)
	}
	_, err = st.RequestAbort(ctx, "nope", "")
	wantErr(t, "abort of a missing run", err, store.ErrNotFound)

	// An ended run is left as it ended.
	must(t, st.CreateRun(ctx, newRun("r-2", "shop", "checkout", t0)))
	_, err = st.Transition(ctx, "r-2", store.Errored, "boom", t0)
	must(t, err)
	r, err = st.RequestAbort(ctx, "r-2", "too late")
	must(t, err)
	if r.AbortWanted || r.Reason != "boom" || r.State != store.Errored {
		t.Fatalf("abort of an ended run changed it: %+v", r)
	}
}

func claimRace(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.CreateRun(ctx, newRun("r-1", "shop", "checkout", t0)))
	const workers = 8
	var wg sync.WaitGroup
	wins := make(chan string, workers)
	for i := range workers {
		wg.Go(func() {
			worker := fmt.Sprintf("w-%d", i)
			r, err := st.ClaimRun(ctx, worker, time.Minute, t0)
			switch {
			case err == nil:
				if r.Lease == nil || r.Lease.Worker != worker {
					t.Errorf("worker %s claimed a run leased to %+v", worker, r.Lease)
				}
				wins <- worker
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(wins)
	winners := slices.Collect(chanValues(wins))
	if len(winners) != 1 {
		t.Fatalf("%d workers won the claim (%v), want exactly 1", len(winners), winners)
	}
	r, err := st.Run(ctx, "r-1")
	must(t, err)
	if r.Lease == nil || r.Lease.Worker != winners[0] || !ms(r.Lease.Until).Equal(t0.Add(time.Minute)) {
		t.Fatalf("stored lease %+v, want %s's until t0+1m", r.Lease, winners[0])
	}
}

func leases(t *testing.T, st store.Store) {
	ctx := context.Background()
	_, err := st.ClaimRun(ctx, "w-1", 10*time.Second, t0)
	wantErr(t, "claim in an empty store", err, store.ErrNotFound)
	must(t, st.CreateRun(ctx, newRun("r-old", "shop", "checkout", t0)))
	must(t, st.CreateRun(ctx, newRun("r-new", "shop", "checkout", t0.Add(time.Second))))
	for _, id := range []string{"r-aborted", "r-passed"} {
		// Older than the others: only its state keeps it from being claimed.
		must(t, st.CreateRun(ctx, newRun(id, "shop", "checkout", t0.Add(-time.Hour))))
	}
	_, err = st.Transition(ctx, "r-aborted", store.Aborted, "", t0)
	must(t, err)
	for _, to := range []store.State{store.Scheduling, store.Starting, store.Running, store.Stopping, store.Reporting, store.Passed} {
		_, err = st.Transition(ctx, "r-passed", to, "", t0)
		must(t, err)
	}

	before, err := st.Run(ctx, "r-old")
	must(t, err)
	r, err := st.ClaimRun(ctx, "w-1", 10*time.Second, t0)
	must(t, err)
	if r.ID != "r-old" || r.Version != before.Version+1 {
		t.Fatalf("claimed %s v%d, want the oldest live run r-old at v%d (never an ended one)", r.ID, r.Version, before.Version+1)
	}
	r, err = st.ClaimRun(ctx, "w-1", 10*time.Second, t0)
	must(t, err)
	if r.ID != "r-new" {
		t.Fatalf("second claim took %s, want r-new", r.ID)
	}
	_, err = st.ClaimRun(ctx, "w-2", 10*time.Second, t0.Add(5*time.Second))
	wantErr(t, "claim while every lease holds", err, store.ErrNotFound)

	must(t, st.RenewLease(ctx, "r-old", "w-1", 10*time.Second, t0.Add(5*time.Second)))
	renewed, err := st.Run(ctx, "r-old")
	must(t, err)
	if renewed.Lease == nil || !ms(renewed.Lease.Until).Equal(t0.Add(15*time.Second)) {
		t.Fatalf("renewed lease %+v, want until t0+15s", renewed.Lease)
	}
	wantErr(t, "renewal by a worker without the lease", st.RenewLease(ctx, "r-old", "w-2", time.Minute, t0), store.ErrLeaseLost)
	wantErr(t, "renewal of a missing run", st.RenewLease(ctx, "nope", "w-1", time.Minute, t0), store.ErrNotFound)

	// r-new's lease expired at t0+10s; r-old's holds until t0+15s.
	r, err = st.ClaimRun(ctx, "w-2", 10*time.Second, t0.Add(12*time.Second))
	must(t, err)
	if r.ID != "r-new" || r.Lease == nil || r.Lease.Worker != "w-2" || !ms(r.Lease.Until).Equal(t0.Add(22*time.Second)) {
		t.Fatalf("takeover claimed %s with %+v, want r-new by w-2 until t0+22s", r.ID, r.Lease)
	}
	wantErr(t, "renewal by the old holder", st.RenewLease(ctx, "r-new", "w-1", 10*time.Second, t0.Add(13*time.Second)), store.ErrLeaseLost)

	must(t, st.ReleaseLease(ctx, "r-new", "w-1")) // not the holder: a no-op
	held, err := st.Run(ctx, "r-new")
	must(t, err)
	if held.Lease == nil || held.Lease.Worker != "w-2" {
		t.Fatalf("a release by another worker dropped the lease: %+v", held.Lease)
	}
	must(t, st.ReleaseLease(ctx, "r-new", "w-2"))
	released, err := st.Run(ctx, "r-new")
	must(t, err)
	if released.Lease != nil {
		t.Fatalf("released run still has lease %+v", released.Lease)
	}
	wantErr(t, "renewal of a released lease", st.RenewLease(ctx, "r-new", "w-2", time.Minute, t0), store.ErrLeaseLost)
	r, err = st.ClaimRun(ctx, "w-3", 10*time.Second, t0.Add(13*time.Second))
	must(t, err)
	if r.ID != "r-new" {
		t.Fatalf("a released run is claimable at once; claimed %s", r.ID)
	}

	// A run that ends while leased is never claimed again, and its lease
	// ends with it, in the same write.
	ended, err := st.Transition(ctx, "r-old", store.Errored, "", t0)
	must(t, err)
	if stored, err := st.Run(ctx, "r-old"); err != nil || ended.Lease != nil || stored.Lease != nil {
		t.Fatalf("an ended run keeps its lease: %+v, stored %+v (%v)", ended.Lease, stored.Lease, err)
	}
	_, err = st.ClaimRun(ctx, "w-4", time.Minute, t0.Add(time.Hour))
	must(t, err)
	_, err = st.ClaimRun(ctx, "w-4", time.Minute, t0.Add(time.Hour))
	wantErr(t, "claim when only ended runs are free", err, store.ErrNotFound)
}

func reports(t *testing.T, st store.Store) {
	ctx := context.Background()
	_, err := st.Report(ctx, "r-1")
	wantErr(t, "missing report", err, store.ErrNotFound)
	must(t, st.PutReport(ctx, "r-1", json.RawMessage(`{"verdict":"failed"}`)))
	must(t, st.PutReport(ctx, "r-1", json.RawMessage(planV1)))
	must(t, st.PutReport(ctx, "r-2", json.RawMessage(planV2)))
	for id, want := range map[string]string{"r-1": planV1, "r-2": planV2} {
		doc, err := st.Report(ctx, id)
		must(t, err)
		if string(doc) != want {
			t.Fatalf("report of %s = %s, want the same bytes %s", id, doc, want)
		}
	}
	if err := st.PutReport(ctx, "r-3", json.RawMessage(`{"broken`)); err == nil {
		t.Fatal("a report that is not JSON was stored")
	}
}

func snapshots(t *testing.T, st store.Store) {
	ctx := context.Background()
	snap := func(shard int, seq uint64, doc string) store.Snapshot {
		return store.Snapshot{Shard: shard, Attempt: 1, Seq: seq, Doc: json.RawMessage(doc)}
	}
	// A restarted executor (attempt 2) numbers its snapshots from 1 again.
	again := func(s store.Snapshot) store.Snapshot { s.Attempt = 2; return s }
	list := func(run string) []store.Snapshot {
		t.Helper()
		got, err := st.Snapshots(ctx, run)
		must(t, err)
		return got
	}
	if got := list("r-1"); len(got) != 0 {
		t.Fatalf("snapshots of a run with none: %v", got)
	}
	must(t, st.PutSnapshots(ctx, "r-1", snap(1, 2, `{"seq":2}`), snap(0, 1, `{"seq":1}`)))
	// A resent batch overlaps what is kept: the kept bytes stay.
	must(t, st.PutSnapshots(ctx, "r-1", snap(1, 2, `{"resent":true}`), snap(1, 1, `{"shard":1}`), snap(0, 10, `{"seq":10}`)))
	must(t, st.PutSnapshots(ctx, "r-1", again(snap(0, 1, `{"attempt":2}`))))
	must(t, st.PutSnapshots(ctx, "r-2", snap(0, 1, `{"other":"run"}`)))
	want := []store.Snapshot{snap(0, 1, `{"seq":1}`), snap(0, 10, `{"seq":10}`), again(snap(0, 1, `{"attempt":2}`)),
		snap(1, 1, `{"shard":1}`), snap(1, 2, `{"seq":2}`)}
	got := list("r-1")
	if len(got) != len(want) {
		t.Fatalf("kept %d snapshots, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Shard != want[i].Shard || got[i].Attempt != want[i].Attempt || got[i].Seq != want[i].Seq ||
			string(got[i].Doc) != string(want[i].Doc) {
			t.Fatalf("snapshot %d = %d/%d/%d %s, want %d/%d/%d %s (shard/attempt/seq)", i, got[i].Shard,
				got[i].Attempt, got[i].Seq, got[i].Doc, want[i].Shard, want[i].Attempt, want[i].Seq, want[i].Doc)
		}
	}
	if err := st.PutSnapshots(ctx, "r-1", snap(2, 1, `{"ok":true}`), snap(2, 2, `{"broken`)); err == nil {
		t.Fatal("a snapshot that is not JSON was kept")
	}
	if got := list("r-1"); len(got) != len(want) {
		t.Fatalf("a refused batch changed the kept snapshots: %d, want %d", len(got), len(want))
	}
	must(t, st.DeleteSnapshots(ctx, "r-1"))
	if got := list("r-1"); len(got) != 0 {
		t.Fatalf("%d snapshots left after deleting them", len(got))
	}
	if got := list("r-2"); len(got) != 1 {
		t.Fatalf("deleting one run's snapshots left %d of another's, want 1", len(got))
	}
}

func note(id, run string, due time.Time) store.Notification {
	return store.Notification{ID: id, RunID: run, Channel: "email", To: id + "@example.com", NextAt: due}
}

func outbox(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.Enqueue(ctx, note("a", "r-1", t0), note("b", "r-1", t0), note("later", "r-1", t0.Add(time.Hour))))
	changed := note("a", "r-1", t0.Add(time.Minute))
	changed.To = "changed@example.com"
	must(t, st.Enqueue(ctx, changed)) // already there: unchanged

	const claimers = 4
	var wg sync.WaitGroup
	claimed := make(chan store.Notification, 16)
	for range claimers {
		wg.Go(func() {
			got, err := st.ClaimNotifications(ctx, t0, time.Minute, 10)
			if err != nil {
				t.Error(err)
			}
			for _, x := range got {
				claimed <- x
			}
		})
	}
	wg.Wait()
	close(claimed)
	count := map[string]int{}
	for n := range claimed {
		count[n.ID]++
		if n.ClaimedUntil == nil || !ms(*n.ClaimedUntil).Equal(t0.Add(time.Minute)) {
			t.Errorf("claimed %s until %v, want t0+1m", n.ID, n.ClaimedUntil)
		}
		if n.ID == "a" && n.To != "a@example.com" {
			t.Errorf("a second enqueue changed the entry: to %s", n.To)
		}
	}
	if len(count) != 2 || count["a"] != 1 || count["b"] != 1 {
		t.Fatalf("claims = %v, want a and b once each (later is not due)", count)
	}
	got, err := st.ClaimNotifications(ctx, t0.Add(30*time.Second), time.Minute, 10)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("entries claimed again while their claim holds: %+v", got)
	}

	must(t, st.MarkSent(ctx, "a", t0.Add(time.Second)))
	must(t, st.Retry(ctx, "b", "smtp: 421", t0.Add(2*time.Minute)))
	// b's claim ended with its retry; it is due again at t0+2m, not before.
	got, err = st.ClaimNotifications(ctx, t0.Add(90*time.Second), time.Minute, 10)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("claimed before its retry is due: %+v", got)
	}
	got, err = st.ClaimNotifications(ctx, t0.Add(3*time.Minute), time.Minute, 10)
	must(t, err)
	if len(got) != 1 || got[0].ID != "b" || got[0].Attempts != 1 || got[0].LastErr != "smtp: 421" {
		t.Fatalf("after retry: %+v, want b with 1 attempt and its error", got)
	}
	// A claim that expires (its dispatcher died) is claimable again.
	got, err = st.ClaimNotifications(ctx, t0.Add(5*time.Minute), time.Minute, 10)
	must(t, err)
	if len(got) != 1 || got[0].ID != "b" {
		t.Fatalf("after claim expiry: %+v, want b again", got)
	}
}

func outboxLifecycle(t *testing.T, st store.Store) {
	ctx := context.Background()
	must(t, st.Enqueue(ctx))
	must(t, st.Enqueue(ctx, note("c", "r-1", t0.Add(2*time.Second)), note("a", "r-1", t0), note("b", "r-1", t0.Add(time.Second)),
		note("x", "r-2", t0)))
	got, err := st.ClaimNotifications(ctx, t0.Add(time.Hour), time.Minute, 2)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("claimed %d entries, want the limit 2", len(got))
	}
	rest, err := st.ClaimNotifications(ctx, t0.Add(time.Hour), time.Minute, 10)
	must(t, err)
	if len(got)+len(rest) != 4 {
		t.Fatalf("claimed %d then %d entries, want 4 in all", len(got), len(rest))
	}

	must(t, st.MarkSent(ctx, "a", t0.Add(time.Second+time.Microsecond)))
	must(t, st.Retry(ctx, "b", "first", t0.Add(time.Minute)))
	must(t, st.Retry(ctx, "b", "second", t0.Add(2*time.Minute)))
	wantErr(t, "MarkSent of a missing entry", st.MarkSent(ctx, "nope", t0), store.ErrNotFound)
	wantErr(t, "Retry of a missing entry", st.Retry(ctx, "nope", "x", t0), store.ErrNotFound)

	all, err := st.Notifications(ctx, "r-1")
	must(t, err)
	var ids []string
	for _, n := range all {
		ids = append(ids, n.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("notifications of r-1 = %v, want a b c (by ID, not r-2's)", ids)
	}
	a, b := all[0], all[1]
	if a.Sent == nil || !ms(*a.Sent).Equal(t0.Add(time.Second)) || a.ClaimedUntil != nil || a.Channel != "email" ||
		a.To != "a@example.com" || a.RunID != "r-1" || !ms(a.NextAt).Equal(t0) {
		t.Fatalf("sent entry = %+v", a)
	}
	if b.Sent != nil || b.Attempts != 2 || b.LastErr != "second" || !ms(b.NextAt).Equal(t0.Add(2*time.Minute)) || b.ClaimedUntil != nil {
		t.Fatalf("retried entry = %+v", b)
	}
	// Sent entries are never claimed again.
	got, err = st.ClaimNotifications(ctx, t0.Add(24*time.Hour), time.Minute, 10)
	must(t, err)
	for _, n := range got {
		if n.ID == "a" {
			t.Fatalf("a sent entry was claimed again")
		}
	}
	none, err := st.Notifications(ctx, "nope")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("notifications of an unknown run: %+v", none)
	}
}

// SharedFile checks two stores over one database, a file or a server (two processes): a
// run created and claimed through one is seen, and not claimable, through
// the other, and their writes conflict as one store's would.
func SharedFile(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	must(t, a.CreateRun(ctx, newRun("r-1", "shop", "checkout", t0)))
	_, err := a.ClaimRun(ctx, "w-a", time.Minute, t0)
	must(t, err)
	_, err = b.ClaimRun(ctx, "w-b", time.Minute, t0)
	wantErr(t, "claim of a leased run through the other store", err, store.ErrNotFound)
	r, err := b.Run(ctx, "r-1")
	must(t, err)
	if r.Lease == nil || r.Lease.Worker != "w-a" {
		t.Fatalf("the other store sees lease %+v", r.Lease)
	}
	_, err = b.ClaimRun(ctx, "w-b", time.Minute, t0.Add(2*time.Minute))
	must(t, err)
	wantErr(t, "renewal after a takeover through the other store", a.RenewLease(ctx, "r-1", "w-a", time.Minute, t0), store.ErrLeaseLost)
	_, err = a.UpdateRun(ctx, r)
	wantErr(t, "update of a copy the other store changed", err, store.ErrConflict)
}
