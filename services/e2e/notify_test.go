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

// A finished run whose plan asks for Slack is posted once, through the
// outbox, with its verdict, a link to its report and the latency chart.
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
	run, err := api.StartRun(context.Background(), metadata.StartRequest{Plan: json.RawMessage(plan)})
	if err != nil {
		t.Fatal(err)
	}
	waitForState(t, api, run.ID, 60*time.Second, store.Passed)
	posts := slack.WaitPosts(t, 1, 30*time.Second)
	blocks := string(posts[0].Blocks)
	if posts[0].Channel != "#perf" || !strings.Contains(strings.ToLower(blocks), "passed") ||
		!strings.Contains(blocks, "https://loadfleet.example.com/v1/reports/"+run.ID+".html") {
		t.Fatalf("post %+v: want #perf, the verdict and the report link", posts[0])
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ups := slack.Uploads()
		if len(ups) == 1 && ups[0].Completed && bytes.HasPrefix(ups[0].Data, []byte("\x89PNG")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads %d: want the latency chart as one PNG", len(ups))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a second post would come within the dispatcher's poll
	if n := len(slack.Posts()); n != 1 {
		t.Fatalf("%d posts, want exactly 1", n)
	}
}
