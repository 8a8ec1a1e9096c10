package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loadfleet/loadfleet/services/validator/validatortest"
)

func TestServerListTargets(t *testing.T) {
	code, stdout, stderr := loadfleet(t, "server", "--list-targets")
	if code != exitOK || !strings.Contains(stdout, "validator") || !strings.Contains(stdout, "all") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant the targets", code, stdout, stderr)
	}
}

func TestServerTargetValidator(t *testing.T) {
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"server", "--target=validator", "--listen", "127.0.0.1:0",
			"--git-cache-dir", t.TempDir()}, &stdout, &stderr)
	}()

	base := "http://" + waitForAddr(t, &stderr, exited)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", resp.StatusCode)
	}
	resp, err = http.Post(base+"/v1/validate", "application/json", strings.NewReader(validatortest.ConstantPlan()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"valid":true`) {
		t.Fatalf("POST /v1/validate = %d %s, want 200 and valid", resp.StatusCode, body)
	}

	cancel() // what SIGINT or SIGTERM does
	select {
	case code := <-exited:
		if code != exitOK || !strings.Contains(stderr.String(), "msg=stopped") {
			t.Fatalf("exit %d after shutdown, log:\n%s\nwant 0 and a stopped line", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop after its context ended")
	}
}

// waitForAddr waits for the server to log the address it serves on.
func waitForAddr(t *testing.T, log *syncBuffer, exited <-chan int) string {
	t.Helper()
	serving := regexp.MustCompile(`msg=serving .*addr=(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := serving.FindStringSubmatch(log.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-exited:
			t.Fatalf("the server exited with %d before serving:\n%s", code, log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the server did not log its address:\n%s", log.String())
	return ""
}
