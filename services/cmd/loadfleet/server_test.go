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

// serverCommand runs `loadfleet server --target=validator` on a free
// loopback port in the test process; stop ends it as SIGINT or SIGTERM
// would and returns its exit code.
func serverCommand(t *testing.T) (base string, stop func() int, log *syncBuffer) {
	t.Helper()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"server", "--target=validator", "--listen", "127.0.0.1:0",
			"--git-cache-dir", t.TempDir()}, &stdout, &stderr)
	}()
	base = "http://" + waitForAddr(t, &stderr, exited)
	return base, func() int {
		cancel()
		select {
		case code := <-exited:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not stop after its context ended")
			return -1
		}
	}, &stderr
}

func TestServerTargetValidator(t *testing.T) {
	base, stop, stderr := serverCommand(t)
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

	if code := stop(); code != exitOK || !strings.Contains(stderr.String(), "msg=stopped") {
		t.Fatalf("exit %d after shutdown, log:\n%s\nwant 0 and a stopped line", code, stderr.String())
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

// Without a token the server refuses a network address, saying how to
// proceed, and binds nothing.
func TestServerRefusesANetworkAddressWithoutTokens(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", ":0"} {
		code, _, stderr := loadfleet(t, "server", "--target=validator", "--listen", listen)
		if code == exitOK || !strings.Contains(stderr, "refusing to listen on "+listen) ||
			!strings.Contains(stderr, "auth.tokens") || !strings.Contains(stderr, "--insecure-no-auth") ||
			strings.Contains(stderr, "msg=serving") {
			t.Errorf("server --listen %s without tokens: exit %d\n%s\nwant a refusal naming the address and the ways out", listen, code, stderr)
		}
	}
}

// LOADFLEET_AUTH_TOKEN (--auth-token) is an API token: what the image's
// default command needs to listen on the network.
func TestServerAuthTokenFromTheEnvironment(t *testing.T) {
	t.Setenv("LOADFLEET_AUTH_TOKEN", "s3cret-token")
	base, stop, _ := serverCommand(t)
	for token, want := range map[string]int{"": http.StatusUnauthorized, "s3cret-token": http.StatusOK} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/validate", strings.NewReader(validatortest.ConstantPlan()))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("POST /v1/validate with token %q = %d, want %d", token, resp.StatusCode, want)
		}
	}
	stop()
}
