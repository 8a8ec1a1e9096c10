package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting/notify/notifytest"
)

// A finished run is posted once to each Slack channel its plan and its
// team's defaults ask for, through the outbox, with its verdict, a link to
// its report and the latency chart.
func TestFinishedRunIsPostedToSlack(t *testing.T) {
	slack := notifytest.NewSlackServer(t, "xoxb-e2e")
	srv, _ := target(t)
	cfg := platformConfig(t, t.TempDir())
	cfg.Notify = app.NotifyConfig{Slack: app.SlackConfig{Token: "xoxb-e2e", APIURL: slack.APIURL},
		ReportBaseURL: "https://loadfleet.example.com"}
	base := startPlatform(t, app.TargetAll, cfg)
	api := client(base)
	plan := strings.Replace(constantPlan(srv.URL, 20, 3, 1, ""), `"name": "e2e constant",`,
		`"name": "e2e constant", "notify": {"slack": ["#perf"]},`, 1)
	if _, err := api.PutTeam(context.Background(), store.Team{Name: "shop", Slack: []string{"#shop-team"}}); err != nil {
		t.Fatal(err)
	}
	run, err := api.StartRun(context.Background(), metadata.StartRequest{Plan: json.RawMessage(plan)})
	if err != nil {
		t.Fatal(err)
	}
	waitForState(t, api, run.ID, 60*time.Second, store.Passed)
	// The plan's channel and the team's default both get the run.
	posts := slack.WaitPosts(t, 2, 30*time.Second)
	channels := map[string]bool{}
	for _, p := range posts {
		channels[p.Channel] = true
		blocks := string(p.Blocks)
		if !strings.Contains(strings.ToLower(blocks), "passed") ||
			!strings.Contains(blocks, "https://loadfleet.example.com/v1/reports/"+run.ID+".html") {
			t.Fatalf("post %+v: want the verdict and the report link", p)
		}
	}
	if !channels["#perf"] || !channels["#shop-team"] {
		t.Fatalf("posted to %v, want #perf (the plan's) and #shop-team (the team's)", channels)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ups := slack.Uploads()
		if len(ups) == 2 && ups[0].Completed && bytes.HasPrefix(ups[0].Data, []byte("\x89PNG")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads %d: want the latency chart as a PNG in each channel", len(ups))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a second post would come within the dispatcher's poll
	if n := len(slack.Posts()); n != 2 {
		t.Fatalf("%d posts, want exactly 2", n)
	}
}
