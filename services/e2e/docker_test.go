package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/job/backend/docker"
	"github.com/loadfleet/loadfleet/services/job/backend/docker/dockertest"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// The same run as TestFourLocalExecutorsAddUpToThePlan, on two containers of
// the FROM scratch executor image, started by a real dockerd: host
// networking, the target on 127.0.0.1.
func TestTwoDockerExecutorsAddUpToThePlan(t *testing.T) {
	cli, host := dockertest.Client(t)
	image := fmt.Sprintf("loadfleet/executor-native:e2e-%d", time.Now().UnixNano())
	dockertest.BuildExecutorImage(t, cli, image)
	srv, served := target(t)
	cfg := platformConfig(t, t.TempDir())
	cfg.Locations = []app.LocationConfig{{Name: "docker", Backend: "docker",
		Docker: app.DockerConfig{Host: host, Image: image, NetworkMode: "host", CPUs: 1, MemoryBytes: 256 << 20}}}
	base := startPlatform(t, app.TargetAll, cfg)
	api := client(base)
	run, err := api.StartRun(context.Background(), metadata.StartRequest{
		Plan: json.RawMessage(constantPlan(srv.URL, 50, 4, 2, `{"metric": "errors.rate", "max": 0.01}`))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dockertest.RemoveContainers(t, cli, docker.LabelRun+"="+run.ID) })
	run = waitForState(t, api, run.ID, 90*time.Second, store.Passed)
	doc := reportOf(t, api, run.ID)
	if doc.Arrivals.Planned != 200 || doc.Arrivals.Started != 200 || served.Load() != 200 {
		t.Fatalf("arrivals %+v, %d served; want exactly 200", doc.Arrivals, served.Load())
	}
	for _, e := range doc.Executors {
		if e.Location != "docker" || e.Backend != "docker" {
			t.Errorf("executor %+v: want location docker", e)
		}
	}
	// The run's end removes its containers (just after the verdict).
	deadline := time.Now().Add(15 * time.Second)
	for {
		left, err := cli.ContainerList(context.Background(), dockerListAll(docker.LabelRun+"="+run.ID))
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d containers left 15 s after the run", len(left))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dockerListAll(label string) container.ListOptions {
	return container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))}
}
