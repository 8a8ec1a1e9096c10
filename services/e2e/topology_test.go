package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/job/jobclient"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/metadataclient"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// process is one `loadfleet server --target=X` child.
type process struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve starts one target as its own process with a YAML configuration and
// waits until it is ready.
func serve(t *testing.T, target, config string, dataDir string) *process {
	t.Helper()
	return serveAt(t, freeAddr(t), target, config, dataDir)
}

// serveAt is serve on a given address: a target started again where its
// executors expect it.
func serveAt(t *testing.T, addr, target, config string, dataDir string) *process {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), target+".yaml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dataDir, target+"-"+strings.ReplaceAll(addr, ":", "_")+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(loadfleetBin, "server", "--target="+target, "--listen", addr, "--config", cfgFile,
		"--data-dir", dataDir, "--disable-git")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "LF_E2E_API_TOKEN="+apiToken, "LF_E2E_SERVICE_TOKEN="+serviceToken)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("%s log:\n%s", target, tail(string(log), 40))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("%s exited at start:\n%s", target, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30 s", target)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiToken protects every target's API in the microservices test: the
// targets must pass it to each other, and executors use their shard tokens.
const apiToken = "e2e-api-token"

// serviceToken is what the targets present to each other on internal
// routes (the job API), where the API token is refused.
const serviceToken = "e2e-service-token"

// withAuth adds the API token and the service credential to a target's
// configuration, from the environment as Secrets would provide them.
func withAuth(config string) string {
	return config + "auth: {tokens: [\"${LF_E2E_API_TOKEN}\"], serviceTokens: [\"${LF_E2E_SERVICE_TOKEN}\"]}\n"
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Every target in its own process, two workers: the worker driving a run is
// killed with SIGKILL mid-run, the other takes the run over from the store
// after the lease expires, starts no executor twice, and the run passes
// with exactly the planned arrivals. Every API needs a token, which the
// targets pass to each other.
func TestMicroservicesSurviveAWorkerKill(t *testing.T) {
	srv, served := target(t)
	data := t.TempDir()
	validator := serve(t, "validator", withAuth(""), data)
	common := withAuth(fmt.Sprintf("store: {driver: sqlite, path: %s}\n", filepath.Join(data, "loadfleet.db")))
	metadataProc := serve(t, "metadata", common+fmt.Sprintf("services: {validator: %s}\n", validator.url), data)
	job := serve(t, "job", withAuth(fmt.Sprintf("locations: [{name: local, backend: local, command: [%s, executor]}]\n", loadfleetBin)), data)
	reporting := serve(t, "reporting", common, data)
	workerConfig := func(id string) string {
		return common + fmt.Sprintf("services: {job: %s, reporting: %s}\nworker: {id: %s, leaseTTL: 3s, startDelay: 1s}\n",
			job.url, reporting.url, id)
	}
	first := serve(t, "worker", workerConfig("w-first"), data)

	if _, err := client(metadataProc.url).Runs(context.Background(), store.RunFilter{}); err == nil || !strings.Contains(err.Error(), "API token is required") {
		t.Fatalf("listing runs without a token: %v; want the token asked for", err)
	}
	api := metadataclient.New(metadataProc.url, apiToken, nil)
	run, err := api.StartRun(context.Background(), metadata.StartRequest{
		Plan: json.RawMessage(constantPlan(srv.URL, 50, 10, 4, `{"metric": "errors.rate", "max": 0.01}`))})
	if err != nil {
		t.Fatal(err)
	}
	run = waitForState(t, api, run.ID, 60*time.Second, store.Running)
	if run.Lease == nil || run.Lease.Worker != "w-first" {
		t.Fatalf("lease %+v, want w-first's", run.Lease)
	}
	serve(t, "worker", workerConfig("w-second"), data)
	time.Sleep(2 * time.Second)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done

	run = waitForState(t, api, run.ID, 90*time.Second, store.Passed)
	if run.Lease != nil {
		t.Errorf("lease %+v left on an ended run", run.Lease)
	}
	for _, sh := range run.Shards {
		if sh.Attempt != 0 {
			t.Errorf("shard %d was started again (attempt %d): the takeover duplicated an executor", sh.Index, sh.Attempt)
		}
	}
	if _, err := jobclient.New(job.url, &http.Client{Transport: &httpserver.BearerTransport{Token: apiToken}}).List(context.Background(), "local", run.ID); err == nil || !strings.Contains(err.Error(), "status 403") {
		t.Errorf("the job API with the API token: %v; want 403", err)
	}
	list, err := jobclient.New(job.url, &http.Client{Transport: &httpserver.BearerTransport{Token: serviceToken}}).List(context.Background(), "local", run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) > 4 {
		t.Fatalf("the job service knows %d executors for 4 shards: %+v", len(list), list)
	}
	doc := reportOf(t, api, run.ID)
	if doc.Arrivals.Planned != 500 || doc.Arrivals.Started != 500 || served.Load() != 500 {
		t.Fatalf("arrivals %+v, %d served; want exactly 500", doc.Arrivals, served.Load())
	}
}
